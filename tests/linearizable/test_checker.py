"""The checker around the search: budgets give "unknown" (never a pass), parallel parts give the same
verdicts as sequential ones, the plugin parses its options, bad input is BadInput."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from checkers.linearizable import PLUGIN, LinearizableChecker, Model, find_model
from checkers.linearizable import checker as checker_module
from checkers.linearizable.search import search
from harness.checker import UNKNOWN, Checker, FailureClass, safe_check
from harness.errors import BadInput
from harness.formats import load_history
from harness.op import History, Op
from harness.options import parse_opts
from harness.plugins import Registry
from tests.corpora import PORCUPINE
from tests.linearizable.sim import REGISTER_ETCD, simulate


def _seq(*ops: tuple[int, str, str, object]) -> History:
    return History.indexed(Op(type=t, process=p, f=f, value=v) for p, t, f, v in ops)  # type: ignore[arg-type]


def hard_history() -> History:
    """A linearizable register history that takes the search ~64k configurations (40 clients, 200 ops, heavy
    overlap); no upstream file is that hard any more (etcd_002.log was, ~180k, before unknown ops went last)."""
    return simulate(REGISTER_ETCD, random.Random(8000), n_ops=200, processes=40, crash_rate=0.05, fail_rate=0.1)


def test_hard_history_is_hard_and_valid() -> None:
    v = LinearizableChecker(model="etcd", html=False).check(None, hard_history(), None)
    assert v.valid is True
    assert v.details["max_configurations"] > 20_000  # else the budget tests below prove little


def test_timeout_gives_unknown_with_cause(tmp_path: Path) -> None:
    v = LinearizableChecker(model="etcd", timeout=0.001).check(None, hard_history(), tmp_path)
    assert v.valid == UNKNOWN
    assert "time budget" in v.summary
    assert v.findings[0].failure_class is FailureClass.INCOMPLETE


def test_memory_cap_gives_unknown_with_cause(tmp_path: Path) -> None:
    v = LinearizableChecker(model="etcd", memory_limit_mb=0.001).check(None, hard_history(), tmp_path)
    assert v.valid == UNKNOWN
    assert "configurations" in v.summary


def test_illegal_part_beats_undecided_part() -> None:
    # A budget already spent does not hide an illegal part: small parts finish before the first budget check.
    ops = [(0, "invoke", "write", (1, 5)), (0, "ok", "write", (1, 5)),
           (0, "invoke", "read", (1, None)), (0, "ok", "read", (1, 6))]
    h = _seq(*ops)
    v = LinearizableChecker(model="etcd", independent=True, timeout=0.0, html=False).check(None, h, None)
    assert v.valid is False


def test_search_budget_outcomes_directly() -> None:
    model = find_model("cas-register")
    h = _seq(*[(p, "invoke", "write", p) for p in range(16)], *[(p, "info", "write", p) for p in range(16)],
             (99, "invoke", "read", None), (99, "ok", "read", 77))
    from checkers.linearizable.search import entries_of

    (entries,) = entries_of(h, model).values()
    assert search(model, None, entries).outcome == "illegal"
    assert search(model, None, entries, max_configs=10).outcome == "memory"
    assert search(model, None, entries, deadline=0.0).outcome == "timeout"


def test_parallel_parts_give_the_same_verdicts(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(checker_module, "PARALLEL_MIN_OPS", 0)
    monkeypatch.setattr(checker_module, "PARALLEL_AFTER_S", 0.0)
    calls = []
    real = checker_module.LinearizableChecker._run_parallel
    monkeypatch.setattr(checker_module.LinearizableChecker, "_run_parallel",
                        lambda self, *a: calls.append(1) or real(self, *a))
    for name, expected in (("c50-ok", True), ("c50-bad", False), ("c10-bad", False)):
        h = load_history(PORCUPINE / "kv" / f"{name}.txt")
        par = LinearizableChecker(model="kv", workers=2).check(None, h, tmp_path)
        seq = LinearizableChecker(model="kv", workers=1).check(None, h, tmp_path)
        assert par.valid is seq.valid is expected
        assert calls, "the parallel path was not taken"
        calls.clear()
        if not expected:
            # The smallest illegal part found is reported; both found an illegal part.
            assert par.details["counterexample"]["failure_class"] == "not linearizable"


def test_empty_and_nemesis_only_histories_are_valid() -> None:
    assert LinearizableChecker(html=False).check(None, History(), None).valid is True
    h = _seq(("nemesis", "info", "start-partition", None), ("nemesis", "info", "stop-partition", None))  # type: ignore[arg-type]
    v = LinearizableChecker(html=False).check(None, h, None)
    assert v.valid is True and v.details["ops"] == 0


def test_failed_ops_are_dropped_and_info_ops_optional() -> None:
    h = _seq((0, "invoke", "write", 1), (0, "fail", "write", 1),
             (1, "invoke", "write", 2), (1, "info", "write", 2),
             (2, "invoke", "read", None), (2, "ok", "read", None),
             (3, "invoke", "read", None), (3, "ok", "read", 2))
    assert LinearizableChecker(model="register", html=False).check(None, h, None).valid is True
    h2 = _seq((0, "invoke", "write", 1), (0, "fail", "write", 1), (2, "invoke", "read", None), (2, "ok", "read", 1))
    assert LinearizableChecker(model="register", html=False).check(None, h2, None).valid is False


def test_register_workload_values() -> None:
    """The harness's register workload: read (k, None) -> (k, v); write (k, v); cas (k, (old, new))."""
    h = _seq((0, "invoke", "write", (3, 1)), (0, "ok", "write", (3, 1)),
             (1, "invoke", "cas", (3, (1, 2))), (1, "ok", "cas", (3, (1, 2))),
             (2, "invoke", "cas", (3, (1, 4))), (2, "fail", "cas", (3, (1, 4))),
             (0, "invoke", "read", (3, None)), (0, "ok", "read", (3, 2)),
             (0, "invoke", "read", (4, None)), (0, "ok", "read", (4, None)))
    for model in ("cas-register", "etcd", "register"):
        v = LinearizableChecker(model=model, independent=True, html=False).check(None, h, None)
        assert v.valid is True, (model, v.summary)
        assert v.details["parts"] == 2
    stale = _seq(*[(0, t, f, v) for t, f, v in [("invoke", "write", (3, 1)), ("ok", "write", (3, 1)),
                                                  ("invoke", "read", (3, None)), ("ok", "read", (3, None))]])
    assert LinearizableChecker(model="etcd", independent=True, html=False).check(None, stale, None).valid is False
    # Knossos semantics: a nil read is unconstrained under cas-register.
    assert LinearizableChecker(model="cas-register", independent=True, html=False).check(None, stale,
                                                                                         None).valid is True


