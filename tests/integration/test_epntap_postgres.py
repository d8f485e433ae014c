"""The EPN-TAP granule table on real files: FITS headers read with astropy, the table written as CSV
and VOTable, read back by astropy and the csv module, and loaded into PostgreSQL with COPY as a
DaCHS-style epn_core table."""

from __future__ import annotations

import csv
import math
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import psycopg
import pytest
from astropy.io import fits
from astropy.io.votable import parse
from psycopg import sql
from sqlalchemy.engine import make_url

from oais.adapters.epntap import EpnTapTableWriter
from oais.domain.descriptive import DescriptiveMetadata, Observation
from oais.domain.dip import DipFile, Granule
from oais.domain.epntap import COLUMN_NAMES, COLUMNS, ColumnType, GranuleTable, granule_table, julian_day
from oais.domain.errors import ToolError
from oais.domain.ports import GranuleTableWriter
from tests.support import fits_files

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "omega-orbit-0042"
C = 299792458.0
ORBIT_42 = 2453023.0  # 2004-01-18T12:00:00 UTC
CREATED = datetime(2024, 5, 1, 9, 30, tzinfo=UTC)
MODIFIED = datetime(2024, 6, 2, 10, 0, 0, 250000, tzinfo=UTC)
#: A file name that needs CSV quoting and is not ASCII.
ODD_NAME = 'cubes/étalonnage, "v2".fits'

METADATA = DescriptiveMetadata(
    title="OMEGA orbit 42",
    publisher="IAS",
    observation=Observation(
        target_name="Mars",
        target_class="planet",
        instrument_host_name="Mars Express",
        instrument_name="OMEGA",
        dataproduct_type="sc",
        processing_level=3,
        measurement_type="phys.reflectance",
    ),
)


