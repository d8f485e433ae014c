"""Streaming PREMIS 3 reader for the premis.xml documents oais writes.

Parsing uses :func:`lxml.etree.iterparse`: each top-level object, event, agent or rights element is
turned into a model as soon as its end tag is read, then cleared and detached, so memory stays
bounded however many files the document lists.

The reader understands the shape described in docs/premis.md. Anything it cannot map back onto the
models (a missing element, an unknown digest algorithm, an unknown vocabulary term) is reported as a
:class:`~oais.domain.errors.StorageError` naming the file and the line: it means stored metadata is
not what oais wrote.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from datetime import date, datetime
from pathlib import Path
from typing import TypeVar
from urllib.parse import unquote

from lxml import etree
from pydantic import ValidationError

from oais.adapters.premis import stream, vocab
from oais.adapters.premis.model import PremisHeader, PremisRights
from oais.adapters.premis.vocab import q
from oais.domain.descriptive import Access, AccessStatus, Licence
from oais.domain.errors import NotFound, StorageError
from oais.domain.fixity import DigestAlgorithm
from oais.domain.issues import Issue
from oais.domain.packages import Aip, FileEntry, FormatFacts
from oais.domain.premis import Agent, AgentLink, AgentRole, AgentType, Event, EventType, Outcome

Entity = FileEntry | Event | Agent
_E = TypeVar("_E", EventType, Outcome, AgentRole, AgentType)

_OBJECT = q("object")
_EVENT = q("event")
_AGENT = q("agent")
_RIGHTS = q("rights")


class _Bad(Exception):
    """Raised inside the reader with the element at fault; turned into StorageError with a line."""

    def __init__(self, element: etree._Element | None, message: str) -> None:
        super().__init__(message)
        self.line = None if element is None else vocab.line_of(element)


def _top_level(path: Path) -> Generator[etree._Element, None, None]:
    """Yield every child of the document root once complete, clearing it after it is used."""
    if not path.is_file():
        raise NotFound(f"{path}: no such PREMIS document")
    elements = stream.top_level(path)
    try:
        root = next(elements, None)
        if root is None or root.tag != q("premis"):
            raise _Bad(
                root, f"root element is {root.tag if root is not None else None}, expected premis:premis"
            )
        yield from elements
    except _Bad as exc:
        raise StorageError(f"{path}, line {exc.line}: {exc}") from exc
    except etree.XMLSyntaxError as exc:
        raise StorageError(f"{path}, line {exc.lineno}: not well-formed XML: {exc.msg}") from exc
    except OSError as exc:
        raise StorageError(f"{path}: cannot read: {exc}") from exc
    finally:
        elements.close()


def _object_type(element: etree._Element) -> str:
    """The local name of an object's xsi:type (``premis:file`` -> ``file``)."""
    value = element.get(vocab.XSI_TYPE)
    if value is None:
        raise _Bad(element, "premis:object has no xsi:type")
    prefix, _, local = value.rpartition(":")
    if element.nsmap.get(prefix or None) != vocab.PREMIS_NS:
        raise _Bad(element, f"xsi:type {value!r} is not a PREMIS type")
    return local


def _text(element: etree._Element) -> str:
    # An empty element stands for an empty string; lxml reports its text as None.
    return element.text or ""


def _child(element: etree._Element, local: str) -> etree._Element:
    found = element.find(q(local))
    if found is None:
        raise _Bad(element, f"premis:{local} is missing")
    return found


def _child_text(element: etree._Element, local: str) -> str:
    return _text(_child(element, local))


def _optional_text(element: etree._Element, local: str) -> str | None:
    found = element.find(q(local))
    return None if found is None else _text(found)


def _identifier(element: etree._Element, local: str) -> str:
    return _child_text(_child(element, local), f"{local}Value")


def _properties(element: etree._Element) -> dict[str, str]:
    props: dict[str, str] = {}
    for prop in element.iterfind(q("significantProperties")):
        prop_type = prop.find(q("significantPropertiesType"))
        if prop_type is not None:
            props[_text(prop_type)] = _optional_text(prop, "significantPropertiesValue") or ""
    return props


def _datetime(element: etree._Element, text: str) -> datetime:
    try:
        return datetime.fromisoformat(text)
    except ValueError as exc:
        raise _Bad(element, f"{text!r} is not an ISO 8601 date and time") from exc


def _enum(element: etree._Element, kind: type[_E]) -> _E:
    try:
        return kind(_text(element))
    except ValueError as exc:
        raise _Bad(element, f"{_text(element)!r} is not a known {kind.__name__}") from exc


