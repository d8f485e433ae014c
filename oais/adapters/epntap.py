"""The EPN-TAP 2.0 granule table on disk: FITS header facts read with astropy, the table written as
CSV and VOTable 1.4, and the PostgreSQL table the CSV loads into.

The columns and what goes into them are the domain's (:mod:`oais.domain.epntap`); this module only
reads headers and writes files.

CSV (RFC 4180): UTF-8, a header line of the column names in table order, ``\\n`` line ends, a
field quoted when it holds a comma, a double quote, CR or LF; an empty field is a null (PostgreSQL
``COPY ... WITH (FORMAT csv)`` loads it as NULL). Numbers are written so that they read back to the
same double; timestamps as DALI timestamps in UTC (``2024-05-01T12:00:00.000Z``).

VOTable 1.4 (astropy): one TABLE ``epn_core`` with the EPN-TAP utype; each FIELD carries datatype,
unit, UCD, xtype and description. Text is ``unicodeChar`` (paths and names are not always ASCII),
timestamps ``char`` with ``xtype="timestamp"``. A null number is an empty cell, which VOTable
readers take as null (no value is made up to stand for it); a null text is an empty string.
"""

from __future__ import annotations

import math
import numbers
import re
import warnings
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from oais.domain.epntap import AXIS_KEYWORD, COLUMN_NAMES, COLUMNS, OBSERVATION_KEYWORDS, Column, ColumnType
from oais.domain.errors import StorageError, ToolError

HeaderValue = str | int | float | bool

#: PRONOM identifiers of FITS (a file is also read as FITS when it starts with ``SIMPLE  =``).
FITS_PUIDS = frozenset({"x-fmt/383"})
_FITS_MAGIC = b"SIMPLE  ="
#: What astropy raises on a damaged FITS file, besides its VerifyError (``OSError``: "Empty or
#: corrupt FITS file", "Header missing END card").
_FITS_ERRORS: tuple[type[Exception], ...] = (OSError, ValueError, TypeError, KeyError, IndexError, EOFError)

#: The utype that marks an EPN-TAP 2.0 table (section 4 of the standard).
EPNTAP_UTYPE = "ivo://ivoa.net/std/epntap#table-2.0"

_SQL_TYPES = {
    ColumnType.TEXT: "text",
    ColumnType.DOUBLE: "double precision",
    ColumnType.INTEGER: "integer",
    # DaCHS's epntap2 mixin declares timestamps without time zone; the values are UTC.
    ColumnType.TIMESTAMP: "timestamp",
}
_VOTABLE_TYPES = {
    ColumnType.TEXT: ("unicodeChar", "*"),
    ColumnType.DOUBLE: ("double", None),
    ColumnType.INTEGER: ("int", None),
    ColumnType.TIMESTAMP: ("char", "*"),
}
#: A PostgreSQL table name, optionally with its schema ("vespa.epn_core"); written unquoted.
_TABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}(\.[A-Za-z_][A-Za-z0-9_]{0,62})?")

Cell = str | float | int | None

#: Characters XML 1.0 documents cannot hold (tab, CR and LF are allowed).
_NOT_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


