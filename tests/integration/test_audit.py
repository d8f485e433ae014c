"""Fixity audits of a real archive: AIP versions stored at two locations (two local directories, or a
local directory and a bucket on the real Ceph RGW), a real catalog (SQLite and PostgreSQL), and the
hashing done by worker processes that open the locations themselves, as a deployment runs it.

Damage is done behind the archive's back, as a failing disk or a careless operator would do it; what
is asserted is what an auditor sees: the PREMIS events in the catalog, the findings, the coverage,
and the bytes at the location after a repair.
"""

from __future__ import annotations

import base64
import hashlib
import multiprocessing
import threading
from collections.abc import Iterator
from concurrent.futures import Executor, ProcessPoolExecutor
from datetime import timedelta
from pathlib import Path

import pytest
import xxhash

from oais.adapters.catalog.audit import SqlAuditLedger
from oais.bootstrap import software_agent
from oais.config import LocalLocation, S3Location
from oais.domain.audit import AuditMode, FindingKind, Slice, SliceOutcome
from oais.domain.fixity import DigestAlgorithm
from oais.domain.premis import AgentLink, AgentRole, Event, EventType, LoggedEvent, Outcome, new_event
from tests.conftest import S3Service
from tests.support.audit_archive import POLICY, Archive, flip_bit, truncate

CUBE = bytes(range(256)) * 256  # 64 KiB
NOTES = b"observing log, night of 2027-02-28\n"
CUBE_KEY = "aips/aip-1/v1/data/objects/cube.fits"
NOTES_KEY = "aips/aip-1/v1/data/objects/notes.txt"
TTL = POLICY.claim_ttl


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture(scope="module")
def executor() -> Iterator[Executor]:
    """Two worker processes, started from a fork server (the way a deployment's pool starts)."""
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("forkserver")) as pool:
        yield pool


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'catalog.db'}"
    url: str = request.getfixturevalue("fresh_postgres_url")
    return url


@pytest.fixture
def archive(database: str, tmp_path: Path) -> Iterator[Archive]:
    """An archive whose storage policy requires two local locations."""
    archive = Archive(
        url=database,
        locations={
            "first": LocalLocation(root=tmp_path / "first"),
            "second": LocalLocation(root=tmp_path / "second"),
        },
        work=tmp_path,
    )
    yield archive
    archive.close()


def store_aip_1(archive: Archive) -> None:
    archive.store("aip-1", 1, {"cube.fits": CUBE, "notes.txt": NOTES})


def fixity_events(archive: Archive, aip_id: str = "aip-1", version: int = 1) -> list[Event]:
    return archive.events(aip_id, version, EventType.FIXITY_CHECK)


def event_at(archive: Archive, location: str, aip_id: str = "aip-1", version: int = 1) -> Event:
    """The latest fixity check event of the copy at ``location``."""
    return [e for e in fixity_events(archive, aip_id, version) if f"location '{location}'" in e.detail][-1]


# -- a clean archive ---------------------------------------------------------------------------------


def test_a_first_audit_reads_every_copy_deep_and_records_one_success_per_copy(
    archive: Archive, executor: Executor
) -> None:
    store_aip_1(archive)
    aip_2 = archive.store("aip-2", 1, {"tables/flux.csv": b"wavelength,flux\n1.0,2.0\n"})

    report = archive.run(executor)

    assert report.unaudited == report.problems == [] and report.failed == []
    assert sorted((s.aip_id, s.location, s.mode, s.ok) for s in report.slices) == [
        ("aip-1", "first", AuditMode.DEEP, True),
        ("aip-1", "second", AuditMode.DEEP, True),
        ("aip-2", "first", AuditMode.DEEP, True),
        ("aip-2", "second", AuditMode.DEEP, True),
    ]
    recorded = []
    for aip_id in ("aip-1", "aip-2"):
        events = fixity_events(archive, aip_id)
        # One event per copy, naming the copy's location, citing the audit policy.
        assert sorted(e.detail.split("location '")[1].split("'")[0] for e in events) == ["first", "second"]
        for e in events:
            assert e.outcome is Outcome.SUCCESS and e.policy == "audit@test-1"
            assert e.detail.startswith(f"deep audit (sha256) of AIP {aip_id} version 1")
            assert "every file stored under the version and its tag files" in e.detail
            assert e.objects[:2] == (aip_id, f"{aip_id}/v1")
        recorded += [e.identifier for e in events]
    assert sorted(recorded) == sorted(s.event for s in report.slices if s.event)

    # Every event is in every location's event log too, and the logs' chains are whole.
    logs = archive.storage.verify_events()
    assert {name: (problems, events) for name, (problems, _, events) in logs.items()} == {
        "first": ([], 4),
        "second": ([], 4),
    }

    auditor = archive.auditor()
    checks = auditor.file_checks("aip-2", 1)
    assert sorted((location, path) for location, path, *_ in checks) == [
        ("first", aip_2[0].bag_path),
        ("second", aip_2[0].bag_path),
    ]
    checks += auditor.file_checks("aip-1", 1)
    assert len(checks) == 6
    assert all(
        when is not None and mode == "deep" and outcome == "ok" for _, _, when, mode, outcome in checks
    )
    status = auditor.status()
    assert status.policy == "audit@test-1" and status.findings == []
    assert [
        (c.location, c.files, c.share, c.never, c.backlog_files, c.backlog_bytes) for c in status.locations
    ] == [
        ("first", 3, 1.0, 0, 0, 0),
        ("second", 3, 1.0, 0, 0, 0),
    ]

    # Nothing is due right after: a second run reads nothing and records nothing.
    again = archive.run(executor)
    assert (again.slices, again.unaudited, again.problems, again.unexpected) == ([], [], [], [])
    assert len(fixity_events(archive, "aip-1")) == 2 and len(fixity_events(archive, "aip-2")) == 2