def _file(element: etree._Element) -> FileEntry:
    characteristics = _child(element, "objectCharacteristics")
    digests: dict[DigestAlgorithm, str] = {}
    for fixity in characteristics.iterfind(q("fixity")):
        name_element = _child(fixity, "messageDigestAlgorithm")
        algorithm = vocab.algorithm_from_premis_name(_text(name_element))
        if algorithm is None:
            raise _Bad(name_element, f"unknown digest algorithm {_text(name_element)!r}")
        digests[algorithm] = _child_text(fixity, "messageDigest")
    size_text = _child_text(characteristics, "size")
    try:
        size = int(size_text)
    except ValueError as exc:
        raise _Bad(characteristics, f"size {size_text!r} is not a number") from exc
    return FileEntry(
        path=_child_text(element, "originalName"),
        size=size,
        digests=digests,
        format=_format(characteristics),
        derived_from=_source(element),
    )


def _source(element: etree._Element) -> str | None:
    """The path of the file a file object was derived from (its ``has source`` relationship), if any."""
    sources = [
        relationship
        for relationship in element.iterfind(q("relationship"))
        if _optional_text(relationship, "relationshipType") == vocab.DERIVATION
        and _optional_text(relationship, "relationshipSubType") == vocab.HAS_SOURCE
    ]
    if not sources:
        return None
    if len(sources) > 1:
        raise _Bad(sources[1], "a file object names more than one source it was derived from")
    related = _identifier(sources[0], "relatedObjectIdentifier")
    if not related.startswith(vocab.PAYLOAD_PREFIX):
        raise _Bad(
            sources[0], f"derivation source {related!r} is not a payload file under {vocab.PAYLOAD_PREFIX}"
        )
    return related.removeprefix(vocab.PAYLOAD_PREFIX)


def _format(characteristics: etree._Element) -> FormatFacts:
    name: str | None = None
    version: str | None = None
    puid: str | None = None
    mime: str | None = None
    notes: list[str] = []
    for fmt in characteristics.iterfind(q("format")):
        designation = fmt.find(q("formatDesignation"))
        if designation is not None:
            name = _child_text(designation, "formatName")
            version = _optional_text(designation, "formatVersion")
        registry = fmt.find(q("formatRegistry"))
        if registry is not None:
            registry_name = _child_text(registry, "formatRegistryName")
            if registry_name == vocab.PRONOM:
                puid = _child_text(registry, "formatRegistryKey")
            elif registry_name == vocab.MIME_REGISTRY:
                mime = _child_text(registry, "formatRegistryKey")
        notes.extend(_text(note) for note in fmt.iterfind(q("formatNote")))
    if name is None or mime is None:
        raise _Bad(characteristics, "format needs a formatName and a MIME type")
    basis = tool = None
    issues: list[Issue] = []
    for note in notes:
        if note.startswith(vocab.NOTE_BASIS):
            basis = note.removeprefix(vocab.NOTE_BASIS)
        elif note.startswith(vocab.NOTE_TOOL):
            tool = note.removeprefix(vocab.NOTE_TOOL)
        elif note.startswith(vocab.NOTE_ISSUE):
            code, _, rest = note.removeprefix(vocab.NOTE_ISSUE).partition(" ")
            quoted_path, _, message = rest.partition(": ")
            issues.append(Issue(code=code, path=unquote(quoted_path), message=message))
    if basis is None or tool is None:
        raise _Bad(characteristics, "format notes lack the identification basis or tool")
    return FormatFacts(
        puid=puid, name=name, version=version, mime_type=mime, basis=basis, tool=tool, issues=tuple(issues)
    )


def _event(element: etree._Element) -> Event:
    details = [_optional_text(info, "eventDetail") for info in element.iterfind(q("eventDetailInformation"))]
    if not details or details[0] is None:
        raise _Bad(element, "premis:eventDetail is missing")
    policy = next(
        (d.removeprefix(vocab.POLICY_DETAIL) for d in details[1:] if d and d.startswith(vocab.POLICY_DETAIL)),
        None,
    )
    outcome = _child(element, "eventOutcomeInformation")
    links = tuple(
        AgentLink(
            agent=_child_text(link, "linkingAgentIdentifierValue"),
            role=_enum(_child(link, "linkingAgentRole"), AgentRole),
        )
        for link in element.iterfind(q("linkingAgentIdentifier"))
    )
    date_time = _child(element, "eventDateTime")
    return Event(
        identifier=_identifier(element, "eventIdentifier"),
        type=_enum(_child(element, "eventType"), EventType),
        date_time=_datetime(date_time, _text(date_time)),
        detail=details[0],
        outcome=_enum(_child(outcome, "eventOutcome"), Outcome),
        outcome_detail=_child_text(_child(outcome, "eventOutcomeDetail"), "eventOutcomeDetailNote"),
        agents=links,
        objects=tuple(
            _child_text(link, "linkingObjectIdentifierValue")
            for link in element.iterfind(q("linkingObjectIdentifier"))
        ),
        policy=policy,
    )