class EpnTapTableWriter:
    """Reads FITS headers for the EPN-TAP table and writes the table (the :class:`GranuleTableWriter`
    port)."""

    def header(self, path: Path, puid: str | None) -> dict[str, HeaderValue]:
        """The header keywords of a FITS file that the table uses (empty for other formats).

        A file is FITS when its PUID says so or when its first card is ``SIMPLE  =``. Observation
        keywords (:data:`~oais.domain.epntap.OBSERVATION_KEYWORDS`) come from the primary header,
        the first extension (image or table) filling in those it lacks; axis keywords
        (:data:`~oais.domain.epntap.AXIS_KEYWORD`) come from the HDU that holds the image: the
        primary when it has data, else the first extension if it is an image. Data are not read.

        Args:
            path: the file.
            puid: its PRONOM identifier, if known.

        Returns:
            keyword -> value (str, int, float or bool); cards whose value astropy cannot parse, or
            that have no value, are left out.

        Raises:
            ToolError: a FITS file whose header cannot be read, or a file that cannot be opened
                (naming it).
        """
        if puid not in FITS_PUIDS and not _starts_like_fits(path):
            return {}
        from astropy.io import fits
        from astropy.io.fits.verify import VerifyError
        from astropy.utils.exceptions import AstropyWarning

        try:
            # astropy warns about non-standard cards and fixes what it can: the file is as it is,
            # and ingest already recorded what it thinks of it. The file is opened here, not by
            # astropy, which leaves it open when its header is too broken to parse.
            with warnings.catch_warnings(), path.open("rb") as stream:
                warnings.simplefilter("ignore", AstropyWarning)
                with fits.open(stream, memmap=False, lazy_load_hdus=True) as hdus:
                    primary = hdus[0]
                    try:
                        first = hdus[1]
                    except IndexError:
                        first = None
                    if first is not None and not isinstance(
                        first, fits.ImageHDU | fits.CompImageHDU | fits.BinTableHDU | fits.TableHDU
                    ):
                        first = None
                    found = (
                        _values(first.header, OBSERVATION_KEYWORDS.__contains__) if first is not None else {}
                    )
                    found.update(_values(primary.header, OBSERVATION_KEYWORDS.__contains__))
                    image = None
                    if not isinstance(primary, fits.GroupsHDU) and _int(primary.header.get("NAXIS")) > 0:
                        image = primary
                    elif isinstance(first, fits.ImageHDU | fits.CompImageHDU):
                        image = first
                    if image is not None:
                        found.update(_values(image.header, lambda k: AXIS_KEYWORD.fullmatch(k) is not None))
                    return found
        except KeyError as exc:
            raise ToolError(f"{path}: the FITS header cannot be read: keyword {exc} is missing") from exc
        except (*_FITS_ERRORS, VerifyError) as exc:
            raise ToolError(f"{path}: the FITS header cannot be read: {exc}") from exc

    def write(self, rows: Sequence[Mapping[str, object]], csv: Path, votable: Path) -> None:
        """Write the rows (EPN-TAP 2.0 columns, see :mod:`oais.domain.epntap`) as CSV and VOTable.

        Args:
            rows: column name -> value (str, float, int, datetime or date, None); a column that a
                row does not give is null.
            csv: where the CSV goes.
            votable: where the VOTable goes.

        Raises:
            ValueError: a row names a column the table does not have, or a value does not fit its
                column (a number that is not finite, text in a number column...).
            StorageError: a file cannot be written.
        """
        cells = [_row_cells(row) for row in rows]
        _write_csv(cells, csv)
        _write_votable(cells, votable)

    def create_table_sql(self, table: str) -> str:
        """The PostgreSQL statements that create the table the CSV loads into.

        The columns are the CSV's, in the same order and with the standard's types (``text``,
        ``double precision``, ``integer``, ``timestamp`` in UTC); ``granule_uid`` is the primary
        key; each column's description (and unit) is its comment. ``s_region`` is ``text`` here
        (DaCHS's epntap2 mixin makes it a pgSphere ``spoly``; this table leaves it empty). Load the
        CSV with ``COPY <table> FROM STDIN WITH (FORMAT csv, HEADER true)``.

        Args:
            table: the table's name, optionally qualified by its schema (``vespa.epn_core``).

        Returns:
            ``CREATE TABLE`` and ``COMMENT`` statements, separated by semicolons.

        Raises:
            ValueError: ``table`` is not a plain SQL name.
        """
        if _TABLE_NAME.fullmatch(table) is None:
            raise ValueError(
                f"table name {table!r} is not allowed: use letters, digits and '_', optionally 'schema.table'"
            )
        lines = [
            f"    {c.name} {_SQL_TYPES[c.type]}{' PRIMARY KEY' if c.name == 'granule_uid' else ''}"
            for c in COLUMNS
        ]
        statements = [f"CREATE TABLE {table} (\n" + ",\n".join(lines) + "\n)"]
        statements.append(f"COMMENT ON TABLE {table} IS {_sql_string('EPN-TAP 2.0 granules (epn_core)')}")
        for c in COLUMNS:
            statements.append(f"COMMENT ON COLUMN {table}.{c.name} IS {_sql_string(_description(c))}")
        return ";\n".join(statements) + ";\n"


# --- FITS headers -------------------------------------------------------------------------------


def _starts_like_fits(path: Path) -> bool:
    try:
        with path.open("rb") as stream:
            return stream.read(len(_FITS_MAGIC)) == _FITS_MAGIC
    except OSError as exc:
        raise ToolError(f"{path}: cannot be read: {exc}") from exc