def test_a_copy_due_for_quick_is_read_in_xxh3_and_one_due_for_deep_in_sha256(
    archive: Archive, executor: Executor
) -> None:
    store_aip_1(archive)
    # Without repair, the damage stays and each audit reports it in its own digest.
    auditor = archive.auditor(POLICY.model_copy(update={"repair": False}))
    first = archive.run(executor, auditor)
    assert {(s.location, s.mode) for s in first.slices} == {
        ("first", AuditMode.DEEP),
        ("second", AuditMode.DEEP),
    }
    flip_bit(archive.path("first", NOTES_KEY), 3)
    damaged = archive.path("first", NOTES_KEY).read_bytes()

    archive.clock.advance(days=8)  # quick (weekly) is due, deep (monthly) is not
    quick = archive.run(executor, auditor)
    assert sorted((s.location, s.mode, s.ok) for s in quick.slices) == [
        ("first", AuditMode.QUICK, False),
        ("second", AuditMode.QUICK, True),
    ]
    event = event_at(archive, "first")
    assert event.detail.startswith("quick audit (xxh3_128")
    assert event.outcome is Outcome.FAILURE
    assert (
        f"data/objects/notes.txt: altered (expected xxh3_128 {xxhash.xxh3_128(NOTES).hexdigest()}, "
        f"found {xxhash.xxh3_128(damaged).hexdigest()})"
    ) in event.outcome_detail
    [finding] = auditor.status().findings
    assert (finding.algorithm, finding.expected) == (
        DigestAlgorithm.XXH3_128,
        xxhash.xxh3_128(NOTES).hexdigest(),
    )
    checks = {(loc, path): (mode, outcome) for loc, path, _, mode, outcome in auditor.file_checks("aip-1", 1)}
    assert checks[("second", "data/objects/cube.fits")] == ("quick", "ok")
    assert checks[("first", "data/objects/notes.txt")] == ("quick", "altered")

    archive.clock.advance(days=23)  # 31 days after the deep audit: deep is due
    deep = archive.run(executor, auditor)
    assert sorted((s.location, s.mode) for s in deep.slices) == [
        ("first", AuditMode.DEEP),
        ("second", AuditMode.DEEP),
    ]
    event = event_at(archive, "first")
    assert event.detail.startswith("deep audit (sha256)")
    assert (
        f"data/objects/notes.txt: altered (expected sha256 {sha256(NOTES)}, found {sha256(damaged)})"
    ) in event.outcome_detail
    # The open finding now says what the deep audit compared.
    [finding] = auditor.status().findings
    assert (finding.expected, finding.found) == (sha256(NOTES), sha256(damaged))
    assert len(fixity_events(archive)) == 6  # 3 audits x 2 copies


# -- faults ------------------------------------------------------------------------------------------


def test_a_flipped_bit_is_found_and_the_copy_repaired_from_the_other_location(
    archive: Archive, executor: Executor
) -> None:
    store_aip_1(archive)
    archive.run(executor)
    flip_bit(archive.path("second", CUBE_KEY), 40_000)
    damaged = archive.path("second", CUBE_KEY).read_bytes()
    assert len(damaged) == len(CUBE) and damaged != CUBE

    report = archive.run(executor, everything=True, deep=True)

    [finding] = report.failed
    assert (finding.location, finding.key, finding.kind) == ("second", CUBE_KEY, FindingKind.ALTERED)
    assert (finding.algorithm, finding.expected, finding.found) == (
        DigestAlgorithm.SHA256,
        sha256(CUBE),
        sha256(damaged),
    )
    event = event_at(archive, "second")
    assert event.outcome is Outcome.FAILURE
    assert event.outcome_detail.startswith("1 of 7 objects not as recorded: ")
    assert (
        f"data/objects/cube.fits: altered (expected sha256 {sha256(CUBE)}, found {sha256(damaged)})"
        in event.outcome_detail
    )
    assert "aip-1/v1/data/objects/cube.fits" in event.objects
    assert event_at(archive, "first").outcome is Outcome.SUCCESS

    # Repaired from the good copy, and said so.
    assert [(f.key, f.repaired_from) for f in report.repaired] == [(CUBE_KEY, "first")]
    assert report.unrecoverable == []
    assert archive.path("second", CUBE_KEY).read_bytes() == CUBE
    assert archive.path("first", CUBE_KEY).read_bytes() == CUBE
    [recovery] = archive.events("aip-1", 1, EventType.RECOVERY)
    assert recovery.outcome is Outcome.SUCCESS and recovery.policy == "audit@test-1"
    assert (
        "at location 'second'" in recovery.detail and "from the copy at location 'first'" in recovery.detail
    )
    assert sha256(CUBE) in recovery.outcome_detail
    ledger = archive.ledger()
    assert ledger.findings() == []
    [history] = ledger.findings(open_only=False)
    assert (history.key, history.repaired_from, history.repaired is not None) == (CUBE_KEY, "first", True)

    again = archive.run(executor, everything=True, deep=True)
    assert len(again.slices) == 2 and all(s.ok for s in again.slices) and again.failed == []
    assert archive.auditor().status().locations[1].open_findings == 0


