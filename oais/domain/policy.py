"""Policies: what the archive promises, as data (the schema of ``policies/*.toml``).

Curators own the policy files; every policy has an id and a version, and the PREMIS events that
apply a policy cite it as ``<id>@<version>``. Unknown keys, algorithms or rule names are errors.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, field_validator

from oais.domain.fixity import FAST_ALGORITHM, RECORD_ALGORITHM, DigestAlgorithm


class InvalidFormatRule(StrEnum):
    """What ingest does with a file whose format validation fails (a broken FITS header)."""

    REJECT = "reject"
    ACCEPT_WITH_WARNING = "accept-with-warning"


class IngestPolicy(BaseModel):
    """The ingest policy (``policies/ingest.toml``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1)
    version: str = Field(min_length=1)
    title: str = ""
    record_algorithm: DigestAlgorithm = RECORD_ALGORITHM
    fast_algorithm: DigestAlgorithm = FAST_ALGORITHM
    invalid_format: InvalidFormatRule = InvalidFormatRule.REJECT
    archive_name: str = Field(min_length=1)

    @field_validator("record_algorithm")
    @classmethod
    def _strong(cls, value: DigestAlgorithm) -> DigestAlgorithm:
        if value in (DigestAlgorithm.MD5, DigestAlgorithm.SHA1, DigestAlgorithm.XXH3_128):
            raise ValueError(f"{value.value} is not strong enough to be the digest of record")
        return value

    @property
    def reference(self) -> str:
        """How events cite this policy."""
        return f"{self.id}@{self.version}"