def _int(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _values(header: Any, wanted: Callable[[str], bool]) -> dict[str, HeaderValue]:
    """The wanted keywords of an astropy header with plain values (the first card of a keyword)."""
    from astropy.io.fits.verify import VerifyError

    found: dict[str, HeaderValue] = {}
    for card in header.cards:
        keyword = card.keyword
        if keyword in found or not wanted(keyword):
            continue
        try:
            value = card.value
        except (VerifyError, ValueError):
            continue
        plain = _plain(value)
        if plain is not None:
            found[keyword] = plain
    return found


def _plain(value: object) -> HeaderValue | None:
    """A header value as str, int, float or bool; None for no value (or a complex one)."""
    if isinstance(value, bool | str):
        return value
    # numpy's bool is not a bool, nor an Integral.
    if type(value).__name__ == "bool_":
        return bool(value)
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    return None


# --- writing ------------------------------------------------------------------------------------


def _row_cells(row: Mapping[str, object]) -> list[Cell]:
    unknown = set(row) - set(COLUMN_NAMES)
    if unknown:
        raise ValueError(f"the EPN-TAP table has no column {', '.join(sorted(unknown))}")
    return [_cell(column, row.get(column.name)) for column in COLUMNS]


def _cell(column: Column, value: object) -> Cell:
    """A value as written: str, float or int, or None for null."""
    if value is None:
        return None
    if column.type is ColumnType.TEXT:
        text = str(value)
        if _NOT_XML.search(text):
            raise ValueError(f"{column.name}: {text!r} holds a control character (XML 1.0 cannot carry it)")
        return text or None
    if column.type is ColumnType.TIMESTAMP:
        if isinstance(value, str):
            return value or None
        if isinstance(value, datetime):
            moment = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        elif isinstance(value, date):
            moment = datetime(value.year, value.month, value.day, tzinfo=UTC)
        else:
            raise ValueError(f"{column.name}: {value!r} is not a date and time")
        return f"{moment:%Y-%m-%dT%H:%M:%S}.{moment.microsecond // 1000:03d}Z"
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{column.name}: {value!r} is not a number")
    if column.type is ColumnType.INTEGER:
        if not isinstance(value, int):
            raise ValueError(f"{column.name}: {value!r} is not an integer")
        return value
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"{column.name}: {value!r} is not a finite number")
    return number


def _csv_field(cell: Cell) -> str:
    if cell is None:
        return ""
    text = repr(cell) if isinstance(cell, float) else str(cell)
    if any(ch in text for ch in ',"\r\n'):
        return '"' + text.replace('"', '""') + '"'
    return text


def _write_csv(cells: list[list[Cell]], path: Path) -> None:
    lines = [",".join(COLUMN_NAMES)] + [",".join(_csv_field(c) for c in row) for row in cells]
    try:
        with path.open("w", encoding="utf-8", newline="") as out:
            out.write("\n".join(lines) + "\n")
    except OSError as exc:
        raise StorageError(f"{path}: the EPN-TAP CSV cannot be written: {exc}") from exc


def _write_votable(cells: list[list[Cell]], path: Path) -> None:
    from astropy.io.votable.tree import Field, Resource, TableElement, VOTableFile

    votable = VOTableFile(version="1.4")
    resource = Resource()
    votable.resources.append(resource)
    table = TableElement(votable, name="epn_core", utype=EPNTAP_UTYPE)
    table.description = "EPN-TAP 2.0 granule table (epn_core)"
    resource.tables.append(table)
    for column in COLUMNS:
        datatype, arraysize = _VOTABLE_TYPES[column.type]
        field = Field(
            votable,
            name=column.name,
            datatype=datatype,
            arraysize=arraysize,
            unit=column.unit,
            ucd=column.ucd,
            xtype=column.xtype,
        )
        field.description = column.description
        table.fields.append(field)
    table.create_arrays(len(cells))
    blanks = tuple("" if c.type in (ColumnType.TEXT, ColumnType.TIMESTAMP) else 0 for c in COLUMNS)
    for index, row in enumerate(cells):
        table.array[index] = tuple(
            blank if cell is None else cell for cell, blank in zip(row, blanks, strict=True)
        )
        table.array.mask[index] = tuple(cell is None for cell in row)
    try:
        votable.to_xml(str(path))
    except OSError as exc:
        raise StorageError(f"{path}: the EPN-TAP VOTable cannot be written: {exc}") from exc


def _description(column: Column) -> str:
    return f"{column.description} [{column.unit}]" if column.unit else column.description


def _sql_string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
