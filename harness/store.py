"""The store: one directory per run, `results/<test>/<timestamp>/`.

Owns the layout of a run directory and writing `test.json`, `results.json`, `harness.log` (through the
logging module), the `history.jsonl` path, `nodes/<node>/` and the `latest` links. Does not write the
history itself (the interpreter's HistoryWriter does, op by op) nor reports (harness.report).

    results/<test>/<timestamp>/
        test.json        argv, options, seed, versions, nodes, fault packages
        history.jsonl    appended and flushed per completed op
        harness.log      the run's log
        results.json     verdict (schema 1), run summary, errors
        checks/<checker>/  files checkers wrote
        nodes/<node>/      collected node logs
        minimal/           an invalid run's smallest failing history (harness.minimize)
        bundle/, bundle.tar.gz  an invalid run's bug-report bundle (harness.bundle)
        report.html, junit.xml
    results/<test>/latest -> <timestamp>,  results/latest -> <test>/<timestamp>

A run id is `<test>-<timestamp>-<random suffix>` (`new_run_id`) and the run directory is named by its last two
parts, so two runs of the same test started in the same millisecond never share a directory, a ledger or any
resource named after the run.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import os
import secrets
from typing import Any

SCHEMA = 1


def _jsonable(v: object) -> object:
    if dataclasses.is_dataclass(v) and not isinstance(v, type):
        return {f.name: _jsonable(getattr(v, f.name)) for f in dataclasses.fields(v)}
    if isinstance(v, dict) or hasattr(v, "items"):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple, set, frozenset)):
        return [_jsonable(x) for x in v]
    if isinstance(v, (str, int, float, bool)) or v is None:
        return v
    return str(v)


def write_json(path: str, obj: object) -> None:
    """Write JSON atomically (temp file + rename)."""
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(_jsonable(obj), fh, indent=2, sort_keys=False)
        fh.write("\n")
    os.replace(tmp, path)


def read_json(path: str) -> Any:
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def run_stamp(started: dt.datetime) -> str:
    """The timestamp that names a run directory (and ends its run id): 20261123T110942.660Z."""
    return started.strftime("%Y%m%dT%H%M%S.%f")[:-3] + "Z"


def new_run_id(test_name: str, started: dt.datetime) -> str:
    """A run id no other run has: the test name, the start time to the millisecond and 24 random bits."""
    return f"{test_name}-{run_stamp(started)}-{secrets.token_hex(3)}"


class Store:
    """The run directory of one run: `<results>/<test>/<timestamp>-<suffix>` for the run id
    `<test>-<timestamp>-<suffix>`. Creating it fails (FileExistsError) rather than share a directory."""

    def __init__(self, results_dir: str, test_name: str, *, run_id: str | None = None,
                 started: dt.datetime | None = None) -> None:
        self.started = started or dt.datetime.now(dt.timezone.utc)
        self.run_id = run_id or new_run_id(test_name, self.started)
        self.results_dir = os.path.abspath(results_dir)
        self.test_dir = os.path.join(self.results_dir, test_name)
        self.path = os.path.join(self.test_dir, self.run_id.removeprefix(f"{test_name}-"))
        os.makedirs(self.path, exist_ok=False)
        os.makedirs(self.checks_dir, exist_ok=True)
        self._log_handler: logging.Handler | None = None
        self._link_latest()

    # paths
    @property
    def history_path(self) -> str:
        return os.path.join(self.path, "history.jsonl")

    @property
    def test_json_path(self) -> str:
        return os.path.join(self.path, "test.json")

    @property
    def results_path(self) -> str:
        return os.path.join(self.path, "results.json")

    @property
    def log_path(self) -> str:
        return os.path.join(self.path, "harness.log")

    @property
    def checks_dir(self) -> str:
        return os.path.join(self.path, "checks")

    def node_dir(self, node: str) -> str:
        d = os.path.join(self.path, "nodes", node)
        os.makedirs(d, exist_ok=True)
        return d

    def _link_latest(self) -> None:
        for link, target in (
            (os.path.join(self.test_dir, "latest"), os.path.basename(self.path)),
            (os.path.join(self.results_dir, "latest"), os.path.relpath(self.path, self.results_dir)),
        ):
            tmp = link + ".tmp"
            try:
                if os.path.lexists(tmp):
                    os.unlink(tmp)
                os.symlink(target, tmp)
                os.replace(tmp, link)
            except OSError:
                pass  # a filesystem without symlinks: the links are a convenience only

    def write_test(self, info: dict[str, object]) -> None:
        write_json(self.test_json_path, {"schema": SCHEMA, **info})

    def write_results(self, results: dict[str, object]) -> None:
        write_json(self.results_path, {"schema": SCHEMA, **results})

    def start_log(self, logger: logging.Logger) -> None:
        h = logging.FileHandler(self.log_path, encoding="utf-8")
        h.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        h.setLevel(logging.DEBUG)
        logger.addHandler(h)
        self._log_handler = h

    def stop_log(self, logger: logging.Logger) -> None:
        if self._log_handler is not None:
            logger.removeHandler(self._log_handler)
            self._log_handler.close()
            self._log_handler = None
