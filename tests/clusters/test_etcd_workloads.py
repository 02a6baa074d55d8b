"""Every workload on a real 3-node etcd (local namespaces): a short `harness run` per workload, valid without
faults, judged by its own checker and checked again here against the exact state the history implies; and the
etcd client's semantics op by op (atomic guarded txns, idempotent bank setup, at-most-once requests, unique
ids, monotonic versions, definite errors while only reading) against the same real cluster.

Without faults every op is ok or a definite fail, so the final reads must equal exactly what the ok ops did."""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from clusters.etcd import PLUGIN as ETCD
from clusters.etcd.client import EtcdClient
from clusters.etcd.gateway import Gateway
from harness.errors import BadInput
from harness.op import History, Op
from harness.report import frames
from harness.report.stats import OpCounts
from harness.test import Test as HarnessTest
from tests import rundirs
from tests.clusters.conftest import EtcdEnv, recheck
from tests.real_cluster import require, residue

pytestmark = [pytest.mark.cluster, pytest.mark.slow, pytest.mark.timeout(240)]

# The checker each workload's verdict must include (by its name), proving the workload was really judged.
MAIN_CHECKER = {
    "register": "linearizable", "set": "set", "list-append": "elle", "rw-register": "elle", "bank": "bank",
    "counter": "counter", "unique-ids": "unique-ids", "idempotent": "idempotency", "monotonic": "monotonic",
}


# ------------------------------------------------------------------------------------ whole runs
def harness_run(tmp_path: Path, workload: str, *args: str) -> tuple[subprocess.CompletedProcess[str], Path]:
    r = rundirs.harness_run(tmp_path, "--system", "etcd", "--cluster", "local", "--workload", workload,
                            "--time-limit", "5", "--seed", "5", *args, timeout=200)
    return r.process, r.dir


def last_ok(history: History, f: str) -> Any:
    oks = [o for o in history.client_ops() if o.type == "ok" and o.f == f]
    assert oks, f"no ok {f}"
    return oks[-1].value


def oks(history: History, f: str) -> list[Op]:
    return [o for o in history.client_ops() if o.type == "ok" and o.f == f]


def exact_state(workload: str, history: History) -> None:
    """What the final state must be, given that every op was ok or a definite fail."""
    if workload == "bank":
        final = last_ok(history, "read")
        assert sum(final.values()) == 100 and min(final.values()) >= 0 and len(final) == 5, final
        assert oks(history, "transfer"), "no transfer succeeded"
    elif workload == "counter":
        assert last_ok(history, "read") == sum(o.value for o in oks(history, "add"))
    elif workload == "unique-ids":
        ids = [o.value for o in oks(history, "generate")]
        assert sorted(ids) == list(range(1, len(ids) + 1)), "ids are 1..n: every ok increment, none twice"
    elif workload == "monotonic":
        by_key: dict[Any, list[int]] = {}
        for o in oks(history, "write"):
            by_key.setdefault(o.value[0], []).append(o.value[1])
        for k, versions in by_key.items():
            assert sorted(versions) == list(range(1, len(versions) + 1)), (k, versions)
        finals = {o.value[0]: o.value[1] for o in oks(history, "read")}  # the final phase reads every key last
        assert {k: max(v) for k, v in by_key.items()} == {k: v for k, v in finals.items() if k in by_key}
    elif workload == "idempotent":
        requests = oks(history, "request")
        assert last_ok(history, "read") == {o.value["key"]: 1 for o in requests}
        assert len({o.value["result"] for o in requests}) == len(requests), "one result (revision) per payment"
    elif workload == "set":
        assert last_ok(history, "read") == sorted(o.value for o in oks(history, "add"))
    elif workload == "register":
        # a healthy cluster answers every op: a refused compare-and-set is an answer, not unavailability
        counts = OpCounts.of(frames.ops_frame(history))
        refused = [o for o in history.client_ops() if o.type == "fail"]
        assert counts.refused == len(refused) > 0, "no cas was refused: this run shows nothing about the split"
        assert all(o.f == "cas" and o.error == "refused: cas-mismatch" for o in refused)
        assert counts.availability is not None and counts.availability >= 0.99, counts
    elif workload in ("list-append", "rw-register"):
        txns = oks(history, "txn")
        assert any(m[0] == "r" and m[2] not in (None, []) for o in txns for m in o.value), "no txn read a write"


