"""The workloads without a cluster: their generators (vocabulary, options, key spread, determinism, retries)
through the deterministic simulator, and their checkers on histories from a sequential model: every such
history is valid (soundness, property-tested with Hypothesis), and a planted defect is caught."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness import generator as g
from harness.checker import Checker
from harness.errors import BadInput, UnknownPlugin
from harness.rng import GenRandom
from harness.op import History, Op
from harness.options import RunOptions, parse_opts
from harness.plugins import Registry
from harness.test import Test as HarnessTest
from harness.test import bare_test
from tests.workloads.model import BUGS, SequentialStore
from workloads._common import registered_checker
from workloads.register import RegisterWorkload

WORKLOADS = tuple(BUGS)
REGISTRY = Registry(builtins_only=True)


def make_test(workload: str, seed: int = 1, concurrency: int = 4, opts: dict[str, str] | None = None) -> HarnessTest:
    opts = opts or {}
    plugin = REGISTRY.get("workloads", workload)
    options = RunOptions(system="postgres", workload=workload, seed=seed, concurrency=concurrency,
                         workload_opts=opts)
    return bare_test(options=options, workload=plugin,
                     workload_opts=parse_opts(f"workload {workload}", plugin.option_specs, opts),
                     rng=GenRandom(seed))


def run_model(test: HarnessTest, n_ops: int, bug: bool = False, info_every: int = 0) -> History:
    """Simulate the workload's main phase (n_ops ops) then its final phase against the sequential store.
    With info_every=k, every k-th op's effect is applied but its completion is `info` (a lost answer)."""
    from workloads.bank import initial_balances

    workload = test.options.workload
    store = SequentialStore(workload, bug=bug,
                            balances=initial_balances(test) if workload == "bank" else None)
    count = [0]

    def complete(ctx: Any, inv: Op) -> Op:
        count[0] += 1
        t, value = store.apply(inv)
        if info_every and count[0] % info_every == 0 and inv.f != "read":
            t = "info"
            value = inv.value
        return inv.replace(type=t, value=value, time_ns=inv.time_ns + 10)

    plugin = test.workload
    gen = g.phases(g.clients(g.limit(n_ops, plugin.generator(test))),
                   g.clients(plugin.final_generator(test)))
    ops = [o for o in g.simulate(gen, test=test, complete=complete, max_ops=n_ops * 3) if isinstance(o, Op)]
    return History.indexed(ops)


def check(test: HarnessTest, history: History, tmp_path: Any) -> Any:
    checker: Checker = test.workload.checker(test)
    return checker.check(test, history, tmp_path)


# --- registry and vocabulary ----------------------------------------------------------------------------


@pytest.mark.parametrize("workload", WORKLOADS)
def test_every_workload_is_registered_and_judged_by_a_real_checker(workload: str) -> None:
    plugin = REGISTRY.get("workloads", workload)
    assert plugin.name == workload
    checker = plugin.checker(make_test(workload))
    parts = getattr(checker, "checkers", [checker])
    assert [c.name for c in parts][-1] == "stats"
    assert all(c.name in REGISTRY.names("checkers") for c in parts), parts


class _TypoWorkload(RegisterWorkload):
    """The register workload asking for a checker nobody registered."""

    def checker(self, test: HarnessTest) -> Checker:
        return registered_checker(test, "linearisable")


class _Provider:
    """A cluster provider that fails the test if the harness gets as far as asking it for a cluster."""

    name = "inprocess"
    option_specs = ()

    def create(self, spec: Any, ledger: Any) -> Any:
        raise AssertionError("a cluster was created for a test whose checker does not exist")


class _TypoRegistry(Registry):
    def get(self, kind: str, name: str) -> Any:
        if kind == "workloads":
            return _TypoWorkload()
        if kind == "clusters":
            return _Provider()
        return super().get(kind, name)


def test_a_checker_the_registry_lacks_is_bad_input_before_any_node(tmp_path: Any) -> None:
    from harness.build import build_test

    options = RunOptions(system="memory", cluster="inprocess", workload="register", results_dir=str(tmp_path))
    with pytest.raises(UnknownPlugin, match="workload register: unknown checker 'linearisable' .*known: .*linearizable"):
        build_test(options, _TypoRegistry(builtins_only=True))


VOCABULARY = {
    "list-append": {"txn"},
    "rw-register": {"txn"},
    "bank": {"transfer", "read"},
    "set": {"add", "read"},
    "counter": {"add", "read"},
    "unique-ids": {"generate"},
    "idempotent": {"request", "read"},
    "monotonic": {"write", "read"},
    "queue": {"enqueue", "dequeue"},
    "stream": {"append", "read"},
}


@pytest.mark.parametrize("workload", WORKLOADS)
def test_generators_speak_the_vocabulary_and_repeat_from_the_seed(workload: str) -> None:
    def ops_of(test: HarnessTest) -> list[Op]:
        return g.perfect(g.clients(g.limit(300, test.workload.generator(test))), test=test)

    ops = ops_of(make_test(workload))
    assert len(ops) == 300
    assert {o.f for o in ops} <= VOCABULARY[workload]
    again = ops_of(make_test(workload))
    assert [(o.f, o.value) for o in ops] == [(o.f, o.value) for o in again]
    other = ops_of(make_test(workload, seed=2))
    if workload not in ("set", "unique-ids"):  # these two draw nothing from the rng by default
        assert [(o.f, o.value) for o in ops] != [(o.f, o.value) for o in other]
    assert len({o.process for o in ops}) == 4, "ops are spread over every client"


