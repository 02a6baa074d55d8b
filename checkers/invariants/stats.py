"""Stats checker: how many ops of each f completed ok, fail and info; unknown when some f never succeeded.

Owns `StatsChecker` and its plugin. Does not own any workload. Nemesis ops (process "nemesis") are counted
apart and never judged. Any client f counts; an f that was invoked but never completed ok is a finding, since
a test where (say) no read ever succeeded has tested nothing about reads. Unlike Jepsen's `checker/stats`, which
calls that invalid, the verdict is unknown: a run whose checkers could not judge has not shown the system wrong
(availability thresholds are the availability checker's to judge).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from harness.checker import FailureClass, Finding, Verdict
from harness.op import History

from ._common import CheckerPlugin, Findings, max_findings_spec, verdict

if TYPE_CHECKING:
    from harness.test import Test

_TYPES = ("ok", "fail", "info")


@dataclass(frozen=True)
class StatsChecker:
    """Counts by f and completion type; an f without a single ok completion makes the verdict unknown."""

    max_findings: int = 10
    name: str = "stats"

    def check(self, test: Test | None, history: History, out_dir: str | os.PathLike[str]) -> Verdict:
        client: dict[str, dict[str, int]] = {}
        nemesis: dict[str, dict[str, int]] = {}
        first: dict[str, int] = {}
        for op in history.ops:
            table = client if isinstance(op.process, int) else nemesis
            row = table.get(op.f)
            if row is None:
                row = table[op.f] = {"invoke": 0, "ok": 0, "fail": 0, "info": 0}
                first[op.f] = op.index
            row[op.type] += 1
        for row in (*client.values(), *nemesis.values()):
            row["count"] = row["ok"] + row["fail"] + row["info"]
            row["unfinished"] = max(0, row["invoke"] - row["count"])
        findings = Findings(self.max_findings)
        for f, row in sorted(client.items()):
            if row["ok"] == 0:
                parts = ", ".join(f"{row[t]} {t}" for t in _TYPES if row[t])
                tried = row["count"] + row["unfinished"]
                findings.note("never-succeeded", lambda f=f, parts=parts, tried=tried: Finding(
                    kind="never-succeeded",
                    failure_class=FailureClass.INCOMPLETE,
                    diagnosis=(f"untested: no {f} ever succeeded (0 ok of {tried}"
                               + (f": {parts}" if parts else ", none completed") + "), so nothing about it "
                               "could be judged"),
                    ops=(first[f],),
                    scope=f"f {f}",
                ))
        total = {t: sum(r[t] for r in client.values()) for t in (*_TYPES, "count")}
        details = {"by_f": client, "nemesis_by_f": nemesis, "total": total}
        return verdict(self.name, findings, details,
                       ok_summary=f"{total['ok']} of {total['count']} client ops ok; every f succeeded")


PLUGIN = CheckerPlugin(
    name="stats",
    option_specs=(max_findings_spec(),),
    build=lambda o: StatsChecker(max_findings=o["max_findings"]),
    help="counts by f and type; unknown when some f never succeeded (nothing about it could be judged)",
)
