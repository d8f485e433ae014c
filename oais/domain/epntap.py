"""The EPN-TAP 2.0 granule table of a DIP: its columns, and one row per data product.

EPN-TAP (IVOA Recommendation "EPN-TAP: Publishing Solar System Data to the Virtual Observatory",
version 2.0) describes each data product ("granule") of a planetary data service by one row of a
table called ``<schema>.epn_core``; DaCHS serves such tables over TAP, and VESPA and TOPCAT query
them. The columns, their types, units and UCDs are those of the standard's EPNcore table (section 3
of the Recommendation, ``ivoa-std/EPNTAP`` ``EPNTAP.tex``), as checked by STILTS ``taplint``.

Where the values come from (see docs/epntap.md for the full table):

- the FITS header of the file (keywords listed in :data:`OBSERVATION_KEYWORDS` and matched by
  :data:`AXIS_KEYWORD`), for what varies from file to file: observation id, times, exposure,
  target, a simple linear spectral axis;
- else the AIP's descriptive metadata (:class:`~oais.domain.descriptive.Observation`), which
  describes the whole AIP: every granule of the AIP inherits it. The spacecraft and instrument
  are the metadata's first (the AIP's own, in EPN-TAP's spelling), the header's (TELESCOP,
  INSTRUME) when it names none;
- the DIP itself: identifiers, access URL, format, size, dates.

A value that none of these gives is left empty (None), never guessed. What EPN-TAP requires but
stays empty is reported in :attr:`GranuleTable.warnings`.

Which files are granules: EPN-TAP links data products only ("this parameter must link to the
actual data, not to a file of metadata nor a document"), so documents and labels (PDF, office
documents, HTML, plain text other than ASCII tables, XML and JSON metadata) are left out of the
table and listed in :attr:`GranuleTable.left_out`. A browse image (PNG, JPEG, GIF, WebP) is a
*preview* when it is an access derivative made for the DIP or when it sits next to other data
products; it is its own granule (EPN-TAP: "larger previews must be provided as independent granules
and identified via a granule_gid different from the data") with ``dataproduct_type = 'im'``
("preview images also belong here").

``granule_gid`` groups the products of one kind across observations, as EPN-TAP intends: previews
are ``preview``; other products are named after their processing level (``raw``, ``calibrated``,
``derived``, ``ancillary``...), or ``data`` when the level is unknown. The format is in
``access_format``, the observation in ``obs_id``.

Pure: no I/O, no clock.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import PurePosixPath

from pydantic import BaseModel, ConfigDict

from oais.domain.descriptive import DescriptiveMetadata, Observation
from oais.domain.dip import Granule

HeaderValue = str | int | float | bool
Header = Mapping[str, HeaderValue]


class ColumnType(StrEnum):
    """The type of a column (PostgreSQL: text, double precision, integer, timestamp)."""

    TEXT = "text"
    DOUBLE = "double"
    INTEGER = "integer"
    #: A UTC date and time, written as ISO 8601 (DALI ``timestamp``: ``2024-05-01T12:00:00.000Z``).
    TIMESTAMP = "timestamp"


class Column(BaseModel):
    """One column of the granule table."""

    model_config = ConfigDict(frozen=True)

    name: str
    type: ColumnType
    unit: str | None = None
    ucd: str | None = None
    description: str
    #: One of EPN-TAP 2.0's mandatory columns (it must be present, though it may be empty).
    mandatory: bool = False
    #: EPN-TAP 2.0 requires a value in every row (bold in the standard's table; for access_url,
    #: access_format and access_estsize: whenever the data are files, as here).
    required: bool = False
    #: The VOTable xtype (``timestamp`` for timestamps, ``adql:REGION`` for s_region).
    xtype: str | None = None


def _mandatory(
    name: str,
    type_: ColumnType,
    description: str,
    ucd: str | None = None,
    unit: str | None = None,
    *,
    required: bool = False,
    xtype: str | None = None,
) -> Column:
    if type_ is ColumnType.TIMESTAMP:
        xtype = "timestamp"
    return Column(
        name=name,
        type=type_,
        unit=unit,
        ucd=ucd,
        description=description,
        mandatory=True,
        required=required,
        xtype=xtype,
    )


def _optional(
    name: str,
    type_: ColumnType,
    description: str,
    ucd: str,
    unit: str | None = None,
    *,
    required: bool = False,
) -> Column:
    return Column(name=name, type=type_, unit=unit, ucd=ucd, description=description, required=required)


def _range(
    base: str, type_: ColumnType, what: str, ucd: str | None, unit: str | None, sep: str = "_"
) -> tuple[Column, Column]:
    """A min/max pair; ``ucd`` None when it depends on the spatial frame (and the frame is 'none')."""
    return (
        _mandatory(
            f"{base}{sep}min", type_, f"{what}, lower limit", f"{ucd};stat.min" if ucd else None, unit
        ),
        _mandatory(
            f"{base}{sep}max", type_, f"{what}, upper limit", f"{ucd};stat.max" if ucd else None, unit
        ),
    )


_T, _D, _I, _TS = ColumnType.TEXT, ColumnType.DOUBLE, ColumnType.INTEGER, ColumnType.TIMESTAMP

#: Every column, in table order: EPN-TAP 2.0's mandatory columns in the standard's order, then the
#: optional ones this archive fills (or may fill). Source: the EPNcore table of the Recommendation
#: (ivoa-std/EPNTAP, EPNTAP.tex) and STILTS taplint's EpnTapStage. Floating-point columns are double
#: precision, as in DaCHS's epntap2 mixin. c1..c3 and their resolutions have no unit or UCD: they
#: depend on spatial_frame_type, which is 'none' here (the standard's note 1). access_md5 is left
#: out: the archive keeps sha256 digests, not MD5.
COLUMNS: tuple[Column, ...] = (
    _mandatory(
        "granule_uid", _T, "Unique identifier of the granule in the service", "meta.id", required=True
    ),
    _mandatory("granule_gid", _T, "Group of granules of the same kind", "meta.id", required=True),
    _mandatory(
        "obs_id", _T, "Groups the granules derived from the same observation", "meta.id;obs", required=True
    ),
    _mandatory(
        "dataproduct_type",
        _T,
        "Organisation of the data product (EPN-TAP vocabulary)",
        "meta.code.class",
        required=True,
    ),
    _mandatory("target_name", _T, "Standard IAU name of the target, case sensitive", "meta.id;src"),
    _mandatory("target_class", _T, "Type of target (EPN-TAP vocabulary)", "src.class", required=True),
    _mandatory("time_min", _D, "Acquisition start time, Julian Day (UTC)", "time.start;obs", "d"),
    _mandatory("time_max", _D, "Acquisition stop time, Julian Day (UTC)", "time.end;obs", "d"),
    *_range("time_sampling_step", _D, "Time sampling step", "time.resolution", "s"),
    *_range("time_exp", _D, "Integration (exposure) time", "time.duration;obs.exposure", "s"),
    *_range("spectral_range", _D, "Spectral range, as frequency", "em.freq", "Hz"),
    *_range(
        "spectral_sampling_step", _D, "Spectral sampling step, as frequency", "em.freq;spect.binSize", "Hz"
    ),
    *_range("spectral_resolution", _D, "Spectral resolving power", "spect.resolution", None),
    *_range("c1", _D, "First spatial coordinate (depends on spatial_frame_type)", None, None, sep=""),
    *_range("c2", _D, "Second spatial coordinate (depends on spatial_frame_type)", None, None, sep=""),
    *_range("c3", _D, "Third spatial coordinate (depends on spatial_frame_type)", None, None, sep=""),
    _mandatory(
        "s_region",
        _T,
        "Footprint (ADQL region) in the frame of c1 and c2",
        "pos.outline;obs.field",
        xtype="adql:REGION",
    ),
    *_range("c1_resol", _D, "Resolution in the first coordinate", None, None),
    *_range("c2_resol", _D, "Resolution in the second coordinate", None, None),
    *_range("c3_resol", _D, "Resolution in the third coordinate", None, None),
    _mandatory(
        "spatial_frame_type",
        _T,
        "Nature of the spatial coordinates ('none': none given)",
        "meta.code.class;pos.frame",
        required=True,
    ),
    *_range("incidence", _D, "Incidence angle (solar zenith angle)", "pos.incidenceAng", "deg"),
    *_range("emergence", _D, "Emergence angle", "pos.emergenceAng", "deg"),
    *_range("phase", _D, "Phase angle", "pos.phaseAng", "deg"),
    _mandatory("instrument_host_name", _T, "Observatory or spacecraft", "meta.id;instr.obsty"),
    _mandatory("instrument_name", _T, "Instrument", "meta.id;instr"),
    _mandatory("measurement_type", _T, "UCD(s) of the measured quantities", "meta.ucd"),
    _mandatory(
        "processing_level", _I, "Simplified CODMAC calibration level (EPN-TAP 2.0)", "meta.calibLevel"
    ),
    _mandatory(
        "creation_date", _TS, "When the granule was first archived (UTC)", "time.creation", required=True
    ),
    _mandatory(
        "modification_date", _TS, "When the granule last changed (UTC)", "time.processing", required=True
    ),
    _mandatory("release_date", _TS, "Start of public access (UTC)", "time.release", required=True),
    _mandatory("service_title", _T, "Title of the service (its schema name)", "meta.title", required=True),
    _optional("access_url", _T, "URL of the data file", "meta.ref.url;meta.file", required=True),
    _optional("access_format", _T, "Media type of the data file", "meta.code.mime", required=True),
    _optional(
        "access_estsize",
        _I,
        "Size of the data file (kilobytes, rounded up)",
        "phys.size;meta.file",
        "kbyte",
        required=True,
    ),
    _optional("thumbnail_url", _T, "URL of a small quick-look image", "meta.ref.url;meta.preview"),
    _optional("file_name", _T, "Name of the data file, without its path", "meta.id;meta.file"),
    _optional("publisher", _T, "Publisher of the service", "meta.curation"),
    _optional("bib_reference", _T, "Bibcode or DOI of the granule", "meta.bib"),
    _optional("target_region", _T, "Type of region of interest on the target", "meta.id;src;obs.field"),
    _optional("feature_name", _T, "Named feature on the target", "meta.id;src;obs.field"),
    _optional(
        "spatial_coordinate_description",
        _T,
        "Coordinate reference system of c1..c3",
        "meta.code.class;pos.frame",
    ),
)

#: The column names, in table order (the CSV header line).
COLUMN_NAMES: tuple[str, ...] = tuple(c.name for c in COLUMNS)

#: EPN-TAP 2.0 dataproduct_type values (section 2.1.2; taplint's list).
DATAPRODUCT_TYPES = frozenset(
    {"im", "ma", "sp", "ds", "sc", "pr", "pf", "vo", "mo", "cu", "ts", "ca", "ci", "sv", "ev"}
)
#: EPN-TAP 2.0 target_class values (section 2.1.3). Rings are not a class (they go to target_region).
TARGET_CLASSES = frozenset(
    {
        "asteroid",
        "dwarf_planet",
        "planet",
        "satellite",
        "comet",
        "exoplanet",
        "interplanetary_medium",
        "sample",
        "sky",
        "spacecraft",
        "spacejunk",
        "star",
        "calibration",
    }
)

#: FITS keywords the rows read from the primary header (the first extension fills what it lacks).
OBSERVATION_KEYWORDS = frozenset(
    {
        "OBS_ID",
        "OBSID",
        "DATE-BEG",
        "DATE-OBS",
        "TIME-OBS",
        "DATE-END",
        "MJD-BEG",
        "MJD-OBS",
        "MJD-END",
        "TIMESYS",
        "XPOSURE",
        "EXPTIME",
        "EXPOSURE",
        "TIMEUNIT",
        "OBJECT",
        "TARGNAME",
        "TELESCOP",
        "INSTRUME",
    }
)
#: Axis and WCS keywords the rows read from the HDU that holds the image data (the spectral axis).
AXIS_KEYWORD = re.compile(
    r"NAXIS([1-9][0-9]{0,2})?|(CTYPE|CRVAL|CDELT|CRPIX|CUNIT)[1-9][0-9]{0,2}|(PC|CD)[1-9][0-9]?_[1-9][0-9]?"
)


def header_keyword_wanted(keyword: str) -> bool:
    """True if the table uses the FITS keyword ``keyword``."""
    return keyword in OBSERVATION_KEYWORDS or AXIS_KEYWORD.fullmatch(keyword) is not None


class GranuleTable(BaseModel):
    """The granule table of one DIP."""

    model_config = ConfigDict(frozen=True)

    #: One row per data product: column name -> value (str, float, int, datetime in UTC, or None),
    #: keys in :data:`COLUMN_NAMES` order.
    rows: tuple[dict[str, object], ...]
    #: The DIP paths left out of the table (documents and labels: not data products).
    left_out: tuple[str, ...] = ()
    #: What is missing or was refused, each naming the file (or the descriptive metadata).
    warnings: tuple[str, ...] = ()
    #: The same warnings for people: one line per problem, with the files it concerns.
    summary: tuple[str, ...] = ()


def granule_rows(
    aip_id: str,
    version: int,
    metadata: DescriptiveMetadata,
    granules: Sequence[Granule],
    service_title: str,
    publisher: str | None = None,
) -> list[dict[str, object]]:
    """The rows of the EPN-TAP table: :func:`granule_table` without its warnings.

    Raises:
        ValueError: as :func:`granule_table`.
    """
    return list(granule_table(aip_id, version, metadata, granules, service_title, publisher).rows)


def granule_table(
    aip_id: str,
    version: int,
    metadata: DescriptiveMetadata,
    granules: Sequence[Granule],
    service_title: str,
    publisher: str | None = None,
) -> GranuleTable:
    """The EPN-TAP 2.0 granule table of a DIP made from one AIP version.

    Args:
        aip_id: the AIP the DIP was made from.
        version: its version.
        metadata: the AIP's descriptive metadata (its ``observation`` fills what headers do not say).
        granules: the DIP's files, with their FITS header facts. A granule without a header of its
            own that is an access derivative takes the header of the file it was made from when
            that file is in ``granules`` too (a preview shows the same observation).
        service_title: the service's title (its schema name), the same in every row.
        publisher: who publishes the service; None: the metadata's publisher.

    Returns:
        The rows (documents left out), and warnings for every required value left empty and every
        metadata or header value refused.

    Raises:
        ValueError: ``service_title`` is empty or holds '#', '?' or a quote, or two granules have
            the same path.
    """
    title = service_title.strip()
    if not title or any(ch in title for ch in "#?'\"") or any(ord(ch) < 32 for ch in title):
        raise ValueError(
            f"service_title {service_title!r} is not allowed: "
            "give a non-empty name without '#', '?' or quotes"
        )
    notes = _Notes()
    facts = _metadata_facts(metadata.observation, notes)
    headers = {g.file.source: g.header for g in granules if g.header}
    has_other_data = any(_kind(g) == _Kind.DATA for g in granules)

    rows: list[dict[str, object]] = []
    left_out: list[str] = []
    seen: set[str] = set()
    for granule in granules:
        kind = _kind(granule)
        if kind is _Kind.DOCUMENT:
            left_out.append(granule.file.path)
            continue
        preview = kind is _Kind.BROWSE and (granule.file.derivative_of is not None or has_other_data)
        header = granule.header or (
            headers.get(granule.file.source, {}) if granule.file.derivative_of else {}
        )
        uid = _granule_uid(aip_id, version, granule.file.path)
        if uid in seen:
            raise ValueError(f"two granules have the path {granule.file.path!r}")
        seen.add(uid)
        row = _row(
            granule=granule,
            uid=uid,
            aip_id=aip_id,
            kind=kind,
            preview=preview,
            header=header,
            facts=facts,
            title=title,
            publisher=publisher if publisher is not None else metadata.publisher,
            bib_reference=metadata.doi,
            notes=notes,
        )
        for column in COLUMNS:
            if column.required and row[column.name] is None:
                notes.add(granule.file.path, f"{column.name} is unknown (EPN-TAP 2.0 requires a value)")
        rows.append(row)
    return GranuleTable(
        rows=tuple(rows), left_out=tuple(left_out), warnings=notes.items(), summary=notes.summary()
    )


def julian_day(moment: datetime) -> float:
    """The Julian Day of ``moment`` (UTC; a naive datetime is taken as UTC), as EPN-TAP counts time.

    Days are 86400 s long: a leap second has no Julian Day of its own (the JD(UTC) convention).
    """
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    delta = moment - _J2000
    return _JD_J2000 + delta.days + (delta.seconds + delta.microseconds / 1e6) / 86400.0


def epntap_processing_level(codmac: int) -> int:
    """The EPN-TAP 2.0 processing level of a CODMAC level: the same, except that CODMAC 4
    (resampled) is EPN-TAP 5 (EPN-TAP drops the intermediate level, see the standard's table)."""
    return 5 if codmac == 4 else codmac


# --- internals -----------------------------------------------------------------------------------

_J2000 = datetime(2000, 1, 1, 12, tzinfo=UTC)
_JD_J2000 = 2451545.0
_MJD_TO_JD = 2400000.5
#: Speed of light (m/s), Planck constant (J s), electronvolt (J): exact SI values.
_C = 299792458.0
_H = 6.62607015e-34
_EV = 1.602176634e-19

#: granule_gid of data products by EPN-TAP processing level.
_LEVEL_GROUPS = {1: "telemetry", 2: "raw", 3: "calibrated", 5: "derived", 6: "ancillary"}

#: Browse formats: a preview next to data, or the data themselves when nothing else is.
_BROWSE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})
_FITS_TYPES = frozenset({"application/fits", "image/fits"})
_FITS_PUIDS = frozenset({"x-fmt/383"})
#: Documents and metadata files: not data products.
_DOCUMENT_TYPES = frozenset(
    {
        "application/pdf",
        "application/postscript",
        "application/msword",
        "application/rtf",
        "application/epub+zip",
        "application/xml",
        "application/json",
        "application/xhtml+xml",
        "application/vnd.oasis.opendocument.text",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "text/xml",
        "text/html",
        "text/markdown",
        "text/rtf",
        "text/plain",
    }
)
#: Plain text that is data: ASCII tables (PDS3 .TAB, .csv, .dat...).
_TEXT_TABLE_SUFFIXES = frozenset({".tab", ".csv", ".tsv", ".dat", ".asc"})

