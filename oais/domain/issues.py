"""Coded problems and the one table of codes.

Validation never stops at the first problem: it returns every :class:`Issue` it finds. Each issue has
a stable code from :data:`CODES`; the codes are written into PREMIS ``eventOutcomeDetail`` and
printed by the command line, and scripts may rely on them. Bad-input test fixtures are named after
the code they must trigger. A code is never reused for another meaning; retired codes stay listed.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum

from pydantic import BaseModel, ConfigDict


class Severity(StrEnum):
    """An error rejects the input; a warning is recorded and the input is accepted."""

    ERROR = "error"
    WARNING = "warning"


#: code -> (severity, what it means). The documentation table in docs/codes.md is generated from this.
CODES: dict[str, tuple[Severity, str]] = {
    # Submission information packages (quality assurance before anything is stored)
    "SIP-E001": (Severity.ERROR, "path escapes the SIP (absolute path or '..' component)"),
    "SIP-E002": (Severity.ERROR, "symbolic link points outside the SIP, or is broken"),
    "SIP-E003": (Severity.ERROR, "special file (device, socket or FIFO)"),
    "SIP-E004": (Severity.ERROR, "names collide after Unicode normalisation (NFC)"),
    "SIP-E005": (Severity.ERROR, "names collide after case folding"),
    "SIP-E006": (Severity.ERROR, "name is not valid UTF-8"),
    "SIP-E007": (Severity.ERROR, "the SIP holds no files"),
    "SIP-E008": (
        Severity.ERROR,
        "the SIP cannot be read (missing, unreadable, unsupported or corrupt archive), "
        "or the ingest request is incomplete",
    ),
    "SIP-E009": (Severity.ERROR, "symbolic link to a directory (links are only followed to files)"),
    "SIP-E010": (Severity.ERROR, "name contains a control character (CR, LF, NUL or other C0)"),
    "SIP-E011": (Severity.ERROR, "file changed while it was being ingested"),
    "SIP-E012": (Severity.ERROR, "name appears twice, or is both a file and a directory"),
    "SIP-W001": (Severity.WARNING, "symbolic link inside the SIP was followed and stored as a file"),
    "SIP-W002": (Severity.WARNING, "empty directory: a bag cannot hold it; recorded, not stored"),
    # Descriptive metadata given at ingest (`oais ingest --metadata FILE`)
    "META-E001": (
        Severity.ERROR,
        "the descriptive metadata file cannot be read, is not UTF-8 or is not JSON",
    ),
    "META-E002": (
        Severity.ERROR,
        "the descriptive metadata does not follow its schema (schemas/descriptive-metadata.schema.json): "
        "a field is unknown, missing or invalid",
    ),
    # BagIt bags (RFC 8493), submitted or validated with `oais bag validate`
    "BAG-E001": (Severity.ERROR, "bagit.txt is missing"),
    "BAG-E002": (Severity.ERROR, "bagit.txt is malformed (version or encoding declaration)"),
    "BAG-E003": (Severity.ERROR, "no payload manifest"),
    "BAG-E004": (Severity.ERROR, "manifest or tag file line is malformed"),
    "BAG-E005": (Severity.ERROR, "manifest algorithm is not supported"),
    "BAG-E006": (Severity.ERROR, "file listed in a manifest is missing"),
    "BAG-E007": (Severity.ERROR, "payload file is not listed in every payload manifest"),
    "BAG-E008": (Severity.ERROR, "checksum mismatch"),
    "BAG-E009": (Severity.ERROR, "Payload-Oxum does not match the payload"),
    "BAG-E010": (Severity.ERROR, "manifest path escapes the bag or leaves the payload directory"),
    "BAG-E011": (Severity.ERROR, "a path is listed twice in one manifest"),
    "BAG-E012": (Severity.ERROR, "bag-info.txt is malformed"),
    "BAG-E013": (Severity.ERROR, "no data/ payload directory"),
    "BAG-E014": (Severity.ERROR, "fetch.txt lists files that are not present (holey bag)"),
    "BAG-E015": (Severity.ERROR, "tag file is not valid in the declared encoding"),
    "BAG-W001": (Severity.WARNING, "weak manifest algorithm (md5 or sha1) used alone"),
    "BAG-W002": (Severity.WARNING, "BagIt version older than 1.0"),
    "BAG-W003": (Severity.WARNING, "tag file is not listed in a tag manifest"),
    "BAG-W004": (Severity.WARNING, "bag-info.txt field not recommended by RFC 8493 is malformed"),
    "BAG-W005": (Severity.WARNING, "manifest line uses a non-standard form"),
    "BAG-W006": (
        Severity.WARNING,
        "path listed more than once in a manifest with the same digest (tolerated before BagIt 1.0)",
    ),
    "BAG-W007": (Severity.WARNING, "operating-system file in the payload"),
    # Deaccession (`oais deaccession request|approve|reject`)
    "DEA-E001": (
        Severity.ERROR,
        "a deaccession reason or note is empty, longer than 4000 characters or holds a control character",
    ),
    # Formats
    "FMT-E001": (Severity.ERROR, "FITS file has an invalid header or structure"),
    "FMT-W001": (Severity.WARNING, "format not identified"),
    "FMT-W002": (Severity.WARNING, "FITS header is valid but does not follow a recommended convention"),
    "FMT-W003": (
        Severity.WARNING,
        "no preservation copy could be made at ingest (normalisation); the original is kept alone",
    ),
    # Migration plans (`oais migrate apply`): a plan with any error is refused whole
    "PLAN-E001": (Severity.ERROR, "the plan file cannot be read or is not a migration plan"),
    "PLAN-E002": (Severity.ERROR, "the plan was made under another version of the format policy"),
    "PLAN-E003": (Severity.ERROR, "the plan names an AIP the catalog does not hold"),
    "PLAN-E004": (Severity.ERROR, "the plan names a source format the policy does not migrate"),
    "PLAN-E005": (Severity.ERROR, "the plan's tool or target format differs from the policy's rule"),
    "PLAN-E006": (Severity.ERROR, "the plan names a file the AIP's newest version does not hold as planned"),
    "PLAN-E007": (Severity.ERROR, "a planned output path is not allowed or is already taken"),
    "PLAN-E008": (Severity.ERROR, "the plan lists an AIP or a file twice"),
    # Archive state
    "AIP-E001": (Severity.ERROR, "an AIP with this id already exists with different content"),
    "AIP-E002": (Severity.ERROR, "this SIP's content is already held under another AIP id"),
    "AIP-E003": (Severity.ERROR, "the AIP id is a deaccessioned AIP's: it stays with its tombstone"),
}


class Issue(BaseModel):
    """One problem found in an input, with a stable code and the path it concerns."""

    model_config = ConfigDict(frozen=True)

    code: str
    path: str
    message: str

    @property
    def severity(self) -> Severity:
        """Severity from the code table."""
        return CODES[self.code][0]

    @property
    def is_error(self) -> bool:
        """True if this issue rejects the input."""
        return self.severity is Severity.ERROR

    def __str__(self) -> str:
        where = f"{self.path}: " if self.path else ""
        return f"{self.code} {where}{self.message}"


def issue(code: str, path: str, message: str) -> Issue:
    """Build an issue, refusing codes that are not in the table.

    Raises:
        KeyError: if ``code`` is not listed in :data:`CODES`.
    """
    if code not in CODES:
        raise KeyError(f"unknown issue code {code!r}; add it to oais.domain.issues.CODES")
    return Issue(code=code, path=path, message=message)


def errors(issues: Iterable[Issue]) -> list[Issue]:
    """The issues that reject the input."""
    return [i for i in issues if i.is_error]


def warnings(issues: Iterable[Issue]) -> list[Issue]:
    """The issues that are recorded but do not reject the input."""
    return [i for i in issues if not i.is_error]


def codes_markdown() -> str:
    """The table of codes as Markdown (``docs/codes.md`` is this text; a test keeps them equal)."""
    lines = [
        "# Issue codes",
        "",
        "Every problem oais reports has a stable code. An error rejects the input; a warning is recorded",
        "and the input is accepted. Codes are never reused for another meaning. This page is generated",
        "from `oais/domain/issues.py`: `python -c 'from oais.domain.issues import codes_markdown as m;"
        ' print(m(), end="")\' > docs/codes.md`.',
        "",
        "| code | severity | meaning |",
        "|---|---|---|",
    ]
    lines += [f"| `{code}` | {sev.value} | {meaning} |" for code, (sev, meaning) in sorted(CODES.items())]
    return "\n".join(lines) + "\n"
