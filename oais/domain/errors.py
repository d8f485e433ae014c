"""The one error tree of oais.

Every error the services raise derives from :class:`OaisError`. Adapters translate third-party
exceptions at the boundary (``raise StorageError(...) from exc``) so that nothing above them sees an
SDK's exception type. The command line maps each branch to one exit code (see
``oais.entrypoints.cli``)::

    OaisError
    ├── ValidationFailed        input was read and found wrong; carries the complete, coded report
    │   ├── SipRejected         a SIP failed quality assurance or bag validation (nothing was stored)
    │   ├── BagInvalid          ``oais bag validate`` found problems
    │   └── PlanInvalid         a migration plan does not match the catalog or the format policy
    ├── NotFound                a path, AIP or version that was asked for does not exist
    │   ├── AipNotFound
    │   └── AipDeaccessioned    the AIP was deaccessioned: its objects are deleted, a tombstone stands
    ├── ConflictError           the request contradicts what the archive already holds
    │   └── AipExists           an AIP id or version is taken by different content
    ├── StorageError            the store could not write, read, verify or publish
    │   └── FixityMismatch      bytes read back differ from the digests of record (domain.fixity)
    ├── CatalogError            the catalog database failed or is out of date
    ├── ConfigError             settings or a policy file are invalid
    ├── AccessDenied            the content may not be handed out (embargo, restriction) or the
    │                           caller may not do this (role); nothing was written
    └── ToolError               an external tool (format identification) failed to run
        └── ConversionFailed    a format conversion failed: exit status, timeout, no output
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from oais.domain.issues import Issue


class OaisError(Exception):
    """Root of every error raised on purpose by oais."""


class ValidationFailed(OaisError):
    """Input was read completely and found wrong; ``issues`` lists every problem, not the first."""

    def __init__(self, message: str, issues: Sequence[Issue]) -> None:
        super().__init__(message)
        self.issues: list[Issue] = list(issues)

    def __reduce__(self) -> tuple[type[ValidationFailed], tuple[str, list[Issue]]]:
        # Errors cross process boundaries (worker pools): keep the issues when pickled.
        return (type(self), (str(self), self.issues))


class SipRejected(ValidationFailed):
    """A SIP failed quality assurance or bag validation; nothing was stored."""


class BagInvalid(ValidationFailed):
    """A BagIt bag is not valid."""


class PlanInvalid(ValidationFailed):
    """A migration plan names AIPs, files or formats that the catalog or the policy do not know."""


class NotFound(OaisError):
    """Something that was asked for does not exist."""


class AipNotFound(NotFound):
    """No AIP (or no such version of it) in the catalog."""


class AipDeaccessioned(NotFound):
    """The AIP was deaccessioned (or its approved deletion is under way): its objects are gone or
    going, and its tombstone says when, why and on whose decision."""


class ConflictError(OaisError):
    """The request contradicts what the archive already holds."""


class AipExists(ConflictError):
    """An AIP id or version is already taken by different content."""


class StorageError(OaisError):
    """The store could not write, read, verify or publish."""


class CatalogError(OaisError):
    """The catalog database failed or its schema is out of date."""


class ConfigError(OaisError):
    """Settings or a policy file are invalid."""


class AccessDenied(OaisError):
    """The content may not be handed out (embargo, restriction) or the caller may not do this."""


class ToolError(OaisError):
    """An external tool (such as format identification) failed to run."""


class ConversionFailed(ToolError):
    """A format conversion did not produce a usable output (the message names the file and why)."""
