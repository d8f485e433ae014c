"""The ingest service's promises, with the in-memory catalog fake and real files.

Failures are injected where a real deployment can fail: the catalog after publishing, the copy,
bit rot between copy and verification. In every case nothing half-written becomes visible and the
next run finishes the work.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from oais.adapters.bagit.codec import BagItCodec
from oais.adapters.catalog.memory import InMemoryCatalog
from oais.adapters.copier import ParallelCopier
from oais.adapters.formats.fido_identifier import FidoIdentifier
from oais.adapters.local_store import LocalScratch
from oais.adapters.premis.codec import PremisXmlCodec, default_schema_dir
from oais.adapters.sip import FileSystemSipReader, SourceBagFiles
from oais.adapters.storage.local import LocalObjectStore
from oais.adapters.storage.memory import InMemoryObjectStore
from oais.archival_storage.service import ArchivalStorage
from oais.domain.descriptive import (
    Access,
    AccessStatus,
    Creator,
    DescriptiveMetadata,
    Licence,
    canonical_json,
)
from oais.domain.errors import CatalogError, SipRejected, StorageError
from oais.domain.fixity import DigestAlgorithm, FixityMismatch
from oais.domain.packages import AipRecord, Rejection
from oais.domain.policy import IngestPolicy, InvalidFormatRule
from oais.domain.ports import CopiedFile, CopyItem, ObjectStore, SipSource, UnitOfWork
from oais.domain.premis import Agent, AgentType
from oais.domain.storage import StoragePolicy, WriteItem, WriteResult
from oais.ingest.service import IngestService
from tests.support.fits_files import primary_image

AGENT = Agent(identifier="software:oais/9.9", name="oais", type=AgentType.SOFTWARE, version="9.9")
POLICY = IngestPolicy(id="ingest", version="7", archive_name="Test Archive")


class FixedClock:
    def __init__(self) -> None:
        self.now_value = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self.now_value


def _storage(
    tmp_path: Path, catalog: Callable[[], UnitOfWork], extra: ObjectStore | None = None
) -> ArchivalStorage:
    locations: dict[str, ObjectStore] = {"local": LocalObjectStore("local", tmp_path / "store")}
    if extra is not None:
        locations[extra.name] = extra
    return ArchivalStorage(
        locations=locations,
        policy=StoragePolicy(id="storage", version="3", locations=tuple(locations)),
        catalog=catalog,
        bag_codec=BagItCodec(),
        clock=FixedClock(),
        software=AGENT,
        scratch=LocalScratch(tmp_path / "staging"),
    )


def _service(
    tmp_path: Path,
    catalog: Callable[[], UnitOfWork],
    copier: ParallelCopier | None = None,
    policy: IngestPolicy = POLICY,
    extra: ObjectStore | None = None,
) -> IngestService:
    return IngestService(
        sip_reader=FileSystemSipReader(),
        bag_files=SourceBagFiles,
        copier=copier or ParallelCopier(identifier=FidoIdentifier(), workers=1),
        bag_codec=BagItCodec(),
        premis=PremisXmlCodec(default_schema_dir()),
        scratch=LocalScratch(tmp_path / "staging"),
        storage=_storage(tmp_path, catalog, extra),
        catalog=catalog,
        clock=FixedClock(),
        policy=policy,
        software=AGENT,
    )


@pytest.fixture
def sip(tmp_path: Path) -> Path:
    root = tmp_path / "sip"
    (root / "cubes").mkdir(parents=True)
    (root / "cubes" / "a.fits").write_bytes(primary_image())
    (root / "notes.txt").write_text("notes\n")
    return root


def _published(tmp_path: Path) -> list[Path]:
    return sorted((tmp_path / "store" / "aips").glob("*/v*"))


def _staging(tmp_path: Path) -> list[Path]:
    return sorted((tmp_path / "staging").glob("*"))


def test_accepted_sip_is_catalogued_with_its_events(tmp_path: Path, sip: Path) -> None:
    catalog = InMemoryCatalog()
    result = _service(tmp_path, catalog.unit_of_work).ingest(sip, producer="P", title="T")
    assert result.status == "stored" and result.files == 2
    with catalog.unit_of_work() as uow:
        record = uow.aips.get(result.aip_id)
    assert record is not None
    assert {f.path for f in record.files} == {"cubes/a.fits", "notes.txt"}
    fits = next(f for f in record.files if f.path == "cubes/a.fits")
    assert fits.format.puid == "x-fmt/383" and set(fits.digests) == {
        DigestAlgorithm.SHA256,
        DigestAlgorithm.XXH3_128,
    }
    assert [e.type.value for e in record.events] == [
        "ingestion",
        "validation",
        "message digest calculation",
        "format identification",
        "accession",
    ]
    assert all(e.policy == "ingest@7" for e in record.events)
    assert {a.identifier for a in record.agents} >= {
        "software:oais/9.9",
        "organization:Test Archive",
        "organization:P",
    }


class _CatalogDownOnce:
    """A catalog whose first commit of an AIP fails, as a database that goes away after publishing."""

    def __init__(self, catalog: InMemoryCatalog) -> None:
        self.catalog = catalog
        self.failed = False

    def __call__(self) -> _FlakyUnitOfWork:
        return _FlakyUnitOfWork(self, self.catalog.unit_of_work())


class _FlakyUnitOfWork:
    def __init__(self, owner: _CatalogDownOnce, inner: UnitOfWork) -> None:
        self._owner = owner
        self._inner = inner
        self._adds_aip = False
        self.aips = inner.aips
        original_add = inner.aips.add

        def add(record: AipRecord) -> None:
            self._adds_aip = True
            original_add(record)

        self.aips.add = add  # type: ignore[method-assign]

    def __enter__(self) -> _FlakyUnitOfWork:
        self._inner.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._inner.__exit__(*exc)

    def commit(self) -> None:
        if self._adds_aip and not self._owner.failed:
            self._owner.failed = True
            raise CatalogError("connection lost")
        self._inner.commit()

    def rollback(self) -> None:
        self._inner.rollback()


def test_a_catalog_failure_after_publishing_is_recovered_by_the_next_run(tmp_path: Path, sip: Path) -> None:
    catalog = InMemoryCatalog()
    failing = _CatalogDownOnce(catalog)
    with pytest.raises(CatalogError, match="connection lost"):
        _service(tmp_path, failing).ingest(sip, producer="P", title="T")
    assert len(_published(tmp_path)) == 1  # published, but not catalogued
    result = _service(tmp_path, catalog.unit_of_work).ingest(sip, producer="P", title="T")
    assert result.status == "recovered"
    with catalog.unit_of_work() as uow:
        record = uow.aips.get(result.aip_id)
    assert record is not None and len(record.files) == 2 and len(record.events) == 5
    assert len(_published(tmp_path)) == 1


class _RottingCopier(ParallelCopier):
    """Flips a byte of the first staged copy right after copying: the verification must catch it."""

    def copy(
        self,
        source: SipSource,
        items: Sequence[CopyItem],
        destination: Path | None,
        algorithms: Iterable[DigestAlgorithm],
        identify: bool,
        progress: Callable[[int], None] | None = None,
    ) -> Iterator[CopiedFile]:
        results = list(super().copy(source, items, destination, algorithms, identify, progress))
        if destination is not None:
            victim = destination.joinpath(*results[0].target.split("/"))
            data = bytearray(victim.read_bytes())
            data[0] ^= 0xFF
            victim.write_bytes(bytes(data))
        yield from results


def test_a_copy_that_differs_from_the_sip_is_never_published(tmp_path: Path, sip: Path) -> None:
    catalog = InMemoryCatalog()
    service = _service(tmp_path, catalog.unit_of_work, copier=_RottingCopier(FidoIdentifier(), workers=1))
    with pytest.raises(FixityMismatch, match=r"location 'local'.*sha256"):
        service.ingest(sip, producer="P", title="T")
    assert not list((tmp_path / "store").rglob("bagit.txt")) and _staging(tmp_path) == []
    with catalog.unit_of_work() as uow:
        assert uow.aips.list() == []


def test_every_location_of_the_policy_gets_a_verified_copy(tmp_path: Path, sip: Path) -> None:
    catalog = InMemoryCatalog()
    remote = InMemoryObjectStore("remote")
    result = _service(tmp_path, catalog.unit_of_work, extra=remote).ingest(sip, producer="P", title="T")
    assert result.copies == ["local", "remote"]
    with catalog.unit_of_work() as uow:
        record = uow.aips.get(result.aip_id)
    assert record is not None and [c.location for c in record.copies] == ["local", "remote"]
    prefix = f"aips/{result.aip_id}/v1/"
    keys = {i.key[len(prefix) :] for i in remote.list(prefix)}
    assert {"bagit.txt", "manifest-sha256.txt", "data/metadata/premis.xml", "data/objects/notes.txt"} <= keys
    assert record.copies[1].objects == len(keys)
    accession = record.events[-1]
    assert "local, remote" in accession.outcome_detail


class _FailingStore(InMemoryObjectStore):
    """A location that goes away (its writes fail) until told otherwise."""

    fail_writes = False

    def write(self, items: Sequence[WriteItem], *args: Any, **kwargs: Any) -> Iterator[WriteResult]:
        if self.fail_writes:
            raise StorageError(f"location '{self.name}': cannot reach http://rgw.invalid: connection refused")
        return super().write(items, *args, **kwargs)


def test_a_location_that_fails_keeps_the_aip_out_of_the_catalog_and_a_rerun_completes_it(
    tmp_path: Path, sip: Path
) -> None:
    catalog = InMemoryCatalog()
    remote = _FailingStore("remote")
    remote.fail_writes = True
    with pytest.raises(StorageError, match="remote"):
        _service(tmp_path, catalog.unit_of_work, extra=remote).ingest(sip, producer="P", title="T")
    with catalog.unit_of_work() as uow:
        assert uow.aips.list() == []
    remote.fail_writes = False
    result = _service(tmp_path, catalog.unit_of_work, extra=remote).ingest(sip, producer="P", title="T")
    assert result.status == "recovered" and result.copies == ["local", "remote"]
    assert remote.head(f"aips/{result.aip_id}/v1/bagit.txt") is not None


class _BrokenDisk(ParallelCopier):
    def copy(self, *args: object, **kwargs: object) -> Iterator[CopiedFile]:
        raise StorageError("/store/staging: No space left on device")
        yield  # pragma: no cover


def test_a_storage_failure_leaves_nothing(tmp_path: Path, sip: Path) -> None:
    with pytest.raises(StorageError, match="No space left"):
        _service(tmp_path, InMemoryCatalog().unit_of_work, copier=_BrokenDisk(None)).ingest(
            sip, producer="P", title="T"
        )
    assert _published(tmp_path) == [] and _staging(tmp_path) == []


def test_a_rejection_is_recorded_with_every_reason(tmp_path: Path) -> None:
    sip = tmp_path / "bad"
    sip.mkdir()
    (sip / "README").write_text("a")
    (sip / "readme").write_text("b")
    (sip / "broken.fits").write_bytes(b"SIMPLE  =                    F" + b" " * 50)
    catalog = InMemoryCatalog()
    with pytest.raises(SipRejected) as caught:
        _service(tmp_path, catalog.unit_of_work).ingest(sip, producer="P", title="T")
    codes = {i.code for i in caught.value.issues}
    assert "SIP-E005" in codes
    with catalog.unit_of_work() as uow:
        [rejection] = uow.aips.rejections()
    assert rejection.sip_path == str(sip) and {i.code for i in rejection.issues} == codes
    assert _published(tmp_path) == [] and _staging(tmp_path) == []


def test_policy_may_accept_an_invalid_fits_file_with_a_warning(tmp_path: Path, sip: Path) -> None:
    (sip / "cubes" / "a.fits").write_bytes(primary_image()[:-2880])  # truncated data
    strict = _service(tmp_path, InMemoryCatalog().unit_of_work)
    with pytest.raises(SipRejected) as caught:
        strict.ingest(sip, producer="P", title="T")
    assert [i.code for i in caught.value.issues] == ["FMT-E001"]
    lenient = _service(
        tmp_path,
        InMemoryCatalog().unit_of_work,
        policy=POLICY.model_copy(update={"invalid_format": InvalidFormatRule.ACCEPT_WITH_WARNING}),
    )
    result = lenient.ingest(sip, producer="P", title="T")
    assert [w.code for w in result.warnings] == ["FMT-W002"]
    assert "ingest@7" in result.warnings[0].message


def test_incomplete_requests_are_refused_before_reading(tmp_path: Path, sip: Path) -> None:
    with pytest.raises(SipRejected) as caught:
        _service(tmp_path, InMemoryCatalog().unit_of_work).ingest(sip, producer=" ", title="", aip_id="a/b")
    messages = " ".join(i.message for i in caught.value.issues)
    assert "producer" in messages and "title" in messages and "'a/b'" in messages


def test_operating_system_files_are_archived_like_any_file(tmp_path: Path, sip: Path) -> None:
    (sip / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")
    (sip / "Thumbs.db").write_bytes(b"\xd0\xcf\x11\xe0")
    result = _service(tmp_path, InMemoryCatalog().unit_of_work).ingest(sip, producer="P", title="T")
    assert result.status == "stored" and result.files == 4
    assert (Path(result.bag_path) / "data" / "objects" / ".DS_Store").read_bytes() == b"\0\0\0\1Bud1"


# --- descriptive metadata --------------------------------------------------------------------------

EMBARGOED = DescriptiveMetadata(
    title="OMEGA cubes, orbit 0042",
    creators=(Creator(name="IAS / OMEGA team"),),
    licence=Licence(identifier="CC-BY-4.0", uri="https://creativecommons.org/licenses/by/4.0/"),
    access=Access(status=AccessStatus.EMBARGOED, embargo_until=date(2027, 6, 1), note="PI period"),
    rights_statements=("© IAS",),
)


def test_descriptive_metadata_goes_into_the_bag_premis_and_the_catalog(tmp_path: Path, sip: Path) -> None:
    catalog = InMemoryCatalog()

    # The title comes from the metadata.
    result = _service(tmp_path, catalog.unit_of_work).ingest(sip, producer="P", metadata=EMBARGOED)

    bag = Path(result.bag_path)
    stored = bag / "data" / "metadata" / "descriptive.json"
    assert stored.read_bytes() == canonical_json(EMBARGOED)
    manifest = (bag / "manifest-sha256.txt").read_text(encoding="utf-8")
    assert f"{hashlib.sha256(stored.read_bytes()).hexdigest()}  data/metadata/descriptive.json\n" in manifest
    info = (bag / "bag-info.txt").read_text(encoding="utf-8")
    assert "Access-Status: embargoed until 2027-06-01\n" in info
    assert "Licence: CC-BY-4.0 https://creativecommons.org/licenses/by/4.0/\n" in info
    premis = PremisXmlCodec(default_schema_dir())
    assert premis.validate(bag / "data" / "metadata" / "premis.xml") == []
    rights = premis.read_rights(bag / "data" / "metadata" / "premis.xml")
    assert rights is not None and rights.access == EMBARGOED.access and rights.licence == EMBARGOED.licence
    with catalog.unit_of_work() as uow:
        record = uow.aips.get(result.aip_id)
    assert record is not None
    assert record.aip.title == EMBARGOED.title and record.aip.metadata == EMBARGOED
    # The files of the version are the SIP's; the metadata files are the bag's own record.
    assert {f.path for f in record.files} == {"cubes/a.fits", "notes.txt"}
    assert "4 payload files (with premis.xml and descriptive.json)" in record.events[-1].outcome_detail


def test_without_metadata_the_bag_keeps_its_layout(tmp_path: Path, sip: Path) -> None:
    result = _service(tmp_path, InMemoryCatalog().unit_of_work).ingest(sip, producer="P", title="T")

    bag = Path(result.bag_path)
    assert not (bag / "data" / "metadata" / "descriptive.json").exists()
    assert "Access-Status" not in (bag / "bag-info.txt").read_text(encoding="utf-8")
    assert "rights" not in (bag / "data" / "metadata" / "premis.xml").read_text(encoding="utf-8")


def test_a_metadata_file_is_read_and_the_same_title_may_be_given_too(tmp_path: Path, sip: Path) -> None:
    path = tmp_path / "m.json"
    path.write_bytes(canonical_json(EMBARGOED))
    catalog = InMemoryCatalog()

    result = _service(tmp_path, catalog.unit_of_work).ingest(
        sip, producer="P", title=" OMEGA cubes, orbit 0042 ", metadata_file=path
    )

    with catalog.unit_of_work() as uow:
        record = uow.aips.get(result.aip_id)
    assert record is not None and record.aip.metadata == EMBARGOED


def _refused(tmp_path: Path, sip: Path, **request: Any) -> tuple[SipRejected, Rejection]:
    catalog = InMemoryCatalog()
    with pytest.raises(SipRejected) as caught:
        _service(tmp_path, catalog.unit_of_work).ingest(sip, producer="P", **request)
    with catalog.unit_of_work() as uow:
        [rejection] = uow.aips.rejections()
        assert uow.aips.list() == []
    assert _published(tmp_path) == [] and _staging(tmp_path) == []
    return caught.value, rejection


def test_a_title_that_differs_from_the_metadata_file_is_refused_naming_the_file(
    tmp_path: Path, sip: Path
) -> None:
    path = tmp_path / "m.json"
    path.write_bytes(canonical_json(EMBARGOED))

    refused, rejection = _refused(tmp_path, sip, title="Other", metadata_file=path)

    assert [(i.code, i.path) for i in refused.issues] == [("SIP-E008", str(path))]
    assert refused.issues[0].message == (
        "--title 'Other' differs from the title 'OMEGA cubes, orbit 0042' of the descriptive metadata: "
        "give the title once, or the same in both"
    )
    assert rejection.issues == tuple(refused.issues) and rejection.title == "Other"


def test_an_invalid_metadata_file_is_refused_with_every_problem_and_recorded(
    tmp_path: Path, sip: Path
) -> None:
    path = tmp_path / "m.json"
    path.write_text(
        json.dumps({"title": "Cubes", "access": {"status": "embargoed"}, "colour": "blue"}), encoding="utf-8"
    )

    refused, rejection = _refused(tmp_path, sip, metadata_file=path)

    assert [(i.code, i.path) for i in refused.issues] == [("META-E002", str(path))] * 2
    assert [i.message.split(":")[0] for i in refused.issues] == ["access", "colour"]
    assert rejection.issues == tuple(refused.issues) and rejection.title == "(not given)"


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"{not json", "not valid JSON: "), (None, "cannot be read: No such file or directory")],
)
def test_a_metadata_file_that_is_not_json_or_missing_is_refused(
    tmp_path: Path, sip: Path, content: bytes | None, message: str
) -> None:
    path = tmp_path / "m.json"
    if content is not None:
        path.write_bytes(content)

    refused, _ = _refused(tmp_path, sip, title="T", metadata_file=path)

    assert [(i.code, i.path) for i in refused.issues] == [("META-E001", str(path))]
    assert refused.issues[0].message.startswith(message)


def test_metadata_is_given_once(tmp_path: Path, sip: Path) -> None:
    with pytest.raises(ValueError, match="not both"):
        _service(tmp_path, InMemoryCatalog().unit_of_work).ingest(
            sip, producer="P", metadata=EMBARGOED, metadata_file=tmp_path / "m.json"
        )


def test_a_recovered_version_keeps_its_descriptive_metadata(tmp_path: Path, sip: Path) -> None:
    catalog = InMemoryCatalog()
    with pytest.raises(CatalogError, match="connection lost"):
        _service(tmp_path, _CatalogDownOnce(catalog)).ingest(sip, producer="P", metadata=EMBARGOED)

    result = _service(tmp_path, catalog.unit_of_work).ingest(sip, producer="P", metadata=EMBARGOED)

    assert result.status == "recovered"
    with catalog.unit_of_work() as uow:
        record = uow.aips.get(result.aip_id)
    # All of it, from the stored descriptive.json (premis.xml alone holds only the rights).
    assert record is not None and record.aip.metadata == EMBARGOED


@pytest.mark.parametrize(
    ("field", "value", "why"),
    [
        ("title", "orbit\x020042", "contains the character U+0002, which XML 1.0 (PREMIS) cannot hold"),
        ("title", "orbit\n0042", "must be one line (it is written to bag-info.txt)"),
        ("producer", "IAS\x00", "contains the character U+0000, which XML 1.0 (PREMIS) cannot hold"),
    ],
)
def test_a_title_or_producer_that_cannot_be_recorded_is_refused_with_every_reason(
    tmp_path: Path, sip: Path, field: str, value: str, why: str
) -> None:
    request: dict[str, Any] = {"title": "OMEGA cubes", "producer": "IAS / OMEGA team", field: value}
    catalog = InMemoryCatalog()
    with pytest.raises(SipRejected) as caught:
        _service(tmp_path, catalog.unit_of_work).ingest(sip, **request)
    assert [(i.code, i.message) for i in caught.value.issues] == [
        ("SIP-E008", f"the {field} {value!r} {why}")
    ]
    with catalog.unit_of_work() as uow:
        assert uow.aips.list() == []
        [rejection] = uow.aips.rejections()
    # Recorded as far as it can be: what XML (or a PostgreSQL text) cannot hold becomes U+FFFD.
    assert getattr(rejection, field) == value.replace("\x02", "\ufffd").replace("\x00", "\ufffd")
    assert _published(tmp_path) == [] and _staging(tmp_path) == []