def test_a_truncated_object_is_found_short_and_repaired(archive: Archive, executor: Executor) -> None:
    store_aip_1(archive)
    truncate(archive.path("first", CUBE_KEY), 1000)

    report = archive.run(executor)

    [finding] = report.failed
    assert (finding.location, finding.key, finding.kind) == ("first", CUBE_KEY, FindingKind.TRUNCATED)
    assert finding.expected == sha256(CUBE)
    assert finding.found == f"{sha256(CUBE[:1000])}, 1000 bytes, not {len(CUBE)}"
    assert (
        f"data/objects/cube.fits: truncated (expected sha256 {sha256(CUBE)}, found {sha256(CUBE[:1000])}, "
        f"1000 bytes, not {len(CUBE)})"
    ) in event_at(archive, "first").outcome_detail
    assert [(f.key, f.repaired_from) for f in report.repaired] == [(CUBE_KEY, "second")]
    assert archive.path("first", CUBE_KEY).read_bytes() == CUBE


def test_a_deleted_object_is_found_missing_and_restored(archive: Archive, executor: Executor) -> None:
    store_aip_1(archive)
    archive.path("first", NOTES_KEY).unlink()

    report = archive.run(executor)

    [finding] = report.failed
    assert (finding.location, finding.key, finding.kind, finding.found) == (
        "first",
        NOTES_KEY,
        FindingKind.MISSING,
        None,
    )
    event = event_at(archive, "first")
    assert event.outcome is Outcome.FAILURE
    assert f"data/objects/notes.txt: missing (expected sha256 {sha256(NOTES)}, found nothing)" in (
        event.outcome_detail
    )
    assert [(f.key, f.repaired_from) for f in report.repaired] == [(NOTES_KEY, "second")]
    assert archive.path("first", NOTES_KEY).read_bytes() == NOTES
    assert len(archive.events("aip-1", 1, EventType.RECOVERY)) == 1


def test_an_object_added_inside_a_version_is_unexpected_until_it_is_gone(
    archive: Archive, executor: Executor
) -> None:
    store_aip_1(archive)
    stray = archive.path("first", "aips/aip-1/v1/data/objects/cube.fits.bak")
    stray.write_bytes(b"an editor's backup")

    report = archive.run(executor)

    [finding] = report.failed
    assert (finding.location, finding.kind, finding.aip_id, finding.version, finding.path, finding.found) == (
        "first",
        FindingKind.UNEXPECTED,
        "aip-1",
        1,
        "data/objects/cube.fits.bak",
        "18 bytes",
    )
    assert "data/objects/cube.fits.bak: unexpected (18 bytes, listed by no manifest)" in (
        event_at(archive, "first").outcome_detail
    )
    # Nothing to repair, nothing lost; the object is left where it is for a person to look at.
    assert report.repaired == [] and report.unrecoverable == []
    assert stray.exists()
    assert [f.key for f in archive.auditor().status().findings] == [finding.key]

    stray.unlink()
    archive.run(executor, everything=True)
    assert archive.auditor().status().findings == []
    assert event_at(archive, "first").outcome is Outcome.SUCCESS


def test_a_manifest_damaged_past_parsing_is_found_altered_and_restored(
    archive: Archive, executor: Executor
) -> None:
    store_aip_1(archive)
    manifest = archive.path("first", "aips/aip-1/v1/manifest-sha256.txt")
    good = manifest.read_bytes()
    # Lines that are no manifest lines at all, and a line lost: the audit must not stop on them.
    lines = good.splitlines()
    assert lines[-1].endswith(b" data/objects/notes.txt")
    manifest.write_bytes(b"\x00\xff garbage\n\nnot-hex data/x\n" + b"\n".join(lines[:-1]) + b"\n")

    report = archive.run(executor)

    assert [(f.location, f.key, f.kind) for f in report.failed] == [
        ("first", "aips/aip-1/v1/manifest-sha256.txt", FindingKind.ALTERED)
    ]
    assert report.problems == []
    # Its payload was still audited: every file the catalog lists was read at both locations.
    assert report.files == 2 * (2 + 5)  # 2 payload files + premis.xml + 4 tag files, per copy
    assert report.unaudited == []
    assert [(f.key, f.repaired_from) for f in report.repaired] == [
        ("aips/aip-1/v1/manifest-sha256.txt", "second")
    ]
    assert manifest.read_bytes() == good


