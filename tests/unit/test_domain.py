"""The domain's rules: coded issues, events that cannot be blank, AIP ids, the ingest policy."""

from __future__ import annotations

import pickle
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from oais.domain.errors import SipRejected
from oais.domain.fixity import DigestAlgorithm, FixityMismatch
from oais.domain.issues import CODES, Severity, errors, issue, warnings
from oais.domain.packages import aip_id_problem
from oais.domain.policy import IngestPolicy
from oais.domain.premis import AgentLink, AgentRole, Event, EventType, Outcome


def test_every_code_is_stable_shaped_and_explained() -> None:
    for code, (severity, meaning) in CODES.items():
        prefix, number = code.split("-")
        assert prefix in {"SIP", "BAG", "FMT", "AIP", "PLAN", "META", "DEA"}
        assert number[0] == ("E" if severity is Severity.ERROR else "W")
        assert len(number) == 4 and number[1:].isdigit()
        assert meaning.strip()


def test_unknown_code_is_refused() -> None:
    with pytest.raises(KeyError, match="SIP-E999"):
        issue("SIP-E999", "a", "b")


def test_errors_and_warnings_split_by_severity() -> None:
    found = [issue("SIP-E001", "../x", "escapes"), issue("SIP-W001", "link", "followed")]
    assert [i.code for i in errors(found)] == ["SIP-E001"]
    assert [i.code for i in warnings(found)] == ["SIP-W001"]
    assert str(found[0]) == "SIP-E001 ../x: escapes"


def _event(**overrides: object) -> Event:
    fields: dict[str, object] = {
        "identifier": "urn:uuid:1",
        "type": EventType.INGESTION,
        "date_time": datetime(2026, 1, 1, tzinfo=UTC),
        "detail": "SIP received",
        "outcome": Outcome.SUCCESS,
        "outcome_detail": "3 files",
        "agents": (AgentLink(agent="software:oais/1", role=AgentRole.EXECUTING_PROGRAM),),
    }
    fields.update(overrides)
    return Event.model_validate(fields)


@pytest.mark.parametrize(
    ("field", "value"),
    [("detail", "  "), ("outcome_detail", ""), ("agents", ()), ("date_time", datetime(2026, 1, 1))],
)
def test_an_event_without_evidence_is_refused(field: str, value: object) -> None:
    with pytest.raises(ValidationError, match=field):
        _event(**{field: value})


def test_event_types_carry_loc_vocabulary_uris() -> None:
    assert EventType.FIXITY_CHECK.uri == "http://id.loc.gov/vocabulary/preservation/eventType/fix"
    assert _event().type.code == "ing"


@pytest.mark.parametrize("good", ["omega-0042", "a", "urn:uuid:123", "A.b_c-d"])
def test_good_aip_ids(good: str) -> None:
    assert aip_id_problem(good) is None


@pytest.mark.parametrize("bad", ["", "../x", "a/b", "-x", "a..b", "é", "x" * 129, "a b"])
def test_bad_aip_ids_are_explained(bad: str) -> None:
    problem = aip_id_problem(bad)
    assert problem is not None and repr(bad) in problem


def test_policy_refuses_a_weak_digest_of_record() -> None:
    with pytest.raises(ValidationError, match="not strong enough"):
        IngestPolicy(id="ingest", version="1", archive_name="A", record_algorithm=DigestAlgorithm.MD5)


def test_policy_refuses_unknown_keys_and_algorithms() -> None:
    with pytest.raises(ValidationError, match="extra"):
        IngestPolicy.model_validate({"id": "i", "version": "1", "archive_name": "A", "colour": "red"})
    with pytest.raises(ValidationError, match="record_algorithm"):
        IngestPolicy.model_validate(
            {"id": "i", "version": "1", "archive_name": "A", "record_algorithm": "crc"}
        )


def test_policy_reference_cites_id_and_version() -> None:
    assert IngestPolicy(id="ingest", version="3", archive_name="A").reference == "ingest@3"


def test_errors_keep_their_details_across_processes() -> None:
    rejected = SipRejected("bad SIP", [issue("SIP-E007", "", "empty")])
    back = pickle.loads(pickle.dumps(rejected))
    assert isinstance(back, SipRejected) and back.issues == rejected.issues and str(back) == "bad SIP"
    mismatch = FixityMismatch("a.fits", DigestAlgorithm.SHA256, "aa", "bb")
    back2 = pickle.loads(pickle.dumps(mismatch))
    assert (back2.path, back2.expected, back2.actual) == ("a.fits", "aa", "bb")
    assert "a.fits" in str(back2)


def test_digest_algorithms_know_bagit_and_premis_names() -> None:
    assert DigestAlgorithm.from_bagit_name("SHA256") is DigestAlgorithm.SHA256
    assert DigestAlgorithm.from_bagit_name("crc32") is None
    assert DigestAlgorithm.SHA256.premis_name == "SHA-256"
    assert DigestAlgorithm.XXH3_128.hex_length == 32


def test_the_documented_code_table_is_the_one_in_the_code() -> None:
    from pathlib import Path

    from oais.domain.issues import codes_markdown

    doc = Path(__file__).resolve().parents[2] / "docs" / "codes.md"
    assert doc.read_text(encoding="utf-8") == codes_markdown(), "regenerate docs/codes.md (see its header)"