@pytest.mark.parametrize("workload,write_f", [("list-append", "append"), ("rw-register", "w")])
def test_txns_use_unique_values_and_retire_keys(workload: str, write_f: str) -> None:
    test = make_test(workload, opts={"keys": "3", "max-writes-per-key": "5"})
    ops = g.perfect(g.clients(g.limit(400, test.workload.generator(test))))
    writes = [(k, v) for o in ops for f, k, v in o.value if f == write_f]
    reads = [m for o in ops for m in o.value if m[0] == "r"]
    assert writes and reads and all(m[2] is None for m in reads)
    assert len({v for _, v in writes}) == len(writes), "written values are unique"
    per_key = Counter(k for k, _ in writes)
    assert max(per_key.values()) <= 5 and len(per_key) > 3, per_key
    lengths = {len(o.value) for o in ops}
    assert lengths <= {1, 2, 3, 4} and len(lengths) > 1


def test_write_skew_shape_reads_two_keys_then_writes_one() -> None:
    test = make_test("list-append", opts={"shape": "write-skew", "keys": "4"})
    for o in g.perfect(g.clients(g.limit(100, test.workload.generator(test)))):
        (r1, a, _), (r2, b, _), (w, k, _) = o.value
        assert (r1, r2, w) == ("r", "r", "append") and a != b and k in (a, b)


@pytest.mark.parametrize(
    ("workload", "opts", "message"),
    [
        ("list-append", {"min-txn-length": "5", "max-txn-length": "2"}, "min-txn-length"),
        ("rw-register", {"keys": "0"}, "keys must be at least 1"),
        ("list-append", {"shape": "write-skew", "keys": "1"}, "write-skew needs keys >= 2"),
        ("bank", {"accounts": "1"}, "accounts must be at least 2"),
        ("counter", {"max-add": "0"}, "max-add must be at least 1"),
        ("monotonic", {"keys": "0"}, "keys must be at least 1"),
        ("idempotent", {"max-retries": "-1"}, "max-retries must be at least 0"),
        ("queue", {"drain-tries": "0"}, "drain-tries must be at least 1"),
        ("stream", {"read-limit": "0"}, "read-limit must be at least 1"),
    ],
)
def test_bad_options_are_bad_input(workload: str, opts: dict[str, str], message: str) -> None:
    with pytest.raises(BadInput, match=message):
        make_test(workload, opts=opts).workload.generator(make_test(workload, opts=opts))


def test_unknown_option_and_bad_model_are_bad_input() -> None:
    plugin = REGISTRY.get("workloads", "bank")
    with pytest.raises(BadInput, match="unknown option 'acounts'"):
        parse_opts("workload bank", plugin.option_specs, {"acounts": "3"})
    la = REGISTRY.get("workloads", "list-append")
    with pytest.raises(BadInput, match="consistency"):
        parse_opts("workload list-append", la.option_specs, {"consistency": "bogus"})


# --- idempotent: retries after indefinite outcomes ---------------------------------------------------------


def test_idempotent_retries_an_indefinite_request_with_the_same_key_and_payload(tmp_path: Any) -> None:
    test = make_test("idempotent", opts={"max-retries": "2", "read-ratio": "0"})
    history = run_model(test, 200, info_every=3)
    requests: dict[str, list[Op]] = {}
    for o in history:
        if o.type == "invoke" and o.f == "request":
            requests.setdefault(o.value["key"], []).append(o)
    retried = {k: v for k, v in requests.items() if len(v) > 1}
    assert retried, "no request was retried"
    for key, invs in retried.items():
        assert len(invs) <= 3, f"{key} sent {len(invs)} times with max-retries=2"
        assert all(i.value == invs[0].value for i in invs), "a retry changed the payload"
        assert len({i.process for i in invs}) == len(invs), "a retry ran on a retired process"
    verdict = check(test, history, tmp_path)
    assert verdict.valid is True, verdict.to_json()


# --- checkers: sound on sequential histories, and they catch planted bugs ----------------------------------


@pytest.mark.parametrize("workload", WORKLOADS)
@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**31), concurrency=st.integers(1, 6))
def test_sequential_histories_are_valid(tmp_path: Any, workload: str, seed: int, concurrency: int) -> None:
    test = make_test(workload, seed=seed, concurrency=concurrency)
    history = run_model(test, 150)
    verdict = check(test, history, tmp_path)
    assert verdict.valid is True, [f.diagnosis for f in verdict.all_findings()][:5]


@pytest.mark.parametrize("workload", WORKLOADS)
def test_a_planted_bug_is_caught(tmp_path: Any, workload: str) -> None:
    opts = {"consistency": "strict-serializable"} if workload in ("list-append", "rw-register") else {}
    if workload == "idempotent":
        opts = {"read-ratio": "0"}
    test = make_test(workload, seed=5, opts=opts)
    history = run_model(test, 300, bug=True, info_every=4 if workload == "idempotent" else 0)
    verdict = check(test, history, tmp_path)
    assert verdict.valid is False, f"{BUGS[workload]} went unnoticed: {verdict.summary}"
    invalid = {c.checker for c in verdict.children if c.valid is False}
    assert invalid == {JUDGE[workload]}, invalid


JUDGE = {"list-append": "elle", "rw-register": "elle", "bank": "bank", "set": "set", "counter": "counter",
         "unique-ids": "unique-ids", "idempotent": "idempotency", "monotonic": "monotonic",
         "queue": "total-queue", "stream": "stream"}
