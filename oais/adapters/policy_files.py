"""Loading policy files (``policies/*.toml``), and the JSON Schema of the format policy.

``python -m oais.adapters.policy_files SCHEMAS_DIR`` writes ``format-policy.schema.json`` there (a
test checks that the copy in ``schemas/`` is the current one).
"""

from __future__ import annotations

import hashlib
import json
import sys
import tomllib
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from oais.domain.audit import AuditPolicy
from oais.domain.errors import ConfigError
from oais.domain.formats import FormatPolicy
from oais.domain.policy import AccessPolicy, IngestPolicy
from oais.domain.reports import PolicyInForce
from oais.domain.storage import StoragePolicy

_Policy = TypeVar("_Policy", bound=BaseModel)


def load_ingest_policy(policies_dir: Path) -> IngestPolicy:
    """Read ``ingest.toml`` from ``policies_dir``.

    Raises:
        ConfigError: naming the file and every problem in it.
    """
    return _load(policies_dir / "ingest.toml", IngestPolicy, "ingest policy")


def load_storage_policy(policies_dir: Path) -> StoragePolicy:
    """Read ``storage.toml`` from ``policies_dir``.

    Raises:
        ConfigError: naming the file and every problem in it.
    """
    return _load(policies_dir / "storage.toml", StoragePolicy, "storage policy")


def load_audit_policy(policies_dir: Path) -> AuditPolicy:
    """Read ``audit.toml`` from ``policies_dir``.

    Raises:
        ConfigError: naming the file and every problem in it.
    """
    return _load(policies_dir / "audit.toml", AuditPolicy, "audit policy")


def load_access_policy(policies_dir: Path) -> AccessPolicy:
    """Read ``access.toml`` from ``policies_dir``.

    Raises:
        ConfigError: naming the file and every problem in it.
    """
    return _load(policies_dir / "access.toml", AccessPolicy, "access policy")


def load_format_policy(path: Path) -> FormatPolicy:
    """Read a format policy: ``path`` itself, or ``formats.toml`` in the folder ``path``.

    Raises:
        ConfigError: naming the file and every problem in it.
    """
    return _load(path / "formats.toml" if path.is_dir() else path, FormatPolicy, "format policy")


def policies_in_force(policies_dir: Path) -> list[PolicyInForce]:
    """Every policy file in ``policies_dir`` (``*.toml`` with an ``id`` and a ``version``), by id.

    Each with the sha256 of the file's bytes, so that a change of text under the same version is
    seen (the action log's policy register records every text the archive acted under).

    Raises:
        ConfigError: a policy file cannot be read or is not valid TOML (naming it).
    """
    found: list[PolicyInForce] = []
    try:
        paths = sorted(policies_dir.glob("*.toml"))
    except OSError as exc:
        raise ConfigError(f"{policies_dir}: cannot list the policies: {exc.strerror}") from exc
    for path in paths:
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read the policy: {exc.strerror}") from exc
        try:
            fields = tomllib.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
        policy_id, version = fields.get("id"), fields.get("version")
        if not isinstance(policy_id, str) or not isinstance(version, str):
            continue  # not a policy (no id and version): nothing cites it
        title = fields.get("title")
        found.append(
            PolicyInForce(
                id=policy_id,
                version=version,
                title=title if isinstance(title, str) else "",
                sha256=hashlib.sha256(data).hexdigest(),
            )
        )
    return sorted(found, key=lambda p: p.id)


#: The JSON Schema of the format policy, as exported to ``schemas/``.
FORMAT_POLICY_SCHEMA = "format-policy.schema.json"


def format_policy_schema() -> str:
    """The JSON Schema of ``policies/formats.toml``, as text (stable: keys sorted)."""
    schema = FormatPolicy.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def _load(path: Path, model: type[_Policy], what: str) -> _Policy:
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the {what}: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(file)'}: {e['msg']}" for e in exc.errors()
        )
        raise ConfigError(f"{path}: invalid {what}: {problems}") from exc


if __name__ == "__main__":  # pragma: no cover - exercised by the schema test's message
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "schemas") / FORMAT_POLICY_SCHEMA
    target.write_text(format_policy_schema(), encoding="utf-8")
    print(f"wrote {target}")