def _agent(element: etree._Element) -> Agent:
    return Agent(
        identifier=_identifier(element, "agentIdentifier"),
        name=_child_text(element, "agentName"),
        type=_enum(_child(element, "agentType"), AgentType),
        version=_optional_text(element, "agentVersion"),
        note=_optional_text(element, "agentNote"),
    )


def _rights(element: etree._Element) -> PremisRights:
    """The licence, access status and rights statements in words of a ``rights`` element."""
    licence: Licence | None = None
    access: Access | None = None
    statements: list[str] = []
    for statement in element.iterfind(q("rightsStatement")):
        basis = _child_text(statement, "rightsBasis")
        if basis == vocab.RIGHTS_BASIS_LICENSE:
            licence = _licence(_child(statement, "licenseInformation"))
            continue
        if basis != vocab.RIGHTS_BASIS_OTHER:
            raise _Bad(statement, f"rights basis {basis!r} is not one oais writes")
        other = _child(statement, "otherRightsInformation")
        other_basis = _child_text(other, "otherRightsBasis")
        if other_basis == vocab.OTHER_BASIS_ACCESS:
            access = _access(statement)
        elif other_basis == vocab.OTHER_BASIS_STATEMENT:
            statements.append(_child_text(other, "otherRightsNote"))
        else:
            raise _Bad(other, f"other rights basis {other_basis!r} is not one oais writes")
    return PremisRights(licence=licence, access=access or Access(), statements=tuple(statements))


def _licence(information: etree._Element) -> Licence:
    identifier = next(
        (
            _text(note).removeprefix(vocab.NOTE_LICENSE_ID)
            for note in information.iterfind(q("licenseNote"))
            if _text(note).startswith(vocab.NOTE_LICENSE_ID)
        ),
        None,
    )
    if identifier is None:
        raise _Bad(information, f"no licenseNote starting {vocab.NOTE_LICENSE_ID!r}")
    uri = next(
        (
            _child_text(doc, "licenseDocumentationIdentifierValue")
            for doc in information.iterfind(q("licenseDocumentationIdentifier"))
            if _optional_text(doc, "licenseDocumentationRole") == vocab.LICENSE_TEXT_ROLE
        ),
        None,
    )
    return Licence(identifier=identifier, name=_optional_text(information, "licenseTerms"), uri=uri)


def _access(statement: etree._Element) -> Access:
    """The access status from the statement's grants: a Disallow with an end date is an embargo,
    without one a restriction; only Allow is open. The note is the first grant's."""
    grants = list(statement.iterfind(q("rightsGranted")))
    if not grants:
        raise _Bad(statement, "the access status has no premis:rightsGranted")
    note = _optional_text(grants[0], "rightsGrantedNote")
    refused = next(
        (g for g in grants if _optional_text(g, "restriction") == vocab.RESTRICTION_DISALLOW), None
    )
    if refused is None:
        return Access(status=AccessStatus.OPEN, note=note)
    end = _child(refused, "termOfRestriction").find(q("endDate"))
    if end is None:
        return Access(status=AccessStatus.RESTRICTED, note=note)
    try:
        until = date.fromisoformat(_text(end))
    except ValueError as exc:
        raise _Bad(end, f"embargo end {_text(end)!r} is not a date (YYYY-MM-DD)") from exc
    return Access(status=AccessStatus.EMBARGOED, embargo_until=until, note=note)


def _model(element: etree._Element) -> Entity | PremisRights | None:
    """The model for one top-level element, or None for objects that are not files."""
    try:
        if element.tag == _OBJECT:
            return _file(element) if _object_type(element) == vocab.FILE_TYPE else None
        if element.tag == _EVENT:
            return _event(element)
        if element.tag == _AGENT:
            return _agent(element)
        if element.tag == _RIGHTS:
            return _rights(element)
    except ValidationError as exc:
        raise _Bad(element, f"values do not make a valid record: {exc}") from exc
    return None


