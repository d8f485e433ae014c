"""The format policy registry (``policies/formats.toml``): what the archive thinks of each file format
it holds, by PRONOM PUID, and what to do about it.

Bit-level integrity keeps the bytes; this policy keeps them usable. For each format it gives a
status (preferred, acceptable, at risk, obsolete) with the reason, and rules by purpose:
``preservation`` migrates a file to a target format with a named tool (for the formats at risk),
``access`` makes a derivative for dissemination. Rules name tools from the policy's own tool list,
each with the Debian package that provides it, so that a missing tool is reported before anything
runs. The JSON Schema of this model is exported to ``schemas/format-policy.schema.json``.
"""

from __future__ import annotations

import re
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

#: A PRONOM persistent unique identifier: ``fmt/353``, ``x-fmt/392``.
PUID = re.compile(r"(x-)?fmt/[0-9]+")

#: The placeholders a rule's arguments may use.
PLACEHOLDERS = ("{input}", "{output}")


class FormatStatus(StrEnum):
    """How the archive rates a format for long-term preservation."""

    PREFERRED = "preferred"
    ACCEPTABLE = "acceptable"
    AT_RISK = "at-risk"
    OBSOLETE = "obsolete"


class Purpose(StrEnum):
    """What a rule's output is for."""

    PRESERVATION = "preservation"  # a new preservation master, in a new AIP version
    ACCESS = "access"  # a derivative for DIPs


class Tool(BaseModel):
    """A program a rule runs, and where it comes from."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: The executable looked up on PATH (``gs``, ``convert``), or ``python`` for a built-in
    #: converter of this package (run with ``module``).
    command: str = Field(min_length=1)
    #: For ``command = "python"``: the Python module that must be importable (``PIL``).
    module: str | None = None
    #: The Debian package that provides it, named in the error when it is missing.
    debian_package: str = Field(min_length=1)
    #: The arguments that make the command print its version (recorded as the PREMIS agent's
    #: version); unused for ``python`` tools, whose module version is recorded.
    version_args: list[str] = Field(default_factory=lambda: ["--version"])

    @model_validator(mode="after")
    def _module_for_python(self) -> Tool:
        if (self.command == "python") != (self.module is not None):
            raise ValueError('a "python" tool names its module, and only a "python" tool does')
        return self


class Rule(BaseModel):
    """Convert a file to ``target`` with ``tool``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tool: str = Field(min_length=1)
    #: The tool's arguments; ``{input}`` and ``{output}`` are replaced by the files' paths.
    args: list[str] = Field(min_length=1)
    #: The PUID the output must be identified as.
    target: str
    #: The target format's usual file name extension, without the dot (``png``).
    extension: str = Field(pattern=r"^[a-z0-9]+$")
    #: Whether the conversion keeps every pixel (images: the output is compared pixel by pixel).
    lossless: bool = False
    timeout_seconds: float = Field(default=300, gt=0)

    @field_validator("target")
    @classmethod
    def _puid(cls, value: str) -> str:
        if PUID.fullmatch(value) is None:
            raise ValueError(f"{value!r} is not a PRONOM PUID (fmt/N or x-fmt/N)")
        return value

    @field_validator("args")
    @classmethod
    def _files(cls, value: list[str]) -> list[str]:
        joined = " ".join(value)
        missing = [p for p in PLACEHOLDERS if p not in joined]
        if missing:
            raise ValueError(f"the arguments do not name {' or '.join(missing)}")
        return value


class FormatRules(BaseModel):
    """The policy for one format (one PUID)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)
    status: FormatStatus
    reason: str = Field(min_length=1)
    preservation: Rule | None = None
    access: Rule | None = None

    def rule(self, purpose: Purpose) -> Rule | None:
        """The rule for ``purpose``, if any."""
        return self.preservation if purpose is Purpose.PRESERVATION else self.access


class FormatPolicy(BaseModel):
    """The format policy (``policies/formats.toml``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1)
    version: str = Field(min_length=1)
    title: str = ""
    #: Run the preservation rules at ingest too: version 1 then holds a preservation copy of each
    #: file in a format to migrate, beside the original (PREMIS ``normalization`` events).
    normalize_at_ingest: bool = False
    tools: dict[str, Tool] = Field(default_factory=dict)
    #: By PUID.
    formats: dict[str, FormatRules]

    @field_validator("formats")
    @classmethod
    def _puids(cls, value: dict[str, FormatRules]) -> dict[str, FormatRules]:
        bad = [puid for puid in value if PUID.fullmatch(puid) is None]
        if bad:
            raise ValueError(f"not PRONOM PUIDs (fmt/N or x-fmt/N): {', '.join(sorted(bad))}")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> FormatPolicy:
        problems = []
        for puid, rules in sorted(self.formats.items()):
            for purpose in Purpose:
                rule = rules.rule(purpose)
                if rule is None:
                    continue
                if rule.tool not in self.tools:
                    problems.append(f"{puid} {purpose.value}: tool {rule.tool!r} is not in [tools]")
                if purpose is Purpose.PRESERVATION and rule.target == puid:
                    problems.append(f"{puid} preservation: the target is the format itself")
            if rules.status in (FormatStatus.AT_RISK, FormatStatus.OBSOLETE) and rules.preservation is None:
                problems.append(f"{puid}: {rules.status.value}, yet no preservation rule says what to do")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @property
    def reference(self) -> str:
        """How events and plans cite this policy."""
        return f"{self.id}@{self.version}"

    def to_migrate(self) -> dict[str, Rule]:
        """The formats with a preservation rule, by PUID."""
        return {puid: r.preservation for puid, r in self.formats.items() if r.preservation is not None}


class FormatHolding(BaseModel):
    """What the archive holds in one format (each stored file once, whatever versions reuse it)."""

    model_config = ConfigDict(frozen=True)

    puid: str | None  # None: files no tool could identify
    name: str
    files: int
    bytes: int
    aips: int
