"""Validation of premis.xml against the PREMIS 3.0 XSD, streaming and offline.

libxml2 can validate while it parses (``iterparse(..., schema=...)``), but in that mode it reports no
line numbers, and a report that cannot point at the problem is of little use on a 100,000-file
document. So the document is parsed element by element instead, and each top-level ``object``,
``event``, ``agent`` and ``rights`` element is validated against the schema as soon as it is complete
(the XSD declares all four as global elements, so each is a valid validation root), then freed.
The ``premis`` root itself (its ``version`` attribute and the order objects, events, agents, rights)
is checked here, in the same words the schema uses.

Limit: ``xs:ID``/``xs:IDREF`` attributes (``xmlID``, ``LinkAgentXmlID``...) are checked within one
top-level element, not across the document. oais does not write them.

Schemas are loaded with network access disabled: validation never leaves the machine.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any, cast

from lxml import etree

from oais.adapters.premis import stream, vocab
from oais.adapters.premis.vocab import q
from oais.domain.errors import ConfigError, NotFound

#: Order of the root's children in premisComplexType (a sequence).
_ROOT_SEQUENCE = {q("object"): 0, q("event"): 1, q("agent"): 2, q("rights"): 3}


def load_schema(schema_dir: Path) -> etree.XMLSchema:
    """Load the PREMIS 3.0 XSD from ``schema_dir``, without network access.

    Args:
        schema_dir: the directory holding ``premis-3.0.xsd``.

    Returns:
        The compiled schema.

    Raises:
        ConfigError: if the file is missing or is not a valid XML schema.
    """
    xsd = schema_dir / vocab.SCHEMA_FILE
    parser = etree.XMLParser(no_network=True, resolve_entities=False, load_dtd=False)
    try:
        return etree.XMLSchema(etree.parse(str(xsd), parser))
    except OSError as exc:
        raise ConfigError(f"PREMIS schema {xsd} cannot be read: {exc}") from exc
    except (etree.XMLSyntaxError, etree.XMLSchemaParseError) as exc:
        raise ConfigError(f"PREMIS schema {xsd} is not a valid XML schema: {exc}") from exc


def _readable(message: str) -> str:
    """libxml2 names elements in Clark notation; the premis: prefix is what a reader sees in the file."""
    return message.replace(f"{{{vocab.PREMIS_NS}}}", "premis:")


def _not_whitespace(text: str | None) -> bool:
    return bool(text and text.strip())


def validate_with(path: Path, schema: etree.XMLSchema) -> list[str]:
    """Validate a premis.xml against a loaded schema, in bounded memory.

    Args:
        path: the document.
        schema: as returned by :func:`load_schema`.

    Returns:
        Every problem found, each as ``"line N: message"``; an empty list means the document is valid.
        A document that is not well-formed XML stops at its first syntax error.

    Raises:
        NotFound: if ``path`` is not a file.
    """
    if not path.is_file():
        raise NotFound(f"{path}: no such PREMIS document")
    errors: list[str] = []
    root: etree._Element | None = None
    position = -1  # rank in _ROOT_SEQUENCE of the last child seen
    elements = stream.top_level(path)
    try:
        for element in elements:
            if root is None:
                root = element
                if element.tag != q("premis"):
                    errors.append(
                        f"line {vocab.line_of(element)}: Element '{_readable(element.tag)}': "
                        "No matching global declaration available for the validation root "
                        "(expected premis:premis)."
                    )
                    return errors
                errors.extend(_root_attribute_errors(element))
                continue
            errors.extend(_child_errors(element, position, schema))
            position = max(position, _ROOT_SEQUENCE.get(element.tag, position))
    except etree.XMLSyntaxError as exc:
        errors.append(f"line {exc.lineno}: not well-formed XML: {exc.msg}")
        return errors
    finally:
        elements.close()
    if root is not None and position < 0:
        errors.append(
            f"line {vocab.line_of(root)}: Element 'premis:premis': Missing child element(s). "
            "Expected is ( premis:object )."
        )
    return errors


def _root_attribute_errors(root: etree._Element) -> list[str]:
    errors: list[str] = []
    line = vocab.line_of(root)
    version = root.get("version")
    if version is None:
        errors.append(
            f"line {line}: Element 'premis:premis': The attribute 'version' is required but missing."
        )
    elif version != vocab.PREMIS_VERSION:
        errors.append(
            f"line {line}: Element 'premis:premis', attribute 'version': [facet 'enumeration'] "
            f"The value '{version}' is not an element of the set {{'{vocab.PREMIS_VERSION}'}}."
        )
    for key in root.attrib:
        name = key if isinstance(key, str) else key.decode()
        if name != "version" and not name.startswith(f"{{{vocab.XSI_NS}}}"):
            errors.append(
                f"line {line}: Element 'premis:premis', attribute '{name}': The attribute is not allowed."
            )
    if _not_whitespace(root.text):
        errors.append(
            f"line {line}: Element 'premis:premis': Character content other than whitespace is not allowed "
            "because the content type is 'element-only'."
        )
    return errors


def _child_errors(element: etree._Element, position: int, schema: etree.XMLSchema) -> list[str]:
    errors: list[str] = []
    line = vocab.line_of(element)
    rank = _ROOT_SEQUENCE.get(element.tag)
    if rank is None or rank < position:
        errors.append(
            f"line {line}: Element '{_readable(element.tag)}': This element is not expected here: "
            "premis:premis holds objects, then events, then agents, then rights statements."
        )
    if rank is not None and not schema.validate(element):
        # lxml-stubs do not declare the error log iterable; its entries carry line and message.
        entries = cast("Iterable[Any]", schema.error_log)
        errors.extend(f"line {entry.line}: {_readable(entry.message)}" for entry in entries)
    if _not_whitespace(element.tail):
        errors.append(
            f"line {line}: Element 'premis:premis': Character content other than whitespace is not allowed "
            "because the content type is 'element-only'."
        )
    return errors


def validate(path: Path, schema_dir: Path) -> list[str]:
    """Validate a premis.xml against ``schema_dir/premis-3.0.xsd``, offline, in bounded memory.

    Args:
        path: the document.
        schema_dir: the directory holding the PREMIS 3.0 XSD (see ``schemas/README.md``).

    Returns:
        Every problem found, each as ``"line N: message"``; an empty list means the document is valid.

    Raises:
        NotFound: if ``path`` is not a file.
        ConfigError: if the schema cannot be loaded.
    """
    return validate_with(path, load_schema(schema_dir))
