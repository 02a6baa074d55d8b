"""Synthetic run directories, for report tests, the report benchmark and demos. Not a real run.

Owns `write_sample_run`: a register history simulated from a sequential model (each op takes effect at its
completion, so the history is linearizable by construction), worker threads with process renumbering after an
`info`, a partition-style fault during which ops on the cut-off node fail or time out, and the files a run
directory holds. With `anomaly=True` one read returns a stale value and the results describe that injected
anomaly (and an Elle-style G-single cycle, and one crashed checker), so reports have something to explain.
The verdicts and the fault evidence written here are fixture data describing what was injected, not the output
of a checker or of a probe.
Does not own any real checking, running or storing.
"""

from __future__ import annotations

import heapq
import json
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from harness.checker import FailureClass, Finding, Verdict, merge_validity
from harness.evidence import Evidence, Probe, with_evidence
from harness.op import HistoryWriter, Op

MS = 1_000_000


@dataclass(frozen=True, kw_only=True)
class SampleSpec:
    name: str = "etcd-register-partition"
    system: str = "etcd"
    version: str = "3.5.15"
    ops: int = 2000  # client operations (each an invoke and a completion)
    concurrency: int = 5
    nodes: tuple[str, ...] = ("n1", "n2", "n3")
    seed: int = 7
    faults: bool = True
    fault_every_s: float = 6.0
    fault_len_s: float = 3.0
    rate_per_worker: float = 40.0  # ops per second per worker, roughly
    anomaly: bool = False
    base_latency_ms: float = 4.0


def _simulate(spec: SampleSpec, rng: random.Random) -> tuple[list[Op], list[tuple[int, int]], tuple[Op, Op] | None]:
    """Client ops by event time; returns ops (unindexed), fault windows in ns, and with `anomaly` the completion
    that set the register last and the stale read that came after it."""
    horizon = spec.ops / (spec.concurrency * spec.rate_per_worker) * 1.3 + 1
    windows = []
    if spec.faults:
        t = spec.fault_every_s / 2
        while t + spec.fault_len_s < horizon:
            windows.append((int(t * 1e9), int((t + spec.fault_len_s) * 1e9)))
            t += spec.fault_every_s
    cut = spec.nodes[-1]

    def faulty(t: int) -> bool:
        return any(a <= t <= b for a, b in windows)

    # events: (time, seq, kind, worker); kind 0 = invoke, 1 = complete
    heap: list[tuple[int, int, int, int]] = []
    seq = 0
    for w in range(spec.concurrency):
        heapq.heappush(heap, (int(rng.uniform(0, 20) * MS), seq, 0, w))
        seq += 1
    process = list(range(spec.concurrency))
    pending: dict[int, tuple[Op, str]] = {}
    register = 0
    out: list[Op] = []
    invoked = 0
    stale_done = not spec.anomaly
    setter: Op | None = None
    injected: tuple[Op, Op] | None = None
    while heap:
        t, _, kind, w = heapq.heappop(heap)
        if kind == 0:
            if invoked >= spec.ops:
                continue
            invoked += 1
            node = spec.nodes[(process[w] + invoked) % len(spec.nodes)]
            r = rng.random()
            f, value = ("read", None) if r < 0.5 else ("write", rng.randrange(100)) if r < 0.85 else \
                ("cas", (rng.randrange(5), rng.randrange(100)))
            inv = Op(time_ns=t, type="invoke", process=process[w], f=f, value=value, node=node)
            out.append(inv)
            lat = int(rng.lognormvariate(0, 0.5) * spec.base_latency_ms * MS)
            if faulty(t) and node == cut:
                lat = int(rng.choice((0.2, 1000.0)) * MS) if rng.random() < 0.7 else lat * 20
            pending[w] = (inv, node)
            heapq.heappush(heap, (t + lat, seq, 1, w))
            seq += 1
        else:
            inv, node = pending.pop(w)
            lat_ms = (t - inv.time_ns) / MS
            if faulty(inv.time_ns) and node == cut and lat_ms >= 999:
                comp = inv.replace(time_ns=t, type="info", error="timeout")
            elif faulty(inv.time_ns) and node == cut and lat_ms < 1:
                comp = inv.replace(time_ns=t, type="fail", error="unavailable: no leader")
            elif inv.f == "read":
                val = register
                stale = (not stale_done and len(out) > spec.ops // 2 and register != 0 and setter is not None
                         and setter.time_ns < inv.time_ns)
                if stale:
                    val, stale_done = 0, True  # the injected anomaly: a stale read of the initial state
                comp = inv.replace(time_ns=t, type="ok", value=val)
                if stale and setter is not None:
                    injected = (setter, comp)
            elif inv.f == "write":
                register = inv.value
                comp = setter = inv.replace(time_ns=t, type="ok")
            else:
                old, new = inv.value
                if register == old:
                    register = new
                    comp = setter = inv.replace(time_ns=t, type="ok")
                else:
                    comp = inv.replace(time_ns=t, type="fail", error="cas mismatch")
            out.append(comp)
            if comp.type == "info":
                process[w] += spec.concurrency  # an info'd process is never reused
            heapq.heappush(heap, (t + int(rng.expovariate(spec.rate_per_worker) * 1e9), seq, 0, w))
            seq += 1
    return out, windows, injected


