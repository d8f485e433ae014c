"""Running a format policy rule on one file: :class:`ToolConverter`, the
:class:`~oais.domain.ports.FormatConverter` of the tools installed here.

The tool runs as a process of its own, in a session of its own (so that it and everything it starts
form one process group), in the output's directory, with no standard input. Its standard output
and error go to anonymous temporary files, which cannot fill up and block it the way pipes can.
When it has not exited within the rule's timeout the whole group is killed. Whether it exited or
was killed, the group is killed before the tool's own process is reaped: a tool's leftover children
do not outlive it, and the group's id cannot have been given to another process meanwhile.

The converter reports what came out (the output's format as identified, its digests, the
significant properties compared); deciding whether the output is the rule's target and keeps the
properties is the caller's business.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from typing import IO

import oais
from oais.adapters import significant_properties
from oais.adapters.format_tools import command_line, missing_tools, tool_version
from oais.adapters.hashing import MultiHasher
from oais.domain.errors import ConversionFailed
from oais.domain.fixity import FAST_ALGORITHM, RECORD_ALGORITHM, DigestAlgorithm
from oais.domain.formats import FormatPolicy, Purpose, Rule, Tool
from oais.domain.migration import Conversion
from oais.domain.packages import FormatFacts
from oais.domain.ports import FormatIdentifier

#: How many lines of a failed tool's standard error the error message quotes.
STDERR_LINES = 3
_STDERR_TAIL = 64 * 1024
_CHUNK = 1 << 20


class ToolConverter:
    """Runs the tools a format policy names, as processes, and compares what they produce.

    Args:
        identifier: identifies the output's format.
        algorithms: the digests computed of the output, in the same read as its identification
            (by default the digest of record and the fast-check digest).
    """

    def __init__(
        self,
        identifier: FormatIdentifier,
        algorithms: Iterable[DigestAlgorithm] = (RECORD_ALGORITHM, FAST_ALGORITHM),
    ) -> None:
        self._identifier = identifier
        self._algorithms = tuple(algorithms)

    def missing_tools(self, policy: FormatPolicy, tools: Iterable[str]) -> list[str]:
        """One line per tool of ``tools`` not installed here, naming its Debian package."""
        return missing_tools(policy, tuple(Purpose), only=tools)

    def convert(
        self, tool_name: str, tool: Tool, rule: Rule, source: Path, source_puid: str, output: Path
    ) -> Conversion:
        """Run ``rule`` on ``source``, writing ``output``; identify the output's format and compare
        the significant properties of the two files.

        Args:
            tool_name: the policy's name for the tool (``pillow``).
            tool: the tool as the policy describes it.
            rule: the rule to run (its arguments, target, timeout, whether it is lossless).
            source: the file to convert (a private copy: the tool may not change the original).
            source_puid: the source's format as the catalog records it.
            output: where the tool writes its output; its directory exists and is private.

        Returns:
            What the tool produced: its version, the command, the output's format,
            size and digests, and the property comparison.

        Raises:
            ConversionFailed: the tool could not be started, failed, timed out or wrote nothing, or
                a file could not be read for the comparison; the message names the source file, the
                tool and the reason.
            ToolError: the tool's version cannot be determined, or format identification fails.
        """
        source, output = source.absolute(), output.absolute()
        # A file left at the output path would pass for the tool's output if the tool wrote none.
        output.unlink(missing_ok=True)
        command = command_line(tool, rule, source, output)
        self._run(tool_name, tool, rule, command, source, output)
        try:
            size = output.stat().st_size
        except FileNotFoundError:
            raise ConversionFailed(
                f"{source.name}: {tool_name} exited successfully but wrote no output ({output.name})"
            ) from None
        if size == 0:
            raise ConversionFailed(f"{source.name}: {tool_name} wrote an empty output ({output.name})")
        # Asked only now: a tool that cannot convert is reported for that, not for its version.
        version = tool_version(tool_name, tool)
        facts, digests, size = self._identify(output)
        try:
            checks = significant_properties.compare(source, source_puid, output, rule.target, rule.lossless)
        except ConversionFailed as exc:
            if facts.puid != rule.target:
                raise ConversionFailed(
                    f"{exc} (the output was identified as {facts.puid or 'nothing known'} "
                    f"{facts.name}, not the target {rule.target})"
                ) from exc
            raise
        return Conversion(
            tool=tool_name,
            tool_version=version,
            command=command,
            output_puid=facts.puid,
            output_name=facts.name,
            checks=checks,
            output_format=facts,
            output_size=size,
            output_digests=digests,
        )

    def _run(
        self, tool_name: str, tool: Tool, rule: Rule, command: list[str], source: Path, output: Path
    ) -> None:
        env = None
        if tool.command == "python":
            # The converters must be this very package, whatever is installed in the interpreter.
            root = str(Path(oais.__file__).resolve().parent.parent)
            path = os.environ.get("PYTHONPATH")
            env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [root, path]))}
        with (
            tempfile.TemporaryFile(dir=output.parent) as out,
            tempfile.TemporaryFile(dir=output.parent) as err,
        ):
            try:
                process = subprocess.Popen(
                    command,
                    cwd=output.parent,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=err,
                    start_new_session=True,
                    env=env,
                )
            except OSError as exc:
                raise ConversionFailed(f"{source.name}: {tool_name} could not be started: {exc}") from exc
            try:
                finished = _wait_unreaped(process.pid, rule.timeout_seconds)
            finally:
                # Whatever happened (even an interrupt while waiting), nothing the tool started
                # survives it; the group's id is still ours since its leader is not reaped yet.
                _kill_group(process.pid)
                status = process.wait()
            if not finished:
                output.unlink(missing_ok=True)
                raise ConversionFailed(
                    f"{source.name}: {tool_name} did not finish within {rule.timeout_seconds:g} s; stopped"
                )
            if status != 0:
                output.unlink(missing_ok=True)
                raise ConversionFailed(
                    f"{source.name}: {tool_name} failed ({_describe(status)}): {_tail(err)}"
                )

    def _identify(self, output: Path) -> tuple[FormatFacts, dict[DigestAlgorithm, str], int]:
        """The output's format, digests and size, from one read of its bytes."""
        hasher = MultiHasher(self._algorithms)
        size = 0
        try:
            with output.open("rb") as stream:
                probe = self._identifier.start(output.name, output.stat().st_size, lambda: output.open("rb"))
                while chunk := stream.read(_CHUNK):
                    probe.feed(chunk)
                    hasher.update(chunk)
                    size += len(chunk)
        except OSError as exc:
            raise ConversionFailed(f"{output.name}: the output cannot be read: {exc}") from exc
        return probe.finish(), hasher.hexdigests(), size


