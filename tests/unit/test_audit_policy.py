"""The audit policy as curators write it, and the parts of an audit that need no archive: the read
budget's pace and the worker that hashes a batch."""

from __future__ import annotations

import hashlib
import pickle
from functools import partial
from pathlib import Path

import pytest
import xxhash

from oais.adapters.policy_files import load_audit_policy
from oais.archival_storage import audit_worker
from oais.archival_storage.audit_worker import Batch, Pace, hash_batch
from oais.domain.audit import AuditMode
from oais.domain.errors import ConfigError
from oais.domain.fixity import DigestAlgorithm
from tests.support import audit_openers

SHIPPED = Path(__file__).resolve().parents[2] / "policies"


# -- the policy file ---------------------------------------------------------------------------------


def test_the_shipped_audit_policy_loads_and_keeps_its_cycle() -> None:
    policy = load_audit_policy(SHIPPED)
    assert policy.reference == "audit@1"
    assert (policy.quick.every_days, policy.deep.every_days, policy.cycle_days) == (7, 90, 90)
    assert policy.budget.of("any-location") == 200_000_000
    assert policy.repair is True
    # 1 PB read once a week needs about 1.65 GB/s: what `oais audit status` compares with the budget.
    assert policy.needed_rate(10**15) == pytest.approx(10**15 / (7 * 86400))


POLICY_TEXT = (SHIPPED / "audit.toml").read_text()


def edited(old: str, new: str) -> str:
    assert old in POLICY_TEXT
    return POLICY_TEXT.replace(old, new)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        pytest.param(
            edited("[deep]\nevery_days = 90", "[deep]\nevery_days = 120"),
            "deep.every_days (120) is longer than cycle_days (90): the cycle could not be kept",
            id="deep-longer-than-cycle",
        ),
        pytest.param(
            edited("[quick]\nevery_days = 7", "[quick]\nevery_days = 100").replace(
                "cycle_days = 90", "cycle_days = 365"
            ),
            "quick.every_days (100) is longer than deep.every_days (90)",
            id="quick-longer-than-deep",
        ),
        pytest.param(
            edited("repair = true", "repair = true\nrepair_from = 'ceph-a'"),
            "repair_from: Extra inputs are not permitted",
            id="unknown-key",
        ),
        pytest.param(
            edited("default = 200_000_000", "default = -200_000_000"),
            "budget.default: Input should be greater than 0",
            id="negative-budget",
        ),
        pytest.param(
            edited("# locations = { ceph-a = 500_000_000 }", "locations = { 'Ceph A' = 500_000_000 }"),
            "budget.locations: Value error, 'Ceph A' is not a location name",
            id="bad-location-name",
        ),
        pytest.param(
            edited("# locations = { ceph-a = 500_000_000 }", "locations = { ceph-a = 0 }"),
            "the budget of location 'ceph-a' must be a positive number of bytes/s",
            id="zero-location-budget",
        ),
    ],
)
def test_a_policy_that_cannot_be_kept_is_refused_naming_the_file_and_the_problem(
    tmp_path: Path, text: str, problem: str
) -> None:
    (tmp_path / "audit.toml").write_text(text)
    with pytest.raises(ConfigError) as refused:
        load_audit_policy(tmp_path)
    message = str(refused.value)
    assert message.startswith(f"{tmp_path / 'audit.toml'}: invalid audit policy: ")
    assert problem in message


def test_a_policy_file_that_is_not_toml_is_refused(tmp_path: Path) -> None:
    (tmp_path / "audit.toml").write_text(POLICY_TEXT.replace("[quick]", "[quick"))
    with pytest.raises(ConfigError, match=r"audit\.toml: not valid TOML"):
        load_audit_policy(tmp_path)


def test_each_mode_computes_its_digest() -> None:
    assert AuditMode.QUICK.algorithm is DigestAlgorithm.XXH3_128
    assert AuditMode.DEEP.algorithm is DigestAlgorithm.SHA256


# -- the read budget ---------------------------------------------------------------------------------


class FakeTime:
    """A monotonic clock that moves only when slept on, or when a test says time passed."""

    def __init__(self) -> None:
        self.now = 5_000.0
        self.slept = 0.0

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0
        self.slept += seconds
        self.now += seconds


@pytest.fixture
def fake_time(monkeypatch: pytest.MonkeyPatch) -> FakeTime:
    fake = FakeTime()
    monkeypatch.setattr(audit_worker, "time", fake)
    return fake