_SAMPLE_EVIDENCE = Evidence(probes=tuple(
    Probe(node=a, what="tcp connect", target=f"{b}:2379", expected="blocked", observed="timed out", effect=True)
    for a, b in (("n3", "n1"), ("n3", "n2"), ("n1", "n3"), ("n2", "n3"))
) + (Probe(node="n1", what="tcp connect", target="n2:2379", expected="open", observed="connected"),))


def _anomalous_verdicts(path: Path, ops: list[Op], position: dict[int, int],
                        injected: tuple[Op, Op] | None) -> list[Verdict]:
    """The invalid run's verdicts: a linearizability counterexample at the injected stale read (with its page),
    an Elle read skew and a crashed checker."""
    if injected is None:
        raise ValueError("the sample run is too short to inject a stale read; ask for more ops")
    last_w, bad = ops[position[id(injected[0])]], ops[position[id(injected[1])]]
    new_value = last_w.value if last_w.f == "write" else last_w.value[1]
    lin_dir = path / "checks" / "linearizable"
    lin_dir.mkdir(parents=True, exist_ok=True)
    (lin_dir / "linearizable.html").write_text(
        "<!doctype html><meta charset='utf-8'><title>counterexample</title><h1>Linearizability counterexample"
        f"</h1><p>read #{bad.index} returned 0 after {last_w.f} #{last_w.index} of r = {new_value} completed.</p>",
        encoding="utf-8")
    lin = Verdict(valid=False, checker="linearizable", summary="not linearizable: a read saw a stale value",
                  files=("linearizable.html",), findings=(Finding(
                      kind="stale-read", failure_class=FailureClass.STALE_READ,
                      diagnosis=f"read #{bad.index} returned 0, but {last_w.f} #{last_w.index} of r = {new_value} "
                                "had completed before the read began",
                      ops=(last_w.index, bad.index), scope="key r",
                      explanation=(f"{last_w.f} #{last_w.index} sets r = {new_value} and completes",
                                   f"read #{bad.index} begins after that and returns 0",
                                   "no write of 0 happened in between, so no order explains the read")),))
    t1, t2 = [o for o in ops if o.type == "ok" and o.f == "write"][:2]
    elle = Verdict(valid=False, checker="elle", summary="G-single: read skew", findings=(Finding(
        kind="G-single-item", failure_class=FailureClass.ISOLATION,
        diagnosis="read skew: each transaction read a state the other had already overwritten",
        ops=(t1.index, t2.index), scope="keys x, y",
        explanation=(f"T1 (#{t1.index}) -rw-> T2 (#{t2.index}): T1 read x before T2 wrote it",
                     f"T2 (#{t2.index}) -wr-> T1 (#{t1.index}): T1 read y as written by T2")),))
    crashed = Verdict(valid="unknown", checker="monotonic", summary="checker crashed: KeyError: 'r'",
                      findings=(Finding(kind="checker-crashed", failure_class=FailureClass.INCOMPLETE,
                                        diagnosis="the monotonic checker crashed; the verdict is unknown"),))
    return [lin, elle, crashed]


