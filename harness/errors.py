"""The one error tree of the harness.

    HarnessError                 anything the harness raises on purpose
    +-- BadInput                 the user asked for something we cannot do: exit 254, one line, no traceback
    |   +-- UnknownPlugin        a name no registered plugin has
    |   +-- MissingAbility       a nemesis or workload needs an ability the system or cluster lacks
    |   +-- MalformedHistory     a history file that cannot be read (names file and line)
    |   |   +-- ImpossibleHistory   it reads, but no real run can produce it (names the rule broken)
    |   +-- Unreachable          a node, engine or host that cannot be reached
    +-- ClusterError             provisioning, installing or starting a system failed during a run
    |   +-- TimedOut             something awaited (a node ready, a member joined) did not happen in time
    |   +-- CommandFailed        a command on a node exited non-zero where success was required
    |   +-- SetupFailed          a phase before the workload (cluster, database, readiness) failed: nothing to check
    +-- FaultError               a fault could not be injected or healed
    +-- Residue                  cleanup found something of the harness still in place

The CLI turns `BadInput` into its message and exit code 254; any other exception is a harness crash (255).
"""

from __future__ import annotations


class HarnessError(Exception):
    """Base of every error the harness raises on purpose."""


class BadInput(HarnessError):
    """Bad user input: unknown option, malformed history, unreachable node, missing capability."""

    exit_code = 254


class UnknownPlugin(BadInput):
    """A plugin name that no entry point registers."""


class MissingAbility(BadInput):
    """A plugin needs an optional ability (Killable, Pausable, ...) that the system or cluster lacks."""


class MalformedHistory(BadInput):
    """A history that cannot be parsed. The message names the file and, where known, the line."""

    def __init__(self, message: str, *, path: str | None = None, line: int | None = None) -> None:
        where = ""
        if path is not None:
            where = f"{path}:{line}: " if line is not None else f"{path}: "
        super().__init__(f"{where}{message}")
        self.path = path
        self.line = line


class ImpossibleHistory(MalformedHistory):
    """A history that parses but breaks a rule every real history obeys (see `harness.validate.Rule`): a
    completion with no invocation, time going backwards, ... `rule` is the rule's id."""

    def __init__(self, message: str, *, rule: str, path: str | None = None, line: int | None = None) -> None:
        super().__init__(f"{message} (rule: {rule})", path=path, line=line)
        self.rule = rule


class Unreachable(BadInput):
    """A node, host or engine that cannot be reached (unreachable node is bad input: fix the setup)."""


class ClusterError(HarnessError):
    """Provisioning or starting the system under test failed."""


class TimedOut(ClusterError):
    """Something awaited did not happen before its deadline (see `harness.control.retry_until`)."""


class SetupFailed(ClusterError):
    """A phase before the workload (provisioning, starting the system, awaiting it) failed, so the run has no
    history worth checking. `failures` holds, by node, what failed on each when the step ran on several."""

    def __init__(self, message: str, *, failures: dict[str, Exception] | None = None) -> None:
        super().__init__(message)
        self.failures = dict(failures or {})


class FaultError(HarnessError):
    """A fault could not be injected or healed."""


class Residue(HarnessError):
    """Something the harness created (rule, qdisc, paused process, namespace) is still in place."""


class CommandFailed(ClusterError):
    """A command on a node exited non-zero (or timed out, exit_code None) where success was required."""

    def __init__(self, node: str, argv: list[str], exit_code: int | None, stderr: str) -> None:
        what = "timed out" if exit_code is None else f"exited {exit_code}"
        tail = stderr.strip().splitlines()[-1] if stderr.strip() else ""
        super().__init__(f"on {node}: {' '.join(argv)} {what}" + (f": {tail}" if tail else ""))
        self.node = node
        self.argv = argv
        self.exit_code = exit_code
        self.stderr = stderr