def _wait_unreaped(pid: int, timeout: float) -> bool:
    """Wait up to ``timeout`` seconds for the child ``pid`` to exit, leaving it to be reaped.

    Returns:
        True if it exited, False if it is still running.
    """
    deadline = time.monotonic() + timeout
    try:
        pidfd = os.pidfd_open(pid)
    except (AttributeError, OSError):
        pidfd = None
    if pidfd is not None:
        try:
            poller = select.poll()
            poller.register(pidfd, select.POLLIN)
            while True:
                left = deadline - time.monotonic()
                if poller.poll(max(0, int(left * 1000) + 1)):
                    return True
                if left <= 0:
                    return _exited(pid)
        finally:
            os.close(pidfd)
    # No pidfd (not Linux, or an old kernel): poll, often at first, less often later.
    pause = 0.001
    while not _exited(pid):
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        time.sleep(min(pause, left))
        pause = min(pause * 2, 0.05)
    return True


def _exited(pid: int) -> bool:
    return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None


def _kill_group(pgid: int) -> None:
    # No such group: the tool was alone in it and has been reaped by someone else (not by us).
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)


def _describe(status: int) -> str:
    if status < 0:
        try:
            return f"killed by {signal.Signals(-status).name}"
        except ValueError:
            return f"killed by signal {-status}"
    return f"exit status {status}"


def _tail(stream: IO[bytes]) -> str:
    """The last lines of a tool's standard error, on one line."""
    stream.seek(0, os.SEEK_END)
    end = stream.tell()
    stream.seek(max(0, end - _STDERR_TAIL))
    text = stream.read().decode("utf-8", "replace")
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return " | ".join(lines[-STDERR_LINES:]) or "no message on standard error"