#: Solar System bodies whose IAU spelling and class are beyond doubt, for targets named by a FITS
#: header only (OBJECT = 'MARS' is Mars, a planet).
_BODIES: dict[str, tuple[str, str]] = {
    name.casefold(): (name, cls)
    for cls, names in (
        ("star", ("Sun",)),
        ("planet", ("Mercury", "Venus", "Earth", "Mars", "Jupiter", "Saturn", "Uranus", "Neptune")),
        (
            "satellite",
            (
                "Moon",
                "Phobos",
                "Deimos",
                "Io",
                "Europa",
                "Ganymede",
                "Callisto",
                "Titan",
                "Enceladus",
                "Triton",
            ),
        ),
    )
    for name in names
}

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

#: Time scales a header's dates may be in (absent means UTC, FITS Standard 4.0 section 9.2.1).
_UTC_SCALES = frozenset({"UTC", "GMT"})


class _Kind(StrEnum):
    DATA = "data"
    BROWSE = "browse"
    DOCUMENT = "document"


class _Notes:
    """Warnings in the order found, each once, each about a subject (a file, or the descriptive
    metadata)."""

    def __init__(self) -> None:
        self._items: dict[tuple[str, str], None] = {}

    def add(self, subject: str, message: str) -> None:
        self._items.setdefault((subject, message), None)

    def items(self) -> tuple[str, ...]:
        return tuple(f"{subject}: {message}" for subject, message in self._items)

    def summary(self) -> tuple[str, ...]:
        """The same warning about several subjects said once, naming them (the first three)."""
        by_message: dict[str, list[str]] = {}
        for subject, message in self._items:
            by_message.setdefault(message, []).append(subject)
        out = []
        for message, subjects in by_message.items():
            if len(subjects) == 1:
                out.append(f"{subjects[0]}: {message}")
            else:
                more = f" and {len(subjects) - 3} more" if len(subjects) > 3 else ""
                out.append(f"{message}: {len(subjects)} files ({', '.join(subjects[:3])}{more})")
        return tuple(out)


