"""Descriptive metadata of an AIP: what it is, who made it, who may see it.

A producer gives it at ingest (``oais ingest --metadata FILE``, JSON in the shape of
:class:`DescriptiveMetadata`, see ``schemas/descriptive-metadata.schema.json``). Every version of the
AIP carries it as ``data/metadata/descriptive.json``; its licence, access status and rights statements
are also written into ``premis.xml`` as PREMIS rights. DIPs render it as Dublin Core and DataCite, and
the EPN-TAP granule table takes the observation facts from it where the FITS headers are silent.

Pure: no I/O, no clock (the date to judge an embargo against is passed in).
"""

from __future__ import annotations

import json
import re
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Any, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from oais.domain.issues import Issue, issue

#: Characters XML 1.0 cannot hold (C0 controls other than tab, LF and CR, lone surrogates,
#: U+FFFE and U+FFFF): every text of the metadata goes into premis.xml too.
_NOT_XML = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _xml_text(value: str) -> str:
    bad = _NOT_XML.search(value)
    if bad is not None:
        raise ValueError(
            f"contains the character U+{ord(bad.group()):04X}, which XML 1.0 (PREMIS) cannot hold"
        )
    return value


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be blank")
    return value


def _one_line(value: str) -> str:
    if "\n" in value or "\r" in value:
        raise ValueError("must be one line (it is written to bag-info.txt)")
    return value


def label_problem(value: str) -> str | None:
    """Why a one-line label given on its own (a title, a producer's name) cannot be recorded in
    premis.xml and bag-info.txt, or None if it can; the same rule as the metadata's fields."""
    try:
        _one_line(_xml_text(value))
    except ValueError as exc:
        return str(exc)
    return None


def recordable(value: str) -> str:
    """``value`` with every character XML 1.0 (and a PostgreSQL text column: NUL) cannot hold replaced
    by U+FFFD, for recording what a refused request said."""
    return _NOT_XML.sub("\ufffd", value)


#: Any text: what XML 1.0 can hold.
Text = Annotated[str, AfterValidator(_xml_text)]
#: Text that says something (not empty, not only spaces).
NonBlank = Annotated[str, Field(min_length=1), AfterValidator(_not_blank), AfterValidator(_xml_text)]
#: Non-blank text on one line (it goes into bag-info.txt).
OneLine = Annotated[
    str, Field(min_length=1), AfterValidator(_not_blank), AfterValidator(_one_line), AfterValidator(_xml_text)
]


class AccessStatus(StrEnum):
    """Who may receive the content (as a DIP)."""

    OPEN = "open"  # anyone
    EMBARGOED = "embargoed"  # nobody before ``embargo_until`` without an authorised override
    RESTRICTED = "restricted"  # nobody without an authorised override


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


_DOI = re.compile(r"10\.\d{4,9}/\S+")


def orcid_check_digit(digits: str) -> str:
    """The check digit of the first 15 digits of an ORCID iD (ISO 7064 MOD 11-2)."""
    total = 0
    for digit in digits:
        total = (total + int(digit)) * 2
    result = (12 - total % 11) % 11
    return "X" if result == 10 else str(result)


class Creator(_Model):
    """A person or organisation that made the content (DataCite ``creators``, Dublin Core ``creator``)."""

    name: NonBlank = Field(description="'Family, Given' for a person, or an organisation's name.")
    affiliation: NonBlank | None = None
    orcid: str | None = Field(
        default=None,
        pattern=r"^\d{4}-\d{4}-\d{4}-\d{3}[\dX]$",
        description="An ORCID iD without its resolver: '0000-0002-1825-0097' (the check digit is checked).",
    )

    @field_validator("orcid")
    @classmethod
    def _orcid_check_digit(cls, value: str | None) -> str | None:
        if value is None:
            return None
        digits = value.replace("-", "")
        expected = orcid_check_digit(digits[:-1])
        if digits[-1] != expected:
            raise ValueError(
                f"ORCID iD {value} has a wrong check digit: the last character should be {expected}"
            )
        return value


class Identifier(_Model):
    """An identifier the content already has elsewhere (a DOI, a mission archive's product id)."""

    type: NonBlank = Field(description="'DOI', 'URL', 'ARK', 'PDS4 LIDVID', ...")
    value: OneLine

    @model_validator(mode="after")
    def _doi_shape(self) -> Self:
        if self.type.upper() == "DOI" and _DOI.fullmatch(self.value) is None:
            raise ValueError(
                f"DOI {self.value!r} is not a DOI name such as '10.5270/esa-abc123' (give it without "
                "'doi:' or a resolver address)"
            )
        return self


