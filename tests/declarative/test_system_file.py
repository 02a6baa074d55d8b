"""Bad system files: each gives one line `FILE:LINE: key: problem` (BadInput, exit 254) before any node exists;
good ones load into the typed spec with the abilities they declare and nothing more."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from clusters.declarative import load_system
from clusters.declarative.client import outcome
from clusters.declarative.db import DeclarativeDB
from clusters.declarative.protocol import Answer
from harness.db import ChangesMembership, HasDataDir, HasPrimaries, Killable, Pausable
from harness.errors import BadInput
from nemeses.disk import HasDataFiles
from tests.rundirs import harness_run

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "systems"

GOOD = """\
name: kv
nodes:
  port: 8080
  start: kvd --listen {ip}:{port} --data {data_dir}
client:
  protocol: http
  ops:
    read: {method: GET, path: "/kv/{key}", ok: [200], absent: [404], value: /value}
    write: {method: PUT, path: "/kv/{key}", body: '{"value": {value}}', ok: [200]}
    cas: {method: POST, path: "/cas/{key}", body: '{"old": {old}, "new": {new}}', ok: [200], refused: [409]}
"""

SQL = """\
name: db
nodes:
  port: 5432
  start: dbd --listen {ip}:{port}
client:
  protocol: postgres
  setup: ["CREATE TABLE IF NOT EXISTS reg (k int PRIMARY KEY, v int)"]
  ops:
    read: {sql: "SELECT v FROM reg WHERE k = {key}"}
    write: {sql: "UPDATE reg SET v = {value} WHERE k = {key}"}
    cas: {sql: "UPDATE reg SET v = {new} WHERE k = {key} AND v = {old}", refused_when: no-rows}
"""

ETCD = """\
name: kv3
nodes:
  port: 2379
  start: etcd --name {node}
client:
  protocol: etcd
