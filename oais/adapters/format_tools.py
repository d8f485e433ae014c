"""The tools a format policy's rules run: whether they are installed here, their versions, and the
command lines that run them.

Tools are checked before a plan is written or applied: a missing tool is an error that names the
Debian package to install, never a crash halfway through a migration. A tool's version is recorded
as the PREMIS agent of every conversion it makes.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable, Iterable
from pathlib import Path

from oais.domain.errors import ToolError
from oais.domain.formats import FormatPolicy, Purpose, Rule, Tool

#: The module that runs the ``python`` tools' converters (``python -m CONVERTERS NAME IN OUT``).
CONVERTERS = "oais.adapters.converters"
#: How long a tool may take to print its version.
VERSION_TIMEOUT = 10.0

_PLACEHOLDER = re.compile(r"\{(input|output)\}")
_VERSIONS: dict[tuple[str, str, str | None], str] = {}
_VERSIONS_LOCK = threading.Lock()


def _why_missing(
    tool: Tool, which: Callable[[str], str | None], importable: Callable[[str], bool]
) -> str | None:
    if tool.module is not None:
        return None if importable(tool.module) else f"Python module '{tool.module}' is not installed"
    return None if which(tool.command) is not None else f"command '{tool.command}' is not on PATH"


def _importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def missing_tools(
    policy: FormatPolicy,
    purposes: Iterable[Purpose] = tuple(Purpose),
    *,
    which: Callable[[str], str | None] = shutil.which,
    importable: Callable[[str], bool] = _importable,
    only: Iterable[str] | None = None,
) -> list[str]:
    """One line per tool that the rules for ``purposes`` use (or the tools ``only``, if given) and
    that is not installed, naming the Debian package that provides it (empty when all are there)."""
    wanted = {
        rule.tool
        for rules in policy.formats.values()
        for purpose in purposes
        if (rule := rules.rule(purpose)) is not None
    }
    if only is not None:
        wanted &= set(only)
    out = []
    for name in sorted(wanted):
        tool = policy.tools[name]
        why = _why_missing(tool, which, importable)
        if why is not None:
            out.append(
                f"tool '{name}': {why}; install the Debian package {tool.debian_package} "
                f"(apt-get install {tool.debian_package})"
            )
    return out


def require_tools(policy: FormatPolicy, purposes: Iterable[Purpose] = tuple(Purpose)) -> None:
    """Raise if a tool the rules for ``purposes`` use is missing.

    Raises:
        ToolError: naming every missing tool and its Debian package.
    """
    missing = missing_tools(policy, purposes)
    if missing:
        raise ToolError(f"format policy {policy.reference}: " + "; ".join(missing))


def command_line(tool: Tool, rule: Rule, source: Path, output: Path) -> list[str]:
    """The command that runs ``rule`` on ``source``, writing ``output``.

    ``{input}`` and ``{output}`` are replaced wherever they occur in an argument
    (``-sOutputFile={output}``, ``{input}[0]``), in one pass, so that a path that itself contains
    ``{output}`` is not replaced again. Paths are used as given: pass absolute paths when the
    command runs in another directory.

    Args:
        tool: the tool the rule names: a ``python`` tool runs this package's converters with the
            running interpreter, any other is looked up on PATH (kept as named if it is not there,
            so that running it reports the missing command).
        rule: the rule, whose arguments are filled in.
        source: the file to convert.
        output: the file to write.

    Returns:
        The program and its arguments.
    """
    paths = {"input": str(source), "output": str(output)}
    args = [_PLACEHOLDER.sub(lambda m: paths[m.group(1)], arg) for arg in rule.args]
    if tool.command == "python":
        return [sys.executable, "-m", CONVERTERS, *args]
    return [shutil.which(tool.command) or tool.command, *args]


def tool_version(name: str, tool: Tool) -> str:
    """The version of a tool as recorded in the PREMIS agent of the conversions it makes.

    For a ``python`` tool, the distribution that provides its module and that distribution's
    version (``pillow 13.0.0``). For a command, the first non-empty line it prints when run with its
    ``version_args`` (``Version: ImageMagick 6.9.11-60 Q16 ...``), after the command's name when the
    line is a bare version number (Ghostscript prints ``10.00.0``: ``gs 10.00.0``). Asked once per
    tool and process.

    Args:
        name: the policy's name for the tool (named in errors).
        tool: the tool as the policy describes it.

    Returns:
        The version, on one line.

    Raises:
        ToolError: the module is not installed, or the version command cannot be run, fails, prints
            nothing or does not finish within :data:`VERSION_TIMEOUT` seconds.
    """
    key = (name, tool.command, tool.module)
    with _VERSIONS_LOCK:
        known = _VERSIONS.get(key)
    if known is not None:
        return known
    version = _module_version(name, tool.module) if tool.module is not None else _command_version(name, tool)
    with _VERSIONS_LOCK:
        _VERSIONS[key] = version
    return version


def _module_version(name: str, module: str) -> str:
    top = module.partition(".")[0]
    distributions = importlib.metadata.packages_distributions().get(top, [])
    for distribution in distributions:
        try:
            metadata = importlib.metadata.metadata(distribution)
        except importlib.metadata.PackageNotFoundError:
            continue
        return f"{metadata['Name']} {metadata['Version']}"
    raise ToolError(f"tool '{name}': no installed distribution provides the Python module '{module}'")


def _command_version(name: str, tool: Tool) -> str:
    command = [shutil.which(tool.command) or tool.command, *tool.version_args]
    shown = " ".join(command)
    try:
        done = subprocess.run(
            command,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=VERSION_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise ToolError(
            f"tool '{name}': '{shown}' did not print a version within {VERSION_TIMEOUT:g} s"
        ) from exc
    except OSError as exc:
        raise ToolError(f"tool '{name}': '{shown}' cannot be run: {exc}") from exc
    if done.returncode != 0:
        raise ToolError(f"tool '{name}': '{shown}' failed with exit status {done.returncode}")
    # Some programs print their version on stderr.
    for stream in (done.stdout, done.stderr):
        for line in stream.decode("utf-8", "replace").splitlines():
            line = line.strip()
            if line:
                return f"{Path(tool.command).name} {line}" if line[0].isdigit() else line
    raise ToolError(f"tool '{name}': '{shown}' printed no version")
