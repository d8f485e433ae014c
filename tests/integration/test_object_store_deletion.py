"""The deletion contract of the object store (used by the approved deaccession workflow only): one
set of tests on the in-memory fake, a local directory and buckets of the real Ceph RGW, with and
without Object Lock (GOVERNANCE and COMPLIANCE retention, legal holds, versions, delete markers).

What a deaccession relies on: a plan deletes nothing; a deletion removes every version of every key
under the prefix and nothing else, or, if anything there is protected, nothing at all; what protects
an object is reported with its date.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from oais.adapters.storage.local import LocalObjectStore
from oais.adapters.storage.memory import InMemoryObjectStore
from oais.adapters.storage.s3 import S3ObjectStore
from oais.domain.errors import StorageError
from oais.domain.ports import ObjectStore
from oais.domain.storage import ReadItem, Retention, RetentionMode, WriteItem
from tests.conftest import S3Service

NAME = "site-a"
PREFIX = "p/"  # the S3 store's key prefix in its bucket


@dataclass
class Made:
    """A location, and for S3 the raw client and bucket to look behind its back."""

    store: ObjectStore
    kind: str
    client: Any = None
    bucket: str = ""

    def raw_versions(self, prefix: str) -> list[tuple[str, bool]]:
        """(key, is delete marker) of every version under ``prefix`` as S3 itself lists them."""
        response = self.client.list_object_versions(Bucket=self.bucket, Prefix=PREFIX + prefix)
        found = [(v["Key"][len(PREFIX) :], False) for v in response.get("Versions", [])]
        found += [(m["Key"][len(PREFIX) :], True) for m in response.get("DeleteMarkers", [])]
        return sorted(found)


def _s3(request: pytest.FixtureRequest, object_lock: bool) -> Made:
    s3: S3Service = request.getfixturevalue("s3")
    bucket = s3.new_bucket(object_lock=object_lock)
    store = S3ObjectStore(
        NAME,
        endpoint=s3.endpoint,
        bucket=bucket,
        access_key=s3.access_key,
        secret_key=s3.secret_key,
        prefix=PREFIX,
        region=s3.region,
        part_size=5 << 20,
        concurrency=4,
    )
    return Made(store, "s3", s3.client(), bucket)


@pytest.fixture(params=["memory", "local", pytest.param("s3", marks=pytest.mark.s3)])
def made(request: pytest.FixtureRequest, tmp_path: Path) -> Made:
    """A fresh, empty location of each kind, without Object Lock."""
    if request.param == "memory":
        return Made(InMemoryObjectStore(NAME), "memory")
    if request.param == "local":
        return Made(LocalObjectStore(NAME, tmp_path / "store"), "local")
    return _s3(request, object_lock=False)


@pytest.fixture(params=["memory", pytest.param("s3", marks=pytest.mark.s3)])
def locked(request: pytest.FixtureRequest) -> Made:
    """A fresh location with Object Lock (and versions)."""
    if request.param == "memory":
        return Made(InMemoryObjectStore(NAME, object_lock=True), "memory")
    return _s3(request, object_lock=True)


def item(key: str, data: bytes, replace: bool = False) -> WriteItem:
    return WriteItem(
        key=key, size=len(data), sha256=hashlib.sha256(data).hexdigest(), data=data, replace=replace
    )


def put(store: ObjectStore, contents: dict[str, bytes], retention: Retention | None = None) -> datetime:
    now = datetime.now(UTC)
    list(store.write([item(k, d) for k, d in contents.items()], retention=retention, now=now))
    return now


def held(store: ObjectStore, keys: list[str]) -> dict[str, str | None]:
    """key -> sha256 of what reading it gives (None if it cannot be read)."""
    return {r.key: r.sha256 for r in store.read([ReadItem(key=k) for k in keys])}


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


AIP = {
    "aips/a/v1/bagit.txt": b"BagIt-Version: 1.0\n",
    "aips/a/v1/data/objects/x.fits": secrets.token_bytes(3000),
    "aips/a/v2/data/objects/y.txt": b"second version\n",
}
OTHERS = {
    "aips/ab/v1/bagit.txt": b"a neighbour whose id starts alike\n",
    "aips/b/v1/data/objects/x.fits": b"another AIP\n",
    "events/000000000001.jsonl": b'{"log": "oais event log"}\n',
}


# --- every location ---------------------------------------------------------------------------------


def test_a_plan_lists_every_object_under_the_prefix_and_deletes_nothing(made: Made) -> None:
    store = made.store
    now = put(store, {**AIP, **OTHERS})

    plan = store.plan_deletion("aips/a/", now)

    assert sorted(v.key for v in plan.versions) == sorted(AIP)
    assert plan.clear and plan.blocked == [] and plan.held_until is None
    assert (plan.objects, plan.bytes) == (3, sum(len(d) for d in AIP.values()))
    assert held(store, list(AIP)) == {k: sha(d) for k, d in AIP.items()}


def test_a_deletion_removes_every_object_under_the_prefix_and_nothing_else(made: Made) -> None:
    store = made.store
    now = put(store, {**AIP, **OTHERS})

    report = store.delete_prefix("aips/a/", now)

    assert report.done and report.blocked == ()
    assert sorted(v.key for v in report.deleted) == sorted(AIP)
    assert (report.objects, report.bytes) == (3, sum(len(d) for d in AIP.values()))
    assert list(store.list("aips/a/")) == []
    assert all(store.head(k) is None for k in AIP)
    assert list(store.children("aips/")) == ["ab", "b"]
    assert held(store, list(OTHERS)) == {k: sha(d) for k, d in OTHERS.items()}
    if made.kind == "local":
        assert isinstance(store, LocalObjectStore)
        assert not (store.root / "aips" / "a").exists()
    if made.kind == "s3":
        assert made.raw_versions("aips/a/") == []
    # Nothing left: a second deletion finds nothing and succeeds.
    again = store.delete_prefix("aips/a/", now)
    assert again.done and again.deleted == ()


@pytest.mark.parametrize("prefix", ["", "aips/a", "/aips/a/", "aips/../", "aips//a/"])
def test_a_deletion_needs_a_prefix_of_whole_segments(made: Made, prefix: str) -> None:
    store = made.store
    now = put(store, AIP)
    with pytest.raises(StorageError, match=f"location '{NAME}'"):
        store.plan_deletion(prefix, now)
    with pytest.raises(StorageError, match=f"location '{NAME}'"):
        store.delete_prefix(prefix, now)
    assert held(store, list(AIP)) == {k: sha(d) for k, d in AIP.items()}


def test_a_location_without_object_lock_blocks_nothing_whatever_retention_was_asked(made: Made) -> None:
    store = made.store
    now = put(store, AIP, retention=Retention(mode=RetentionMode.COMPLIANCE, days=1))
    assert store.plan_deletion("aips/a/", now).clear
    assert store.delete_prefix("aips/a/", now).done
    assert list(store.list("aips/")) == []


# --- locations with Object Lock ---------------------------------------------------------------------


def test_governance_retention_blocks_unless_lifted_and_then_every_version_goes(locked: Made) -> None:
    store = locked.store
    governance = Retention(mode=RetentionMode.GOVERNANCE, days=1)
    now = put(store, AIP, retention=governance)
    # A replaced object of an incomplete version: the bucket keeps the old version, retained too.
    list(
        store.write(
            [item("aips/a/v2/data/objects/y.txt", b"replaced\n", replace=True)], retention=governance, now=now
        )
    )
    versions = 4

    plan = store.plan_deletion("aips/a/", now)
    assert len(plan.versions) == versions and len(plan.blocked) == versions and not plan.clear
    assert {v.retention_mode for v in plan.blocked} == {RetentionMode.GOVERNANCE}
    assert plan.held_until is not None
    assert timedelta(0) <= plan.held_until - governance.until(now) < timedelta(seconds=2)
    refused = store.delete_prefix("aips/a/", now)
    assert not refused.done and refused.deleted == () and len(refused.blocked) == versions
    assert held(store, list(AIP))["aips/a/v1/bagit.txt"] == sha(AIP["aips/a/v1/bagit.txt"])

    lifted = store.plan_deletion("aips/a/", now, bypass_governance=True)
    assert lifted.clear
    report = store.delete_prefix("aips/a/", now, bypass_governance=True)
    assert report.done and len(report.deleted) == versions
    assert store.plan_deletion("aips/a/", now).versions == ()
    if locked.kind == "s3":
        assert locked.raw_versions("aips/a/") == []


def test_compliance_retention_blocks_the_whole_prefix_even_with_the_bypass(locked: Made) -> None:
    store = locked.store
    now = put(
        store,
        {"aips/a/v1/data/objects/x.fits": AIP["aips/a/v1/data/objects/x.fits"]},
        retention=Retention(mode=RetentionMode.COMPLIANCE, days=1),
    )
    put(
        store,
        {"aips/a/v1/bagit.txt": AIP["aips/a/v1/bagit.txt"]},
        retention=Retention(mode=RetentionMode.GOVERNANCE, days=1),
    )
    put(store, {"aips/a/v2/data/objects/y.txt": AIP["aips/a/v2/data/objects/y.txt"]})  # not retained

    report = store.delete_prefix("aips/a/", now, bypass_governance=True)

    # One object under COMPLIANCE: nothing at all is deleted, not even what could go.
    assert not report.done and report.deleted == ()
    (blocking,) = report.blocked
    assert blocking.key == "aips/a/v1/data/objects/x.fits"
    assert blocking.retention_mode is RetentionMode.COMPLIANCE and blocking.retain_until is not None
    assert "retained (COMPLIANCE) until" in blocking.describe()
    assert held(store, list(AIP)) == {k: sha(d) for k, d in AIP.items()}
    # Judged after the retention ends, nothing blocks (the plan only: the server keeps its own clock).
    assert store.plan_deletion("aips/a/", now + timedelta(days=2), bypass_governance=False).clear


def test_a_plain_delete_only_hides_an_object_and_a_deletion_removes_its_versions(locked: Made) -> None:
    store = locked.store
    now = put(store, AIP)
    if isinstance(store, InMemoryObjectStore):
        store.plain_delete("aips/a/v1/bagit.txt")
    else:
        locked.client.delete_object(Bucket=locked.bucket, Key=PREFIX + "aips/a/v1/bagit.txt")
    assert store.head("aips/a/v1/bagit.txt") is None

    plan = store.plan_deletion("aips/a/", now)
    hidden = [v for v in plan.versions if v.key == "aips/a/v1/bagit.txt"]
    assert sorted(v.delete_marker for v in hidden) == [False, True]  # the version is still there
    assert plan.objects == 3

    report = store.delete_prefix("aips/a/", now)
    assert report.done and len(report.deleted) == 4
    assert store.plan_deletion("aips/a/", now).versions == ()
    if locked.kind == "s3":
        assert locked.raw_versions("aips/a/") == []


def test_a_legal_hold_blocks_until_it_is_lifted(locked: Made) -> None:
    store = locked.store
    now = put(store, AIP)
    key = "aips/a/v1/data/objects/x.fits"

    def hold(on: bool) -> None:
        if isinstance(store, InMemoryObjectStore):
            store.hold(key, on)
        else:
            locked.client.put_object_legal_hold(
                Bucket=locked.bucket, Key=PREFIX + key, LegalHold={"Status": "ON" if on else "OFF"}
            )

    hold(True)
    plan = store.plan_deletion("aips/a/", now, bypass_governance=True)
    assert [v.key for v in plan.blocked] == [key] and plan.legal_holds == 1
    assert plan.held_until is None  # a legal hold has no end date
    assert store.delete_prefix("aips/a/", now, bypass_governance=True).deleted == ()
    assert held(store, [key]) == {key: sha(AIP[key])}
    hold(False)
    assert store.delete_prefix("aips/a/", now).done
    assert list(store.list("aips/")) == []


@pytest.mark.s3
def test_rgw_refuses_deleting_a_compliance_version_to_anyone(s3: S3Service) -> None:
    """What the deaccession relies on when it waits: RGW itself refuses, with or without the bypass."""
    bucket = s3.new_bucket(object_lock=True)
    store = S3ObjectStore(
        NAME,
        endpoint=s3.endpoint,
        bucket=bucket,
        access_key=s3.access_key,
        secret_key=s3.secret_key,
        prefix=PREFIX,
        region=s3.region,
    )
    made = Made(store, "s3", s3.client(), bucket)
    put(
        store,
        {"aips/a/v1/bagit.txt": b"locked\n"},
        retention=Retention(mode=RetentionMode.COMPLIANCE, days=1),
    )
    version = made.client.head_object(Bucket=bucket, Key=PREFIX + "aips/a/v1/bagit.txt")["VersionId"]
    for bypass in (False, True):
        with pytest.raises(ClientError) as refused:
            made.client.delete_object(
                Bucket=bucket,
                Key=PREFIX + "aips/a/v1/bagit.txt",
                VersionId=version,
                BypassGovernanceRetention=bypass,
            )
        assert refused.value.response["Error"]["Code"] == "AccessDenied"
    assert made.raw_versions("aips/a/") == [("aips/a/v1/bagit.txt", False)]


def test_kept_keys_are_neither_planned_nor_deleted_nor_blocking(locked: Made) -> None:
    """What a retried deaccession relies on: the tombstone an earlier attempt wrote (retained, under
    COMPLIANCE) is left out, and the rest of the prefix goes."""
    store = locked.store
    now = put(store, AIP, retention=Retention(mode=RetentionMode.GOVERNANCE, days=1))
    tombstone = "aips/a/tombstone.json"
    put(
        store,
        {tombstone: b'{"kind": "oais deaccession tombstone"}\n'},
        retention=Retention(mode=RetentionMode.COMPLIANCE, days=1),
    )

    plan = store.plan_deletion("aips/a/", now, bypass_governance=True, keep=[tombstone])
    assert sorted(v.key for v in plan.versions) == sorted(AIP) and plan.clear
    report = store.delete_prefix("aips/a/", now, bypass_governance=True, keep=[tombstone])

    assert report.done and sorted(v.key for v in report.deleted) == sorted(AIP)
    assert [v.key for v in store.plan_deletion("aips/a/", now).versions] == [tombstone]
    assert list(store.list_keys("aips/")) == [tombstone]


def test_a_local_deletion_keeps_the_directory_of_a_kept_key(tmp_path: Path) -> None:
    store = LocalObjectStore(NAME, tmp_path / "store")
    now = put(store, {**AIP, "aips/a/tombstone.json": b"{}\n"})
    report = store.delete_prefix("aips/a/", now, keep=["aips/a/tombstone.json"])
    assert report.done and len(report.deleted) == 3
    assert sorted(p.relative_to(store.root).as_posix() for p in (store.root / "aips").rglob("*")) == [
        "aips/a",
        "aips/a/tombstone.json",
    ]