@dataclass(frozen=True)
class _Facts:
    """The descriptive metadata's observation, checked against the EPN-TAP vocabularies."""

    target_name: str | None = None
    target_class: str | None = None
    instrument_host_name: str | None = None
    instrument_name: str | None = None
    dataproduct_type: str | None = None
    processing_level: int | None = None
    measurement_type: str | None = None
    obs_id: str | None = None
    time: tuple[float, float] | None = None
    spectral_range: tuple[float, float] | None = None


def _metadata_facts(observation: Observation | None, notes: _Notes) -> _Facts:
    if observation is None:
        return _Facts()
    # EPN-TAP: "If only one value is available, it must appear in both parameters."
    start, end = observation.time_min, observation.time_max
    first, last = (start if start is not None else end), (end if end is not None else start)
    time = (julian_day(first), julian_day(last)) if first is not None and last is not None else None
    lo, hi = observation.spectral_range_min, observation.spectral_range_max
    low, high = (lo if lo is not None else hi), (hi if hi is not None else lo)
    spectral = None
    if low is not None and high is not None:
        if _positive(low) and _positive(high):
            spectral = (low, high)
        else:
            notes.add("descriptive metadata", f"spectral range {lo!r}..{hi!r} Hz is not positive; left empty")
    level = observation.processing_level
    return _Facts(
        target_name=_clean(observation.target_name),
        target_class=_vocabulary(observation.target_class, TARGET_CLASSES, "target_class", notes),
        instrument_host_name=_clean(observation.instrument_host_name),
        instrument_name=_clean(observation.instrument_name),
        dataproduct_type=_vocabulary(
            observation.dataproduct_type, DATAPRODUCT_TYPES, "dataproduct_type", notes
        ),
        processing_level=epntap_processing_level(level) if level is not None else None,
        measurement_type=_clean(observation.measurement_type),
        obs_id=_clean(observation.obs_id),
        time=time,
        spectral_range=spectral,
    )