"""

BAD = [  # (what is wrong, the file, the line named, words of the message)
    ("missing start", GOOD.replace("  start: kvd --listen {ip}:{port} --data {data_dir}\n", ""), 2, "nodes: missing start"),
    ("unknown placeholder", GOOD.replace("{data_dir}", "{datadir}"), 4, "unknown placeholder {datadir}"),
    ("unknown placeholder in an op", GOOD.replace('"/cas/{key}"', '"/cas/{id}"'), 10, "unknown placeholder {id}"),
    ("unknown protocol", GOOD.replace("protocol: http", "protocol: grpc"), 6, "'grpc' is not one of http, redis, postgres, mysql, etcd"),
    ("op without status mapping", GOOD.replace("ok: [200], absent", "absent"), 8, "client.ops.read: missing ok"),
    ("wrong type", GOOD.replace("port: 8080", "port: eighty"), 3, "nodes.port: 'eighty' is not of type 'integer'"),
    ("unknown key", GOOD.replace("name: kv", "name: kv\nversion: 3"), 1, "Additional properties are not allowed"),
    ("unknown op", GOOD + "    delete: {method: DELETE, path: /kv, ok: [200]}\n", 11, "unknown op 'delete'"),
    ("no workload", GOOD.replace("    cas:", "    #cas:"), 7, "the ops serve no workload (register needs cas, read, write; set needs set.add"),
    ("port undeclared", GOOD.replace("  port: 8080\n", ""), 3, "nodes.start: uses {port} but nodes.port is not declared"),
    ("absent on a write", GOOD.replace("body: '{\"value\": {value}}',", "body: x, absent: [404],"), 9,
     "only a read can find its key absent"),
    ("secret on a command line", GOOD.replace("--data {data_dir}", "--password {secret}"), 4,
     "{secret} here would show on a command line"),
    ("secret in an HTTP path", GOOD.replace('"/kv/{key}", ok', '"/kv/{key}?pw={secret}", ok'), 8,
     "{secret} here would show"),
    ("hello on HTTP", GOOD.replace("  protocol: http", "  protocol: http\n  hello: [AUTH, x]"), 7,
     "hello is for the redis protocol, not http"),
    ("sql op without sql", SQL.replace('{sql: "SELECT v FROM reg WHERE k = {key}"}', "{query: x}"), 9,
     "client.ops.read: missing sql"),
    ("unknown placeholder in sql", SQL.replace("WHERE k = {key}\"}", "WHERE k = {value}\"}"), 9,
     "unknown placeholder {value}"),
    ("refused_when on a read", SQL.replace('k = {key}"}', 'k = {key}", refused_when: no-rows}'), 9,
     "a read is never refused"),
    ("refused_when of another kind", SQL.replace("refused_when: no-rows", "refused_when: zero"), 11,
     "client.ops.cas.refused_when"),
    ("sql op on http", GOOD.replace("value: /value}", "value: /value, sql: x}"), 8, "client.ops.read"),
    ("user on http", GOOD.replace("  protocol: http", "  protocol: http\n  user: admin"), 7,
     "user is for the mysql/postgres protocol, not http"),
    ("list op on http", GOOD + "    list-append.read: {method: GET, path: /l, ok: [200]}\n", 11,
     "the http protocol serves register, set, counter: op 'list-append.read' is for another workload"),
    ("ops on etcd", ETCD + "  ops: {read: {method: GET, path: /, ok: [200]}}\n", 7, "the etcd protocol has its ops built in"),
    ("reads on postgres", SQL.replace("  protocol: postgres", "  protocol: postgres\n  reads: serializable"), 7,
     "reads is for the etcd protocol, not postgres"),
    ("no ops on sql", SQL.split("  ops:")[0], 5, "client: missing ops"),
    ("isolation of another name", SQL.replace("  protocol: postgres", "  protocol: postgres\n  isolation: snapshot"),
     7, "'snapshot' is not one of read-committed"),
    ("membership without members", GOOD.replace("  port: 8080\n", "  port: 8080\n  membership: {leave: a, join: b}\n"),
     4, "nodes.membership: missing members"),
    ("unknown placeholder in membership", GOOD.replace(
        "  port: 8080\n", "  port: 8080\n  membership: {leave: 'kvctl rm {member}', join: b, members: c}\n"), 4,
     "unknown placeholder {member}"),
    ("dockerfile not there", GOOD.replace("  port: 8080\n", "  port: 8080\n  dockerfile: nope.Dockerfile\n"), 4,
     "nodes.dockerfile: no such file"),
    ("dockerfile and image", GOOD.replace("  port: 8080\n", "  port: 8080\n  image: etcd\n  dockerfile: x\n"), 5,
     "give image (a plugin's node image) or dockerfile, not both"),
    ("not YAML", GOOD.replace("name: kv", "name: [kv"), 2, "not YAML"),
    ("not a mapping", "- a\n- b\n", 1, "a system file is a mapping"),
]


@pytest.mark.parametrize("why,text,line,words", BAD, ids=[b[0] for b in BAD])
def test_a_bad_file_is_one_line_naming_file_and_line(tmp_path: Path, why: str, text: str, line: int, words: str) -> None:
    path = tmp_path / "sys.yaml"
    path.write_text(text)
    with pytest.raises(BadInput) as e:
        load_system(str(path))
    msg = str(e.value)
    assert "\n" not in msg
    assert msg.startswith(f"{path}:{line}: "), msg
    assert words in msg, msg


@pytest.mark.parametrize("text,where", [(GOOD.replace("protocol: http", "protocol: grpc"), ":6: client.protocol"),
                                        (SQL.replace("refused_when: no-rows", "refused_when: 0"),
                                         ":11: client.ops.cas.refused_when")])
def test_cli_rejects_a_bad_file_with_254_before_any_node(tmp_path: Path, text: str, where: str) -> None:
    path, err = _bad_run(tmp_path, text, "--cluster", "local")
    assert f"{path}{where}" in err
    assert not list((tmp_path / "results").rglob("test.json")), "a run directory was made for a bad file"


def test_system_and_system_file_together_is_bad_input(tmp_path: Path) -> None:
    _path, err = _bad_run(tmp_path, GOOD, "--system", "etcd", "--cluster", "inprocess")
    assert "--system and --system-file" in err, err


def test_undeclared_conf_key_is_bad_input(tmp_path: Path) -> None:
    _path, err = _bad_run(tmp_path, GOOD, "--cluster", "inprocess", "--system-opt", "conf.fsync=always")
    assert "conf.fsync" in err and "declares no such setting" in err, err


def _bad_run(tmp_path: Path, text: str, *args: str) -> tuple[Path, str]:
    """`harness run --system-file` of a file holding `text`, which must end in one line of bad input (exit 254,
    no traceback): the file's path and the run's stderr."""
    path = tmp_path / "sys.yaml"
    path.write_text(text)
    p = harness_run(tmp_path / "results", "--system-file", str(path), *args, timeout=60).process
    assert p.returncode == 254, p.stderr
    assert p.stderr.strip().count("\n") == 0 and "Traceback" not in p.stderr, p.stderr
    return path, p.stderr


def test_abilities_follow_what_the_file_declares(tmp_path: Path) -> None:
    plain = tmp_path / "plain.yaml"
    plain.write_text(GOOD)
    db = load_system(str(plain)).db(_bare())
    assert isinstance(db, DeclarativeDB) and isinstance(db, Killable) and isinstance(db, Pausable)
    assert isinstance(db, HasDataDir)
    assert not isinstance(db, HasPrimaries) and not isinstance(db, HasDataFiles)
    assert not isinstance(db, ChangesMembership)
    full = load_system(str(EXAMPLES / "etcd-http.yaml")).db(_bare())
    assert isinstance(full, HasPrimaries) and isinstance(full, HasDataFiles)
    members = load_system(str(EXAMPLES / "etcd.yaml")).db(_bare())
    assert isinstance(members, ChangesMembership) and isinstance(members, HasDataFiles)
    assert not isinstance(members, HasPrimaries) and isinstance(members, Killable)


def test_dockerfile_is_found_beside_the_file() -> None:
    system = load_system(str(EXAMPLES / "postgres.yaml"))
    assert system.node_dockerfile == str(EXAMPLES / "postgres.Dockerfile")
    assert system.node_image is None


def test_every_example_loads() -> None:
    systems = {s.name: s for s in (load_system(str(p)) for p in EXAMPLES.glob("*.yaml"))}
    assert {"etcd-http", "redis-standalone", "postgres-sql", "mariadb-sql", "etcd-v3"} <= set(systems)
    for sql in ("postgres-sql", "mariadb-sql"):
        assert systems[sql].workloads == {"register", "set", "counter", "list-append"}, sql
    assert {"register", "set", "list-append", "bank"} <= systems["etcd-v3"].workloads


def test_sql_placeholders_become_bound_parameters() -> None:
    from clusters.declarative.sql import bind

    query, params = bind("SELECT v FROM t WHERE k = {key} AND s LIKE 'a%' AND c = {conf.x} OR k = {key}",
                         {"key": 3, "conf.x": "y'; DROP TABLE t; --"})
    assert query == "SELECT v FROM t WHERE k = %(p0)s AND s LIKE 'a%%' AND c = %(p1)s OR k = %(p2)s"
    assert params == {"p0": 3, "p1": "y'; DROP TABLE t; --", "p2": 3}


def test_sql_rows_become_workload_values() -> None:
    from clusters.declarative.sql import _column, _scalar

    assert _scalar([]) is None and _scalar([("7",)]) == 7 and _scalar([(7, "x")]) == 7
    assert _column([(1,), (2,)]) == [1, 2]
    assert _column([([1, 2, 3],)]) == [1, 2, 3]  # a Postgres array
    assert _column([("1,2,3",)]) == [1, 2, 3]  # a MySQL text list
    assert _column([(None,)]) == []


def test_outcome_table() -> None:
    sys_ = load_system(str(EXAMPLES / "etcd-http.yaml"))
    ops = sys_.spec.client.ops
    assert outcome(ops["read"], Answer(code=200, value="3")) == ("ok", 3, None)
    assert outcome(ops["read"], Answer(code=404)) == ("ok", None, None)
    assert outcome(ops["read"], Answer(code=500))[0] == "fail"  # a read changes nothing
    assert outcome(ops["write"], Answer(code=500))[0] == "info"  # a write may have happened
    assert outcome(ops["write"], Answer(code=201))[0] == "ok"
    kind, _, error = outcome(ops["cas"], Answer(code=412))
    assert kind == "fail" and error is not None and error.startswith("refused: ")
    redis = load_system(str(EXAMPLES / "redis.yaml")).spec.client.ops
    assert outcome(redis["read"], Answer(code=None, value=None)) == ("ok", None, None)
    assert outcome(redis["cas"], Answer(code=None, error="LOADING Redis is loading"))[0] == "fail"
    assert outcome(redis["cas"], Answer(code=None, error="ERR something"))[0] == "info"
    assert outcome(redis["cas"], Answer(code=0))[2] == "refused: cas answered 0"


def _bare():  # type: ignore[no-untyped-def]
    from harness.options import RunOptions
    from harness.test import bare_test

    return bare_test(options=RunOptions(), system_opts={})


def test_plugins_lists_what_each_protocol_serves() -> None:
    import json

    from clusters.declarative.spec import PROTOCOLS

    schema = json.loads((Path(__file__).resolve().parents[2] / "clusters/declarative/system.schema.json").read_text())
    assert list(PROTOCOLS) == schema["properties"]["client"]["properties"]["protocol"]["enum"]
    p = subprocess.run([sys.executable, "-m", "harness", "plugins"], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    for proto in ("http", "redis"):
        assert (f"--system-file protocol {proto}: workloads register (cas/read/write), set (set.add/set.read), "
                "counter (counter.add/counter.read)\n") in p.stdout
    for sql in ("postgres", "mysql"):
        assert (f"--system-file protocol {sql}: workloads register (cas/read/write), set (set.add/set.read), "
                "counter (counter.add/counter.read), list-append (list-append.append/list-append.read)") in p.stdout
    assert "--system-file protocol etcd: workloads bank, counter, " in p.stdout
