"""The JSON Schema of descriptive metadata files (``oais ingest --metadata FILE``).

``python -m oais.adapters.descriptive_schema SCHEMAS_DIR`` writes ``descriptive-metadata.schema.json``
there (a test checks that the copy in ``schemas/`` is the current one). The schema is generated from
:class:`oais.domain.descriptive.DescriptiveMetadata`, which stays the rule: the few checks JSON Schema
cannot state (an ORCID iD's check digit, that a time range does not end before it starts) are
applied at ingest all the same.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from oais.domain.descriptive import DescriptiveMetadata

#: The file name of the schema in ``schemas/``.
DESCRIPTIVE_METADATA_SCHEMA = "descriptive-metadata.schema.json"


def descriptive_metadata_schema() -> str:
    """The JSON Schema of a descriptive metadata file, as text (stable: keys sorted)."""
    schema = DescriptiveMetadata.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "oais descriptive metadata"
    schema["$comment"] = (
        "Generated from oais/domain/descriptive.py by `python -m oais.adapters.descriptive_schema "
        "schemas`. Every AIP version ingested with descriptive metadata carries it, in this shape, as "
        "data/metadata/descriptive.json."
    )
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


if __name__ == "__main__":  # pragma: no cover - exercised by the schema test's message
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "schemas") / DESCRIPTIVE_METADATA_SCHEMA
    target.write_text(descriptive_metadata_schema(), encoding="utf-8")
    print(f"wrote {target}")
