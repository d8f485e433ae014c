"""The one streaming parse loop shared by the reader and the validator."""

from __future__ import annotations

from collections.abc import Generator
from pathlib import Path

from lxml import etree


def top_level(path: Path) -> Generator[etree._Element, None, None]:
    """The document root, then each child of the root once its end tag is read.

    The root is yielded at its start tag (attributes known, no children yet). Each child is yielded
    complete; when the caller asks for the next item, the child is cleared and detached together
    with every earlier sibling, so the parsed tree never holds more than one top-level element: this
    is what keeps memory flat on a 100,000-file document. Entities are not expanded and nothing is
    fetched from the network.

    Args:
        path: the XML document.

    Returns:
        An iterator of elements; closing it closes the file.

    Raises:
        OSError: if the file cannot be opened or read.
        lxml.etree.XMLSyntaxError: if the document is not well-formed.
    """
    # The file is opened here, not by lxml, so that a caller stopping early closes it.
    with path.open("rb") as source:
        root: etree._Element | None = None
        parse = etree.iterparse(
            source,
            events=("start", "end"),
            resolve_entities=False,
            no_network=True,
            load_dtd=False,
            remove_comments=True,
            remove_pis=True,
        )
        for action, element in parse:
            if root is None:
                root = element
                yield root
                continue
            if action != "end" or element.getparent() is not root:
                continue
            yield element
            element.clear()
            while element.getprevious() is not None:
                del root[0]
