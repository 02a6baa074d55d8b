"""Collecting node logs into the run directory: the runner passes `<run dir>/nodes` as `dest_dir`, and each
log lands in `<dest_dir>/<node>/<file name>`.

Owns `collect_logs`, which the runner calls in its `finally` phase (also after a failed run, and before the
cluster is torn down). It never raises: a node that cannot be reached or a log that does not exist is reported
in the returned `LogCollection.problems` and noted in `<dest_dir>/<node>/MISSING.txt`. Does not decide
which files matter: the system says so through `HasLogs.log_files`.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from harness.db import HasLogs

if TYPE_CHECKING:
    from harness.cluster import Cluster
    from harness.test import Test


@dataclass(frozen=True, kw_only=True)
class LogCollection:
    """What `collect_logs` copied (local paths) and what it could not (one line each)."""

    files: tuple[str, ...] = ()
    problems: tuple[str, ...] = field(default_factory=tuple)


def collect_logs(cluster: Cluster, db: Any, test: Test, dest_dir: str | os.PathLike[str]) -> LogCollection:
    """Copy every log file of `db` on every node of `cluster` into `<dest_dir>/<node>/`, in parallel."""
    if cluster is None or db is None or not isinstance(db, HasLogs):
        return LogCollection()
    root = os.fspath(dest_dir)

    def one(node: str) -> tuple[list[str], list[str]]:
        files: list[str] = []
        problems: list[str] = []
        out = os.path.join(root, node)
        os.makedirs(out, exist_ok=True)
        try:
            paths = list(db.log_files(test, node))
            remote = cluster.remote(node)
        except Exception as e:  # noqa: BLE001 - never fail the finally phase
            problems.append(f"{node}: cannot list logs: {e}")
            paths = []
        for path in paths:
            local = os.path.join(out, os.path.basename(path))
            try:
                remote.download(path, local)
                files.append(local)
            except Exception as e:  # noqa: BLE001
                problems.append(f"{node}: {path}: {type(e).__name__}: {e}")
        if problems:
            with open(os.path.join(out, "MISSING.txt"), "a", encoding="utf-8") as fh:
                fh.write("".join(p + "\n" for p in problems))
        return files, problems

    with ThreadPoolExecutor(max_workers=max(1, min(8, len(cluster.nodes)))) as ex:
        results = list(ex.map(one, [n.name for n in cluster.nodes]))
    return LogCollection(
        files=tuple(f for fs, _ in results for f in fs), problems=tuple(p for _, ps in results for p in ps)
    )