def test_a_missing_payload_manifest_is_restored_and_the_premis_file_still_read(
    archive: Archive, executor: Executor
) -> None:
    store_aip_1(archive)
    manifest = archive.path("first", "aips/aip-1/v1/manifest-sha256.txt")
    good = manifest.read_bytes()
    manifest.unlink()

    report = archive.run(executor)

    # The PREMIS file, which only the lost manifest listed, is neither "unexpected" nor skipped.
    assert [(f.location, f.key, f.kind) for f in report.failed] == [
        ("first", "aips/aip-1/v1/manifest-sha256.txt", FindingKind.MISSING)
    ]
    first = [s for s in report.slices if s.location == "first"]
    assert [s.files for s in first] == [2 + 1 + 4]  # the payload, premis.xml, the 4 tag files
    assert [(f.key, f.repaired_from) for f in report.repaired] == [
        ("aips/aip-1/v1/manifest-sha256.txt", "second")
    ]
    assert manifest.read_bytes() == good


def test_a_missing_tag_manifest_is_found_missing_and_the_rest_still_audited(
    archive: Archive, executor: Executor
) -> None:
    store_aip_1(archive)
    archive.path("first", "aips/aip-1/v1/tagmanifest-sha256.txt").unlink()

    report = archive.run(executor)

    # Only the tag manifest: the tag files it listed are not reported as unexpected.
    assert [(f.location, f.key, f.kind) for f in report.failed] == [
        ("first", "aips/aip-1/v1/tagmanifest-sha256.txt", FindingKind.MISSING)
    ]
    first = [s for s in report.slices if s.location == "first"]
    assert [s.files for s in first] == [2 + 1 + 1]  # the payload, premis.xml, the tag manifest
    # The catalog holds no digest of the tag manifest: it is not restored, and the finding stays
    # open for a person (it is not a file without a good copy).
    assert report.repaired == [] and report.unrecoverable == []
    assert [f.key for f in archive.auditor().status().findings] == ["aips/aip-1/v1/tagmanifest-sha256.txt"]


def test_the_sweep_finds_objects_outside_every_aip_and_forgets_them_once_removed(
    archive: Archive, executor: Executor
) -> None:
    store_aip_1(archive)
    archive.run(executor)  # the first sweep finds nothing
    root = archive.path("first", "")
    (root / "a").write_bytes(b"tmp")  # a stray file at the top, beside aips/ and events/
    (root / "aips" / "aip-9" / "v1" / "data").mkdir(parents=True)
    (root / "aips" / "aip-9" / "v1" / "data" / "x.fits").write_bytes(b"12345")
    (root / "aips" / "aip-9" / "v1" / "bagit.txt").write_bytes(b"BagIt-Version: 1.0\n")
    (root / "aips" / "aip-1" / "v2" / "data").mkdir(parents=True)
    (root / "aips" / "aip-1" / "v2" / "data" / "half-written.txt").write_bytes(b"1234567")

    report = archive.run(executor, everything=True)

    assert report.failed == [] and report.unaudited == report.problems == []
    assert sorted((f.location, f.key, f.kind, f.aip_id, f.found) for f in report.unexpected) == [
        ("first", "a", FindingKind.UNEXPECTED, None, "1 objects, 3 bytes"),
        ("first", "aips/aip-1/v2/", FindingKind.UNEXPECTED, None, "1 objects, 7 bytes"),
        ("first", "aips/aip-9/", FindingKind.UNEXPECTED, None, "2 objects, 24 bytes"),
    ]
    assert sorted(f.key for f in archive.auditor().status().findings) == [
        "a",
        "aips/aip-1/v2/",
        "aips/aip-9/",
    ]

    (root / "a").unlink()
    archive.run(executor, everything=True)
    assert sorted(f.key for f in archive.auditor().status().findings) == ["aips/aip-1/v2/", "aips/aip-9/"]


