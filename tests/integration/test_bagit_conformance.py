"""Every bag of the Library of Congress BagIt conformance suite, through read_structure,
a payload hash and check_payload; and a cross-check against bagit-python 1.9.

The suite lives beside the repository (``/work/<repo>`` next to ``/work/shared``). Its README:
``valid/`` must validate, ``invalid/`` and ``linux-only/`` must be rejected, ``warning/`` bags are
valid but should draw a warning, ``windows-only/`` is skipped on Linux.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import bagit
import pytest

from oais.adapters.bagit import BagItCodec, DirectoryBagFiles
from oais.domain.issues import Issue, errors, warnings
from tests.support.bagit_hashing import hash_payload

SHARED = Path(__file__).resolve().parents[3] / "shared"
SUITE = SHARED / "conformance" / "bagit-conformance-suite"

#: The error each invalid bag must draw (at least this one; others may accompany it).
EXPECTED_ERRORS = {
    "v0.97/invalid/baginfo-missing-encoding": "BAG-E002",
    "v0.97/invalid/bom-in-bagit.txt": "BAG-E002",
    "v0.97/invalid/corrupt-data-file": "BAG-E008",
    "v0.97/invalid/corrupt-tag-file": "BAG-E008",
    "v0.97/invalid/extra-file-in-bag": "BAG-E007",
    "v0.97/invalid/invalid-version-number": "BAG-E002",
    "v0.97/invalid/missing-baginfo": "BAG-E006",
    "v0.97/invalid/missing-bagit.txt": "BAG-E001",
    "v0.97/invalid/out-of-scope-file-paths-using-dot-notation": "BAG-E010",
    "v0.97/invalid/out-of-scope-file-paths-using-dot-notation-for-fetch": "BAG-E010",
    "v0.97/invalid/same-filename-listed-twice-with-different-hashes": "BAG-E011",
    "v0.97/linux-only/out-of-scope-file-paths-using-absolute-path": "BAG-E010",
    "v0.97/linux-only/out-of-scope-file-paths-using-absolute-path-for-fetch": "BAG-E010",
    "v0.97/linux-only/out-of-scope-file-paths-using-shortcut": "BAG-E010",
    "v0.97/linux-only/out-of-scope-file-paths-using-shortcut-for-fetch": "BAG-E010",
    "v0.97/linux-only/out-of-scope-file-paths-using-shortcut-username": "BAG-E010",
    "v0.97/linux-only/out-of-scope-file-paths-using-shortcut-username-for-fetch": "BAG-E010",
    "v0.97/windows-only/out-of-scope-file-paths-using-absolute-path": "BAG-E010",
    "v0.97/windows-only/out-of-scope-file-paths-using-absolute-path-for-fetch": "BAG-E010",
    "v0.97/windows-only/out-of-scope-file-paths-using-shortcut": "BAG-E010",
    "v0.97/windows-only/out-of-scope-file-paths-using-shortcut-for-fetch": "BAG-E010",
    "v0.97/windows-only/out-of-scope-file-paths-using-unc": "BAG-E010",
    "v0.97/windows-only/out-of-scope-file-paths-using-unc-for-fetch": "BAG-E010",
    "v1.0/invalid/bagit-with-invalid-whitespace": "BAG-E002",
    "v1.0/invalid/notAllManifestsListAllFiles": "BAG-E007",
    "v1.0/invalid/same-filename-listed-twice-with-different-hashes": "BAG-E011",
    "v1.0/invalid/same-filename-listed-twice-with-the-same-hash": "BAG-E011",
}

#: The warning each warning/ bag must draw (at least this one; BAG-W002 alone never suffices).
EXPECTED_WARNINGS = {
    "v0.97/warning/duplicate-file-with-different-case": "BAG-W006",
    "v0.97/warning/made-with-md5sum-tools": "BAG-W005",
    "v0.97/warning/relative-path": "BAG-W005",
    "v0.97/warning/same-filename-listed-twice-with-different-normalization": "BAG-W006",
    "v0.97/warning/same-filename-listed-twice-with-the-same-hash": "BAG-W006",
    "v0.97/warning/special-system-files": "BAG-W007",
}

#: Bags on which bagit-python 1.9 and oais disagree, and why.
BAGIT_PYTHON_DISAGREES = {
    "v1.0/invalid/bagit-with-invalid-whitespace": "bagit-python strips the space before the colon "
    "in bagit.txt and accepts the bag, which the suite says is invalid",
    "v0.97/warning/duplicate-file-with-different-case": "bagit-python reports data/HELLO.txt as "
    "missing; oais takes it as a second spelling of the listed data/hello.txt (BAG-W006)",
    "v0.97/warning/same-filename-listed-twice-with-different-normalization": "bagit-python cannot "
    "open the NFD spelling of data/Núñez; oais matches it to the file by NFC form (BAG-W006)",
    "v0.97/warning/special-system-files": "bagit-python counts the absent data/.DS_Store as a "
    "Payload-Oxum mismatch; oais allows for listed operating-system files that are absent (BAG-W007)",
}


def _suite_bags(windows_only: bool = True) -> list[Any]:
    """One parameter per bag; a single failing parameter if the suite is missing."""
    if not SUITE.is_dir():
        return [pytest.param(None, id="suite-missing")]
    return [
        pytest.param(bag, id=bag.relative_to(SUITE).as_posix())
        for bag in sorted(SUITE.glob("v*/*/*"))
        if bag.is_dir() and (windows_only or bag.parent.name != "windows-only")
    ]


def _require_suite(bag: Path | None) -> Path:
    if bag is None:
        pytest.fail(
            f"the BagIt conformance suite is missing: expected it at {SUITE} "
            "(the repository is cloned at /work/<name> with shared/ beside it)"
        )
    return bag


def _validate(bag: Path) -> tuple[list[Issue], str | None]:
    codec = BagItCodec()
    structure = codec.read_structure(DirectoryBagFiles(bag))
    actual = hash_payload(bag, structure.payload, structure.algorithms)
    return structure.issues + codec.check_payload(structure, actual), structure.version


def test_suite_is_complete() -> None:
    bags = [param.values[0] for param in _suite_bags()]
    _require_suite(bags[0])
    categories = {bag.parent.name for bag in bags}
    assert categories == {"valid", "invalid", "warning", "linux-only", "windows-only"}
    assert {bag.relative_to(SUITE).as_posix() for bag in bags} >= set(EXPECTED_ERRORS) | set(
        EXPECTED_WARNINGS
    )
    assert len(bags) >= 60


@pytest.mark.parametrize("bag", _suite_bags())
def test_conformance_bag(bag: Path | None) -> None:
    bag = _require_suite(bag)
    name = bag.relative_to(SUITE).as_posix()
    # Paths are checked as text, so the suite's Windows-only escapes are refused here too.
    category = bag.parent.name
    issues, version = _validate(bag)
    found = [i.code for i in errors(issues)]
    report = "\n".join(str(i) for i in issues)

    if category == "valid":
        assert found == [], report
    elif category == "warning":
        assert found == [], report
        assert name in EXPECTED_WARNINGS, f"{name}: record the warning it must draw in EXPECTED_WARNINGS"
        assert EXPECTED_WARNINGS[name] in [i.code for i in warnings(issues)], report
        assert all(i.message for i in warnings(issues))
    else:
        assert EXPECTED_ERRORS[name] in found, report
        assert all(i.message for i in errors(issues))
    if version is not None and version.startswith("0."):
        assert "BAG-W002" in [i.code for i in issues], report  # older than 1.0


def _bagit_python_accepts(bag: Path) -> bool:
    logging.getLogger("bagit").setLevel(logging.CRITICAL)
    try:
        bagit.Bag(str(bag)).validate()
    except bagit.BagError:
        return False
    return True


# bagit-python checks Windows-only paths against the running platform only: no comparison there.
@pytest.mark.parametrize("bag", _suite_bags(windows_only=False))
def test_agrees_with_bagit_python(bag: Path | None) -> None:
    bag = _require_suite(bag)
    name = bag.relative_to(SUITE).as_posix()
    ours = not errors(_validate(bag)[0])
    theirs = _bagit_python_accepts(bag)
    if name in BAGIT_PYTHON_DISAGREES:
        assert ours != theirs, f"{name}: the recorded disagreement is gone; update BAGIT_PYTHON_DISAGREES"
    else:
        assert ours == theirs, f"{name}: oais {'accepts' if ours else 'rejects'}, bagit-python does not"
