"""What a DIP says about its content: Dublin Core, DataCite 4 JSON, a README for people, and the
selection of files by glob. Pure: text in, text out."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from functools import lru_cache
from typing import Any
from xml.sax.saxutils import escape

from oais.domain.descriptive import AccessStatus, DescriptiveMetadata
from oais.domain.dip import DipFile, DipPurpose
from oais.domain.packages import Aip

DC_NS = "http://purl.org/dc/elements/1.1/"
OAI_DC_NS = "http://www.openarchives.org/OAI/2.0/oai_dc/"
DATACITE_SCHEMA = "http://datacite.org/schema/kernel-4"


@lru_cache(maxsize=64)
def glob_pattern(glob: str) -> re.Pattern[str]:
    """A glob over '/'-separated paths: ``*`` and ``?`` stay within one folder, ``**`` spans any
    number of folders (``**/x`` matches ``x`` at the top too), ``[...]`` is a character class."""
    out: list[str] = []
    i = 0
    while i < len(glob):
        c = glob[i]
        if glob.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
            continue
        if glob.startswith("**", i):
            out.append(".*")
            i += 2
            continue
        if c == "*":
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "[" and (end := glob.find("]", i + 2)) != -1:
            body = glob[i + 1 : end]
            negate = body.startswith("!")
            body = re.escape(body[1:] if negate else body).replace(r"\-", "-")
            out.append(f"[{'^' if negate else ''}{body}]")
            i = end + 1
            continue
        else:
            out.append(re.escape(c))
        i += 1
    return re.compile("".join(out) + r"\Z", re.DOTALL)


def matches(glob: str | None, *paths: str) -> bool:
    """Whether any of ``paths`` matches ``glob`` (None matches everything)."""
    if glob is None:
        return True
    pattern = glob_pattern(glob.strip("/"))
    return any(pattern.match(p) for p in paths)


def _el(name: str, value: str | None) -> str:
    return f"  <dc:{name}>{escape(value)}</dc:{name}>\n" if value else ""


def _rights(meta: DescriptiveMetadata) -> list[str]:
    out = []
    if meta.licence is not None:
        lic = meta.licence
        out.append(" ".join(x for x in (lic.name or lic.identifier, lic.uri) if x))
    access = meta.access
    if access.status is AccessStatus.OPEN:
        out.append("info:eu-repo/semantics/openAccess")
    elif access.status is AccessStatus.EMBARGOED and access.embargo_until is not None:
        out.append(f"info:eu-repo/semantics/embargoedAccess (until {access.embargo_until.isoformat()})")
    else:
        out.append("info:eu-repo/semantics/restrictedAccess")
    out.extend(meta.rights_statements)
    return out


def dublin_core(aip: Aip, version: int, files: Sequence[DipFile]) -> bytes:
    """The DIP's descriptive metadata as simple Dublin Core (an ``oai_dc:dc`` record)."""
    meta = aip.descriptive
    parts = [
        '<?xml version="1.0" encoding="UTF-8"?>\n',
        f'<oai_dc:dc xmlns:oai_dc="{OAI_DC_NS}" xmlns:dc="{DC_NS}">\n',
        _el("title", meta.title),
    ]
    creators = [c.name for c in meta.creators] or [aip.producer]
    parts += [_el("creator", c) for c in creators]
    parts += [_el("subject", s) for s in meta.subjects]
    parts.append(_el("description", meta.description))
    parts.append(_el("publisher", meta.publisher))
    parts.append(
        _el("date", str(meta.publication_year) if meta.publication_year else aip.created.date().isoformat())
    )
    parts.append(_el("type", meta.resource_type))
    parts += [_el("format", m) for m in sorted({f.mime_type for f in files})]
    parts.append(_el("identifier", f"{aip.aip_id}/v{version}"))
    parts += [_el("identifier", f"{i.type}:{i.value}") for i in meta.identifiers]
    parts.append(_el("language", meta.language))
    parts += [_el("rights", r) for r in _rights(meta)]
    if meta.observation is not None and meta.observation.target_name:
        parts.append(_el("coverage", meta.observation.target_name))
    parts.append("</oai_dc:dc>\n")
    return "".join(parts).encode("utf-8")