def test_a_file_damaged_at_every_location_is_unrecoverable_and_listed_first(
    archive: Archive, executor: Executor
) -> None:
    store_aip_1(archive)
    archive.store("aip-2", 1, {"spectrum.fits": CUBE[::-1]})
    key = "aips/aip-2/v1/data/objects/spectrum.fits"
    flip_bit(archive.path("first", key), 10)
    flip_bit(archive.path("second", key), 20)
    # An ordinary finding that sorts before the others by location and key.
    archive.path("first", "aips/aip-1/v1/data/objects/notes.txt~").write_bytes(b"x")

    report = archive.run(executor)

    assert sorted((f.location, f.key) for f in report.unrecoverable) == [("first", key), ("second", key)]
    assert report.repaired == []
    # Neither copy was overwritten with the other's bad bytes.
    assert archive.path("first", key).read_bytes() != archive.path("second", key).read_bytes()
    for findings in (archive.ledger().findings(), archive.auditor().status().findings):
        assert [(f.location, f.key, f.unrecoverable) for f in findings] == [
            ("first", key, True),
            ("second", key, True),
            ("first", "aips/aip-1/v1/data/objects/notes.txt~", False),
        ]
    coverage = {c.location: c for c in archive.auditor().status().locations}
    assert (coverage["first"].unrecoverable, coverage["first"].open_findings) == (1, 2)
    assert (coverage["second"].unrecoverable, coverage["second"].open_findings) == (1, 1)
    # A damaged file is not counted as verified.
    assert coverage["second"].verified_files == coverage["second"].files - 1


def test_a_copy_that_lost_many_files_names_the_first_fifty_in_its_event_and_restores_them_all(
    archive: Archive, executor: Executor
) -> None:
    archive.store("aip-1", 1, {f"frames/{i:03}.fits": b"frame %d" % i for i in range(60)})
    for i in range(60):
        archive.path("first", f"aips/aip-1/v1/data/objects/frames/{i:03}.fits").unlink()

    report = archive.run(executor)

    assert len(report.failed) == 60 and {f.kind for f in report.failed} == {FindingKind.MISSING}
    detail = event_at(archive, "first").outcome_detail
    assert detail.startswith("60 of 65 objects not as recorded: data/objects/frames/000.fits: missing")
    assert detail.count(": missing (expected sha256 ") == 50
    assert detail.endswith("; and 10 more (`oais audit status` lists every open finding)")
    assert len(report.repaired) == 60
    assert archive.path("first", "aips/aip-1/v1/data/objects/frames/059.fits").read_bytes() == b"frame 59"
    assert archive.auditor().status().findings == []


# -- slices ------------------------------------------------------------------------------------------


def claim_all(ledger: SqlAuditLedger, location: str, holder: str, archive: Archive) -> list[Slice]:
    now = archive.clock.now()
    return [
        sl
        for sl, _ in ledger.claim(
            location=location,
            holder=holder,
            now=now,
            ttl=TTL,
            limit=1000,
            deep_before=now + timedelta(days=1),
            quick_before=None,
        )
    ]


