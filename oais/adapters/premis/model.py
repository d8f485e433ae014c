"""What a premis.xml says about the AIP version it describes (the facts a catalog rebuild needs)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from oais.domain.descriptive import Access, DescriptiveMetadata, Licence
from oais.domain.packages import Aip


class PremisHeader(BaseModel):
    """The AIP-level facts of a premis.xml: the intellectual entity and the representation.

    Together with the files, events and agents returned by the reader, this is enough to rebuild the
    catalog's record of an AIP version from storage alone.
    """

    model_config = ConfigDict(frozen=True)

    aip: Aip
    version: int = Field(ge=1)
    representation_id: str


class PremisRights(BaseModel):
    """What the rights statements of a premis.xml say: the licence, the access status and the
    rights statements in words of an AIP ingested with descriptive metadata.

    The rest of the descriptive metadata (creators, subjects, ...) is in the version's
    ``descriptive.json``; these facts are in PREMIS too, so that a reader of premis.xml alone knows
    what may be done with the content.
    """

    model_config = ConfigDict(frozen=True)

    licence: Licence | None = None
    access: Access = Access()
    statements: tuple[str, ...] = ()

    def metadata(self, title: str) -> DescriptiveMetadata:
        """Descriptive metadata holding only what PREMIS records (for a version without descriptive.json)."""
        return DescriptiveMetadata(
            title=title, licence=self.licence, access=self.access, rights_statements=self.statements
        )
