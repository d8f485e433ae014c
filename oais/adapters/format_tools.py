"""Whether the tools a format policy's rules run are installed here.

Checked before a plan is written or applied: a missing tool is an error that names the Debian
package to install, never a crash halfway through a migration.
"""

from __future__ import annotations

import importlib.util
import shutil
from collections.abc import Callable, Iterable

from oais.domain.errors import ToolError
from oais.domain.formats import FormatPolicy, Purpose, Tool


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
) -> list[str]:
    """One line per tool that the rules for ``purposes`` use and that is not installed, naming the
    Debian package that provides it (empty when everything is there)."""
    wanted = {
        rule.tool
        for rules in policy.formats.values()
        for purpose in purposes
        if (rule := rules.rule(purpose)) is not None
    }
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