RATE = 1_000_000  # bytes per second
CHUNK = 64 << 10


def read(pace: Pace, nbytes: int, time: FakeTime | None = None, disk_rate: float | None = None) -> None:
    """Report ``nbytes`` read in chunks; with ``disk_rate``, reading a chunk itself takes time."""
    left = nbytes
    while left:
        n = min(CHUNK, left)
        if time is not None and disk_rate is not None:
            time.now += n / disk_rate
        pace(n)
        left -= n


def test_reading_at_full_speed_is_held_to_the_budget_after_a_one_second_burst(fake_time: FakeTime) -> None:
    pace = Pace(RATE)
    read(pace, 5 * RATE)
    assert fake_time.slept == pytest.approx(4.0)  # 5 s worth of bytes, the first second free


def test_an_idle_reader_gets_no_more_than_the_one_second_burst(fake_time: FakeTime) -> None:
    pace = Pace(RATE)
    read(pace, 5 * RATE)
    fake_time.now += 3600  # an hour with nothing to read
    before = fake_time.slept
    read(pace, 5 * RATE)
    assert fake_time.slept - before == pytest.approx(4.0)


def test_a_reader_slower_than_the_budget_is_never_held_up(fake_time: FakeTime) -> None:
    pace = Pace(RATE)
    read(pace, 20 * RATE, fake_time, disk_rate=RATE * 0.9)
    assert fake_time.slept == 0.0


# -- the worker --------------------------------------------------------------------------------------


CONTENTS = (("aips/a/v1/data/objects/x", b"x" * 1000), ("aips/a/v1/data/objects/y", b"yy"))


@pytest.fixture
def fresh_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    """A worker that has opened no location yet."""
    monkeypatch.setattr(audit_worker, "_stores", {})
    monkeypatch.setattr(audit_worker, "_paces", {})
    monkeypatch.setattr(audit_openers, "OPENED", [])


def as_sent(batch: Batch) -> Batch:
    """The batch as a worker process receives it: pickled and unpickled (a new opener object)."""
    copy: Batch = pickle.loads(pickle.dumps(batch))
    return copy


@pytest.mark.usefixtures("fresh_worker")
def test_a_worker_hashes_each_object_in_its_algorithm_and_opens_a_location_once() -> None:
    opener = partial(audit_openers.open_memory, "m", CONTENTS)
    x, y = (key for key, _ in CONTENTS)
    sha_x = hashlib.sha256(b"x" * 1000).hexdigest()
    xxh_y = xxhash.xxh3_128(b"yy").hexdigest()
    objects = (
        (x, DigestAlgorithm.SHA256.value, 1000, sha_x),
        (y, DigestAlgorithm.XXH3_128.value, 2, xxh_y),
    )
    # Everything as expected: only the bytes read come back.
    assert hash_batch(as_sent(Batch("m", opener, objects, None))) == (1002, [])
    # Each object in its own algorithm: the xxh3 digest expected as sha256 differs, and so on.
    swapped = (
        (x, DigestAlgorithm.SHA256.value, 1000, xxh_y),
        (y, DigestAlgorithm.XXH3_128.value, 2, sha_x),
    )
    assert sorted(hash_batch(as_sent(Batch("m", opener, swapped, None))).differing) == [
        (x, 1000, sha_x, None),
        (y, 2, xxh_y, None),
    ]
    # A size not as expected, even with nothing to compare the digest with.
    assert hash_batch(as_sent(Batch("m", opener, ((y, DigestAlgorithm.SHA256.value, 3, None),), None))) == (
        2,
        [(y, 2, hashlib.sha256(b"yy").hexdigest(), None)],
    )
    missing = "aips/a/v1/data/objects/z"
    second = hash_batch(
        as_sent(Batch("m", opener, ((missing, DigestAlgorithm.SHA256.value, None, None),), 10**9))
    )
    assert second == (0, [(missing, 0, None, "missing")])
    assert audit_openers.OPENED == ["m"]  # many batches, one store

    # Another configuration under the same name (a deployment changed) is opened anew.
    changed = partial(audit_openers.open_memory, "m", CONTENTS[:1])
    assert hash_batch(as_sent(Batch("m", changed, ((y, DigestAlgorithm.SHA256.value, 2, None),), None))) == (
        0,
        [(y, 0, None, "missing")],
    )
    assert audit_openers.OPENED == ["m", "m"]