@pytest.mark.parametrize("workload", sorted(MAIN_CHECKER))
def test_every_workload_is_valid_on_etcd_without_faults(tmp_path: Path, workload: str) -> None:
    require("local")
    p, run_dir = harness_run(tmp_path, workload)
    assert p.returncode == 0, f"exit {p.returncode}\n{p.stdout[-2000:]}\n{p.stderr[-2000:]}"
    results = rundirs.results_of(run_dir)
    try:
        assert results["valid"] is True and results["exit_code"] == 0 and results["errors"] == []
        assert results["run"]["system"] == "etcd" and results["run"]["workload"] == workload
        children = {c["checker"]: c for c in results["verdict"]["children"]}
        main = children[MAIN_CHECKER[workload]]
        assert main["valid"] is True, main["summary"]
        history = History.from_jsonl(run_dir / "history.jsonl")
        client = history.client_ops()
        assert len([o for o in client if o.type == "ok"]) >= 100
        assert not [o for o in client if o.type == "info"], "no faults, yet some op had an unknown outcome"
        assert {o.node for o in client.completions()} == {"n1", "n2", "n3"}, "every member served clients"
        exact_state(workload, history)
        again = recheck(run_dir, tmp_path / "recheck")  # `harness check` of the run's own history agrees
        assert again.returncode == 0 and again.stdout.endswith("\tvalid\n"), again.stderr
    finally:
        left = residue([results["run"]["run_id"]])
        assert not left, f"left behind: {left}"


def test_write_skew_is_refused_by_the_guards(tmp_path: Path) -> None:
    """Read two keys, write one, on a few hot keys: the pattern snapshot isolation lets through as G2-item. The
    guards on every key a txn read make etcd refuse the losers (definite conflicts), so Elle finds nothing.
    (With the guards removed, the same run is invalid: G2-item and lost updates, checked by hand.)"""
    require("local")
    p, run_dir = harness_run(tmp_path, "rw-register", "--seed", "3", "--concurrency", "8", "--rate", "250",
                             "--workload-opt", "shape=write-skew", "--workload-opt", "keys=4")
    assert p.returncode == 0, f"exit {p.returncode}\n{p.stdout[-2000:]}\n{p.stderr[-2000:]}"
    results = rundirs.results_of(run_dir)
    try:
        elle = {c["checker"]: c for c in results["verdict"]["children"]}["elle"]
        assert results["valid"] is True and elle["valid"] is True, elle["summary"]
        txns = list(History.from_jsonl(run_dir / "history.jsonl").client_ops().completions())
        conflicts = [o for o in txns if o.type == "fail"]
        assert conflicts and all(str(o.error).startswith("refused: conflict") for o in conflicts), "no race was refused"
        assert len([o for o in txns if o.type == "ok"]) >= 200
    finally:
        left = residue([results["run"]["run_id"]])
        assert not left, f"left behind: {left}"


def test_idempotent_retries_after_timeouts_apply_once(tmp_path: Path) -> None:
    """Members paused under load: requests time out (info), the workload retries them with the same key from
    other processes, and each payment is still applied exactly once (the marker txn makes retries safe)."""
    require("local")
    p, run_dir = harness_run(tmp_path, "idempotent", "--time-limit", "8", "--seed", "4", "--nemesis", "pause",
                             "--nemesis-interval", "2", "--op-timeout", "1")
    assert p.returncode == 0, f"exit {p.returncode}\n{p.stdout[-2000:]}\n{p.stderr[-2000:]}"
    results = rundirs.results_of(run_dir)
    try:
        assert results["valid"] is True and results["errors"] == []
        history = History.from_jsonl(run_dir / "history.jsonl")
        requests = [o for o in history.client_ops().completions() if o.f == "request"]
        timed_out = {o.value["key"] for o in requests if o.type == "info"}
        assert timed_out, "no request timed out: the pauses did not exercise the retry path"
        results_of: dict[str, set[Any]] = {}
        for o in requests:
            if o.type == "ok":
                results_of.setdefault(o.value["key"], set()).add(o.value["result"])
        retried_ok = [k for k in timed_out if k in results_of]
        assert retried_ok, "no timed-out request was retried to an ok"
        assert all(len(r) == 1 for r in results_of.values())
        final = last_ok(history, "read")
        assert all(final.get(k) == 1 for k in results_of), "an acknowledged payment is not applied exactly once"
        assert all(n == 1 for n in final.values()), "a payment applied twice"
    finally:
        left = residue([results["run"]["run_id"]])
        assert not left, f"left behind: {left}"


