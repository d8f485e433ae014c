"""The format policy registry: the shipped policy, its validation, its JSON Schema, the tool check."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

import pytest

from oais.adapters.format_tools import missing_tools, require_tools
from oais.adapters.policy_files import FORMAT_POLICY_SCHEMA, format_policy_schema, load_format_policy
from oais.domain.errors import ConfigError, ToolError
from oais.domain.formats import FormatPolicy, FormatStatus, Purpose

REPO = Path(__file__).resolve().parents[2]
SHIPPED = REPO / "policies" / "formats.toml"


def shipped() -> dict[str, Any]:
    with open(SHIPPED, "rb") as f:
        return tomllib.load(f)


def test_the_shipped_policy_rates_what_the_data_centre_holds() -> None:
    policy = load_format_policy(REPO / "policies")
    assert policy.reference == "formats@2"
    status = {puid: r.status for puid, r in policy.formats.items()}
    preferred = ["x-fmt/383", "fmt/95", "fmt/354", "fmt/477", "fmt/353", "fmt/13", "x-fmt/18", "x-fmt/111"]
    assert {status[p] for p in preferred} == {FormatStatus.PREFERRED}
    assert status["x-fmt/392"] is FormatStatus.ACCEPTABLE  # JPEG 2000
    migrations = {puid: (r.target, r.tool) for puid, r in policy.to_migrate().items()}
    for bmp_or_gif in ("fmt/116", "fmt/119", "fmt/3", "fmt/4"):
        assert status[bmp_or_gif] is FormatStatus.AT_RISK
        assert migrations[bmp_or_gif] == ("fmt/11", "pillow")  # to PNG
    assert migrations["x-fmt/408"] == ("fmt/477", "ghostscript")  # PostScript to PDF/A-2b
    # Access derivatives: a PNG preview of FITS images, a JPEG of TIFF.
    fits_access = policy.formats["x-fmt/383"].access
    tiff_access = policy.formats["fmt/353"].access
    assert fits_access is not None and fits_access.target == "fmt/11"
    assert tiff_access is not None and (tiff_access.target, tiff_access.tool) == ("fmt/43", "imagemagick")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda d: d["formats"].update({"png": d["formats"]["fmt/13"]}),
            "not PRONOM PUIDs (fmt/N or x-fmt/N): png",
        ),
        (
            lambda d: d["formats"]["fmt/3"]["preservation"].update(tool="gimp"),
            "fmt/3 preservation: tool 'gimp' is not in [tools]",
        ),
        (
            lambda d: d["formats"]["fmt/4"].pop("preservation"),
            "fmt/4: at-risk, yet no preservation rule says what to do",
        ),
        (
            lambda d: d["formats"]["fmt/3"]["preservation"].update(args=["{input}"]),
            "the arguments do not name {output}",
        ),
        (
            lambda d: d["formats"]["fmt/3"]["preservation"].update(target="png"),
            "'png' is not a PRONOM PUID",
        ),
        (lambda d: d["tools"]["pillow"].pop("module"), 'a "python" tool names its module'),
        (lambda d: d["formats"]["fmt/13"].update(status="fine"), "formats.fmt/13.status"),
        (lambda d: d.update(colour="blue"), "colour: Extra inputs are not permitted"),
    ],
)
def test_a_bad_policy_is_refused_naming_the_file_and_the_problem(
    tmp_path: Path, change: Any, message: str
) -> None:
    data = shipped()
    change(data)
    path = tmp_path / "formats.toml"
    path.write_text(_toml(data))
    with pytest.raises(ConfigError) as refused:
        load_format_policy(path)
    assert str(refused.value).startswith(f"{path}: invalid format policy: ")
    assert message in str(refused.value)


def test_the_exported_json_schema_is_the_current_one() -> None:
    exported = (REPO / "schemas" / FORMAT_POLICY_SCHEMA).read_text(encoding="utf-8")
    assert exported == format_policy_schema(), (
        "schemas/format-policy.schema.json is out of date: "
        "run .venv/bin/python -m oais.adapters.policy_files schemas"
    )
    schema = json.loads(exported)
    assert schema["additionalProperties"] is False and set(schema["required"]) == {"id", "version", "formats"}


def test_a_missing_tool_is_named_with_its_debian_package() -> None:
    policy = FormatPolicy.model_validate(shipped())
    present = {"gs"}
    missing = missing_tools(
        policy,
        which=lambda cmd: f"/usr/bin/{cmd}" if cmd in present else None,
        importable=lambda m: m == "PIL",
    )
    assert missing == [
        "tool 'fits-preview': Python module 'astropy' is not installed; install the Debian package "
        "python3-astropy (apt-get install python3-astropy)",
        "tool 'imagemagick': command 'convert' is not on PATH; install the Debian package imagemagick "
        "(apt-get install imagemagick)",
    ]
    # Only the tools the asked purposes use are checked.
    assert missing_tools(
        policy, [Purpose.PRESERVATION], which=lambda cmd: None, importable=lambda m: True
    ) == [
        "tool 'ghostscript': command 'gs' is not on PATH; install the Debian package ghostscript "
        "(apt-get install ghostscript)"
    ]


def test_require_tools_raises_naming_the_policy_the_missing_command_and_its_package() -> None:
    data = shipped()
    data["tools"]["ghostscript"]["command"] = "no-such-ghostscript"
    policy = FormatPolicy.model_validate(data)
    with pytest.raises(
        ToolError,
        match=r"^format policy formats@2: tool 'ghostscript': command 'no-such-ghostscript' is not on "
        r"PATH; install the Debian package ghostscript \(apt-get install ghostscript\)$",
    ):
        require_tools(policy, [Purpose.PRESERVATION])


def _toml(data: dict[str, Any], prefix: str = "") -> str:
    """A small TOML writer for the test's edited policies (strings, numbers, booleans, lists, tables)."""
    scalars, tables = [], []
    for key, value in data.items():
        name = json.dumps(key) if "/" in key or "-" in key else key
        if isinstance(value, dict):
            tables.append((f"{prefix}.{name}" if prefix else name, value))
        else:
            scalars.append(f"{name} = {json.dumps(value)}")
    out = "\n".join(scalars) + "\n"
    for header, table in tables:
        out += f"\n[{header}]\n" + _toml(table, header)
    return out
