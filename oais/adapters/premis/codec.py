"""The PREMIS 3 codec: writes and reads the premis.xml of every AIP version (``PremisCodec`` port)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path

from lxml import etree

from oais.adapters.premis import reader, validation, vocab, writer
from oais.adapters.premis.model import PremisHeader, PremisRights
from oais.adapters.premis.reader import Entity
from oais.domain.errors import ConfigError
from oais.domain.packages import Aip, FileEntry
from oais.domain.ports import PremisDocument
from oais.domain.premis import Agent, Event


def default_schema_dir() -> Path:
    """The repository's ``schemas/`` directory (the package is installed editable from the repository).

    Returns:
        The directory holding ``premis-3.0.xsd``.

    Raises:
        ConfigError: if the directory or the PREMIS schema is not there.
    """
    # oais/adapters/premis/codec.py -> parents[3] is the repository root.
    schema_dir = Path(__file__).resolve().parents[3] / "schemas"
    if not (schema_dir / vocab.SCHEMA_FILE).is_file():
        raise ConfigError(f"PREMIS schema not found in {schema_dir}; is oais installed from its repository?")
    return schema_dir


class PremisXmlCodec:
    """Streaming PREMIS 3 writer, reader and validator built on lxml.

    What the document holds and why is described in docs/premis.md.
    """

    def __init__(self, schema_dir: Path) -> None:
        """Build a codec; nothing is read until a schema is needed.

        Args:
            schema_dir: the directory holding ``premis-3.0.xsd`` (see :func:`default_schema_dir`).
        """
        self._schema_dir = schema_dir
        # An lxml XMLSchema keeps its error log on the instance: one schema per thread.
        self._local = threading.local()

    @property
    def schema_dir(self) -> Path:
        """The directory the XSD is loaded from."""
        return self._schema_dir

    def writer(
        self, path: Path, aip: Aip, version: int, representation_id: str
    ) -> AbstractContextManager[PremisDocument]:
        """Open ``path`` for a streaming PREMIS document about ``aip`` version ``version``.

        The intellectual entity and representation objects are written at once; then call
        ``add_file`` for every payload file, ``add_events`` and ``add_agents``. The file appears at
        ``path`` only when the ``with`` block ends normally.

        Args:
            path: where premis.xml goes (replaced if it exists).
            aip: the AIP (its id, title, producer and creation time are recorded).
            version: the version number.
            representation_id: the identifier of this version's representation object; files
                are linked to it and events may name it in ``Event.objects``.

        Returns:
            A context manager yielding the document.

        Raises:
            OSError: if the file cannot be written.
            ValueError: if a value cannot be represented in XML 1.0.
            RuntimeError: if objects, events and agents are added out of order.
        """
        return writer.open_document(path, aip, version, representation_id)

    def read(self, path: Path) -> tuple[list[FileEntry], list[Event], list[Agent]]:
        """Read files, events and agents back from a premis.xml (streaming).

        Args:
            path: the premis.xml to read.

        Returns:
            (files, events, agents), equal to what was written, in document order.

        Raises:
            NotFound: if ``path`` is not a file.
            StorageError: if the document is not well-formed or not in the shape oais writes.
        """
        return reader.read(path)

    def read_record(self, path: Path) -> tuple[Aip, list[FileEntry], list[Event], list[Agent]]:
        """The AIP, its files, events and agents from a premis.xml (for catalogue recovery and rebuild).

        Args:
            path: the premis.xml to read.

        Returns:
            (aip, files, events, agents). When the document has rights statements, the AIP's
            ``metadata`` holds what they say (title, licence, access status, rights statements);
            the rest of the descriptive metadata is in the version's descriptive.json.

        Raises:
            NotFound: if ``path`` is not a file.
            StorageError: if the document is not well-formed or not in the shape oais writes.
        """
        header = reader.read_header(path)
        files, events, agents, rights = reader.read_with_rights(path)
        aip = header.aip
        if rights is not None:
            aip = aip.model_copy(update={"metadata": rights.metadata(aip.title)})
        return aip, files, events, agents

    def iter_entities(self, path: Path) -> Iterator[Entity]:
        """Files, events and agents one at a time, for documents too large to hold as lists.

        Args:
            path: the premis.xml to read.

        Returns:
            An iterator of ``FileEntry``, ``Event`` and ``Agent`` in document order.

        Raises:
            NotFound: if ``path`` is not a file.
            StorageError: if the document is not well-formed or not in the shape oais writes.
        """
        return reader.iter_entities(path)

    def read_rights(self, path: Path) -> PremisRights | None:
        """The licence, access status and rights statements of a premis.xml (streaming).

        Args:
            path: the premis.xml to read.

        Returns:
            What its rights statements say, or None when it has none.

        Raises:
            NotFound: if ``path`` is not a file.
            StorageError: if the document is not well-formed or not in the shape oais writes.
        """
        return reader.read_with_rights(path)[3]

    def read_header(self, path: Path) -> PremisHeader:
        """The AIP facts (id, title, producer, created, version, representation id) of a premis.xml.

        Args:
            path: the premis.xml to read.

        Returns:
            The header; only the start of the document is parsed.

        Raises:
            NotFound: if ``path`` is not a file.
            StorageError: if the intellectual entity or representation object is missing or incomplete.
        """
        return reader.read_header(path)

    def validate(self, path: Path) -> list[str]:
        """Validate a premis.xml against the PREMIS 3.0 XSD, offline and in bounded memory.

        Args:
            path: the document.

        Returns:
            Every problem as ``"line N: message"``; an empty list means valid.

        Raises:
            NotFound: if ``path`` is not a file.
            ConfigError: if the schema cannot be loaded.
        """
        schema: etree.XMLSchema | None = getattr(self._local, "schema", None)
        if schema is None:
            schema = validation.load_schema(self._schema_dir)
            self._local.schema = schema
        return validation.validate_with(path, schema)