# ------------------------------------------------------------------------------ op by op, one cluster
# One local cluster for the op-level tests (the `etcd` fixture of conftest, local provider only).
local_etcd = pytest.mark.parametrize("etcd", ["local"], indirect=True)


class Worker:
    """One opened client of `test` on `node`, with its own process number and op counter."""

    def __init__(self, test: HarnessTest, node: str, process: int) -> None:
        self.test = test
        self.client = ETCD.client(test).open(test, node)
        self.process = process

    def __call__(self, f: str, value: Any = None) -> Op:
        return self.client.invoke(self.test, Op(type="invoke", process=self.process, f=f, value=value))

    def close(self) -> None:
        self.client.close(self.test)


def on_every_node(test: HarnessTest, rounds: int, body: Callable[[Worker, int], Op]) -> list[Op]:
    """`rounds` ops from one worker per node, concurrently; every completion."""
    done: list[Op] = []
    lock = threading.Lock()

    def run(node: str, j: int) -> None:
        w = Worker(test, node, j)
        try:
            for i in range(rounds):
                op = body(w, 1000 * (j + 1) + i)
                with lock:
                    done.append(op)
        finally:
            w.close()

    threads = [threading.Thread(target=run, args=(n, j)) for j, n in enumerate(test.nodes)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not [o for o in done if o.type == "info"], [o for o in done if o.type == "info"]
    return done


@local_etcd
def test_rw_register_txns_are_atomic_and_read_their_own_writes(etcd: EtcdEnv) -> None:
    test = etcd.with_workload("rw-register", txn_retries=0)
    w = Worker(test, test.nodes[0], 0)
    try:
        assert w("txn", [["r", 1, None], ["w", 1, 10], ["r", 1, None], ["w", 2, 20]]).value == [
            ["r", 1, None], ["w", 1, 10], ["r", 1, 10], ["w", 2, 20]]
        assert w("txn", [["r", 2, None], ["r", 1, None]]).value == [["r", 2, 20], ["r", 1, 10]]
    finally:
        w.close()
    # Read-modify-write of one hot key from every node, no retries: an ok txn read the value the previous ok txn
    # wrote, so no two ok txns read the same value (two would be a lost update) and the last write is final.
    done = on_every_node(test, 12, lambda w, v: w("txn", [["r", "hot", None], ["w", "hot", v]]))
    ok = [o for o in done if o.type == "ok"]
    assert ok and all(o.error.startswith("refused: conflict") for o in done if o.type == "fail")
    reads = [o.value[0][2] for o in ok]
    assert len(reads) == len(set(reads)), "two ok txns read the same version: a lost update"
    writes = {o.value[1][2] for o in ok}
    assert set(reads) - {None} <= writes, "a txn read a value no ok txn wrote"
    final = Worker(test, test.nodes[2], 9)("txn", [["r", "hot", None]]).value[0][2]
    assert final in writes and final not in reads, "the final value is the one write no ok txn read over"


@local_etcd
def test_bank_setup_is_idempotent_and_transfers_conserve_money(etcd: EtcdEnv) -> None:
    test = replace(etcd.with_workload("bank"), workload_opts={"accounts": 3, "total": 30})
    w = Worker(test, test.nodes[0], 0)
    try:
        w.client.setup(test)
        assert w("read").value == {0: 10, 1: 10, 2: 10}
        assert w("transfer", {"from": 0, "to": 1, "amount": 4}).type == "ok"
        w.client.setup(test)  # a second setup must not reset the balances
        assert w("read").value == {0: 6, 1: 14, 2: 10}
        broke = w("transfer", {"from": 0, "to": 2, "amount": 7})
        assert (broke.type, broke.error) == ("fail", "refused: insufficient funds")
        nobody = w("transfer", {"from": 0, "to": 9, "amount": 1})
        assert (nobody.type, nobody.error) == ("fail", "refused: no account 9")
    finally:
        w.close()
    done = on_every_node(test, 15, lambda w, i: w("transfer", {"from": i % 3, "to": (i + 1) % 3, "amount": 3})
                         if i % 4 else w("read"))
    for o in done:
        if o.type == "ok" and o.f == "read":
            assert sum(o.value.values()) == 30 and min(o.value.values()) >= 0, o
    assert any(o.type == "ok" and o.f == "transfer" for o in done)
    final = Worker(test, test.nodes[1], 9)("read").value
    assert sum(final.values()) == 30 and min(final.values()) >= 0


@local_etcd
def test_counter_unique_ids_and_monotonic_increments_are_not_lost(etcd: EtcdEnv) -> None:
    counter = etcd.with_workload("counter")
    done = on_every_node(counter, 15, lambda w, i: w("add", 1 + i % 3))
    before = Worker(counter, counter.nodes[0], 9)("read").value
    assert before == sum(o.value for o in done if o.type == "ok")
    # Member-local (possibly stale) reads feed the increments: the guard still refuses every stale one.
    local = etcd.with_workload("counter", reads="serializable")
    done = on_every_node(local, 15, lambda w, i: w("add", 1 + i % 3))
    assert any(o.type == "ok" for o in done)
    assert Worker(counter, counter.nodes[1], 9)("read").value == before + sum(o.value for o in done if o.type == "ok")

    ids = etcd.with_workload("unique-ids")
    got = [o.value for o in on_every_node(ids, 15, lambda w, i: w("generate")) if o.type == "ok"]
    assert sorted(got) == list(range(1, len(got) + 1))

    mono = etcd.with_workload("monotonic")
    w = Worker(mono, mono.nodes[0], 0)
    try:
        assert w("read", [7, None]).value == [7, 0]
        assert [w("write", [7, None]).value for _ in range(3)] == [[7, 1], [7, 2], [7, 3]]
        assert w("read", [7, None]).value == [7, 3]
    finally:
        w.close()
    versions = [o.value[1] for o in on_every_node(mono, 10, lambda w, i: w("write", [8, None])) if o.type == "ok"]
    assert sorted(versions) == list(range(1, len(versions) + 1))


@local_etcd
def test_idempotent_requests_apply_at_most_once(etcd: EtcdEnv) -> None:
    test = etcd.with_workload("idempotent")
    payment = {"key": "p1", "account": 2, "amount": 40}
    a, b = Worker(test, test.nodes[0], 0), Worker(test, test.nodes[1], 1)
    try:
        first = a("request", payment)
        assert first.type == "ok" and first.value["result"] > 0 and first.value["amount"] == 40
        retry = b("request", payment)  # a retry by another process, through another member
        assert retry.type == "ok" and retry.value == first.value
        assert b("read").value == {"p1": 1}
    finally:
        a.close()
        b.close()
    # The same fresh key from every node at once: one applies it, the others get its result.
    done = on_every_node(test, 5, lambda w, i: w("request", {"key": f"q{i % 1000}", "account": 0, "amount": 1}))
    by_key: dict[str, set[int]] = {}
    for o in done:
        assert o.type == "ok", o
        by_key.setdefault(o.value["key"], set()).add(o.value["result"])
    assert all(len(results) == 1 for results in by_key.values()), by_key
    assert Worker(test, test.nodes[2], 9)("read").value == {"p1": 1, **{k: 1 for k in by_key}}


@local_etcd
def test_errors_while_only_reading_are_definite(etcd: EtcdEnv) -> None:
    """A read-modify-write whose read times out (its member is paused) sent no write: fail, not info."""
    test, db = etcd.with_workload("counter"), etcd.db
    leader = db.primaries(test)[0]
    victim = next(n for n in test.nodes if n != leader)
    db.pause(test, victim)
    try:
        quick = replace(test, op_timeout=1.0)
        add = Worker(quick, victim, 0)("add", 1)
        assert add.type == "fail" and "before any write was sent" in str(add.error), add
        txn = Worker(replace(quick, options=replace(quick.options, workload="rw-register")), victim, 1)(
            "txn", [["r", 1, None], ["w", 1, 5]])
        assert txn.type == "fail" and "before any write was sent" in str(txn.error), txn
    finally:
        db.resume(test, victim)
    db.await_ready(test, 30)
    assert Worker(test, leader, 2)("read").value == 0


def test_ops_outside_a_vocabulary_are_bad_input() -> None:
    """No cluster needed: the op is refused before any request is sent."""
    gw = Gateway("127.0.0.1", 9, timeout=0.5)
    for workload, f, value in (("counter", "cas", 1), ("bank", "deposit", 1), ("unique-ids", "read", None),
                               ("rw-register", "txn", [["append", 1, 2]]), ("idempotent", "request", "p1")):
        client = EtcdClient(workload=workload, gateway=gw)
        with pytest.raises(BadInput, match=f"cannot perform f={f!r}|unknown rw-register micro-op"):
            client.invoke(None, Op(type="invoke", process=0, f=f, value=value))  # type: ignore[arg-type]
