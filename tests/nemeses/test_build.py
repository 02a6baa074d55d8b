"""What the nemeses refuse before the run, through the real CLI (exit code 254, one line, no traceback), what
`combined` includes for a system, and that faults aim only at nodes that run the system (`harness.db.RunsOn`)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from harness.build import build_test
from harness.db import active_nodes
from harness.errors import BadInput, MissingAbility
from harness.options import RunOptions
from harness.plugins import Registry
from harness.test import Test as HTest
from harness.test import bare_test
from nemeses.targets import require_targets, select_nodes, targets_of
from tests.real_cluster import skip_reason

DEMO = ["--system", "memory", "--cluster", "inprocess", "--time-limit", "1"]
# The memory system on real namespaces: the nodes exist and take commands, but the store lives in the harness.
IDLE = ["--system", "memory", "--cluster", "local", "--time-limit", "1"]


@pytest.mark.parametrize(
    "args, message",
    [
        (DEMO + ["--nemesis", "kill"], "nemesis kill needs a system that is Killable; memory is not"),
        (DEMO + ["--nemesis", "pause"], "nemesis pause needs a system that is Pausable; memory is not"),
        (DEMO + ["--nemesis", "partition"], "nemesis partition needs nodes it can run commands on"),
        (DEMO + ["--nemesis", "swizzle-clog"], "nemesis swizzle-clog needs nodes it can run commands on"),
        (DEMO + ["--nemesis", "partition", "--nemesis-opt", "partition-grudge=sideways"], "unknown grudge 'sideways'"),
        (DEMO + ["--nemesis", "partition", "--nemesis-opt", "kill-targets=one"], "unknown option 'kill-targets'"),
        (DEMO + ["--nemesis", "partition", "--nemesis-opt", "schedule=/nonexistent.yaml"], "no such file"),
        (DEMO + ["--nemesis", "packet", "--nemesis-opt", "packet-loss=150"], "a percentage from 0 to 100"),
        (DEMO + ["--nemesis", "combined", "--nemesis-opt", "combined-faults=partition,nope"], "unknown fault family"),
        (["--system", "etcd", "--nemesis", "clock", "--time-limit", "1"], "etcd is a Go program"),
        (["--system", "etcd", "--nemesis", "membership", "--nodes", "2", "--time-limit", "1"], "at least three nodes"),
        (IDLE + ["--nemesis", "partition"], "nemesis partition needs at least 2 nodes running memory, but it runs on "
         "no node (n1, n2, n3 run nothing): the fault would test nothing"),
        (IDLE + ["--nemesis", "packet"], "nemesis packet needs at least 2 nodes running memory"),
        (IDLE + ["--nemesis", "swizzle-clog"], "nemesis swizzle-clog needs at least 2 nodes running memory"),
        (IDLE + ["--nemesis", "combined"], "nemesis combined: none of"),
    ],
)
def test_refused_before_the_run(args: list[str], message: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    if ("etcd" in args or "local" in args) and skip_reason("local"):
        pytest.skip(skip_reason("local"))
    p = subprocess.run([sys.executable, "-m", "harness", "run", *args, "--results", str(tmp_path)],
                       capture_output=True, text=True, timeout=120, check=False)
    assert p.returncode == 254, p.stdout + p.stderr
    assert message in p.stderr
    assert "Traceback" not in p.stderr and len(p.stderr.strip().splitlines()) == 1, p.stderr
    assert not list(tmp_path.iterdir())  # nothing was run


def test_combined_includes_what_the_system_can_take() -> None:
    if skip_reason("local"):
        pytest.skip(skip_reason("local"))
    test = build_test(RunOptions(system="etcd", nemeses=("combined",)), Registry())
    try:
        (pkg,) = test.packages
        assert pkg.label.startswith("combined(") and "partition" in pkg.label and "kill" in pkg.label
        assert "clock" not in pkg.label  # etcd cannot be skewed: left out of the default rotation
        assert {"start-partition", "kill", "pause"} <= pkg.nemesis.fs
    finally:
        test.ledger.close()
    with pytest.raises(MissingAbility, match="ClockSkewable"):
        build_test(RunOptions(system="etcd", nemeses=("combined",), nemesis_opts={"combined-faults": "clock"}),
                   Registry())


class PartlyIdle:
    """A stand-in DB (the subject is target selection, not a system) that runs on n2 and n4 of four nodes."""

    def setup(self, test: HTest, node: str) -> None:
        pass

    def teardown(self, test: HTest, node: str) -> None:
        pass

    def active_nodes(self, test: HTest) -> tuple[str, ...]:
        return ("n4", "n2")


def test_specs_choose_among_the_nodes_that_run_the_system() -> None:
    test = bare_test(options=RunOptions(node_names=("n1", "n2", "n3", "n4")), db=PartlyIdle())
    assert active_nodes(test) == ("n2", "n4")  # in the test's order
    assert select_nodes(test, "all") == ["n2", "n4"]
    assert select_nodes(test, "majority") == ["n2", "n4"]  # a majority of the two that run it
    assert all(select_nodes(test, "one")[0] in ("n2", "n4") for _ in range(20))
    assert targets_of(test, ["n4"]) == (["n4"], None)
    with pytest.raises(ValueError, match="n3 run"):
        targets_of(test, ["n2", "n3"])
    assert require_targets(test, "nemesis x", 2) == ("n2", "n4")
    with pytest.raises(BadInput, match=r"nemesis y needs at least 3 nodes running etcd, but it runs only on n2, n4 "
                                       r"\(n1, n3 run nothing\)"):
        require_targets(test, "nemesis y", 3)
    assert active_nodes(bare_test()) == ("n1", "n2", "n3")  # a DB without RunsOn runs on every node


class _StartFailsOn:
    """A Killable system whose start fails on the nodes given (as a node with a full disk would)."""

    def __init__(self, broken: set[str]) -> None:
        self.broken = broken
        self.running: set[str] = set()

    def kill(self, test: HTest, node: str) -> None:
        self.running.discard(node)

    def start(self, test: HTest, node: str) -> None:
        if node in self.broken:
            raise RuntimeError("no space left on device")
        self.running.add(node)


def test_a_start_that_fails_keeps_exactly_the_failed_nodes_killed() -> None:
    """The kill nemesis learns which nodes are still down from each node's own failure, not from its message."""
    from harness.op import Op
    from nemeses.process import KillNemesis

    db = _StartFailsOn({"n2"})
    test = bare_test(options=RunOptions(system="memory", node_names=("n1", "n2", "n3")), db=db)
    nemesis = KillNemesis()
    nemesis.invoke(test, Op(process="nemesis", type="invoke", f="kill", value=["n1", "n2"]))
    done = nemesis.invoke(test, Op(process="nemesis", type="invoke", f="start", value=None))
    assert nemesis.killed == {"n2"} and db.running == {"n1"}
    assert done.error == "n2: no space left on device"
    assert nemesis.residue(test) == ["n2: killed and not restarted"]
    with pytest.raises(Exception, match="could not restart killed nodes: n2: no space left on device"):
        nemesis.teardown(test)
