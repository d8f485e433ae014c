"""The system clock."""

from __future__ import annotations

from datetime import UTC, datetime


class SystemClock:
    """Implements the ``Clock`` port with the system's UTC time."""

    def now(self) -> datetime:
        """The current time in UTC."""
        return datetime.now(UTC)