def _vocabulary(value: str | None, allowed: frozenset[str], column: str, notes: _Notes) -> str | None:
    """A hash-list of vocabulary terms (lower case), or None with a warning if any term is unknown."""
    text = _clean(value)
    if text is None:
        return None
    terms = [t.strip().lower() for t in text.split("#")]
    bad = [t for t in terms if t not in allowed]
    if bad:
        notes.add(
            "descriptive metadata",
            f"{column} {value!r} is not in the EPN-TAP 2.0 vocabulary "
            f"({', '.join(sorted(allowed))}); left empty",
        )
        return None
    return "#".join(terms)


def _media_type(mime_type: str) -> str:
    return mime_type.split(";", 1)[0].strip().lower()


def _kind(granule: Granule) -> _Kind:
    f = granule.file
    mime = _media_type(f.mime_type)
    if mime in _FITS_TYPES or f.puid in _FITS_PUIDS:
        return _Kind.DATA
    if mime in _BROWSE_TYPES:
        return _Kind.BROWSE
    if mime in _DOCUMENT_TYPES:
        if mime == "text/plain" and PurePosixPath(f.path).suffix.lower() in _TEXT_TABLE_SUFFIXES:
            return _Kind.DATA
        return _Kind.DOCUMENT
    return _Kind.DATA


