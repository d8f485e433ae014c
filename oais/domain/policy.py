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


class EpnTapService(BaseModel):
    """How the EPN-TAP granule tables of DIPs describe the service that publishes them."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: EPN-TAP service_title (mandatory column): the name of the service in the VO registry.
    service_title: str = Field(min_length=1)
    publisher: str | None = None


class AccessPolicy(BaseModel):
    """The access policy (``policies/access.toml``): what DIPs carry and who may override access
    restrictions."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1)
    version: str = Field(min_length=1)
    title: str = ""
    #: Digests of every DIP's BagIt manifests (sha256 first: it is the digest of record of the AIPs).
    manifest_algorithms: tuple[DigestAlgorithm, ...] = (DigestAlgorithm.SHA256, DigestAlgorithm.SHA512)
    epntap: EpnTapService

    @field_validator("manifest_algorithms")
    @classmethod
    def _record_first(cls, value: tuple[DigestAlgorithm, ...]) -> tuple[DigestAlgorithm, ...]:
        if not value or value[0] is not DigestAlgorithm.SHA256:
            raise ValueError("the first manifest algorithm must be sha256, the AIPs' digest of record")
        if DigestAlgorithm.XXH3_128 in value:
            raise ValueError("xxh3_128 is not a BagIt manifest algorithm")
        return value

    @property
    def reference(self) -> str:
        """How events cite this policy."""
        return f"{self.id}@{self.version}"