def write_sample_run(run_dir: str | Path, spec: SampleSpec = SampleSpec()) -> Path:
    """Write a complete synthetic run directory (test.json, history.jsonl, results.json, checker files, node
    logs, harness.log) and return its path."""
    rng = random.Random(spec.seed)
    path = Path(run_dir)
    path.mkdir(parents=True, exist_ok=True)
    client, windows, injected = _simulate(spec, rng)
    nem: list[Op] = []
    for a, b in windows:
        nem.append(Op(time_ns=a, type="invoke", process="nemesis", f="start-partition", value=None))
        nem.append(Op(time_ns=a + 2 * MS, type="info", process="nemesis", f="start-partition",
                      value=with_evidence({"n3": ["n1", "n2"]}, _SAMPLE_EVIDENCE)))
        nem.append(Op(time_ns=b, type="invoke", process="nemesis", f="stop-partition", value=None))
        nem.append(Op(time_ns=b + 3 * MS, type="info", process="nemesis", f="stop-partition", value="healed"))
    ordered = sorted(client + nem, key=lambda o: o.time_ns)
    position = {id(o): i for i, o in enumerate(ordered)}
    ops = [o.replace(index=i) for i, o in enumerate(ordered)]
    with HistoryWriter(path / "history.jsonl") as w:
        for o in ops:
            w.append(o)
    end_ns = ops[-1].time_ns if ops else 0
    started = datetime(2026, 11, 23, 10, 0, 0, tzinfo=UTC) + timedelta(minutes=spec.seed)
    run_id = started.strftime("%Y%m%dT%H%M%S")
    nemeses = ["partition"] if spec.faults else []
    options = {"system": spec.system, "workload": "register", "nemeses": nemeses, "cluster": "docker",
               "node_names": list(spec.nodes), "concurrency": spec.concurrency, "rate": 200.0,
               "time_limit": round(end_ns / 1e9), "seed": spec.seed, "op_timeout": 1.0}
    test = {"schema": 1, "name": spec.name, "run_id": run_id,
            "argv": ["harness", "run", "--system", spec.system, "--workload", "register",
                     "--nemesis", ",".join(nemeses) or "none", "--seed", str(spec.seed)],
            "options": options, "seed": spec.seed,
            "versions": {"harness": "0.1.0", "python": "3.11", spec.system: spec.version},
            "nodes": list(spec.nodes), "started": started.isoformat(),
            "packages": [{"name": "partition", "label": "partition n3 | n1 n2", "start_fs": ["start-partition"],
                          "stop_fs": ["stop-partition"]}] if spec.faults else []}
    (path / "test.json").write_text(json.dumps(test, indent=2), encoding="utf-8")

    children = [Verdict(valid=True, checker="stats", summary="every f had ok ops")]
    if spec.anomaly:
        children = [*_anomalous_verdicts(path, ops, position, injected), *children]
    else:
        lin_dir = path / "checks" / "linearizable"
        lin_dir.mkdir(parents=True, exist_ok=True)
        (lin_dir / "summary.txt").write_text("linearizable: 1 key, no counterexample\n", encoding="utf-8")
        children.insert(0, Verdict(valid=True, checker="linearizable", summary="linearizable (1 key)"))
    valid = merge_validity(*(c.valid for c in children))
    bad_names = [c.checker for c in children if c.valid is not True]
    verdict = Verdict(valid=valid, checker="compose", children=tuple(children),
                      summary="all checkers valid" if not bad_names else "not valid: " + ", ".join(bad_names))
    exit_code = 2 if valid == "unknown" else 0 if valid else 1
    results: dict[str, object] = {"schema": 1, "valid": valid, "exit_code": exit_code,
               "run": {"name": spec.name, "run_id": run_id, "system": spec.system, "workload": "register",
                       "nemeses": nemeses, "cluster": "docker", "seed": spec.seed, "started": started.isoformat(),
                       "ended": (started + timedelta(seconds=end_ns / 1e9)).isoformat(),
                       "duration_s": round(end_ns / 1e9, 3)},
               "verdict": verdict.to_json(), "errors": []}
    (path / "results.json").write_text(json.dumps(results, indent=2), encoding="utf-8")
    for n in spec.nodes:
        (path / "nodes" / n).mkdir(parents=True, exist_ok=True)
        (path / "nodes" / n / f"{spec.system}.log").write_text(f"{n}: started {spec.system} {spec.version}\n",
                                                               encoding="utf-8")
    (path / "harness.log").write_text("synthetic run written by harness.report.sample\n", encoding="utf-8")
    return path
