"""PREMIS 3 codec: streaming writer, reader and XSD validator for premis.xml (lxml).

See docs/premis.md for what the document holds.
"""

from oais.adapters.premis.codec import PremisXmlCodec, default_schema_dir
from oais.adapters.premis.model import PremisHeader, PremisRights
from oais.adapters.premis.reader import iter_entities, read, read_header, read_with_rights
from oais.adapters.premis.validation import load_schema, validate, validate_with
from oais.adapters.premis.vocab import file_object_id
from oais.adapters.premis.writer import PremisXmlDocument, open_document

__all__ = [
    "PremisHeader",
    "PremisRights",
    "PremisXmlCodec",
    "PremisXmlDocument",
    "default_schema_dir",
    "file_object_id",
    "iter_entities",
    "load_schema",
    "open_document",
    "read",
    "read_header",
    "read_with_rights",
    "validate",
    "validate_with",
]
