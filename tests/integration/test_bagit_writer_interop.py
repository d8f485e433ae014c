"""Bags written by BagItCodec, checked by bagit-python 1.9 (an independent BagIt implementation)."""

from __future__ import annotations

import logging
from pathlib import Path

import bagit
import pytest

from oais.adapters.bagit import BagItCodec, DirectoryBagFiles
from oais.domain.fixity import DigestAlgorithm
from tests.support.bagit_hashing import hash_payload

ALGORITHMS = (DigestAlgorithm.SHA256, DigestAlgorithm.SHA512, DigestAlgorithm.XXH3_128)
INFO = [("Source-Organization", "Example Archive"), ("Bagging-Date", "2024-05-01")]


def write_bag(bag: Path, payload: dict[str, bytes]) -> None:
    for path, data in payload.items():
        target = bag.joinpath(*path.split("/"))
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    (bag / "metadata").mkdir()
    (bag / "metadata" / "premis.xml").write_bytes(b"<premis/>")
    digests = hash_payload(bag, payload, ALGORITHMS)
    BagItCodec().write_tags(bag, [(p, len(d), digests[p]) for p, d in payload.items()], INFO)


def bagit_python_validate(bag: Path) -> None:
    logging.getLogger("bagit").setLevel(logging.CRITICAL)
    bagit.Bag(str(bag)).validate()


def test_bagit_python_validates_our_bags(tmp_path: Path) -> None:
    payload = {
        "data/plain.txt": b"plain",
        "data/with space.txt": b"space",
        "data/Núñez/café.txt": b"accents",
        "data/日本語.txt": b"kanji",
        "data/line\nbreak.txt": b"LF",
        "data/carriage\rreturn.txt": b"CR",
        "data/empty": b"",
        "data/" + "/".join(f"d{i}" for i in range(30)) + "/deep.txt": b"deep",
    }
    write_bag(tmp_path, payload)
    bagit_python_validate(tmp_path)
    structure = bagit.Bag(str(tmp_path))
    assert sorted(structure.algorithms) == ["sha256", "sha512"]  # no xxh3_128 manifest to trip other tools
    assert structure.info["Payload-Oxum"] == f"{sum(map(len, payload.values()))}.{len(payload)}"


def test_bagit_python_misreads_a_percent_sign_in_a_name(tmp_path: Path) -> None:
    """RFC 8493 §2.1.3 says '%' is written '%25'; bagit-python 1.9 decodes only %0A and %0D.

    So a payload file named ``100%.txt`` in a correct bag is reported by bagit-python as both
    missing (it looks for ``100%25.txt``) and unlisted. Our reader accepts the same bag.
    """
    write_bag(tmp_path, {"data/100%.txt": b"percent"})
    assert "  data/100%25.txt\n" in (tmp_path / "manifest-sha256.txt").read_text()
    with pytest.raises(bagit.BagValidationError) as failure:
        bagit_python_validate(tmp_path)
    assert "data/100%25.txt" in str(failure.value) or "data/100%.txt" in str(failure.value)
    structure = BagItCodec().read_structure(DirectoryBagFiles(tmp_path))
    assert structure.issues == []
