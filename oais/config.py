"""Settings: where and how this deployment runs (owned by operations).

Read from ``OAIS_*`` environment variables, optionally from a TOML file named by ``OAIS_CONFIG``
(environment variables win). What the archive *promises* is policy, not configuration: see
``policies/``.

===================== ================================================ ==============================
variable              meaning                                          default
===================== ================================================ ==============================
OAIS_HOME             where the embedded default keeps its data        ``platformdirs.user_data_dir``
OAIS_DATABASE_URL     SQLAlchemy URL of the catalog                    ``sqlite:///$OAIS_HOME/catalog.sqlite``
OAIS_STORE_ROOT       the local store's directory                      ``$OAIS_HOME/store``
OAIS_POLICIES         directory of the policy files                    ``policies/`` of this checkout
OAIS_SCHEMAS          directory of the XML schemas                     ``schemas/`` of this checkout
OAIS_WORKERS          worker processes for hashing and identification  one per available core
OAIS_CONFIG           a TOML file with the same keys, lower case, without the OAIS_ prefix
===================== ================================================ ==============================
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path

import platformdirs
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from oais.domain.errors import ConfigError

REPO_ROOT = Path(__file__).resolve().parents[1]
KEYS = ("home", "database_url", "store_root", "policies", "schemas", "workers")


class Settings(BaseModel):
    """Where this deployment keeps its catalog and store, and how much it may run at once."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    home: Path
    database_url: str
    store_root: Path
    policies: Path = REPO_ROOT / "policies"
    schemas: Path = REPO_ROOT / "schemas"
    workers: int | None = Field(default=None, ge=1)


def default_home() -> Path:
    """The documented per-user data directory (``~/.local/share/oais`` on Linux)."""
    return Path(platformdirs.user_data_dir("oais", appauthor=False))


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Build the settings from the environment (and the TOML file it may name).

    Raises:
        ConfigError: naming the variable or file that is wrong.
    """
    env = os.environ if environ is None else environ
    values: dict[str, object] = {}
    config_file = env.get("OAIS_CONFIG")
    if config_file:
        try:
            with open(config_file, "rb") as f:
                data = tomllib.load(f)
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"{config_file}: cannot read the configuration: {exc}") from exc
        unknown = set(data) - set(KEYS)
        if unknown:
            raise ConfigError(f"{config_file}: unknown keys {sorted(unknown)}; known: {list(KEYS)}")
        values.update(data)
    for key in KEYS:
        value = env.get(f"OAIS_{key.upper()}")
        if value:
            values[key] = value
    home = Path(str(values.get("home") or default_home())).expanduser()
    values["home"] = home
    values.setdefault("database_url", f"sqlite:///{home / 'catalog.sqlite'}")
    values.setdefault("store_root", home / "store")
    try:
        return Settings.model_validate(values)
    except ValidationError as exc:
        source = config_file or "the OAIS_* environment variables"
        raise ConfigError(f"{source}: invalid settings: {exc}") from exc