class Licence(_Model):
    """The licence the content is distributed under."""

    identifier: OneLine = Field(description="An SPDX identifier where there is one: 'CC-BY-4.0'.")
    name: NonBlank | None = None
    uri: str | None = Field(default=None, pattern=r"^https?://\S+$", description="Where the licence text is.")


class Access(_Model):
    """The access status: open, embargoed until a date, or restricted.

    An embargoed AIP must say until when (``embargo_until``, the first day it is open); only an
    embargoed one may. The JSON Schema states the same rule with ``if``/``then``/``else``.
    """

    model_config = ConfigDict(
        json_schema_extra={
            "allOf": [
                {
                    "if": {"properties": {"status": {"const": "embargoed"}}, "required": ["status"]},
                    "then": {
                        "required": ["embargo_until"],
                        "properties": {"embargo_until": {"type": "string"}},
                    },
                    "else": {"properties": {"embargo_until": {"type": "null"}}},
                }
            ]
        }
    )

    status: AccessStatus = AccessStatus.OPEN
    embargo_until: date | None = Field(
        default=None, description="The first day the content is open (YYYY-MM-DD; embargoed content only)."
    )
    note: NonBlank | None = Field(
        default=None, description="Why (shown to whoever is refused, and recorded in PREMIS)."
    )

    @model_validator(mode="after")
    def _until_with_embargo(self) -> Self:
        if self.status is AccessStatus.EMBARGOED and self.embargo_until is None:
            raise ValueError(
                "an embargoed AIP needs embargo_until (the date the embargo ends: the first day it is open)"
            )
        if self.status is not AccessStatus.EMBARGOED and self.embargo_until is not None:
            raise ValueError(
                f"embargo_until is given but the status is '{self.status.value}', not 'embargoed'"
            )
        return self

    def refusal(self, today: date) -> str | None:
        """Why a DIP may not be made on ``today`` without an authorised override (None: it may)."""
        why = f" ({self.note})" if self.note else ""
        if self.status is AccessStatus.RESTRICTED:
            return f"access is restricted{why}"
        if (
            self.status is AccessStatus.EMBARGOED
            and self.embargo_until is not None
            and today < self.embargo_until
        ):
            return f"under embargo until {self.embargo_until.isoformat()}{why}"
        return None


class Observation(_Model):
    """What an observation is of, for portals (EPN-TAP 2.0 terms). FITS headers, where they say more
    about a file, take precedence over these AIP-wide values."""

    target_name: NonBlank | None = Field(default=None, description="What was observed: 'Mars'.")
    target_class: NonBlank | None = Field(
        default=None,
        description="EPN-TAP target_class: planet, satellite, comet, asteroid, dwarf_planet, "
        "interplanetary_medium, sky, spacecraft, spacejunk, exoplanet, calibration, ring, sample, star...",
    )
    instrument_host_name: NonBlank | None = Field(default=None, description="The spacecraft or observatory.")
    instrument_name: NonBlank | None = None
    dataproduct_type: NonBlank | None = Field(
        default=None,
        description="EPN-TAP dataproduct_type: im, sp, ds, sc, pr, vo, mo, cu, ts, ca, ci, sv, ma, ev.",
    )
    processing_level: int | None = Field(
        default=None, ge=1, le=6, description="CODMAC processing level 1..6 (EPN-TAP processing_level)."
    )
    measurement_type: NonBlank | None = Field(default=None, description="UCD(s) of the measured quantity.")
    obs_id: NonBlank | None = None
    time_min: datetime | None = Field(default=None, description="Start of the observation (ISO 8601).")
    time_max: datetime | None = Field(default=None, description="End of the observation (ISO 8601).")
    spectral_range_min: float | None = Field(default=None, description="Spectral range, lower end, in Hz.")
    spectral_range_max: float | None = Field(default=None, description="Spectral range, upper end, in Hz.")

    @model_validator(mode="after")
    def _ranges(self) -> Self:
        if self.time_min and self.time_max and self.time_max < self.time_min:
            raise ValueError("time_max is before time_min")
        lo, hi = self.spectral_range_min, self.spectral_range_max
        if lo is not None and hi is not None and hi < lo:
            raise ValueError("spectral_range_max is below spectral_range_min")
        return self