def _models(path: Path) -> Iterator[Entity | PremisRights]:
    for element in _top_level(path):
        try:
            model = _model(element)
        except _Bad as exc:
            raise StorageError(f"{path}, line {exc.line}: {exc}") from exc
        if model is not None:
            yield model


def iter_entities(path: Path) -> Iterator[Entity]:
    """Every file, event and agent of a premis.xml, in document order, in bounded memory.

    Args:
        path: the premis.xml to read.

    Returns:
        An iterator of :class:`FileEntry`, :class:`Event` and :class:`Agent` models.

    Raises:
        NotFound: if ``path`` is not a file.
        StorageError: if the document is not well-formed or not in the shape oais writes.
    """
    for model in _models(path):
        if not isinstance(model, PremisRights):
            yield model


def read(path: Path) -> tuple[list[FileEntry], list[Event], list[Agent]]:
    """Files, events and agents of a premis.xml, as the writer was given them.

    Args:
        path: the premis.xml to read.

    Returns:
        (files, events, agents), each in document order.

    Raises:
        NotFound: if ``path`` is not a file.
        StorageError: if the document is not well-formed or not in the shape oais writes.
    """
    files, events, agents, _ = read_with_rights(path)
    return files, events, agents


def read_with_rights(
    path: Path,
) -> tuple[list[FileEntry], list[Event], list[Agent], PremisRights | None]:
    """Files, events, agents and rights statements of a premis.xml, in one pass.

    Args:
        path: the premis.xml to read.

    Returns:
        (files, events, agents, rights); rights is None when the document has no rights statements
        (an AIP ingested without descriptive metadata).

    Raises:
        NotFound: if ``path`` is not a file.
        StorageError: if the document is not well-formed or not in the shape oais writes.
    """
    files: list[FileEntry] = []
    events: list[Event] = []
    agents: list[Agent] = []
    rights: PremisRights | None = None
    for model in _models(path):
        if isinstance(model, FileEntry):
            files.append(model)
        elif isinstance(model, Event):
            events.append(model)
        elif isinstance(model, Agent):
            agents.append(model)
        elif rights is None:
            rights = model
        else:
            raise StorageError(f"{path}: more than one premis:rights element (oais writes one)")
    return files, events, agents, rights


def read_header(path: Path) -> PremisHeader:
    """The AIP facts of a premis.xml: id, title, producer, creation time, version, representation.

    Only the start of the document is parsed: the intellectual entity and representation objects
    come first.

    Args:
        path: the premis.xml to read.

    Returns:
        The header.

    Raises:
        NotFound: if ``path`` is not a file.
        StorageError: if the intellectual entity or representation object is missing or incomplete.
    """
    entity: tuple[str, dict[str, str], int | None] | None = None
    header: PremisHeader | None = None
    elements = _top_level(path)
    try:
        for element in elements:
            if element.tag != _OBJECT:
                break
            category = _object_type(element)
            if category == vocab.IE_TYPE:
                # Taken now: the element is cleared as soon as the next one is read.
                entity = (
                    _identifier(element, "objectIdentifier"),
                    _properties(element),
                    vocab.line_of(element),
                )
            elif category == vocab.REPRESENTATION_TYPE and entity is not None:
                header = _header(*entity, representation=element)
                break
    except _Bad as exc:
        raise StorageError(f"{path}, line {exc.line}: {exc}") from exc
    finally:
        elements.close()
    if header is None:
        raise StorageError(f"{path}: no intellectual entity followed by a representation object")
    return header


def _header(
    aip_id: str, props: dict[str, str], line: int | None, representation: etree._Element
) -> PremisHeader:
    missing = [p for p in (vocab.PROP_TITLE, vocab.PROP_PRODUCER, vocab.PROP_CREATED) if p not in props]
    if missing:
        raise _Bad(representation, f"the intellectual entity (line {line}) lacks properties {missing}")
    version = _properties(representation).get(vocab.PROP_VERSION, "")
    if not version.isdigit():
        raise _Bad(representation, f"representation version {version!r} is not a number")
    try:
        return PremisHeader(
            aip=Aip(
                aip_id=aip_id,
                title=props[vocab.PROP_TITLE],
                producer=props[vocab.PROP_PRODUCER],
                created=_datetime(representation, props[vocab.PROP_CREATED]),
            ),
            version=int(version),
            representation_id=_identifier(representation, "objectIdentifier"),
        )
    except ValidationError as exc:
        raise _Bad(representation, f"values do not make a valid record: {exc}") from exc