def _granule_uid(aip_id: str, version: int, path: str) -> str:
    # '#' separates the items of EPN-TAP hash-lists (internal_reference lists granule_uids):
    # percent-encode it, and '%' so that two paths never give the same uid.
    safe = path.replace("%", "%25").replace("#", "%23")
    return f"{aip_id}/v{version}/{safe}"


def _row(
    *,
    granule: Granule,
    uid: str,
    aip_id: str,
    kind: _Kind,
    preview: bool,
    header: Header,
    facts: _Facts,
    title: str,
    publisher: str | None,
    bib_reference: str | None,
    notes: _Notes,
) -> dict[str, object]:
    path = granule.file.path
    row: dict[str, object] = dict.fromkeys(COLUMN_NAMES)

    # Target: the header names it for this file; the metadata's spelling (and class) are kept when
    # both name the same body, FITS values being often upper case. The metadata's class is not
    # given to another body it names; a metadata class without a name is the AIP's kind of target.
    header_target = _header_text(header, "OBJECT", "TARGNAME")
    target, target_class = facts.target_name, facts.target_class
    if header_target is not None and not _same(header_target, facts.target_name):
        body = _BODIES.get(header_target.casefold())
        unnamed_class = facts.target_class if facts.target_name is None else None
        target, target_class = body if body else (header_target, unnamed_class)
    elif target is not None and target_class is None and target.casefold() in _BODIES:
        target_class = _BODIES[target.casefold()][1]

    data_level = facts.processing_level if not preview else None
    if preview:
        group = "preview"
    elif data_level is not None:
        group = _LEVEL_GROUPS.get(data_level, "data")
    else:
        group = "data"

    row.update(
        granule_uid=uid,
        granule_gid=group,
        obs_id=_header_text(header, "OBS_ID", "OBSID") or facts.obs_id or aip_id,
        dataproduct_type="im" if kind is _Kind.BROWSE else facts.dataproduct_type,
        target_name=target,
        target_class=target_class,
        spatial_frame_type="none",
        # The instrument is the AIP's: the metadata names it in EPN-TAP's terms, where TELESCOP and
        # INSTRUME often hold a mission's own abbreviation ('MEX'); they fill in when it is silent.
        instrument_host_name=facts.instrument_host_name or _header_text(header, "TELESCOP"),
        instrument_name=facts.instrument_name or _header_text(header, "INSTRUME"),
        measurement_type=facts.measurement_type if not preview else None,
        processing_level=data_level,
        creation_date=_utc(granule.created),
        modification_date=_utc(granule.modified),
        release_date=datetime(
            granule.released.year, granule.released.month, granule.released.day, tzinfo=UTC
        ),
        service_title=title,
        access_url=granule.access_url,
        access_format=_media_type(granule.file.mime_type) or None,
        access_estsize=math.ceil(granule.file.size / 1000),
        file_name=PurePosixPath(path).name,
        publisher=_clean(publisher),
        bib_reference=bib_reference,
    )

    time = _header_time(header, path, notes) or facts.time
    if time is not None:
        row["time_min"], row["time_max"] = time
    exposure = _header_exposure(header, path, notes)
    if exposure is not None:
        row["time_exp_min"] = row["time_exp_max"] = exposure
    if preview:
        # A rendering of the data (one plane of a cube, scaled to 8 bits): the data's spectral
        # coverage, like their level and measured quantity, is not the preview's.
        return row
    spectral = _header_spectral(header, path, notes)
    if spectral is not None:
        (row["spectral_range_min"], row["spectral_range_max"]), step = spectral
        if step is not None:
            row["spectral_sampling_step_min"], row["spectral_sampling_step_max"] = step
    elif facts.spectral_range is not None:
        row["spectral_range_min"], row["spectral_range_max"] = facts.spectral_range
    return row


