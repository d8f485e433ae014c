"""Migration plan files (``plan.json``): written streaming, read and validated whole.

A plan is JSON, one AIP per line inside ``"aips"``, so that an archivist can review it and drop
lines with any editor (or ``jq``) and a diff shows what was dropped. The totals come first, for the
review; they are written after the AIPs were counted, by writing the AIPs to a private file first.
The plan appears at its path only when complete.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TextIO, cast

from pydantic import ValidationError

from oais.domain.errors import PlanInvalid, StorageError
from oais.domain.issues import issue
from oais.domain.migration import MigrationPlan


def write_plan(path: Path, aips: Iterable[dict[str, Any]], header: Callable[[], MigrationPlan]) -> None:
    """Write a plan: ``header()``'s fields (its totals), then every AIP of ``aips``.

    Args:
        path: the plan file (replaced if it exists, once the new plan is complete).
        aips: the planned AIPs as plain dicts, in the shape of ``PlannedAip``.
        header: called once ``aips`` is consumed: the plan without its AIPs, totals counted.

    Raises:
        StorageError: the file cannot be written (nothing is left at ``path``).
    """
    directory = path.absolute().parent
    made: list[Path] = []
    try:
        with _private(directory, path.name, ".aips", made) as body:
            first = True
            for aip in aips:
                body.write(("\n  " if first else ",\n  ") + json.dumps(aip, ensure_ascii=False))
                first = False
            body.write("" if first else "\n")
        text = json.dumps(header().model_dump(mode="json", exclude={"aips"}), indent=1, ensure_ascii=False)
        with _private(directory, path.name, ".partial", made) as out:
            out.write(text[: text.rfind("}")].rstrip() + ',\n "aips": [')
            with open(made[0], encoding="utf-8") as aips_text:
                shutil.copyfileobj(aips_text, out, 1 << 20)
            out.write("]\n}\n")
            out.flush()
            os.fsync(out.fileno())
        os.replace(made[1], path)
    except OSError as exc:
        raise StorageError(f"{path}: cannot write the plan: {exc}") from exc
    finally:
        for tmp in made:
            tmp.unlink(missing_ok=True)


def _private(directory: Path, name: str, suffix: str, made: list[Path]) -> TextIO:
    handle = tempfile.NamedTemporaryFile(  # noqa: SIM115 - the caller closes it (with-statement)
        "w", encoding="utf-8", dir=directory, prefix=f".{name}.", suffix=suffix, delete=False
    )
    made.append(Path(handle.name))
    return cast(TextIO, handle)


def read_plan(path: Path) -> MigrationPlan:
    """Read and validate a plan file.

    Raises:
        PlanInvalid: the file cannot be read, is not JSON, or is not a migration plan (PLAN-E001),
            with every field in error.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PlanInvalid(f"{path}: cannot read the plan", [issue("PLAN-E001", str(path), str(exc))]) from exc
    try:
        return MigrationPlan.model_validate_json(text)
    except ValidationError as exc:
        problems = [
            issue("PLAN-E001", str(path), f"{_where(err['loc'])}: {err['msg']}") for err in exc.errors()[:50]
        ]
        raise PlanInvalid(f"{path}: not a valid migration plan", problems) from exc


def _where(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(the document)"
