"""The elle-cli cross-check: export a history in elle-cli's JSON format, run elle-cli, read its verdict.

Owns the export (`to_elle_json`: a JSON array of op objects, keywords as strings, micro-ops as
`["append", k, v]` / `["r", k, v]` / `["w", k, v]`), the command line (`<elle-cli> --model <workload>
--consistency-models a,b [--anomalies x,y] FILE`, or `java -jar <jar> ...` for a .jar), running it with a
timeout, and parsing its output contract: one line `<file>\\t<valid?>` per file with valid? in
true/false/unknown; exit 0 (no file false), 1 (some file false), 255 (exception). Does not own our own
analysis nor how the two verdicts are combined (checker.py).

elle-cli itself needs a JVM and a Maven build; it is not bundled. Configure it with the checker option
`elle-cli PATH` or the environment variable ELLE_CLI.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass

from checkers.elle.analysis import ElleOptions
from harness.checker import UNKNOWN, Validity
from harness.op import History

HISTORY_FILE = "elle-cli-history.json"


def _plain(v: object) -> object:
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    if isinstance(v, (set, frozenset)):
        return sorted((_plain(x) for x in v), key=repr)
    return v


def to_elle_json(history: History) -> str:
    """The client txn ops of `history` as elle-cli's JSON array (one op object per line)."""
    lines = []
    for op in history:
        if op.f != "txn" or not isinstance(op.process, int):
            continue
        obj: dict[str, object] = {
            "index": op.index,
            "time": op.time_ns,
            "type": op.type,
            "process": op.process,
            "f": "txn",
            "value": _plain(op.value),
        }
        lines.append(json.dumps(obj, separators=(",", ":")))
    return "[" + ",\n".join(lines) + "]\n"


@dataclass(frozen=True, kw_only=True)
class CliResult:
    """What elle-cli said. `valid` is None when it could not be run or its output could not be read."""

    argv: tuple[str, ...]
    exit_code: int | None
    stdout: str
    stderr: str
    valid: Validity | None
    error: str | None = None

    def to_json(self, ours: Validity) -> dict[str, object]:
        return {
            "configured": True,
            "command": list(self.argv),
            "exit-code": self.exit_code,
            "valid?": self.valid,
            "ours": ours,
            "agrees": self.valid == ours if self.valid is not None else None,
            "error": self.error,
            "stdout-tail": self.stdout[-2000:],
            "stderr-tail": self.stderr[-2000:],
        }


def command(cli: str, opts: ElleOptions, file: str) -> list[str]:
    """The elle-cli command line for a history file."""
    base = ["java", "-jar", cli] if cli.endswith(".jar") else [cli]
    args = ["--model", opts.workload]
    models = opts.expected_models()
    if models:
        args += ["--consistency-models", ",".join(models)]
    if opts.anomalies:
        args += ["--anomalies", ",".join(opts.anomalies)]
    return base + args + [file]


def parse_output(stdout: str, file: str) -> Validity | None:
    """elle-cli's verdict for `file` from its `<file>\\t<valid?>` lines; None if there is none."""
    verdicts: dict[str, Validity] = {}
    words: dict[str, Validity] = {"true": True, "false": False, "unknown": UNKNOWN, ":unknown": UNKNOWN}
    for line in stdout.splitlines():
        name, sep, word = line.rstrip().rpartition("\t")
        if sep and word.strip() in words:
            verdicts[name.strip()] = words[word.strip()]
    if file in verdicts:
        return verdicts[file]
    if len(verdicts) == 1:
        return next(iter(verdicts.values()))
    return None


def run_elle_cli(
    cli: str, history: History, opts: ElleOptions, out_dir: str | os.PathLike[str], *, timeout: float
) -> CliResult:
    """Export, run and parse. Never raises for elle-cli's own failures: they come back as `error`."""
    path = os.path.join(os.fspath(out_dir), HISTORY_FILE)
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(to_elle_json(history))
    argv = command(cli, opts, path)
    exe = argv[0]
    if shutil.which(exe) is None and not os.access(exe, os.X_OK):
        return CliResult(argv=tuple(argv), exit_code=None, stdout="", stderr="", valid=None,
                         error=f"elle-cli not runnable: {exe!r} is not an executable file or on PATH")
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
        return CliResult(argv=tuple(argv), exit_code=None, stdout=out, stderr="", valid=None,
                         error=f"elle-cli timed out after {timeout:g} s")
    except OSError as e:
        return CliResult(argv=tuple(argv), exit_code=None, stdout="", stderr="", valid=None,
                         error=f"elle-cli could not start: {e.strerror}")
    valid = parse_output(proc.stdout, path)
    error = None
    if valid is None:
        error = f"elle-cli exited {proc.returncode} without a verdict line for the history"
    elif proc.returncode == 255:
        error, valid = "elle-cli reported an exception (exit 255)", None
    elif (valid is False) != (proc.returncode == 1):
        error = f"elle-cli's exit code {proc.returncode} does not match its verdict line"
    return CliResult(argv=tuple(argv), exit_code=proc.returncode, stdout=proc.stdout, stderr=proc.stderr,
                     valid=valid, error=error)