class DescriptiveMetadata(_Model):
    """Descriptive metadata of an AIP (mapped to Dublin Core and DataCite 4 in DIPs)."""

    title: OneLine = Field(
        description="The AIP's title (one line: it is also written to bag-info.txt and premis.xml)."
    )
    creators: tuple[Creator, ...] = ()
    publisher: NonBlank | None = None
    publication_year: int | None = Field(default=None, ge=1000, le=9999)
    description: Text | None = None
    subjects: tuple[NonBlank, ...] = ()
    identifiers: tuple[Identifier, ...] = ()
    language: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$",
        description="An IETF BCP 47 tag: 'en', 'fr', 'en-GB'.",
    )
    resource_type: NonBlank = Field(default="Dataset", description="DataCite resourceTypeGeneral.")
    licence: Licence | None = None
    access: Access = Field(default=Access(), description="Open (the default), embargoed or restricted.")
    rights_statements: tuple[NonBlank, ...] = Field(
        default=(),
        description="Rights statements in words (copyright holder, conditions of use, citation requested).",
    )
    observation: Observation | None = None

    @property
    def doi(self) -> str | None:
        """The DOI, if the content has one."""
        return next((i.value for i in self.identifiers if i.type.upper() == "DOI"), None)


def minimal(title: str) -> DescriptiveMetadata:
    """The descriptive metadata of an AIP ingested without a metadata file: a title, open access."""
    return DescriptiveMetadata(title=title)


#: Where a descriptive metadata file's problems are explained (its JSON Schema).
SCHEMA_FILE = "schemas/descriptive-metadata.schema.json"


def canonical_json(metadata: DescriptiveMetadata) -> bytes:
    """The metadata as every AIP version stores it (``data/metadata/descriptive.json``).

    UTF-8, keys sorted, two-space indents, a final newline; fields that are None left out. The same
    metadata always gives the same bytes, so an unchanged record has an unchanged digest.
    """
    data = metadata.model_dump(mode="json", exclude_none=True)
    return (json.dumps(data, ensure_ascii=False, sort_keys=True, indent=2) + "\n").encode("utf-8")


def metadata_from_json(data: bytes, source: str) -> tuple[DescriptiveMetadata | None, list[Issue]]:
    """Read descriptive metadata given as JSON, with every problem found.

    Args:
        data: the JSON document (UTF-8).
        source: what to name in the issues (the file's path, or "request body").

    Returns:
        (metadata, []) when the document is valid; (None, issues) otherwise: ``META-E001`` when it is
        not UTF-8 JSON, one ``META-E002`` per problem against the model (unknown field, missing or
        invalid value, key given twice), each naming ``source`` and where in the document it is.
    """
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return None, [issue("META-E001", source, f"not UTF-8: byte {exc.start} cannot be decoded")]
    if text.startswith("\ufeff"):
        return None, [issue("META-E001", source, "starts with a byte order mark, which JSON does not allow")]
    twice: list[str] = []

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        seen: dict[str, Any] = {}
        for key, value in items:
            if key in seen:
                twice.append(key)
            seen[key] = value
        return seen

    try:
        document = json.loads(text, object_pairs_hook=pairs)
    except json.JSONDecodeError as exc:
        return None, [
            issue("META-E001", source, f"not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})")
        ]
    found = [issue("META-E002", source, f"{key}: the key is given twice") for key in dict.fromkeys(twice)]
    if not isinstance(document, dict):
        found.append(
            issue("META-E002", source, f"the document is a JSON {_json_kind(document)}, not an object")
        )
        return None, found
    try:
        metadata = DescriptiveMetadata.model_validate(document)
    except ValidationError as exc:
        found += [issue("META-E002", source, _problem(e["loc"], e["type"], e["msg"])) for e in exc.errors()]
        return None, found
    if found:
        return None, found
    return metadata, []


def _json_kind(value: object) -> str:
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    return "number"


def _problem(loc: tuple[int | str, ...], kind: str, message: str) -> str:
    """One validation error as a reader of the JSON file needs it: where, then what."""
    where = ""
    for part in loc:
        where += f"[{part}]" if isinstance(part, int) else (f".{part}" if where else str(part))
    if kind == "extra_forbidden":
        message = f"unknown field (the fields are listed in {SCHEMA_FILE})"
    elif kind == "missing":
        message = "required, but missing"
    message = message.removeprefix("Value error, ")
    return f"{where or '(document)'}: {message}"