def _clean(value: str | None) -> str | None:
    """EPN-TAP strings have no leading or trailing spaces, nor control characters (made '_', as the
    standard suggests for special characters); an empty string is no value."""
    if value is None:
        return None
    text = _CONTROL.sub("_", value.strip())
    return text or None


def _same(a: str | None, b: str | None) -> bool:
    return a is not None and b is not None and a.casefold() == b.casefold()


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _positive(value: float) -> bool:
    return math.isfinite(value) and value > 0


def _header_text(header: Header, *keywords: str) -> str | None:
    for keyword in keywords:
        value = header.get(keyword)
        if isinstance(value, bool) or value is None:
            continue
        if isinstance(value, float) and not math.isfinite(value):
            continue
        text = _clean(str(value))
        if text is not None:
            return text
    return None


def _header_number(header: Header, keyword: str) -> float | None:
    value = header.get(keyword)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


# --- times ------------------------------------------------------------------------------------------

_ISO_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2}):(\d{2}(?:\.\d*)?))?Z?")
#: The date format before 1999 (FITS Standard 4.0 section 4.4.2.2): DD/MM/YY, years 1900-1999.
_OLD_DATE = re.compile(r"(\d{2})/(\d{2})/(\d{2})")
_TIME_OF_DAY = re.compile(r"(\d{2}):(\d{2}):(\d{2}(?:\.\d*)?)")


