"""A newcomer's service: JSON over HTTP with compare-and-set, described by a 12-line system file and tested with
no Python of its own. The service is the stand-in server `harness new system` generates (a durable key-value
store, standard library only); the run kills it with -9 and must end valid, with JSON bodies built from the
file's templates, values read by JSON pointer, 404 as an absent key and 409 as a refused cas."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from harness.scaffold import Names, files_of
from tests.real_cluster import residue
from tests.rundirs import only_run

pytestmark = [pytest.mark.cluster, pytest.mark.slow, pytest.mark.timeout(300)]

SYSTEM = """\
name: json-kv
nodes:
  port: 8080
  start: /usr/bin/python3 {server} --ip {{ip}} --port {{port}} --data {{data_dir}}
client:
  protocol: http
  ops:
    read: {{method: GET, path: "/kv/{{key}}", ok: [200], absent: [404], value: /value}}
    write: {{method: PUT, path: "/kv/{{key}}", body: '{{"value": {{value}}}}', ok: [200]}}
    cas: {{method: POST, path: "/cas/{{key}}", body: '{{"old": {{old}}, "new": {{new}}}}', ok: [200], refused: [409]}}
"""


def test_json_kv_service_from_a_system_file_under_kill() -> None:
    if os.geteuid() != 0 or shutil.which("ip") is None or not os.path.exists("/usr/bin/python3"):
        pytest.skip("needs root, iproute2 and /usr/bin/python3 (a local cluster)")
    with tempfile.TemporaryDirectory(prefix="json-kv-") as d:
        server = Path(d) / "server.py"
        server.write_text(files_of(Names.of("kv"))["harness_kv/server.py"])
        system = Path(d) / "json-kv.yaml"
        system.write_text(SYSTEM.format(server=server))
        assert len(system.read_text().splitlines()) < 40
        p = subprocess.run([sys.executable, "-m", "harness", "run", "--system-file", str(system), "--nodes", "1",
                            "--cluster", "local", "--nemesis", "kill", "--nemesis-opt", "kill-targets=one",
                            "--time-limit", "10", "--seed", "3", "--results", f"{d}/results"],
                           capture_output=True, text=True, timeout=280)
        assert p.returncode == 0 and p.stdout.strip().endswith("valid"), p.stderr[-3000:]
        run = only_run(Path(d, "results"))
        ops = [json.loads(x) for x in (run / "history.jsonl").read_text().splitlines()]
        client = [o for o in ops if o["process"] != "nemesis"]
        assert any(o["type"] == "ok" and o["f"] == "cas" for o in client)
        assert any(o["type"] == "fail" and o["f"] == "cas" and o.get("error") == "refused: cas answered 409"
                   for o in client)
        reads = [o for o in client if o["type"] == "ok" and o["f"] == "read"]
        assert any(o["value"]["~tuple"][1] is None for o in reads) and any(
            isinstance(o["value"]["~tuple"][1], int) for o in reads), reads[:5]
        assert any(o["f"] == "kill" and o["type"] == "info" and o["value"]["nodes"] for o in ops)
        left = residue([json.loads((run / "test.json").read_text())["run_id"]])
        assert not left, left
