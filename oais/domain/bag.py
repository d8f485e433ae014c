"""The structure of a BagIt bag (RFC 8493) as read from its tag files, before payload is hashed."""

from __future__ import annotations

from pydantic import BaseModel, Field

from oais.domain.fixity import DigestAlgorithm
from oais.domain.issues import Issue


class FetchEntry(BaseModel):
    """One line of fetch.txt: a payload file listed in the manifests but kept elsewhere."""

    url: str
    size: int | None  # None when the line gives '-'
    path: str  # bag-relative, decoded


class BagStructure(BaseModel):
    """What a bag's tag files declare, and every structural problem found reading them."""

    version: str | None = None  # BagIt-Version from bagit.txt
    encoding: str | None = None  # Tag-File-Character-Encoding
    info: list[tuple[str, str]] = Field(default_factory=list)  # bag-info.txt, in order
    #: algorithm -> bag-relative path (decoded, under data/) -> expected hex digest
    manifests: dict[DigestAlgorithm, dict[str, str]] = Field(default_factory=dict)
    #: algorithm -> bag-relative tag file path -> expected hex digest
    tag_manifests: dict[DigestAlgorithm, dict[str, str]] = Field(default_factory=dict)
    #: every regular file under data/ (bag-relative) with its size
    payload: dict[str, int] = Field(default_factory=dict)
    #: every well-formed fetch.txt line, in order
    fetch: list[FetchEntry] = Field(default_factory=list)
    issues: list[Issue] = Field(default_factory=list)

    @property
    def algorithms(self) -> set[DigestAlgorithm]:
        """Every algorithm a payload manifest declares."""
        return set(self.manifests)