def _parse_date(value: str, time_of_day: str | None = None) -> tuple[datetime, bool]:
    """A FITS date (ISO 8601, or DD/MM/YY) as UTC, and whether it gave the time of day.

    Raises:
        ValueError: not a date.
    """
    text = value.strip()
    if (old := _OLD_DATE.fullmatch(text)) is not None:
        day, month, year = (int(g) for g in old.groups())
        moment, has_time = datetime(1900 + year, month, day, tzinfo=UTC), False
    elif (iso := _ISO_DATE.fullmatch(text)) is not None:
        year, month, day = int(iso[1]), int(iso[2]), int(iso[3])
        moment, has_time = datetime(year, month, day, tzinfo=UTC), iso[4] is not None
        if has_time:
            moment += _day_offset(iso[4], iso[5], iso[6])
    else:
        raise ValueError(f"{value!r} is not a date")
    if not has_time and time_of_day is not None:
        if (clock := _TIME_OF_DAY.fullmatch(time_of_day.strip())) is None:
            raise ValueError(f"{time_of_day!r} is not a time of day")
        moment += _day_offset(clock[1], clock[2], clock[3])
        has_time = True
    return moment, has_time


def _day_offset(hours: str, minutes: str, seconds: str) -> timedelta:
    h, m, s = int(hours), int(minutes), float(seconds)
    if h > 23 or m > 59 or s >= 61:
        raise ValueError(f"{hours}:{minutes}:{seconds} is not a time of day")
    # A leap second (ss = 60) lands on the next day's midnight: JD(UTC) has no room for it.
    return timedelta(hours=h, minutes=m, seconds=s)


def _header_time(header: Header, path: str, notes: _Notes) -> tuple[float, float] | None:
    """time_min and time_max (JD) from a header, or None when it gives no usable time."""
    keywords = ("DATE-BEG", "DATE-OBS", "DATE-END", "MJD-BEG", "MJD-OBS", "MJD-END")
    if not any(k in header for k in keywords):
        return None
    scale = _header_text(header, "TIMESYS")
    if scale is not None and scale.upper() not in _UTC_SCALES:
        notes.add(
            path,
            f"header times are in the time scale {scale!r}, not UTC; they are not converted "
            "(the descriptive metadata's times are used, if any)",
        )
        return None
    try:
        start = _header_instant(header, ("DATE-BEG", "DATE-OBS"), ("MJD-BEG", "MJD-OBS"), at_end=False)
        end = _header_instant(header, ("DATE-END",), ("MJD-END",), at_end=True)
    except ValueError as exc:
        notes.add(
            path, f"header time not understood ({exc}); the descriptive metadata's times are used, if any"
        )
        return None
    # EPN-TAP: "If only one value is available, it must appear in both parameters."
    if start is not None:
        low, high = start[0], (end[0] if end is not None else start[1])
    elif end is not None:
        low = high = end[0]
    else:
        return None
    if high < low:
        notes.add(
            path,
            "header end time is before its start time; the descriptive metadata's times are used, if any",
        )
        return None
    return low, high


def _header_instant(
    header: Header, date_keywords: tuple[str, ...], mjd_keywords: tuple[str, ...], *, at_end: bool
) -> tuple[float, float] | None:
    """(JD, JD of the latest moment it may mean): a date without time of day spans its whole day.

    Raises:
        ValueError: a date keyword holds something that is not a date.
    """
    for keyword in date_keywords:
        value = header.get(keyword)
        if value is None:
            continue
        if not isinstance(value, str):
            raise ValueError(f"{keyword} = {value!r} is not a date")
        time_of_day = header.get("TIME-OBS") if keyword == "DATE-OBS" else None
        moment, has_time = _parse_date(value, time_of_day if isinstance(time_of_day, str) else None)
        if has_time:
            jd = julian_day(moment)
            return jd, jd
        day_start, day_end = julian_day(moment), julian_day(moment + timedelta(days=1))
        return (day_end, day_end) if at_end else (day_start, day_end)
    for keyword in mjd_keywords:
        mjd = _header_number(header, keyword)
        if mjd is not None:
            return mjd + _MJD_TO_JD, mjd + _MJD_TO_JD
        if keyword in header:
            raise ValueError(f"{keyword} = {header[keyword]!r} is not a number")
    return None


def _header_exposure(header: Header, path: str, notes: _Notes) -> float | None:
    for keyword in ("XPOSURE", "EXPTIME", "EXPOSURE"):
        if keyword not in header:
            continue
        value = _header_number(header, keyword)
        unit = _header_text(header, "TIMEUNIT")
        if value is None or value < 0:
            notes.add(path, f"{keyword} = {header[keyword]!r} is not an exposure time; left empty")
        elif unit is not None and unit != "s":
            notes.add(path, f"{keyword} is in {unit!r} (TIMEUNIT), not seconds; left empty")
        else:
            return value
        return None
    return None


# --- spectral axis ------------------------------------------------------------------------------

#: (spectral range, sampling step), both in Hz.
_Spectral = tuple[tuple[float, float], tuple[float, float] | None]

