"""Loading policy files (``policies/*.toml``)."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from oais.domain.audit import AuditPolicy
from oais.domain.errors import ConfigError
from oais.domain.policy import IngestPolicy
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
