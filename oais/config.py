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
OAIS_STAGING          scratch space where AIP versions are built           ``$OAIS_HOME/staging``
OAIS_CONFIG           a TOML file with the same keys, lower case, without the OAIS_ prefix
===================== ================================================ ==============================

Storage locations are named in the TOML file, one table each; the storage policy
(``policies/storage.toml``) says which of them must hold a copy. Without any, there is one location,
``local``, a directory at ``store_root``::

    [locations.ceph-a]
    kind = "s3"
    endpoint = "http://127.0.0.1:7480"
    bucket = "aips-a"
    prefix = ""                    # optional key prefix inside the bucket
    credentials_file = "/etc/oais/ceph-a.ini"   # optional; else the environment
    profile = "default"            # section of the credentials file

    [locations.tape-cache]
    kind = "local"
    root = "/srv/oais/cache"

Every location may declare where it is and on what (``site``, ``threat``, ``media``, all optional:
see docs/storage.md); the NDSA self-assessment (``oais report ndsa``) reads them.

DIPs can be written to S3 prefixes (``oais dip --out s3://BUCKET/PREFIX``) of the buckets named in
``dip_targets`` tables, with the same keys as an S3 location (a portal's bucket, not an AIP location)::

    [dip_targets.portal]
    kind = "s3"
    endpoint = "https://rgw.example.org"
    bucket = "vespa-dips"

Credentials never appear in the configuration or the policies: they come from the environment,
``OAIS_LOCATION_<NAME>_ACCESS_KEY_ID`` and ``OAIS_LOCATION_<NAME>_SECRET_ACCESS_KEY`` (the name upper
case, '-' as '_'), or from an AWS-style credentials file (``aws_access_key_id`` and
``aws_secret_access_key`` in the section ``profile``).
"""

from __future__ import annotations

import configparser
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Literal

import platformdirs
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from oais.domain.errors import ConfigError
from oais.domain.storage import LOCATION_NAME

REPO_ROOT = Path(__file__).resolve().parents[1]
#: Settings that an ``OAIS_<KEY>`` environment variable can give.
ENV_KEYS = ("home", "database_url", "store_root", "policies", "schemas", "workers", "staging")
#: Every key of the configuration file (locations are tables there, never environment variables).
KEYS = (*ENV_KEYS, "locations", "dip_targets")
#: The location every deployment has unless its configuration names others.
DEFAULT_LOCATION = "local"


class LocationDeclaration(BaseModel):
    """What operations declare about a location's place and media (optional; the NDSA self-assessment
    reads them: copies are in *separate locations* at different sites, with a *different disaster
    threat*, on a *different media type*). Unset, the assessment says the item is not evidenced."""

    #: Where the location is, e.g. "ESAC Madrid" (copies at different sites are separate).
    site: str | None = Field(default=None, min_length=1)
    #: The disaster threat of that site, e.g. "Madrid: wildfire, heat" (different ones: a different threat).
    threat: str | None = Field(default=None, min_length=1)
    #: The storage media, e.g. "disk", "tape", "SSD", "optical".
    media: str | None = Field(default=None, min_length=1)


class LocalLocation(LocationDeclaration):
    """A location on a local (or mounted) file system."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["local"] = "local"
    root: Path


class S3Location(LocationDeclaration):
    """A location in an S3 bucket (Ceph RGW), optionally under a key prefix."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["s3"]
    endpoint: str = Field(pattern=r"^https?://")
    bucket: str = Field(min_length=3, max_length=63)
    prefix: str = ""
    region: str = "us-east-1"
    ca_bundle: str | None = None
    credentials_file: Path | None = None
    profile: str = "default"
    part_size_mib: int = Field(default=64, ge=5, le=5120)
    concurrency: int = Field(default=4, ge=1, le=64)


LocationConfig = Annotated[LocalLocation | S3Location, Field(discriminator="kind")]


class Credentials(BaseModel):
    """An S3 access key pair (never printed)."""

    model_config = ConfigDict(frozen=True)

    access_key: str
    secret_key: str = Field(repr=False)


class Settings(BaseModel):
    """Where this deployment keeps its catalog and store, and how much it may run at once."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    home: Path
    database_url: str
    store_root: Path
    policies: Path = REPO_ROOT / "policies"
    schemas: Path = REPO_ROOT / "schemas"
    workers: int | None = Field(default=None, ge=1)
    staging: Path
    locations: dict[str, LocationConfig]
    #: S3 buckets DIPs may be written to (``oais dip --out s3://BUCKET/PREFIX``), by name: the bucket
    #: given in a destination picks the target; ``prefix`` is ignored. Credentials as for a location,
    #: ``OAIS_LOCATION_<NAME>_ACCESS_KEY_ID``/``_SECRET_ACCESS_KEY`` or a credentials file.
    dip_targets: dict[str, S3Location] = {}

    @field_validator("locations", "dip_targets")
    @classmethod
    def _names(cls, value: dict[str, LocationConfig]) -> dict[str, LocationConfig]:
        for name in value:
            if LOCATION_NAME.fullmatch(name) is None:
                raise ValueError(f"{name!r} is not a location name (lower-case letters, digits, '-', '_')")
        return value


def credentials(name: str, location: S3Location, environ: Mapping[str, str] | None = None) -> Credentials:
    """The access key pair of location ``name``, from the environment or its credentials file.

    Raises:
        ConfigError: one line naming the location and where the credentials were looked for.
    """
    env = os.environ if environ is None else environ
    var = f"OAIS_LOCATION_{name.upper().replace('-', '_')}"
    key, secret = env.get(f"{var}_ACCESS_KEY_ID"), env.get(f"{var}_SECRET_ACCESS_KEY")
    if key and secret:
        return Credentials(access_key=key, secret_key=secret)
    if location.credentials_file is not None:
        parser = configparser.ConfigParser(interpolation=None)
        try:
            with open(location.credentials_file, encoding="utf-8") as f:
                parser.read_file(f)
        except (OSError, UnicodeDecodeError, configparser.Error) as exc:
            raise ConfigError(
                f"location '{name}': cannot read credentials file {location.credentials_file}: {exc}"
            ) from exc
        section = parser[location.profile] if parser.has_section(location.profile) else None
        if section is not None and section.get("aws_access_key_id") and section.get("aws_secret_access_key"):
            return Credentials(
                access_key=section["aws_access_key_id"], secret_key=section["aws_secret_access_key"]
            )
        raise ConfigError(
            f"location '{name}': {location.credentials_file} has no aws_access_key_id and "
            f"aws_secret_access_key in section [{location.profile}]"
        )
    raise ConfigError(
        f"location '{name}': no credentials: set {var}_ACCESS_KEY_ID and {var}_SECRET_ACCESS_KEY, "
        "or credentials_file in its configuration"
    )


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
    for key in ENV_KEYS:
        value = env.get(f"OAIS_{key.upper()}")
        if value:
            values[key] = value
    home = Path(str(values.get("home") or default_home())).expanduser()
    values["home"] = home
    values.setdefault("database_url", f"sqlite:///{home / 'catalog.sqlite'}")
    values.setdefault("store_root", home / "store")
    values.setdefault("staging", home / "staging")
    if not values.get("locations"):
        values["locations"] = {DEFAULT_LOCATION: {"kind": "local", "root": values["store_root"]}}
    try:
        return Settings.model_validate(values)
    except ValidationError as exc:
        source = config_file or "the OAIS_* environment variables"
        raise ConfigError(f"{source}: invalid settings: {exc}") from exc
