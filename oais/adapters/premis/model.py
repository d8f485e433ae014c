"""What a premis.xml says about the AIP version it describes (the facts a catalog rebuild needs)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

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
