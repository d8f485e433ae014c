"""Streaming PREMIS 3 writer: one element at a time, so memory does not grow with the number of files.

The document is written with :class:`lxml.etree.xmlfile`: every element is opened, filled and closed
straight into the output; nothing of a file object stays in memory once it is written. Element order
follows the PREMIS 3.0 schema, whose content models are sequences.

The document goes to a temporary file beside ``path`` and is renamed over ``path`` only when it is
complete, so a failure never leaves a half-written premis.xml that looks finished.

When the AIP has descriptive metadata, its licence, access status and rights statements close the
document as PREMIS rights statements, one per fact, each linked to the intellectual entity.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator, Mapping
from enum import Enum
from pathlib import Path
from typing import IO, Any
from urllib.parse import quote

from lxml import etree

from oais.adapters.premis import vocab
from oais.adapters.premis.vocab import q
from oais.domain.descriptive import Access, AccessStatus, DescriptiveMetadata, Licence
from oais.domain.fixity import DigestAlgorithm
from oais.domain.packages import Aip, FileEntry, FormatFacts
from oais.domain.premis import Agent, Event

_INDENT = "  "


class _Stage(int, Enum):
    """Where the document is; PREMIS puts objects, then events, then agents, then rights."""

    OBJECTS = 0
    EVENTS = 1
    CLOSED = 2
    FINISHED = 3


class _Emitter:
    """Writes indented elements through an open ``xmlfile`` (indentation keeps the file readable)."""

    def __init__(self, xf: Any, depth: int) -> None:
        # lxml-stubs do not describe xmlfile's writer object, hence Any.
        self._xf = xf
        self._depth = depth

    def _newline(self) -> None:
        self._xf.write("\n" + _INDENT * self._depth)

    @contextlib.contextmanager
    def element(self, local: str, attrib: Mapping[str, str] | None = None) -> Iterator[None]:
        """An element with child elements."""
        self._newline()
        with self._xf.element(q(local), dict(attrib or {})):
            self._depth += 1
            yield
            self._depth -= 1
            self._newline()

    def leaf(self, local: str, text: str, attrib: Mapping[str, str] | None = None) -> None:
        """An element holding only text."""
        self._newline()
        try:
            with self._xf.element(q(local), dict(attrib or {})):
                self._xf.write(text)
        except ValueError as exc:  # includes UnicodeEncodeError for lone surrogates
            raise ValueError(f"premis:{local}: {text!r} cannot be written in XML 1.0 ({exc})") from exc

    def identifier(self, local: str, value: str, id_type: str | None = None) -> None:
        """An identifier container (``<x><xType/><xValue/></x>``)."""
        with self.element(local):
            self.leaf(f"{local}Type", id_type or vocab.identifier_type(value))
            self.leaf(f"{local}Value", value)

    def significant_property(self, prop_type: str, value: str) -> None:
        """A significantProperties element with a type and a value."""
        with self.element("significantProperties"):
            self.leaf("significantPropertiesType", prop_type)
            self.leaf("significantPropertiesValue", value)

    def relationship(self, subtype: str, related: str, rel_type: str = vocab.STRUCTURAL) -> None:
        """A relationship (structural unless ``rel_type`` says otherwise) to the object ``related``."""
        with self.element("relationship"):
            self.leaf(
                "relationshipType",
                rel_type,
                {"authority": "relationshipType", "authorityURI": vocab.RELATIONSHIP_TYPE_AUTHORITY},
            )
            self.leaf(
                "relationshipSubType",
                subtype,
                {"authority": "relationshipSubType", "authorityURI": vocab.RELATIONSHIP_SUBTYPE_AUTHORITY},
            )
            self.identifier("relatedObjectIdentifier", related)


def _format_notes(facts: FormatFacts) -> list[str]:
    notes = [vocab.NOTE_BASIS + facts.basis, vocab.NOTE_TOOL + facts.tool]
    # The issue's path is percent-encoded so that the note splits back unambiguously on ": ".
    notes.extend(
        f"{vocab.NOTE_ISSUE}{issue.code} {quote(issue.path, safe='/')}: {issue.message}"
        for issue in facts.issues
    )
    return notes


class PremisXmlDocument:
    """A PREMIS 3 document being written (implements the ``PremisDocument`` port)."""

    def __init__(self, emitter: _Emitter, representation_id: str, aip: Aip | None = None) -> None:
        self._out = emitter
        self._representation_id = representation_id
        self._aip = aip
        self._stage = _Stage.OBJECTS

    def _enter(self, stage: _Stage, what: str) -> None:
        if self._stage > stage:
            raise RuntimeError(
                f"cannot {what} now: a PREMIS document holds objects, then events, then agents, "
                "and this one is past that point"
            )
        self._stage = stage

    def write_header(self, aip: Aip, version: int) -> None:
        """Write the intellectual entity and the representation objects (called once, first).

        Args:
            aip: the AIP; its id, title, producer and creation time are recorded on the entity.
            version: the version number, recorded on the representation.

        Raises:
            ValueError: if a value cannot be represented in XML 1.0.
        """
        out = self._out
        with out.element("object", {vocab.XSI_TYPE: f"premis:{vocab.IE_TYPE}"}):
            out.identifier("objectIdentifier", aip.aip_id)
            out.significant_property(vocab.PROP_TITLE, aip.title)
            out.significant_property(vocab.PROP_PRODUCER, aip.producer)
            out.significant_property(vocab.PROP_CREATED, aip.created.isoformat())
            out.relationship(vocab.REPRESENTED_BY, self._representation_id)
        with out.element("object", {vocab.XSI_TYPE: f"premis:{vocab.REPRESENTATION_TYPE}"}):
            out.identifier("objectIdentifier", self._representation_id)
            out.significant_property(vocab.PROP_VERSION, str(version))
            out.relationship(vocab.REPRESENTS, aip.aip_id)

    def add_file(self, entry: FileEntry) -> None:
        """Write one file object.

        Args:
            entry: the payload file; its object identifier is its bag path. A file derived from
                another gets a derivation relationship (``has source``) naming that file.

        Raises:
            RuntimeError: if events or agents were already written.
            ValueError: if a value cannot be represented in XML 1.0 (control characters, lone
                surrogates).
        """
        self._enter(_Stage.OBJECTS, "add a file")
        out = self._out
        facts = entry.format
        with out.element("object", {vocab.XSI_TYPE: f"premis:{vocab.FILE_TYPE}"}):
            out.identifier("objectIdentifier", entry.bag_path, vocab.ID_LOCAL)
            with out.element("objectCharacteristics"):
                out.leaf("compositionLevel", "0")
                # Enum order puts every digest at a stable place, whatever order the dict has.
                for algorithm in (a for a in DigestAlgorithm if a in entry.digests):
                    with out.element("fixity"):
                        out.leaf(
                            "messageDigestAlgorithm", algorithm.premis_name, vocab.hash_attributes(algorithm)
                        )
                        out.leaf("messageDigest", entry.digests[algorithm])
                out.leaf("size", str(entry.size))
                self._write_formats(facts)
            out.leaf("originalName", entry.path)
            out.relationship(vocab.INCLUDED_IN, self._representation_id)
            if entry.derived_from is not None:
                # The source is a payload file of the same version: its identifier is its bag path.
                out.relationship(vocab.HAS_SOURCE, vocab.file_object_id(entry.derived_from), vocab.DERIVATION)

    def _write_formats(self, facts: FormatFacts) -> None:
        out = self._out
        with out.element("format"):
            with out.element("formatDesignation"):
                out.leaf("formatName", facts.name)
                if facts.version is not None:
                    out.leaf("formatVersion", facts.version)
            if facts.puid is not None:
                with out.element("formatRegistry"):
                    out.leaf("formatRegistryName", vocab.PRONOM)
                    out.leaf("formatRegistryKey", facts.puid)
                    out.leaf(
                        "formatRegistryRole",
                        vocab.REGISTRY_ROLE_SPECIFICATION,
                        {
                            "authority": "formatRegistryRole",
                            "authorityURI": vocab.FORMAT_REGISTRY_ROLE_AUTHORITY,
                        },
                    )
            for note in _format_notes(facts):
                out.leaf("formatNote", note)
        # The MIME type is a second designation of the same format, in the registry that owns it.
        with out.element("format"), out.element("formatRegistry"):
            out.leaf("formatRegistryName", vocab.MIME_REGISTRY)
            out.leaf("formatRegistryKey", facts.mime_type)

    def add_events(self, events: Iterable[Event]) -> None:
        """Write events (after the last file; may be called more than once).

        Raises:
            RuntimeError: if agents were already written.
            ValueError: if a value cannot be represented in XML 1.0.
        """
        self._enter(_Stage.EVENTS, "add events")
        for event in events:
            self._write_event(event)

    def add_agents(self, agents: Iterable[Agent]) -> None:
        """Write agents (after the last event) and close the document to further additions.

        Raises:
            RuntimeError: if agents were already written.
            ValueError: if a value cannot be represented in XML 1.0.
        """
        self._enter(_Stage.EVENTS, "add agents")
        self._stage = _Stage.CLOSED
        for agent in agents:
            self._write_agent(agent)

    def finish(self) -> None:
        """Write the AIP's rights statements, if it has descriptive metadata (called once, last).

        Raises:
            ValueError: if a value cannot be represented in XML 1.0.
        """
        self._stage = _Stage.FINISHED
        aip = self._aip
        if aip is None or aip.metadata is None:
            return
        with self._out.element("rights"):
            self._write_rights(aip, aip.metadata)

    def _write_rights(self, aip: Aip, metadata: DescriptiveMetadata) -> None:
        if metadata.licence is not None:
            with self._statement(aip.aip_id + vocab.RIGHTS_ID_LICENSE, vocab.RIGHTS_BASIS_LICENSE):
                self._write_licence(metadata.licence)
                self._link(aip.aip_id)
        with self._statement(aip.aip_id + vocab.RIGHTS_ID_ACCESS, vocab.RIGHTS_BASIS_OTHER):
            self._write_access(metadata.access, aip.created.date().isoformat())
            self._link(aip.aip_id)
        for n, text in enumerate(metadata.rights_statements, start=1):
            with self._statement(f"{aip.aip_id}{vocab.RIGHTS_ID_STATEMENT}{n}", vocab.RIGHTS_BASIS_OTHER):
                with self._out.element("otherRightsInformation"):
                    self._out.leaf("otherRightsBasis", vocab.OTHER_BASIS_STATEMENT)
                    self._out.leaf("otherRightsNote", text)
                self._link(aip.aip_id)

    @contextlib.contextmanager
    def _statement(self, identifier: str, basis: str) -> Iterator[None]:
        out = self._out
        with out.element("rightsStatement"):
            # Built from the AIP id, whatever it looks like: always local to this archive.
            out.identifier("rightsStatementIdentifier", identifier, vocab.ID_LOCAL)
            out.leaf("rightsBasis", basis, vocab.rights_basis_attributes(basis))
            yield

    def _link(self, aip_id: str) -> None:
        self._out.identifier("linkingObjectIdentifier", aip_id)

    def _write_licence(self, licence: Licence) -> None:
        out = self._out
        with out.element("licenseInformation"):
            if licence.uri is not None:
                with out.element("licenseDocumentationIdentifier"):
                    out.leaf("licenseDocumentationIdentifierType", vocab.ID_URI)
                    out.leaf("licenseDocumentationIdentifierValue", licence.uri)
                    out.leaf("licenseDocumentationRole", vocab.LICENSE_TEXT_ROLE)
            if licence.name is not None:
                out.leaf("licenseTerms", licence.name)
            out.leaf("licenseNote", vocab.NOTE_LICENSE_ID + licence.identifier)

    def _write_access(self, access: Access, since: str) -> None:
        out = self._out
        until = access.embargo_until.isoformat() if access.embargo_until is not None else None
        words = access.status.value + (f" until {until}" if until else "")
        with out.element("otherRightsInformation"):
            out.leaf("otherRightsBasis", vocab.OTHER_BASIS_ACCESS)
            out.leaf("otherRightsNote", vocab.NOTE_ACCESS + words)
        if access.status is AccessStatus.OPEN:
            self._grant(vocab.RESTRICTION_ALLOW, "termOfGrant", since, None, access.note)
            return
        # Embargoed: nobody before the end date; restricted: no end date.
        self._grant(vocab.RESTRICTION_DISALLOW, "termOfRestriction", since, until, access.note)
        if until is not None:
            self._grant(vocab.RESTRICTION_ALLOW, "termOfGrant", until, None, None)

    def _grant(self, restriction: str, term: str, start: str, end: str | None, note: str | None) -> None:
        out = self._out
        with out.element("rightsGranted"):
            out.leaf("act", vocab.ACT_DISSEMINATION, vocab.act_attributes())
            out.leaf("restriction", restriction)
            with out.element(term):
                out.leaf("startDate", start)
                if end is not None:
                    out.leaf("endDate", end)
            if note is not None:
                out.leaf("rightsGrantedNote", note)

    def _write_event(self, event: Event) -> None:
        out = self._out
        with out.element("event"):
            out.identifier("eventIdentifier", event.identifier)
            out.leaf("eventType", event.type.value, vocab.event_type_attributes(event.type.uri))
            out.leaf("eventDateTime", event.date_time.isoformat())
            with out.element("eventDetailInformation"):
                out.leaf("eventDetail", event.detail)
            if event.policy is not None:
                # PREMIS has no element for the rule an event applied; a second, prefixed
                # eventDetail keeps it visible to any reader without an extension schema.
                with out.element("eventDetailInformation"):
                    out.leaf("eventDetail", vocab.POLICY_DETAIL + event.policy)
            with out.element("eventOutcomeInformation"):
                out.leaf(
                    "eventOutcome",
                    event.outcome.value,
                    {"authority": "eventOutcome", "authorityURI": vocab.OUTCOME_AUTHORITY},
                )
                with out.element("eventOutcomeDetail"):
                    out.leaf("eventOutcomeDetailNote", event.outcome_detail)
            for link in event.agents:
                with out.element("linkingAgentIdentifier"):
                    out.leaf("linkingAgentIdentifierType", vocab.identifier_type(link.agent))
                    out.leaf("linkingAgentIdentifierValue", link.agent)
                    out.leaf("linkingAgentRole", link.role.value, vocab.agent_role_attributes(link.role))
            for obj in event.objects:
                out.identifier("linkingObjectIdentifier", obj)

    def _write_agent(self, agent: Agent) -> None:
        out = self._out
        with out.element("agent"):
            out.identifier("agentIdentifier", agent.identifier)
            out.leaf("agentName", agent.name)
            out.leaf("agentType", agent.type.value, vocab.agent_type_attributes(agent.type))
            if agent.version is not None:
                out.leaf("agentVersion", agent.version)
            if agent.note is not None:
                out.leaf("agentNote", agent.note)


@contextlib.contextmanager
def open_document(path: Path, aip: Aip, version: int, representation_id: str) -> Iterator[PremisXmlDocument]:
    """Write a PREMIS document at ``path``, atomically: complete on success, absent on failure.

    Args:
        path: where the premis.xml goes (replaced if it exists).
        aip: the AIP the document describes.
        version: the AIP version number (1, 2, ...).
        representation_id: the identifier of this version's representation object.

    Returns:
        A context manager yielding the document; on normal exit the document is closed and moved
        into place.

    Raises:
        OSError: if the file cannot be written.
    """
    partial = path.with_name(f".{path.name}.partial")
    try:
        with partial.open("wb") as raw:
            yield from _write(raw, aip, version, representation_id)
            raw.flush()
            os.fsync(raw.fileno())
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


def _write(raw: IO[bytes], aip: Aip, version: int, representation_id: str) -> Iterator[PremisXmlDocument]:
    with etree.xmlfile(raw, encoding="utf-8") as xf:
        xf.write_declaration()
        root_attrib = {
            vocab.XSI_SCHEMA_LOCATION: f"{vocab.PREMIS_NS} {vocab.SCHEMA_LOCATION}",
            "version": vocab.PREMIS_VERSION,
        }
        with xf.element(q("premis"), root_attrib, nsmap=vocab.NSMAP):
            document = PremisXmlDocument(_Emitter(xf, depth=1), representation_id, aip)
            document.write_header(aip, version)
            yield document
            document.finish()
            xf.write("\n")
    raw.write(b"\n")  # text may not follow the root inside xmlfile; POSIX tools like a final newline