def datacite(aip: Aip, version: int, files: Sequence[DipFile], archive: str) -> dict[str, Any]:
    """The DIP's descriptive metadata as DataCite 4 JSON (the ``attributes`` of a DataCite REST API
    DOI record): what a DOI can be minted from. The DOI itself is left out unless the content has one."""
    meta = aip.descriptive
    creators: list[dict[str, Any]] = []
    for c in meta.creators or ():
        person = "," in c.name or c.orcid is not None
        entry: dict[str, Any] = {"name": c.name, "nameType": "Personal" if person else "Organizational"}
        if c.affiliation:
            entry["affiliation"] = [{"name": c.affiliation}]
        if c.orcid:
            entry["nameIdentifiers"] = [
                {
                    "nameIdentifier": f"https://orcid.org/{c.orcid}",
                    "nameIdentifierScheme": "ORCID",
                    "schemeUri": "https://orcid.org",
                }
            ]
        creators.append(entry)
    if not creators:
        creators.append({"name": aip.producer, "nameType": "Organizational"})
    record: dict[str, Any] = {
        "schemaVersion": DATACITE_SCHEMA,
        "titles": [{"title": meta.title}],
        "creators": creators,
        "publisher": {"name": meta.publisher or archive},
        "publicationYear": meta.publication_year or aip.created.year,
        "types": {"resourceTypeGeneral": meta.resource_type, "resourceType": "AIP version"},
        "alternateIdentifiers": [
            {"alternateIdentifier": f"{aip.aip_id}/v{version}", "alternateIdentifierType": "Local"}
        ],
        "dates": [{"date": aip.created.date().isoformat(), "dateType": "Created"}],
        "formats": sorted({f.mime_type for f in files}),
        "sizes": [f"{len(files)} files", f"{sum(f.size for f in files)} bytes"],
        "rightsList": [],
    }
    if meta.doi:
        record["doi"] = meta.doi
    record["alternateIdentifiers"] += [
        {"alternateIdentifier": i.value, "alternateIdentifierType": i.type}
        for i in meta.identifiers
        if i.type.upper() != "DOI"
    ]
    if meta.subjects:
        record["subjects"] = [{"subject": s} for s in meta.subjects]
    if meta.description:
        record["descriptions"] = [{"description": meta.description, "descriptionType": "Abstract"}]
    if meta.language:
        record["language"] = meta.language
    if meta.licence is not None:
        lic: dict[str, Any] = {"rightsIdentifier": meta.licence.identifier, "rightsIdentifierScheme": "SPDX"}
        lic["rights"] = meta.licence.name or meta.licence.identifier
        if meta.licence.uri:
            lic["rightsUri"] = meta.licence.uri
        record["rightsList"].append(lic)
    record["rightsList"] += [{"rights": r} for r in meta.rights_statements]
    access = meta.access
    if access.status is AccessStatus.EMBARGOED and access.embargo_until is not None:
        record["dates"].append({"date": access.embargo_until.isoformat(), "dateType": "Available"})
    return record


def readme(
    aip: Aip,
    version: int,
    purpose: DipPurpose,
    files: Sequence[DipFile],
    created: datetime,
    dip_id: str,
    archive: str,
    portal_table: bool,
) -> str:
    """The README.txt of a DIP: what it is, where it comes from, under which rights, how to check it."""
    meta = aip.descriptive
    size = sum(f.size for f in files)
    derived = sum(1 for f in files if f.derivative_of is not None)
    lines = [
        meta.title,
        "=" * min(len(meta.title), 78),
        "",
        f"This package ({dip_id}) was made by {archive}",
        f"on {created.strftime('%Y-%m-%d %H:%M:%S %Z').strip()},",
        f"from version {version} of the archival package {aip.aip_id},",
        f"submitted by {aip.producer}.",
        "",
        f"Purpose: {purpose.value}. "
        + (
            "The files are those the producer sent, as sent."
            if purpose is DipPurpose.ORIGINAL
            else "The files are copies made for use: where the archive's format policy has an access "
            "rule (previews of FITS images, for instance), the file here was made from the archived one."
        ),
        f"Content: {len(files)} files, {size} bytes, under data/"
        + (f"; {derived} made for this package" if derived else "")
        + ".",
        "",
    ]
    if meta.description:
        lines += [meta.description, ""]
    lines.append("Rights:")
    lines += [f"  - {r}" for r in _rights(meta)]
    lines += [
        "",
        "Metadata:",
        "  metadata/dublin-core.xml   Dublin Core",
        "  metadata/datacite.json     DataCite 4 (to mint a DOI)",
        "  metadata/premis.xml        PREMIS 3 provenance of the files included (their ingest,",
        "                             migrations, and this dissemination)",
    ]
    if portal_table:
        lines += [
            "  metadata/epntap.csv        EPN-TAP 2.0 granule table, one row per data product",
            "  metadata/epntap.xml        the same table as a VOTable",
        ]
    lines += [
        "",
        "This folder is a BagIt 1.0 bag (RFC 8493). To check that nothing changed since it was made,",
        "compare each file with manifest-sha256.txt (for instance: bagit.py --validate .).",
        "",
    ]
    return "\n".join(lines)
