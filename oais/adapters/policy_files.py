"""Loading policy files (``policies/*.toml``)."""

from __future__ import annotations

import tomllib
from pathlib import Path

from pydantic import ValidationError

from oais.domain.errors import ConfigError
from oais.domain.policy import IngestPolicy


def load_ingest_policy(policies_dir: Path) -> IngestPolicy:
    """Read ``ingest.toml`` from ``policies_dir``.

    Raises:
        ConfigError: naming the file and every problem in it.
    """
    path = policies_dir / "ingest.toml"
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the ingest policy: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    try:
        return IngestPolicy.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(file)'}: {e['msg']}" for e in exc.errors()
        )
        raise ConfigError(f"{path}: invalid ingest policy: {problems}") from exc