#: Linear spectral axis types (FITS WCS Paper III) -> units (to SI) the table converts.
_SPECTRAL_UNITS: dict[str, dict[str, float]] = {
    "FREQ": {"Hz": 1.0, "kHz": 1e3, "MHz": 1e6, "GHz": 1e9, "THz": 1e12},
    "WAVE": {"m": 1.0, "cm": 1e-2, "mm": 1e-3, "um": 1e-6, "nm": 1e-9, "Angstrom": 1e-10, "angstrom": 1e-10},
    "WAVN": {
        "m-1": 1.0,
        "m^-1": 1.0,
        "/m": 1.0,
        "1/m": 1.0,
        "cm-1": 100.0,
        "cm^-1": 100.0,
        "/cm": 100.0,
        "1/cm": 100.0,
    },
    "ENER": {"J": 1.0, "eV": _EV, "keV": 1e3 * _EV, "MeV": 1e6 * _EV},
}
_DEFAULT_UNITS = {"FREQ": "Hz", "WAVE": "m", "WAVN": "m-1", "ENER": "J"}


def _to_hz(ctype: str, value: float) -> float | None:
    """A spectral coordinate in SI units as a frequency (Hz), or None if it has none."""
    if ctype == "FREQ":
        hz = value
    elif value <= 0:
        return None
    elif ctype == "WAVE":
        hz = _C / value
    elif ctype == "WAVN":
        hz = _C * value
    else:  # ENER
        hz = value / _H
    return hz if _positive(hz) else None


def _step_hz(ctype: str, value: float, step: float) -> float:
    """A sampling step at a spectral coordinate (SI units) as a frequency step (Hz)."""
    if ctype == "WAVE":
        return _C * abs(step) / (value * value)
    if ctype == "WAVN":
        return _C * abs(step)
    if ctype == "ENER":
        return abs(step) / _H
    return abs(step)


def _header_spectral(header: Header, path: str, notes: _Notes) -> _Spectral | None:
    """(spectral range, sampling step) in Hz from a linear spectral WCS axis, or None.

    Only the simple case is read: one axis whose CTYPE is exactly FREQ, WAVE, WAVN or ENER (no
    non-linear algorithm code), whose coordinate depends on its own pixel axis alone (no PC or CD
    cross terms), in a unit the table knows. The range runs between the first and last channel
    centres; the step is the spacing of channels (none for a single channel).
    """
    naxis = header.get("NAXIS")
    if isinstance(naxis, bool) or not isinstance(naxis, int) or not 0 < naxis <= 999:
        return None
    for i in range(1, naxis + 1):
        ctype = _header_text(header, f"CTYPE{i}")
        if ctype is None:
            continue
        kind = ctype.upper()
        if kind in _SPECTRAL_UNITS:
            return _linear_axis(header, i, naxis, kind, path, notes)
        if kind[:4] in {*_SPECTRAL_UNITS, "AWAV"}:
            notes.add(
                path,
                f"spectral axis {i} ({ctype!r}) is not a linear FREQ, WAVE, WAVN or ENER axis; "
                "spectral range left empty",
            )
            return None
    return None


def _linear_axis(header: Header, i: int, naxis: int, kind: str, path: str, notes: _Notes) -> _Spectral | None:
    def skip(problem: str) -> _Spectral | None:
        notes.add(path, f"spectral axis {i} ({kind}) not read: {problem}; spectral range left empty")
        return None

    size = header.get(f"NAXIS{i}")
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        return skip(f"NAXIS{i} is not a positive length")
    others = [j for j in range(1, naxis + 1) if j != i]
    if any(f"CD{i}_{j}" in header for j in range(1, naxis + 1)):
        scale = _header_number(header, f"CD{i}_{i}")
        cross = [f"CD{i}_{j}" for j in others]
    else:
        cdelt, pc = _header_number(header, f"CDELT{i}"), _header_number(header, f"PC{i}_{i}")
        scale = cdelt * (pc if pc is not None else 1.0) if cdelt is not None else None
        cross = [f"PC{i}_{j}" for j in others]
    crval, crpix = _header_number(header, f"CRVAL{i}"), _header_number(header, f"CRPIX{i}")
    if crval is None or crpix is None or not scale:
        return skip("its CRVAL, CRPIX or scale (CDELT, CD) is missing")
    if any(k in header and _header_number(header, k) != 0.0 for k in cross):
        return skip("it is rotated or mixed with another axis (PC or CD cross terms)")
    unit = _header_text(header, f"CUNIT{i}") or _DEFAULT_UNITS[kind]
    to_si = _SPECTRAL_UNITS[kind].get(unit)
    if to_si is None:
        return skip(f"its unit {unit!r} is not one the table converts")
    ends = [(crval + scale * (p - crpix)) * to_si for p in (1, size)]
    hz = [v for v in (_to_hz(kind, e) for e in ends) if v is not None]
    if len(hz) != len(ends):
        return skip("it reaches values that are not a frequency (zero or negative)")
    step = None
    if size > 1:
        steps = [_step_hz(kind, e, scale * to_si) for e in ends]
        step = (min(steps), max(steps))
    return (min(hz), max(hz)), step