def test_plugin_contract(tmp_path: Path) -> None:
    plugin = Registry().get("checkers", "linearizable")
    assert plugin is PLUGIN and plugin.name == "linearizable"
    names = {s.name for s in plugin.option_specs}
    assert {"model", "timeout", "independent", "memory-limit", "init"} <= names
    opts = parse_opts("checker linearizable", plugin.option_specs,
                      {"model": "multi-register", "init": "{:x 0 :y 0}", "timeout": "5", "independent": "false"})
    c = plugin.make(opts)
    assert isinstance(c, Checker) and isinstance(c, LinearizableChecker)
    assert c.init == {"x": 0, "y": 0} and c.timeout == 5.0
    assert parse_opts("c", plugin.option_specs, {})["timeout"] == 60.0
    assert plugin.make(parse_opts("c", plugin.option_specs, {"timeout": "0"})).timeout is None


@pytest.mark.parametrize(("raw", "fragment"), [({"model": "nope"}, "bad value 'nope'"),
                                                ({"timeout": "soon"}, "timeout"),
                                                ({"timeout": "-1"}, "timeout"),
                                                ({"memory-limit": "0"}, "memory-limit"),
                                                ({"init": "{:x"}, "init"),
                                                ({"colour": "red"}, "unknown option")])
def test_plugin_bad_options(raw: dict[str, str], fragment: str) -> None:
    with pytest.raises(BadInput, match=fragment):
        PLUGIN.make(parse_opts("checker linearizable", PLUGIN.option_specs, raw))


def test_unknown_model_and_bad_ops_are_bad_input() -> None:
    with pytest.raises(BadInput, match="unknown linearizability model"):
        LinearizableChecker(model="nope").resolved_model()
    h = _seq((0, "invoke", "frobnicate", 1), (0, "ok", "frobnicate", 1))
    with pytest.raises(BadInput, match="frobnicate"):
        LinearizableChecker(model="cas-register", html=False).check(None, h, None)
    # Through safe_check (as the runner calls it) it becomes "unknown", never a pass.
    assert safe_check(LinearizableChecker(model="cas-register", html=False), None, h, ".").valid == UNKNOWN


def test_a_user_model_without_registration() -> None:
    """A model is a record of plain functions; a counter that only grows by its increments."""

    def step(state: int, input: tuple[str, int], output: object) -> tuple[bool, int]:
        f, v = input
        if f == "add":
            return True, state + v
        return output == state, state

    counter = Model(name="counter", init=lambda: 0, step=step)
    good = _seq((0, "invoke", "add", 2), (0, "ok", "add", 2), (1, "invoke", "read", None), (1, "ok", "read", 2))
    bad = _seq((0, "invoke", "add", 2), (0, "ok", "add", 2), (1, "invoke", "read", None), (1, "ok", "read", 3))
    assert LinearizableChecker(model=counter, html=False).check(None, good, None).valid is True
    assert LinearizableChecker(model=counter, html=False).check(None, bad, None).valid is False


def test_third_party_model_through_entry_point(monkeypatch: pytest.MonkeyPatch) -> None:
    """A model registered as `linearizable.<name>` in the harness.checkers group is found by name, listed
    among the model choices, and may be a factory taking the initial value."""
    from importlib import metadata

    from checkers.linearizable import models

    ep = metadata.EntryPoint(name="linearizable.my-register", value="checkers.linearizable.models:register",
                             group="harness.checkers")
    monkeypatch.setattr(models, "_entry_points", lambda: {"my-register": ep})
    assert "my-register" in models.model_names()
    m = find_model("my-register", 5)
    assert m.init() == 5
    h = _seq((0, "invoke", "read", None), (0, "ok", "read", 5))
    assert LinearizableChecker(model="my-register", init=5, html=False).check(None, h, None).valid is True
    broken = metadata.EntryPoint(name="linearizable.broken", value="no.such.module:X", group="harness.checkers")
    monkeypatch.setattr(models, "_entry_points", lambda: {"broken": broken})
    with pytest.raises(BadInput, match="fails to load"):
        find_model("broken")
