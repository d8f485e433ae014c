"""Searching the catalog: what may be asked, what comes back (see oais.data_management.search).

Pure: no I/O.
"""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field

from oais.domain.descriptive import AccessStatus

#: The most results one page may hold.
MAX_LIMIT = 500
#: The largest version number or offset a request may name (the catalog's integers are 32 bits).
MAX_NUMBER = 2**31 - 1


class SearchQuery(BaseModel):
    """A catalog search. Every criterion given must hold (AND); none given lists every AIP."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    #: A case-insensitive substring of the title.
    title: str | None = None
    #: A case-insensitive substring of the producer.
    producer: str | None = None
    #: The producer, exactly (a producer token's searches always carry its own).
    producer_exact: str | None = None
    #: Ingested at or after this time (time-zone aware).
    created_from: datetime | None = None
    #: Ingested at or before this time (time-zone aware).
    created_to: datetime | None = None
    #: A PRONOM PUID held by a file of the AIP's newest version (``fmt/44``).
    format: str | None = None
    #: The AIP id, or an identifier value in its descriptive metadata (a DOI, a product id), exactly.
    identifier: str | None = None
    limit: int = Field(default=50, ge=1, le=MAX_LIMIT)
    offset: int = Field(default=0, ge=0, le=MAX_NUMBER)


class AipSummary(BaseModel):
    """One AIP in search results: what it is and its newest version."""

    model_config = ConfigDict(frozen=True)

    aip_id: str
    title: str
    producer: str
    #: When the AIP was ingested (its first version).
    created: datetime
    #: The newest version's number, files and bytes.
    version: int
    files: int
    bytes: int
    #: The access status of its descriptive metadata (open when it has none).
    access: AccessStatus = AccessStatus.OPEN
    #: The first day an embargoed AIP is open.
    embargo_until: date | None = None


class SearchPage(BaseModel):
    """One page of results, oldest AIP first, and how many AIPs match in all."""

    model_config = ConfigDict(frozen=True)

    total: int
    limit: int
    offset: int
    results: list[AipSummary]
