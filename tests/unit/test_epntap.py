"""The EPN-TAP 2.0 granule table: its columns, and the rows made from headers and metadata."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from oais.domain.descriptive import DescriptiveMetadata, Identifier, Observation
from oais.domain.dip import DipFile, Granule
from oais.domain.epntap import (
    COLUMN_NAMES,
    COLUMNS,
    DATAPRODUCT_TYPES,
    TARGET_CLASSES,
    ColumnType,
    GranuleTable,
    granule_rows,
    granule_table,
    header_keyword_wanted,
    julian_day,
)

#: The mandatory parameters of EPN-TAP 2.0, in the Recommendation's order (its EPNcore table).
MANDATORY = [
    "granule_uid",
    "granule_gid",
    "obs_id",
    "dataproduct_type",
    "target_name",
    "target_class",
    "time_min",
    "time_max",
    "time_sampling_step_min",
    "time_sampling_step_max",
    "time_exp_min",
    "time_exp_max",
    "spectral_range_min",
    "spectral_range_max",
    "spectral_sampling_step_min",
    "spectral_sampling_step_max",
    "spectral_resolution_min",
    "spectral_resolution_max",
    "c1min",
    "c1max",
    "c2min",
    "c2max",
    "c3min",
    "c3max",
    "s_region",
    "c1_resol_min",
    "c1_resol_max",
    "c2_resol_min",
    "c2_resol_max",
    "c3_resol_min",
    "c3_resol_max",
    "spatial_frame_type",
    "incidence_min",
    "incidence_max",
    "emergence_min",
    "emergence_max",
    "phase_min",
    "phase_max",
    "instrument_host_name",
    "instrument_name",
    "measurement_type",
    "processing_level",
    "creation_date",
    "modification_date",
    "release_date",
    "service_title",
]

J2000 = 2451545.0
#: 2004-01-18T12:00:00 UTC, orbit 42 of Mars Express.
ORBIT_42 = 2453023.0
C = 299792458.0

CREATED = datetime(2024, 5, 1, 9, 30, tzinfo=UTC)
MODIFIED = datetime(2024, 6, 2, 10, 0, tzinfo=UTC)

T_MIN = datetime(2004, 1, 18, 11, 0, tzinfo=UTC)
T_MAX = datetime(2004, 1, 18, 13, 0, tzinfo=UTC)

OMEGA = Observation(
    target_name="Mars",
    target_class="planet",
    instrument_host_name="Mars Express",
    instrument_name="OMEGA",
    dataproduct_type="sc",
    processing_level=3,
    measurement_type="phys.reflectance",
    obs_id="ORB0042",
    time_min=T_MIN,
    time_max=T_MAX,
    spectral_range_min=5.77e13,
    spectral_range_max=8.57e14,
)

#: The header of examples/omega-orbit-0042/cubes/ORB0042_1.fits, as the adapter reads it.
SAMPLE_HEADER: dict[str, str | int | float | bool] = {
    "TELESCOP": "MEX",
    "INSTRUME": "OMEGA",
    "OBJECT": "MARS",
    "DATE-OBS": "2004-01-18T12:00:00",
    "NAXIS": 3,
    "NAXIS1": 32,
    "NAXIS2": 16,
    "NAXIS3": 8,
}


def metadata(observation: Observation | None = OMEGA, **fields: object) -> DescriptiveMetadata:
    return DescriptiveMetadata.model_validate(
        {"title": "OMEGA orbit 42", "publisher": "IAS", "observation": observation, **fields}
    )


def granule(
    path: str,
    mime_type: str = "application/fits",
    header: dict[str, str | int | float | bool] | None = None,
    *,
    puid: str | None = None,
    size: int = 11520,
    source: str | None = None,
    derivative_of: str | None = None,
    released: date = date(2024, 5, 1),
) -> Granule:
    if puid is None and mime_type == "application/fits":
        puid = "x-fmt/383"
    return Granule(
        file=DipFile(
            path=path,
            size=size,
            sha256="0" * 64,
            puid=puid,
            mime_type=mime_type,
            source=source or path,
            derivative_of=derivative_of,
        ),
        access_url=f"https://data.example.org/dip/{path}",
        header=header or {},
        created=CREATED,
        modified=MODIFIED,
        released=released,
    )


def table(*granules: Granule, md: DescriptiveMetadata | None = None) -> GranuleTable:
    return granule_table("omega-0042", 2, md or metadata(), granules, "omega_cubes")


def only(result: GranuleTable) -> dict[str, object]:
    [row] = result.rows
    return row


# --- the columns ---------------------------------------------------------------------------------


def test_every_mandatory_column_of_epntap_2_is_there_in_the_standards_order() -> None:
    mandatory = [c.name for c in COLUMNS if c.mandatory]
    assert mandatory == MANDATORY
    assert COLUMN_NAMES[: len(MANDATORY)] == tuple(MANDATORY)
    assert len(set(COLUMN_NAMES)) == len(COLUMN_NAMES)


def test_columns_carry_the_standards_types_units_and_ucds() -> None:
    by_name = {c.name: c for c in COLUMNS}
    assert by_name["time_min"].type is ColumnType.DOUBLE and by_name["time_min"].unit == "d"
    assert by_name["time_min"].ucd == "time.start;obs"
    assert (
        by_name["spectral_range_max"].unit == "Hz" and by_name["spectral_range_max"].ucd == "em.freq;stat.max"
    )
    assert by_name["time_exp_min"].unit == "s"
    assert by_name["phase_max"].unit == "deg"
    assert by_name["processing_level"].type is ColumnType.INTEGER
    assert by_name["access_estsize"].type is ColumnType.INTEGER and by_name["access_estsize"].unit == "kbyte"
    for name in ("creation_date", "modification_date", "release_date"):
        assert by_name[name].type is ColumnType.TIMESTAMP and by_name[name].xtype == "timestamp"
    # spatial_frame_type is 'none': the coordinates have no unit and no UCD (the standard's note 1).
    assert by_name["c1min"].unit is None and by_name["c1min"].ucd is None
    # Bold in the standard: a value is required.
    required = {c.name for c in COLUMNS if c.required and c.mandatory}
    assert required == {
        "granule_uid",
        "granule_gid",
        "obs_id",
        "dataproduct_type",
        "target_class",
        "spatial_frame_type",
        "creation_date",
        "modification_date",
        "release_date",
        "service_title",
    }
    assert all(c.description for c in COLUMNS)


def test_optional_columns_the_data_centre_fills_and_no_md5() -> None:
    for name in (
        "access_url",
        "access_format",
        "access_estsize",
        "file_name",
        "thumbnail_url",
        "publisher",
        "bib_reference",
        "target_region",
        "feature_name",
        "spatial_coordinate_description",
    ):
        assert name in COLUMN_NAMES
    assert "access_md5" not in COLUMN_NAMES  # the archive has sha256 digests only


def test_vocabularies_are_the_standards() -> None:
    assert {"im", "sc", "sp", "pf", "ts", "ci"} <= DATAPRODUCT_TYPES and len(DATAPRODUCT_TYPES) == 15
    assert "ring" not in TARGET_CLASSES and {"planet", "dwarf_planet", "calibration"} <= TARGET_CLASSES


def test_the_header_keywords_the_table_reads() -> None:
    for keyword in (
        "DATE-OBS",
        "DATE-END",
        "OBJECT",
        "EXPTIME",
        "NAXIS",
        "NAXIS3",
        "CTYPE1",
        "PC1_2",
        "CD2_1",
    ):
        assert header_keyword_wanted(keyword)
    for keyword in ("BITPIX", "COMMENT", "HISTORY", "SIMPLE", "BUNIT", "NAXIS0"):
        assert not header_keyword_wanted(keyword)


# --- time ----------------------------------------------------------------------------------------


def test_julian_day_of_known_dates() -> None:
    assert julian_day(datetime(2000, 1, 1, 12, tzinfo=UTC)) == J2000
    assert julian_day(datetime(1858, 11, 17, tzinfo=UTC)) == 2400000.5  # MJD 0
    assert julian_day(datetime(2004, 1, 18, 12, tzinfo=UTC)) == ORBIT_42
    # Another time zone is converted; a naive datetime is UTC.
    assert julian_day(datetime(2000, 1, 1, 14, tzinfo=timezone(timedelta(hours=2)))) == J2000
    assert julian_day(datetime(2000, 1, 1, 12)) == J2000
    assert julian_day(datetime(2000, 1, 2, 0, 0, 0, 500000, tzinfo=UTC)) == pytest.approx(
        J2000 + 0.5 + 0.5 / 86400, abs=1e-9
    )


# --- rows from headers ----------------------------------------------------------------------------


def test_row_of_a_fits_cube_from_its_header() -> None:
    header: dict[str, str | int | float | bool] = {
        "OBS_ID": "ORB0042_1",
        "OBJECT": "MARS",
        "TELESCOP": "MEX",
        "INSTRUME": "OMEGA",
        "DATE-BEG": "2000-01-01T12:00:00",
        "DATE-END": "2000-01-01T18:00:00.5",
        "EXPTIME": 2.5,
        "NAXIS": 3,
        "NAXIS1": 32,
        "NAXIS2": 16,
        "NAXIS3": 8,
        "CTYPE1": "WAVE",
        "CUNIT1": "um",
        "CRVAL1": 1.0,
        "CDELT1": 0.05,
        "CRPIX1": 1.0,
    }
    result = table(granule("cubes/ORB0042_1.fits", header=header), md=metadata(observation=None))
    row = only(result)
    assert list(row) == list(COLUMN_NAMES)
    assert row["granule_uid"] == "omega-0042/v2/cubes/ORB0042_1.fits"
    assert row["obs_id"] == "ORB0042_1"
    assert row["time_min"] == J2000
    assert row["time_max"] == pytest.approx(J2000 + 0.25 + 0.5 / 86400, abs=1e-9)
    assert row["time_exp_min"] == row["time_exp_max"] == 2.5
    # MARS is Mars (IAU spelling), a planet; TELESCOP and INSTRUME stand in for the silent metadata.
    assert (row["target_name"], row["target_class"]) == ("Mars", "planet")
    assert (row["instrument_host_name"], row["instrument_name"]) == ("MEX", "OMEGA")
    # 1.0 to 2.55 um as frequencies (min from the longest wavelength), step c dλ/λ² at both ends.
    assert row["spectral_range_min"] == pytest.approx(C / 2.55e-6, rel=1e-12)
    assert row["spectral_range_max"] == pytest.approx(C / 1.0e-6, rel=1e-12)
    assert row["spectral_sampling_step_min"] == pytest.approx(C * 0.05e-6 / 2.55e-6**2, rel=1e-12)
    assert row["spectral_sampling_step_max"] == pytest.approx(C * 0.05e-6 / 1.0e-6**2, rel=1e-12)
    assert row["spectral_resolution_min"] is None  # a resolving power is not a sampling step
    assert row["access_format"] == "application/fits"
    assert row["access_estsize"] == 12  # 11520 bytes, in kB rounded up
    assert row["file_name"] == "ORB0042_1.fits"
    assert row["access_url"] == "https://data.example.org/dip/cubes/ORB0042_1.fits"
    assert row["creation_date"] == CREATED and row["modification_date"] == MODIFIED
    assert row["release_date"] == datetime(2024, 5, 1, tzinfo=UTC)
    assert row["service_title"] == "omega_cubes" and row["spatial_frame_type"] == "none"
    assert row["publisher"] == "IAS"
    # Without metadata, the product type is unknown: empty, and said so.
    assert row["dataproduct_type"] is None and row["granule_gid"] == "data"
    assert result.warnings == (
        "cubes/ORB0042_1.fits: dataproduct_type is unknown (EPN-TAP 2.0 requires a value)",
    )


def test_the_sample_cube_with_the_aips_metadata() -> None:
    row = only(table(granule("cubes/ORB0042_1.fits", header=SAMPLE_HEADER)))
    assert row["time_min"] == row["time_max"] == ORBIT_42  # one time known: in both
    assert (row["target_name"], row["target_class"]) == ("Mars", "planet")
    # The AIP names its instrument in EPN-TAP's terms: kept over TELESCOP = 'MEX'.
    assert (row["instrument_host_name"], row["instrument_name"]) == ("Mars Express", "OMEGA")
    assert (row["dataproduct_type"], row["processing_level"], row["granule_gid"]) == ("sc", 3, "calibrated")
    assert row["measurement_type"] == "phys.reflectance"
    assert row["obs_id"] == "ORB0042"
    assert (row["spectral_range_min"], row["spectral_range_max"]) == (5.77e13, 8.57e14)


def test_rows_from_metadata_only() -> None:
    row = only(table(granule("housekeeping/temperatures.csv", "text/csv", puid="x-fmt/18")))
    assert row["time_min"] == julian_day(T_MIN)
    assert row["time_max"] == julian_day(T_MAX)
    assert isinstance(row["time_min"], float) and isinstance(row["time_max"], float)
    assert row["time_max"] - row["time_min"] == pytest.approx(2 / 24)
    assert (row["target_name"], row["target_class"], row["obs_id"]) == ("Mars", "planet", "ORB0042")
    assert (row["spectral_range_min"], row["spectral_range_max"]) == (5.77e13, 8.57e14)
    assert row["time_exp_min"] is None and row["spectral_sampling_step_min"] is None


def test_one_bound_of_a_range_fills_both() -> None:
    observation = Observation(time_min=datetime(2000, 1, 1, 12, tzinfo=UTC), spectral_range_max=1e14)
    row = only(table(granule("a.fits"), md=metadata(observation)))
    assert row["time_min"] == row["time_max"] == J2000
    assert row["spectral_range_min"] == row["spectral_range_max"] == 1e14


def test_unknown_values_stay_empty() -> None:
    result = table(granule("cubes/blank.fits", size=0), md=DescriptiveMetadata(title="t"))
    row = only(result)
    filled = {k for k, v in row.items() if v is not None}
    assert filled == {
        "granule_uid",
        "granule_gid",
        "obs_id",
        "spatial_frame_type",
        "creation_date",
        "modification_date",
        "release_date",
        "service_title",
        "access_url",
        "access_format",
        "access_estsize",
        "file_name",
    }
    assert row["obs_id"] == "omega-0042"  # no observation id anywhere: the AIP is the observation
    assert row["access_estsize"] == 0
    assert set(result.warnings) == {
        "cubes/blank.fits: dataproduct_type is unknown (EPN-TAP 2.0 requires a value)",
        "cubes/blank.fits: target_class is unknown (EPN-TAP 2.0 requires a value)",
    }


def test_the_header_wins_over_the_metadata() -> None:
    header: dict[str, str | int | float | bool] = {
        "OBS_ID": "ORB0042_PHOBOS",
        "OBJECT": "PHOBOS",
        "DATE-OBS": "2000-01-01T12:00:00",
        "XPOSURE": 4.0,
        "EXPTIME": 9.0,
        "NAXIS": 1,
        "NAXIS1": 3,
        "CTYPE1": "FREQ",
        "CUNIT1": "GHz",
        "CRVAL1": 100.0,
        "CDELT1": 0.5,
        "CRPIX1": 2.0,
    }
    row = only(table(granule("cubes/phobos.fits", header=header)))
    assert row["obs_id"] == "ORB0042_PHOBOS"
    assert row["time_min"] == row["time_max"] == J2000
    assert row["time_exp_min"] == 4.0  # XPOSURE (FITS Standard 4.0) before EXPTIME
    # Another body than the metadata's: its own class, not Mars's.
    assert (row["target_name"], row["target_class"]) == ("Phobos", "satellite")
    assert (row["spectral_range_min"], row["spectral_range_max"]) == pytest.approx((99.5e9, 100.5e9))
    assert row["spectral_sampling_step_min"] == row["spectral_sampling_step_max"] == pytest.approx(0.5e9)


def test_a_target_unknown_to_the_table_has_no_class() -> None:
    result = table(granule("cubes/dark.fits", header={"OBJECT": "DARK"}))
    row = only(result)
    assert (row["target_name"], row["target_class"]) == ("DARK", None)
    assert "cubes/dark.fits: target_class is unknown (EPN-TAP 2.0 requires a value)" in result.warnings


def test_a_metadata_class_without_a_target_name_is_the_aips_kind_of_target() -> None:
    observation = Observation(target_class="calibration")
    row = only(table(granule("cubes/dark.fits", header={"OBJECT": "DARK"}), md=metadata(observation)))
    assert (row["target_name"], row["target_class"]) == ("DARK", "calibration")


def test_granule_uids_are_unique_and_hash_free() -> None:
    result = table(granule("cubes/a.fits"), granule("cubes/b.fits"), granule("cubes/c#1 100%.fits"))
    uids = [r["granule_uid"] for r in result.rows]
    assert len(set(uids)) == 3
    assert uids[2] == "omega-0042/v2/cubes/c%231 100%25.fits"
    with pytest.raises(ValueError, match=r"cubes/a\.fits"):
        table(granule("cubes/a.fits"), granule("cubes/a.fits"))


@pytest.mark.parametrize(
    ("field", "value"),
    [("dataproduct_type", "cube"), ("dataproduct_type", "sc#cube"), ("target_class", "ring")],
)
def test_a_value_outside_the_vocabulary_is_left_empty(field: str, value: str) -> None:
    observation = Observation.model_validate({"target_name": "Vesta", field: value})
    result = table(granule("a.fits"), md=metadata(observation))
    assert only(result)[field] is None
    assert (
        f"descriptive metadata: {field} {value!r} is not in the EPN-TAP 2.0 vocabulary" in result.warnings[0]
    )
    assert f"a.fits: {field} is unknown (EPN-TAP 2.0 requires a value)" in result.warnings


def test_a_bad_dataproduct_type_is_not_replaced() -> None:
    observation = OMEGA.model_copy(update={"dataproduct_type": "sc#cube"})
    result = table(granule("cubes/ORB0042_1.fits", header=SAMPLE_HEADER), md=metadata(observation))
    assert only(result)["dataproduct_type"] is None
    assert (
        "cubes/ORB0042_1.fits: dataproduct_type is unknown (EPN-TAP 2.0 requires a value)" in result.warnings
    )


def test_vocabulary_values_are_lower_case_hash_lists() -> None:
    observation = OMEGA.model_copy(update={"dataproduct_type": "SC#Sp", "target_class": "Planet"})
    row = only(table(granule("a.fits"), md=metadata(observation)))
    assert (row["dataproduct_type"], row["target_class"]) == ("sc#sp", "planet")


# --- which files, which groups ------------------------------------------------------------------


def test_documents_are_left_out_and_browse_images_next_to_data_are_previews() -> None:
    result = table(
        granule("cubes/ORB0042_1.fits", header=SAMPLE_HEADER),
        granule("quicklook/ORB0042_1.png", "image/png", puid="fmt/11"),
        granule("documents/OMEGA_EAICD.pdf", "application/pdf", puid="fmt/18"),
        granule("documents/notes.txt", "text/plain; charset=utf-8", puid="x-fmt/111"),
        granule("tables/ORB0042.TAB", "text/plain", puid="x-fmt/111"),
        granule("labels/ORB0042.xml", "application/xml", puid="fmt/101"),
    )
    assert result.left_out == ("documents/OMEGA_EAICD.pdf", "documents/notes.txt", "labels/ORB0042.xml")
    cube, preview, ascii_table = result.rows
    assert (preview["dataproduct_type"], preview["granule_gid"]) == ("im", "preview")
    # A preview is an image of the data, not the calibrated data themselves.
    assert preview["processing_level"] is None and preview["measurement_type"] is None
    assert preview["spectral_range_min"] is None and cube["spectral_range_min"] == 5.77e13
    # Not made from the cube: the AIP's observation facts, not the cube's header.
    assert preview["time_min"] == julian_day(T_MIN) and preview["target_name"] == "Mars"
    assert preview["obs_id"] == cube["obs_id"] == "ORB0042"
    assert ascii_table["granule_gid"] == "calibrated" and ascii_table["file_name"] == "ORB0042.TAB"


def test_an_access_derivative_takes_the_header_of_the_file_it_was_made_from() -> None:
    header = {**SAMPLE_HEADER, "OBS_ID": "ORB0042_1", "DATE-OBS": "2000-01-01T12:00:00"}
    result = table(
        granule("cubes/ORB0042_1.fits", header=header),
        granule(
            "cubes/ORB0042_1.png",
            "image/png",
            puid="fmt/11",
            source="cubes/ORB0042_1.fits",
            derivative_of="fits-preview",
        ),
    )
    cube, preview = result.rows
    assert preview["obs_id"] == cube["obs_id"] == "ORB0042_1"
    assert preview["time_min"] == cube["time_min"] == J2000
    assert preview["granule_gid"] == "preview" and preview["dataproduct_type"] == "im"
    assert preview["spectral_sampling_step_min"] is None


def test_browse_images_alone_are_the_data() -> None:
    row = only(table(granule("images/jupiter.png", "image/png", puid="fmt/11")))
    assert (row["dataproduct_type"], row["granule_gid"], row["processing_level"]) == ("im", "calibrated", 3)


@pytest.mark.parametrize(
    ("level", "epntap", "group"),
    [
        (1, 1, "telemetry"),
        (2, 2, "raw"),
        (3, 3, "calibrated"),
        (4, 5, "derived"),
        (5, 5, "derived"),
        (6, 6, "ancillary"),
    ],
)
def test_processing_levels_and_groups(level: int, epntap: int, group: str) -> None:
    observation = OMEGA.model_copy(update={"processing_level": level})
    row = only(table(granule("a.fits"), md=metadata(observation)))
    assert (row["processing_level"], row["granule_gid"]) == (epntap, group)


def test_publisher_and_bib_reference() -> None:
    md = metadata(identifiers=(Identifier(type="DOI", value="10.5270/esa-omega42"),))
    row = only(granule_table("a", 1, md, [granule("a.fits")], "omega_cubes", publisher="CDPP"))
    assert (row["publisher"], row["bib_reference"]) == ("CDPP", "10.5270/esa-omega42")


def test_granule_rows_are_the_tables_rows() -> None:
    granules = [granule("cubes/ORB0042_1.fits", header=SAMPLE_HEADER), granule("doc.pdf", "application/pdf")]
    rows = granule_rows("omega-0042", 2, metadata(), granules, "omega_cubes")
    assert rows == list(table(*granules).rows)


@pytest.mark.parametrize("title", ["", "  ", "omega#cubes", "what?", "omega's"])
def test_a_service_title_with_special_characters_is_refused(title: str) -> None:
    with pytest.raises(ValueError, match="service_title"):
        granule_table("a", 1, metadata(), [granule("a.fits")], title)


# --- header times and axes that are not used ----------------------------------------------------


def test_a_date_without_time_of_day_spans_the_day() -> None:
    row = only(table(granule("a.fits", header={"DATE-OBS": "2000-01-01"}), md=metadata(None)))
    assert (row["time_min"], row["time_max"]) == (J2000 - 0.5, J2000 + 0.5)


def test_time_obs_and_the_old_date_format() -> None:
    row = only(table(granule("a.fits", header={"DATE-OBS": "01/01/00", "TIME-OBS": "12:00:00"})))
    assert row["time_min"] == row["time_max"] == julian_day(datetime(1900, 1, 1, 12, tzinfo=UTC))


def test_mjd_keywords() -> None:
    row = only(table(granule("a.fits", header={"MJD-BEG": 51544.5, "MJD-END": 51545.0})))
    assert (row["time_min"], row["time_max"]) == (J2000, J2000 + 0.5)


@pytest.mark.parametrize(
    ("header", "why"),
    [
        ({"DATE-OBS": "2000-01-01T12:00:00", "TIMESYS": "TT"}, "time scale 'TT', not UTC"),
        ({"DATE-OBS": "yesterday"}, "header time not understood"),
        ({"DATE-OBS": "2000-02-30T00:00:00"}, "header time not understood"),
        ({"DATE-BEG": "2000-01-02T00:00:00", "DATE-END": "2000-01-01T00:00:00"}, "end time is before"),
    ],
)
def test_header_times_that_cannot_be_used_leave_the_metadatas(
    header: dict[str, str | int | float | bool], why: str
) -> None:
    result = table(granule("a.fits", header=header))
    row = only(result)
    assert (row["time_min"], row["time_max"]) == (julian_day(T_MIN), julian_day(T_MAX))
    assert any(w.startswith("a.fits: ") and why in w for w in result.warnings)


def test_a_utc_header_is_used() -> None:
    row = only(table(granule("a.fits", header={"DATE-OBS": "2000-01-01T12:00:00", "TIMESYS": "UTC"})))
    assert row["time_min"] == J2000


@pytest.mark.parametrize(
    ("axis", "why"),
    [
        ({"CTYPE1": "WAVE-LOG", "CRVAL1": 1.0, "CDELT1": 0.1, "CRPIX1": 1.0}, "not a linear"),
        ({"CTYPE1": "AWAV", "CRVAL1": 1.0, "CDELT1": 0.1, "CRPIX1": 1.0}, "not a linear"),
        ({"CTYPE1": "WAVE", "CRVAL1": 1.0, "CDELT1": 0.1, "CRPIX1": 1.0, "PC1_2": 0.3}, "cross terms"),
        ({"CTYPE1": "WAVE", "CRVAL1": 1.0, "CDELT1": 0.1, "CRPIX1": 1.0, "CUNIT1": "furlong"}, "unit"),
        ({"CTYPE1": "WAVE", "CRVAL1": 1.0, "CRPIX1": 1.0}, "missing"),
        ({"CTYPE1": "WAVE", "CRVAL1": -1.0, "CDELT1": 0.1, "CRPIX1": 1.0}, "not a frequency"),
    ],
)
def test_a_spectral_axis_that_is_not_simple_is_not_read(
    axis: dict[str, str | int | float | bool], why: str
) -> None:
    header: dict[str, str | int | float | bool] = {"NAXIS": 2, "NAXIS1": 10, "NAXIS2": 4, **axis}
    result = table(granule("a.fits", header=header))
    row = only(result)
    assert (row["spectral_range_min"], row["spectral_range_max"]) == (5.77e13, 8.57e14)  # the metadata's
    assert row["spectral_sampling_step_min"] is None
    assert any(w.startswith("a.fits: spectral axis 1") and why in w for w in result.warnings)


def test_a_cd_matrix_axis_in_angstrom() -> None:
    header: dict[str, str | int | float | bool] = {
        "NAXIS": 2,
        "NAXIS1": 5,
        "NAXIS2": 3,
        "CTYPE2": "WAVE",
        "CUNIT2": "Angstrom",
        "CRVAL2": 5000.0,
        "CD2_2": 1000.0,
        "CD2_1": 0.0,
        "CRPIX2": 1.0,
    }
    row = only(table(granule("a.fits", header=header), md=metadata(None)))
    assert row["spectral_range_min"] == pytest.approx(C / 7000e-10, rel=1e-12)
    assert row["spectral_range_max"] == pytest.approx(C / 5000e-10, rel=1e-12)


def test_an_exposure_that_is_not_seconds_is_left_empty() -> None:
    result = table(granule("a.fits", header={"EXPTIME": 2.0, "TIMEUNIT": "d"}))
    assert only(result)["time_exp_min"] is None
    assert any("TIMEUNIT" in w for w in result.warnings)


def test_the_summary_says_a_warning_about_many_files_once_and_names_them() -> None:
    granules = [g.model_copy(update={"access_url": None}) for g in (granule(f"c{n}.fits") for n in range(5))]
    result = table(*granules)
    message = "access_url is unknown (EPN-TAP 2.0 requires a value)"
    assert result.warnings == tuple(f"c{n}.fits: {message}" for n in range(5))
    assert result.summary == (f"{message}: 5 files (c0.fits, c1.fits, c2.fits and 2 more)",)
    single = table(granules[0])
    assert single.summary == single.warnings == (f"c0.fits: {message}",)