def write_cube(path: Path) -> None:
    """A spectral cube: 1.0 to 2.55 um in 32 channels, with times, exposure and observation id."""
    hdu = fits.PrimaryHDU(np.zeros((8, 16, 32), dtype=np.int16))
    hdu.header.update(
        {
            "OBS_ID": "ORB0042_1",
            "TELESCOP": "MEX",
            "INSTRUME": "OMEGA",
            "OBJECT": "MARS",
            "DATE-BEG": "2004-01-18T12:00:00",
            "DATE-END": "2004-01-18T12:30:00",
            "EXPTIME": 2.5,
            "CTYPE1": "WAVE",
            "CUNIT1": "um",
            "CRVAL1": 1.0,
            "CDELT1": 0.05,
            "CRPIX1": 1.0,
        }
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    hdu.writeto(path)


def write_phobos(path: Path) -> None:
    """No data in the primary HDU: the target is in the image extension, the date in the primary."""
    primary = fits.PrimaryHDU()
    primary.header.update({"DATE-OBS": "2004-01-19T00:00:00", "TIMESYS": "UTC", "TELESCOP": "MEX"})
    image = fits.ImageHDU(np.zeros((4, 5), dtype=np.float32), name="SCI")
    image.header.update({"OBJECT": "PHOBOS", "DATE-OBS": "1999-01-01T00:00:00"})
    path.parent.mkdir(parents=True, exist_ok=True)
    fits.HDUList([primary, image]).writeto(path)


def write_blank(path: Path) -> None:
    """A FITS image that says nothing about its observation."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fits.PrimaryHDU(np.zeros((3, 3), dtype=np.uint8)).writeto(path)


@dataclass(frozen=True)
class Made:
    """The table of one DIP and where it was written."""

    table: GranuleTable
    csv: Path
    votable: Path
    granules: tuple[Granule, ...]


def dip_file(root: Path, path: str, mime_type: str, puid: str | None, **extra: str) -> DipFile:
    return DipFile(
        path=path,
        size=(root / path).stat().st_size,
        sha256="0" * 64,
        puid=puid,
        mime_type=mime_type,
        source=extra.get("source", path),
        derivative_of=extra.get("derivative_of"),
    )


@pytest.fixture
def made(tmp_path: Path) -> Made:
    root = tmp_path / "dip" / "data"
    write_cube(root / "cubes/mars_cube.fits")
    write_phobos(root / "cubes/phobos.fits")
    write_blank(root / ODD_NAME)
    for sample in ("cubes/ORB0042_1.fits", "cubes/calibration/dark_current.fits", "quicklook/ORB0042_1.png"):
        (root / sample).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(EXAMPLES / sample, root / sample)
    (root / "documents").mkdir()
    shutil.copyfile(EXAMPLES / "documents/OMEGA_EAICD.pdf", root / "documents/OMEGA_EAICD.pdf")
    shutil.copyfile(EXAMPLES / "quicklook/ORB0042_1.png", root / "cubes/mars_cube.png")

    files = [
        dip_file(root, "cubes/mars_cube.fits", "application/fits", "x-fmt/383"),
        dip_file(
            root,
            "cubes/mars_cube.png",
            "image/png",
            "fmt/11",
            source="cubes/mars_cube.fits",
            derivative_of="fits-preview",
        ),
        dip_file(root, "cubes/phobos.fits", "application/fits", "x-fmt/383"),
        # Identified by nothing: read as FITS from its first card.
        dip_file(root, ODD_NAME, "application/octet-stream", None),
        dip_file(root, "cubes/ORB0042_1.fits", "application/fits", "x-fmt/383"),
        dip_file(root, "cubes/calibration/dark_current.fits", "application/fits", "x-fmt/383"),
        dip_file(root, "quicklook/ORB0042_1.png", "image/png", "fmt/11"),
        dip_file(root, "documents/OMEGA_EAICD.pdf", "application/pdf", "fmt/18"),
    ]
    writer = EpnTapTableWriter()
    granules = tuple(
        Granule(
            file=f,
            access_url=f"https://data.example.org/dips/omega-0042/data/{f.path}",
            header=writer.header(root / f.path, f.puid),
            created=CREATED,
            modified=MODIFIED,
            released=date(2024, 5, 1),
        )
        for f in files
    )
    table = granule_table("omega-0042", 1, METADATA, granules, "omega_cubes", publisher="CDPP")
    out = tmp_path / "dip" / "metadata"
    out.mkdir()
    writer.write(table.rows, out / "epntap.csv", out / "epntap.xml")
    return Made(table=table, csv=out / "epntap.csv", votable=out / "epntap.xml", granules=granules)


def by_file(made: Made) -> dict[str, dict[str, object]]:
    return {str(r["file_name"]): r for r in made.table.rows}


# --- headers ------------------------------------------------------------------------------------


def test_the_writer_is_a_granule_table_writer() -> None:
    writer: GranuleTableWriter = EpnTapTableWriter()
    assert writer.header(EXAMPLES / "README.txt", "x-fmt/111") == {}


def test_headers_of_the_sample_cubes() -> None:
    header = EpnTapTableWriter().header(EXAMPLES / "cubes/ORB0042_2.fits", "x-fmt/383")
    # The housekeeping table extension does not replace the cube's axes.
    assert header == {
        "TELESCOP": "MEX",
        "INSTRUME": "OMEGA",
        "OBJECT": "MARS",
        "DATE-OBS": "2004-01-18T12:00:00",
        "NAXIS": 3,
        "NAXIS1": 32,
        "NAXIS2": 16,
        "NAXIS3": 8,
    }


def test_primary_keywords_win_and_the_extension_fills_in(tmp_path: Path) -> None:
    write_phobos(tmp_path / "p.fits")
    header = EpnTapTableWriter().header(tmp_path / "p.fits", None)
    assert header["DATE-OBS"] == "2004-01-19T00:00:00"  # the primary's, not the extension's
    assert header["OBJECT"] == "PHOBOS"  # only in the extension
    assert (header["NAXIS"], header["NAXIS1"], header["NAXIS2"]) == (2, 5, 4)  # the image's axes
    assert "BITPIX" not in header and "EXTNAME" not in header


@pytest.mark.parametrize(
    "broken",
    [fits_files.fmt_e001_empty, fits_files.fmt_e001_end_missing, fits_files.fmt_e001_naxis2_missing],
)
def test_a_fits_header_that_cannot_be_read_is_a_tool_error(
    tmp_path: Path, broken: Callable[[], bytes]
) -> None:
    path = tmp_path / "broken.fits"
    path.write_bytes(broken())
    with pytest.raises(ToolError, match=r"broken\.fits: the FITS header cannot be read"):
        EpnTapTableWriter().header(path, "x-fmt/383")


def test_a_file_that_does_not_start_like_fits_is_not_read_as_fits(tmp_path: Path) -> None:
    path = tmp_path / "cube.dat"
    path.write_bytes(b"NOT FITS" * 10)
    assert EpnTapTableWriter().header(path, None) == {}


# --- the rows of real files ---------------------------------------------------------------------


def test_rows_of_real_files(made: Made) -> None:
    rows = by_file(made)
    assert made.table.left_out == ("documents/OMEGA_EAICD.pdf",)
    assert len(made.table.rows) == 7
    cube = rows["mars_cube.fits"]
    assert (cube["obs_id"], cube["target_name"], cube["target_class"]) == ("ORB0042_1", "Mars", "planet")
    assert (cube["time_min"], cube["time_max"]) == (
        ORBIT_42,
        julian_day(datetime(2004, 1, 18, 12, 30, tzinfo=UTC)),
    )
    assert cube["spectral_range_min"] == pytest.approx(C / 2.55e-6, rel=1e-12)
    assert cube["time_exp_min"] == 2.5
    preview = rows["mars_cube.png"]
    assert (preview["granule_gid"], preview["dataproduct_type"], preview["obs_id"]) == (
        "preview",
        "im",
        "ORB0042_1",
    )
    assert (preview["time_min"], preview["time_exp_min"], preview["spectral_range_min"]) == (
        ORBIT_42,
        2.5,
        None,
    )
    phobos = rows["phobos.fits"]
    assert (phobos["target_name"], phobos["target_class"], phobos["time_min"]) == (
        "Phobos",
        "satellite",
        ORBIT_42 + 0.5,
    )
    odd = rows['étalonnage, "v2".fits']
    assert odd["access_format"] == "application/octet-stream" and odd["time_min"] is None
    for sample in ("ORB0042_1.fits", "dark_current.fits"):
        assert rows[sample]["time_min"] == rows[sample]["time_max"] == ORBIT_42
        assert rows[sample]["instrument_host_name"] == "Mars Express"


# --- the files ----------------------------------------------------------------------------------


def csv_rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as stream:
        text = stream.read()
    assert "\r" not in text  # "\n" line ends (and no field here holds a CR)
    return list(csv.DictReader(text.splitlines(keepends=True)))


def test_the_csv_reads_back(made: Made) -> None:
    header = made.csv.read_text(encoding="utf-8").split("\n", 1)[0]
    assert header == ",".join(COLUMN_NAMES)
    rows = csv_rows(made.csv)
    assert len(rows) == len(made.table.rows)
    for written, row in zip(rows, made.table.rows, strict=True):
        assert list(written) == list(COLUMN_NAMES)
        for column in COLUMNS:
            value = row[column.name]
            text = written[column.name]
            if value is None:
                assert text == ""
            elif column.type is ColumnType.DOUBLE:
                assert float(text) == value  # exactly: no digit is lost
            elif column.type is ColumnType.INTEGER:
                assert int(text) == value
            elif column.type is ColumnType.TIMESTAMP:
                assert isinstance(value, datetime)
                assert text == f"{value:%Y-%m-%dT%H:%M:%S}.{value.microsecond // 1000:03d}Z"
            else:
                assert text == value


def test_the_votable_reads_back_like_the_csv(made: Made) -> None:
    votable = parse(str(made.votable), verify="exception")
    element = votable.get_first_table()
    assert element.name == "epn_core" and element.utype == "ivo://ivoa.net/std/epntap#table-2.0"
    fields = {f.name: f for f in element.fields}
    assert list(fields) == list(COLUMN_NAMES)
    for column in COLUMNS:
        field = fields[column.name]
        assert field.ucd == column.ucd
        assert (str(field.unit) if field.unit is not None else None) == column.unit
        assert " ".join(field.description.split()) == column.description  # astropy wraps long lines
        assert field.xtype == column.xtype
    assert fields["time_min"].datatype == "double" and fields["access_estsize"].datatype == "int"
    assert fields["creation_date"].datatype == "char"

    table = element.to_table()
    for index, written in enumerate(csv_rows(made.csv)):
        for column in COLUMNS:
            cell = table[column.name][index]
            text = written[column.name]
            masked = bool(np.ma.is_masked(cell))
            if column.type in (ColumnType.DOUBLE, ColumnType.INTEGER):
                # A null number is a VOTable null, not a stand-in value.
                assert masked == (text == ""), column.name
                if not masked:
                    assert float(cell) == float(text)
            else:
                assert ("" if masked else str(cell)) == text, column.name


# --- PostgreSQL ---------------------------------------------------------------------------------


@pytest.fixture
def database(fresh_postgres_url: str) -> Iterator[psycopg.Connection[tuple[object, ...]]]:
    dsn = make_url(fresh_postgres_url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(dsn, autocommit=True) as connection:
        connection.execute("SET TIME ZONE 'Pacific/Chatham'")  # a timestamp must not depend on it
        yield connection


@pytest.mark.postgres
def test_the_csv_loads_into_the_epn_core_table(
    made: Made, database: psycopg.Connection[tuple[object, ...]]
) -> None:
    writer = EpnTapTableWriter()
    database.execute("CREATE SCHEMA omega_cubes")
    database.execute(writer.create_table_sql("omega_cubes.epn_core"))
    with database.cursor() as cursor:
        with cursor.copy("COPY omega_cubes.epn_core FROM STDIN WITH (FORMAT csv, HEADER true)") as copy:
            copy.write(made.csv.read_bytes())
        # The columns are the CSV's, in order, with the standard's types.
        cursor.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = 'omega_cubes' AND table_name = 'epn_core' ORDER BY ordinal_position"
        )
        columns = cursor.fetchall()
    assert [name for name, _ in columns] == list(COLUMN_NAMES)
    types = {str(name): str(kind) for name, kind in columns}
    assert types["time_min"] == "double precision" and types["access_estsize"] == "integer"
    assert types["creation_date"] == "timestamp without time zone" and types["granule_uid"] == "text"

    rows = database.execute(
        "SELECT file_name, time_min, time_max, obs_id FROM omega_cubes.epn_core "
        "WHERE target_name = 'Mars' ORDER BY granule_uid COLLATE \"C\""
    ).fetchall()
    assert rows == [
        ("ORB0042_1.fits", ORBIT_42, ORBIT_42, "omega-0042"),
        ("dark_current.fits", ORBIT_42, ORBIT_42, "omega-0042"),
        ("mars_cube.fits", ORBIT_42, ORBIT_42 + 1 / 48, "ORB0042_1"),
        ("mars_cube.png", ORBIT_42, ORBIT_42 + 1 / 48, "ORB0042_1"),
        (ODD_NAME.split("/")[1], None, None, "omega-0042"),
        ("ORB0042_1.png", None, None, "omega-0042"),
    ]

    # Unknown values are NULL, not zero or an empty string.
    assert database.execute(
        "SELECT count(*) FROM omega_cubes.epn_core WHERE c1min IS NULL AND s_region IS NULL "
        "AND incidence_min IS NULL AND thumbnail_url IS NULL AND spatial_frame_type = 'none'"
    ).fetchone() == (7,)
    odd = database.execute(
        "SELECT granule_uid, time_min, target_name, spectral_range_min, dataproduct_type, target_class "
        "FROM omega_cubes.epn_core WHERE access_format = 'application/octet-stream'"
    ).fetchone()
    assert odd == (f"omega-0042/v1/{ODD_NAME}", None, "Mars", None, "sc", "planet")

    # Numbers and dates come back as written.
    cube = database.execute(
        "SELECT spectral_range_min, spectral_range_max, spectral_sampling_step_max, time_exp_min, "
        "access_estsize, processing_level, creation_date, modification_date, release_date "
        "FROM omega_cubes.epn_core WHERE file_name = 'mars_cube.fits'"
    ).fetchone()
    assert cube is not None
    expected = by_file(made)["mars_cube.fits"]
    assert cube[:3] == (
        expected["spectral_range_min"],
        expected["spectral_range_max"],
        expected["spectral_sampling_step_max"],
    )
    assert isinstance(cube[2], float) and math.isclose(cube[2], C * 0.05e-6 / 1e-12, rel_tol=1e-12)
    assert cube[3:6] == (
        2.5,
        math.ceil((made.csv.parent.parent / "data/cubes/mars_cube.fits").stat().st_size / 1000),
        3,
    )
    assert cube[6:] == (
        datetime(2024, 5, 1, 9, 30),
        datetime(2024, 6, 2, 10, 0, 0, 250000),
        datetime(2024, 5, 1),
    )
    phobos = database.execute(
        "SELECT target_class, instrument_host_name FROM omega_cubes.epn_core WHERE target_name = 'Phobos'"
    ).fetchall()
    assert phobos == [("satellite", "Mars Express")]
    # The EPN-TAP way to ask for images: a hash-list of product types.
    images = database.execute(
        sql.SQL(
            "SELECT file_name FROM {} WHERE dataproduct_type LIKE '%im%' ORDER BY file_name COLLATE \"C\""
        ).format(sql.Identifier("omega_cubes", "epn_core"))
    ).fetchall()
    assert images == [("ORB0042_1.png",), ("mars_cube.png",)]
