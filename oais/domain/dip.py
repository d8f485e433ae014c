"""Dissemination information packages: what was asked for, what was handed out.

A DIP is a BagIt 1.0 bag of its own, made from one AIP version (see docs/access.md)::

    bagit.txt, bag-info.txt, manifest-sha256.txt, manifest-sha512.txt, tagmanifest-*.txt
    README.txt                        for the human reader: what, from where, under which rights
    data/<path>                       the selected files (originals or access derivatives)
    metadata/dublin-core.xml          Dublin Core (oai_dc)
    metadata/datacite.json            DataCite 4 JSON (enough to mint a DOI)
    metadata/premis.xml               PREMIS provenance of what is included
    metadata/epntap.csv, epntap.xml   the EPN-TAP 2.0 granule table (``--portal epntap`` only)

Pure: no I/O.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class DipPurpose(StrEnum):
    """What a DIP is for."""

    #: The files as the producer sent them (derived files left out).
    ORIGINAL = "original"
    #: What a user opens: the policy's access derivative where the format has an access rule, the
    #: newest preservation copy where a file was migrated, the file itself otherwise.
    ACCESS = "access"


class Portal(StrEnum):
    """Portal tables a DIP can carry."""

    EPNTAP = "epntap"


class Override(BaseModel):
    """An authorised override of an embargo or restriction: who, and why (both recorded in PREMIS)."""

    model_config = ConfigDict(frozen=True)

    by: str = Field(min_length=1)
    reason: str = Field(min_length=1)


class DipRequest(BaseModel):
    """What to disseminate."""

    model_config = ConfigDict(frozen=True)

    aip_id: str
    #: None: the newest version.
    version: int | None = Field(default=None, ge=1)
    #: A glob over the files' original paths ("cubes/*.fits", "**/*.png"); None: every file.
    files: str | None = None
    purpose: DipPurpose = DipPurpose.ACCESS
    portal: Portal | None = None
    #: Who asked (a PREMIS agent of the dissemination event).
    requester: str = Field(default="command line", min_length=1)
    override: Override | None = None


class DipFile(BaseModel):
    """One payload file of a DIP."""

    model_config = ConfigDict(frozen=True)

    #: The path under the DIP's data/ (the AIP file's path, or the derivative's).
    path: str
    size: int
    sha256: str
    puid: str | None
    mime_type: str
    #: The AIP file it is, or was made from (original path).
    source: str
    #: The access rule's tool when the file is an access derivative made for this DIP.
    derivative_of: str | None = None


class DipResult(BaseModel):
    """A DIP that was written."""

    model_config = ConfigDict(frozen=True)

    dip_id: str
    aip_id: str
    version: int
    purpose: DipPurpose
    portal: Portal | None
    destination: str
    files: tuple[DipFile, ...]
    bytes: int
    created: datetime
    #: The PREMIS dissemination event's identifier.
    event: str
    #: What the reader should know: values a portal table could not fill, files it leaves out.
    notes: tuple[str, ...] = ()
    #: Set when an embargo or restriction was overridden.
    override: Override | None = None


class Granule(BaseModel):
    """What the EPN-TAP table needs to know of one file of a DIP (one row, one data product)."""

    model_config = ConfigDict(frozen=True)

    file: DipFile
    #: The URL the portal will serve the file from (the DIP's base URL + its path), if known.
    access_url: str | None
    #: Header facts of a FITS file (keyword -> value, primary HDU first then the first image HDU);
    #: empty for other formats.
    header: dict[str, str | int | float | bool] = {}
    #: When the AIP (creation_date) and this version (modification_date) were made.
    created: datetime
    modified: datetime
    #: The day the content is or was released: the embargo's end, else the AIP's creation.
    released: date