def test_a_version_is_cut_into_contiguous_slices_and_only_the_first_reads_the_tag_files(
    archive: Archive, executor: Executor, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("oais.adapters.catalog.audit.SLICE_FILES", 3)
    files = archive.store("aip-1", 1, {f"frame-{i}.fits": bytes([i]) * (100 + i) for i in range(8)})
    ledger = archive.ledger()
    assert ledger.make_slices() == 6

    for location in ("first", "second"):
        slices = sorted(claim_all(ledger, location, "inspector", archive), key=lambda s: s.number)
        assert [(s.number, s.files, s.of) for s in slices] == [(0, 3, 3), (1, 3, 3), (2, 2, 3)]
        paths = [[c.path for c in ledger.objects(s.id, AuditMode.DEEP)] for s in slices]
        # Contiguous, in the catalog's order, every file once.
        assert [p for run in paths for p in run] == [f.bag_path for f in files]
        assert [s.bytes for s in slices] == [sum(f.size for f in files[i : i + 3]) for i in (0, 3, 6)]
        ledger.release([s.id for s in slices], "inspector")

    # Damage a tag file and drop a stray object into the version: only slice 0 looks at either.
    flip_bit(archive.path("first", "aips/aip-1/v1/bag-info.txt"), 0)
    archive.path("first", "aips/aip-1/v1/data/stray.txt").write_bytes(b"?")
    report = archive.run(executor)

    by_slice = {(s.location, s.number): s for s in report.slices}
    assert sorted(by_slice) == [
        ("first", 0),
        ("first", 1),
        ("first", 2),
        ("second", 0),
        ("second", 1),
        ("second", 2),
    ]
    assert sorted((f.path, f.kind) for f in by_slice["first", 0].findings) == [
        ("bag-info.txt", FindingKind.ALTERED),
        ("data/stray.txt", FindingKind.UNEXPECTED),
    ]
    assert all(s.ok for key, s in by_slice.items() if key != ("first", 0))
    # Slices 1 and 2 read their own files only; slice 0 also the tag files and premis.xml.
    assert [by_slice["second", n].files for n in (0, 1, 2)] == [3 + 5, 3, 2]
    events = fixity_events(archive)
    assert len(events) == 6
    assert sum("slice 1 of 3: 8 objects, the version's tag files among them" in e.detail for e in events) == 2
    assert sum("slice 3 of 3: 2 objects" in e.detail for e in events) == 2
    assert not any("every file" in e.detail for e in events)
    # Every file copy has its time of verification.
    checks = archive.auditor().file_checks("aip-1", 1)
    assert len(checks) == 16 and all(
        when is not None and outcome == "ok" for _, _, when, _, outcome in checks
    )
    # The tag file was repaired from the other location.
    assert [(f.path, f.repaired_from) for f in report.repaired] == [("bag-info.txt", "second")]


def test_slices_are_also_cut_by_bytes_and_every_file_is_audited_once(
    archive: Archive, executor: Executor, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("oais.adapters.catalog.audit.SLICE_BYTES", 1000)
    sizes = [400, 700, 300, 2500, 100]
    archive.store("aip-1", 1, {f"part-{i}.bin": bytes([i]) * size for i, size in enumerate(sizes)})
    ledger = archive.ledger()
    ledger.make_slices()
    slices = sorted(claim_all(ledger, "first", "inspector", archive), key=lambda s: s.number)
    # Cut where the running total passes 1000, 2000, 3000: each slice holds less than 1000 bytes
    # plus its last file.
    assert [(s.files, s.bytes) for s in slices] == [(2, 1100), (2, 2800), (1, 100)]
    ledger.release([s.id for s in slices], "inspector")

    report = archive.run(executor)
    assert len(report.slices) == 6 and all(s.ok for s in report.slices)
    checks = archive.auditor().file_checks("aip-1", 1)
    assert sorted(path for _, path, *_ in checks) == sorted(
        2 * [f"data/objects/part-{i}.bin" for i in range(5)]
    )
    assert all(outcome == "ok" for *_, outcome in checks)


def test_a_file_a_later_version_reuses_is_audited_under_the_version_that_stores_it(
    archive: Archive, executor: Executor
) -> None:
    v1 = archive.store("aip-1", 1, {"cube.fits": CUBE, "notes.txt": NOTES})
    cube = next(f for f in v1 if f.path == "cube.fits")
    v2 = archive.store(
        "aip-1",
        2,
        {"notes.txt": b"corrected notes\n"},
        reused=[cube.model_copy(update={"stored_version": 1})],
    )
    assert sorted(f.path for f in v2) == ["cube.fits", "notes.txt"]

    report = archive.run(executor)
    assert report.failed == [] and len(report.slices) == 4
    assert sorted({p for _, p, *_ in archive.auditor().file_checks("aip-1", 2)}) == ["data/objects/notes.txt"]
    assert sorted({p for _, p, *_ in archive.auditor().file_checks("aip-1", 1)}) == [
        "data/objects/cube.fits",
        "data/objects/notes.txt",
    ]

    # The one stored object goes missing: found under version 1, which stores it, never under 2.
    archive.path("first", CUBE_KEY).unlink()
    report = archive.run(executor, everything=True, deep=True)
    [finding] = report.failed
    assert (finding.location, finding.key, finding.version, finding.kind) == (
        "first",
        CUBE_KEY,
        1,
        FindingKind.MISSING,
    )
    assert event_at(archive, "first", version=1).outcome is Outcome.FAILURE
    assert event_at(archive, "first", version=2).outcome is Outcome.SUCCESS
    assert all(e.outcome is Outcome.SUCCESS for e in fixity_events(archive, version=2))
    assert archive.path("first", CUBE_KEY).read_bytes() == CUBE  # repaired from "second"


# -- claims ------------------------------------------------------------------------------------------


@pytest.fixture
def sliced(archive: Archive, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Forty one-file slices at location "first" (and forty at "second"); their ids at "first"."""
    monkeypatch.setattr("oais.adapters.catalog.audit.SLICE_FILES", 1)
    archive.store("aip-1", 1, {f"f{i:02}.txt": b"%d" % i for i in range(40)})
    archive.ledger().make_slices()
    mine = claim_all(archive.ledger(), "first", "counter", archive)
    archive.ledger().release([s.id for s in mine], "counter")
    assert len(mine) == 40
    return sorted(s.id for s in mine)


def test_holders_claiming_at_the_same_moment_never_get_the_same_slice(
    archive: Archive, sliced: list[int]
) -> None:
    start = threading.Barrier(2)
    got: dict[str, list[int]] = {"alpha": [], "beta": []}
    errors: list[BaseException] = []
    now = archive.clock.now()

    def work(holder: str, ledger: SqlAuditLedger) -> None:
        try:
            start.wait(timeout=30)
            while claimed := ledger.claim(
                location="first",
                holder=holder,
                now=now,
                ttl=TTL,
                limit=3,
                deep_before=now,
                quick_before=now,
            ):
                got[holder] += [sl.id for sl, _ in claimed]
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(h, archive.ledger())) for h in got]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert set(got["alpha"]).isdisjoint(got["beta"])
    assert sorted(got["alpha"] + got["beta"]) == sliced  # each slice claimed once, none left over


def test_an_expired_claim_is_taken_over_and_its_first_holder_records_nothing(
    archive: Archive, sliced: list[int]
) -> None:
    slow, fast = archive.ledger(), archive.ledger()
    now = archive.clock.now()
    [(taken, _)] = slow.claim(
        location="first", holder="slow", now=now, ttl=TTL, limit=1, deep_before=now, quick_before=None
    )
    # Within the claim's life nobody else gets it.
    within = now + TTL - timedelta(seconds=1)
    others = fast.claim(
        location="first", holder="fast", now=within, ttl=TTL, limit=100, deep_before=within, quick_before=None
    )
    assert len(others) == 39 and taken.id not in {sl.id for sl, _ in others}
    fast.release([sl.id for sl, _ in others], "fast")
    # Past it (a daemon that died, or one far too slow), another holder takes it.
    past = now + TTL + timedelta(seconds=1)
    [(again, _)] = fast.claim(
        location="first", holder="fast", now=past, ttl=TTL, limit=1, deep_before=past, quick_before=None
    )
    assert again.id == taken.id

    def record(ledger: SqlAuditLedger, holder: str) -> bool:
        agent = software_agent()
        event = new_event(
            EventType.FIXITY_CHECK,
            past,
            f"deep audit by {holder}",
            Outcome.SUCCESS,
            "all 1 objects read in full",
            [AgentLink(agent=agent.identifier, role=AgentRole.EXECUTING_PROGRAM)],
            ["aip-1", "aip-1/v1"],
            POLICY.reference,
        )
        outcome = SliceOutcome(
            slice_id=taken.id,
            mode=AuditMode.DEEP,
            when=past,
            ok=True,
            event=LoggedEvent("aip-1", 1, event),
            findings=[],
            whole=[],
        )
        return ledger.record(holder=holder, outcomes=[outcome], agents=[agent], segments=[]) == {taken.id}

    assert record(slow, "slow") is False
    assert fixity_events(archive) == []
    assert record(fast, "fast") is True
    assert [e.detail for e in fixity_events(archive)] == ["deep audit by fast"]
    assert record(slow, "slow") is False  # the claim ended with the recording
    assert [e.detail for e in fixity_events(archive)] == ["deep audit by fast"]


def test_released_slices_can_be_claimed_again_at_once(archive: Archive, sliced: list[int]) -> None:
    alpha, beta = archive.ledger(), archive.ledger()
    held = claim_all(alpha, "first", "alpha", archive)
    assert sorted(s.id for s in held) == sliced
    assert claim_all(beta, "first", "beta", archive) == []
    beta.release(sliced, "beta")  # only the holder can give a claim back
    assert claim_all(beta, "first", "beta", archive) == []
    alpha.release([s.id for s in held[:10]], "alpha")
    assert sorted(s.id for s in claim_all(beta, "first", "beta", archive)) == sorted(s.id for s in held[:10])


# -- a location that is down -------------------------------------------------------------------------


def test_a_location_that_is_not_mounted_is_reported_and_left_due(
    archive: Archive, executor: Executor, tmp_path: Path
) -> None:
    store_aip_1(archive)
    archive.store("aip-2", 1, {"spectrum.fits": CUBE[::-1]})
    # The disk of "second" is gone: its mount point is an empty directory, or not there at all.
    (tmp_path / "second").rename(tmp_path / "second-disk")

    report = archive.run(executor)

    assert sorted((s.aip_id, s.location, s.ok) for s in report.slices) == [
        ("aip-1", "first", True),
        ("aip-2", "first", True),
    ]
    assert report.failed == [] and report.repaired == [] and report.unrecoverable == []
    second = tmp_path / "second" / "aips"
    assert report.unaudited == [
        f"location 'second': {second}: no such folder, yet the catalog has copies at this location (a "
        "disk not mounted, or the wrong bucket or prefix?): nothing was audited there"
    ]
    assert report.problems == []
    for aip_id in ("aip-1", "aip-2"):
        assert [e.detail.split("location '")[1][:6] for e in fixity_events(archive, aip_id)] == ["first'"]
    # Nothing was "repaired" into the empty mount point.
    assert not (tmp_path / "second" / "aips").exists()
    # Its slices are free for the next audit at once, and still due.
    assert len(claim_all(archive.ledger(), "second", "next", archive)) == 2
    coverage = {c.location: c for c in archive.auditor().status().locations}
    assert (coverage["second"].never, coverage["second"].open_findings) == (3, 0)
    assert coverage["first"].share == 1.0


# -- a disk and a bucket on the real Ceph RGW ----------------------------------------------------------


def rgw_location(s3: S3Service, tmp_path: Path, bucket: str, secret: str | None = None) -> S3Location:
    """A location in ``bucket``, its credentials in a file (as a deployment keeps them)."""
    credentials = tmp_path / f"credentials-{secret or 'good'}"
    credentials.write_text(
        f"[default]\naws_access_key_id = {s3.access_key}\naws_secret_access_key = {secret or s3.secret_key}\n"
    )
    return S3Location(
        kind="s3",
        endpoint=s3.endpoint,
        bucket=bucket,
        prefix="archive/",
        region=s3.region,
        credentials_file=credentials,
        part_size_mib=5,
    )


@pytest.fixture
def disk_and_rgw(database: str, tmp_path: Path, s3: S3Service) -> Iterator[Archive]:
    """An archive whose storage policy requires a local disk and a locked RGW bucket."""
    rgw = rgw_location(s3, tmp_path, s3.new_bucket(object_lock=True))
    archive = Archive(
        url=database,
        locations={"disk": LocalLocation(root=tmp_path / "disk"), "rgw": rgw},
        work=tmp_path,
    )
    yield archive
    archive.close()


@pytest.mark.s3
def test_an_audit_over_a_disk_and_an_rgw_bucket_repairs_each_copy_from_the_other(
    disk_and_rgw: Archive, executor: Executor, s3: S3Service
) -> None:
    archive = disk_and_rgw
    rgw = archive.locations["rgw"]
    assert isinstance(rgw, S3Location)
    store_aip_1(archive)
    clean = archive.run(executor)
    assert sorted((s.location, s.mode, s.ok) for s in clean.slices) == [
        ("disk", AuditMode.DEEP, True),
        ("rgw", AuditMode.DEEP, True),
    ]
    assert event_at(archive, "rgw").outcome is Outcome.SUCCESS

    # Damage each copy of a different file: the disk's cube, the bucket's notes (a new object
    # version put behind the archive's back; the locked original stays underneath).
    flip_bit(archive.path("disk", CUBE_KEY), 5)
    damaged = archive.path("disk", CUBE_KEY).read_bytes()
    tampered = NOTES.replace(b"night", b"NIGHT")
    client = s3.client()
    client.put_object(
        Bucket=rgw.bucket,
        Key=rgw.prefix + NOTES_KEY,
        Body=tampered,
        ContentMD5=base64.b64encode(hashlib.md5(tampered).digest()).decode(),
    )

    report = archive.run(executor, everything=True, deep=True)

    assert sorted((f.location, f.key, f.kind, f.found) for f in report.failed) == [
        ("disk", CUBE_KEY, FindingKind.ALTERED, sha256(damaged)),
        ("rgw", NOTES_KEY, FindingKind.ALTERED, sha256(tampered)),
    ]
    assert (
        f"data/objects/notes.txt: altered (expected sha256 {sha256(NOTES)}, found {sha256(tampered)})"
        in event_at(archive, "rgw").outcome_detail
    )
    assert sorted((f.location, f.repaired_from) for f in report.repaired) == [
        ("disk", "rgw"),
        ("rgw", "disk"),
    ]
    assert archive.path("disk", CUBE_KEY).read_bytes() == CUBE
    repaired = client.get_object(Bucket=rgw.bucket, Key=rgw.prefix + NOTES_KEY)
    assert repaired["Body"].read() == NOTES
    # The repaired object is locked like every other object the storage policy wrote.
    retention = client.get_object_retention(Bucket=rgw.bucket, Key=rgw.prefix + NOTES_KEY)["Retention"]
    assert retention["Mode"] == "GOVERNANCE"
    assert len(archive.events("aip-1", 1, EventType.RECOVERY)) == 2

    again = archive.run(executor, everything=True, deep=True)
    assert len(again.slices) == 2 and again.failed == [] and archive.auditor().status().findings == []


@pytest.mark.s3
def test_an_rgw_location_that_refuses_the_archive_is_reported_and_left_due(
    disk_and_rgw: Archive, executor: Executor, s3: S3Service, tmp_path: Path
) -> None:
    archive = disk_and_rgw
    rgw = archive.locations["rgw"]
    assert isinstance(rgw, S3Location)
    store_aip_1(archive)
    # The keys were rotated on the RGW side, not yet in this deployment's credentials file.
    refused = {"disk": archive.locations["disk"], "rgw": rgw_location(s3, tmp_path, rgw.bucket, "0" * 40)}
    auditor = archive.auditor(storage=archive.storage_over(refused), locations=refused)

    report = archive.run(executor, auditor)

    assert [(s.location, s.ok) for s in report.slices] == [("disk", True)]
    assert report.failed == [] and report.repaired == [] and report.unrecoverable == []
    [refusal] = report.unaudited
    assert refusal.startswith("location 'rgw': ") and "credentials were refused" in refusal, refusal
    # The disk's fixity events could not be added to the refusing location's event log either.
    [log_refused] = report.problems
    assert log_refused.startswith("event log not written: rgw: location 'rgw': the credentials were refused")
    assert [e.detail.split("location '")[1][:5] for e in fixity_events(archive)] == ["disk'"]
    assert len(claim_all(archive.ledger(), "rgw", "next", archive)) == 1
