"""A built-in demo: the `memory` system and the `inprocess` cluster, for trying the harness and testing its
core without root, namespaces or containers.

The memory system is an in-process key-value store guarded by one lock, so it is linearizable by construction;
the option `bug=stale-reads` makes it serve an old value now and then (a planted bug, so that the checkers and
reports have something to find). It is not a system under test and tests of real systems never use it.
The inprocess cluster's nodes are names only: it gives no Remote, so no fault can be injected on it.
"""

from __future__ import annotations

import threading
from typing import Any, NoReturn

from harness.client import refused
from harness.cluster import ClusterSpec, Node
from harness.db import ability
from harness.errors import BadInput
from harness.op import Op
from harness.options import OptionSpec
from harness.test import Test


class InProcessCluster:
    provider = "inprocess"

    def __init__(self, spec: ClusterSpec) -> None:
        self.nodes = tuple(Node(name=n, host="127.0.0.1", workdir=f"/tmp/harness-inprocess/{n}") for n in spec.node_names)

    def setup(self) -> None:
        pass

    def teardown(self) -> None:
        pass

    def remote(self, node: str) -> NoReturn:
        # Its nodes are not machines: a command "on a node" would run on this host (an iptables rule of a
        # partition would cut the host itself). Faults cannot be injected here.
        raise BadInput(f"the inprocess cluster has no node {node} to run commands on; use --cluster local or docker")

    def access(self) -> str:
        return "inprocess nodes live inside the harness process; nothing to reach"


class InProcessProvider:
    name = "inprocess"
    option_specs: tuple[OptionSpec, ...] = ()

    def create(self, spec: ClusterSpec, ledger: object) -> InProcessCluster:
        return InProcessCluster(spec)


class MemoryDB:
    """The store itself; setup/teardown per node do nothing (there is one store for all nodes)."""

    def __init__(self, bug: str) -> None:
        self.lock = threading.Lock()
        self.data: dict[object, Any] = {}
        self.history: dict[object, list[object]] = {}
        self.bug = bug
        self.reads = 0

    def setup(self, test: Test, node: str) -> None:
        pass

    def teardown(self, test: Test, node: str) -> None:
        with self.lock:
            self.data.clear()

    def active_nodes(self, test: Test) -> tuple[str, ...]:
        """`RunsOn`: none. The store lives in the harness process, so a fault on any node would test nothing."""
        return ()


class MemoryClient:
    """Performs register, set and list-append ops on the MemoryDB, atomically. Vocabulary: register `read`
    (key, None), `write` (key, v), `cas` (key, (old, new)); set `add` element and `read` None (the whole set,
    sorted); list-append `txn` [[f, key, value], ...]."""

    def __init__(self, db: MemoryDB, node: str | None = None) -> None:
        self.db = db
        self.node = node

    def open(self, test: Test, node: str) -> MemoryClient:
        return MemoryClient(self.db, node)

    def setup(self, test: Test) -> None:
        pass

    def teardown(self, test: Test) -> None:
        pass

    def close(self, test: Test) -> None:
        pass

    def invoke(self, test: Test, op: Op) -> Op:
        db = self.db
        with db.lock:
            if op.f == "read" and op.value is None:  # the set workload reads the whole set
                return op.replace(type="ok", value=sorted(db.data.get("set", ())), node=self.node)
            if op.f == "read":
                key, _ = op.value
                db.reads += 1
                old = db.history.get(key, [None])
                if db.bug == "stale-reads" and len(old) > 1 and db.reads % 7 == 0:
                    return op.replace(type="ok", value=(key, old[-2]), node=self.node)
                return op.replace(type="ok", value=(key, db.data.get(key)), node=self.node)
            if op.f == "write":
                key, v = op.value
                db.data[key] = v
                db.history.setdefault(key, [None]).append(v)
                return op.replace(type="ok", node=self.node)
            if op.f == "cas":
                key, (old, new) = op.value
                if db.data.get(key) != old:
                    return op.replace(type="fail", node=self.node, error=refused("compare failed"))
                db.data[key] = new
                db.history.setdefault(key, [None]).append(new)
                return op.replace(type="ok", node=self.node)
            if op.f == "add":
                db.data.setdefault("set", set()).add(op.value)
                return op.replace(type="ok", node=self.node)
            if op.f == "txn":
                out = []
                for f, k, v in op.value:
                    lst = db.data.setdefault(("list", k), [])
                    if f == "append":
                        lst.append(v)
                        out.append([f, k, v])
                    else:
                        out.append([f, k, list(lst)])
                return op.replace(type="ok", value=out, node=self.node)
        return op.replace(type="fail", error=f"unknown op {op.f}", node=self.node)


class MemorySystem:
    name = "memory"
    workloads = frozenset({"register", "set", "list-append"})
    option_specs = (
        OptionSpec(name="bug", default="none", choices=("none", "stale-reads"), expectation=True,
                   help="plant a bug: stale-reads serves an old value on some reads"),
    )

    def db(self, test: Test) -> MemoryDB:
        return MemoryDB(test.system_opts["bug"])

    def client(self, test: Test) -> MemoryClient:
        return MemoryClient(ability(test, MemoryDB))

    def versions(self, test: Test) -> dict[str, object]:
        return {"memory": "built-in demo"}


SYSTEM = MemorySystem()
PROVIDER = InProcessProvider()
