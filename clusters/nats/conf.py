"""The nats-server configuration file of a node, and its check before the server starts.

Owns `server_conf` (the text of a node's file) and `check_conf` (let nats-server parse the file and exit: BadInput
for the user's `conf.KEY=VALUE` or `sync=` when this server refuses them, ClusterError for our own lines). Does
not start anything (see `clusters.nats.db`).

What every node gets:
- `server_name` = the node's name (JetStream names the stream leader by it), clients on the node's cluster
  address only (port 4222), user `harness` with the run's password; no monitoring port.
- JetStream with its store in `<workdir>/data`; `sync_interval` only when `sync=` is given (nats-server 2.10
  has it; 2.9, Debian 12's, refuses the field, and `check_conf` says so).
- Routes on the cluster address (port 6222) to every other node, user `route` with the run's password.
The user's conf.KEY=VALUE lines come last, verbatim as `KEY: VALUE` (later keys win in nats-server's format).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from harness.control import Remote
from harness.errors import BadInput, ClusterError

CLIENT_PORT = 4222
ROUTE_PORT = 6222
CLIENT_USER = "harness"
ROUTE_USER = "route"
CLUSTER_NAME = "harness"
_UNKNOWN_FIELD = re.compile(r'unknown field "([^"]+)"')


def _q(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def server_conf(*, name: str, host: str, store_dir: str, password: str, peers: Sequence[str], sync: str | None,
                user_conf: Mapping[str, str]) -> str:
    """nats-server's configuration of one node; `peers` are the other nodes' addresses (for the routes)."""
    jetstream = [f"  store_dir: {_q(store_dir)}", "  max_memory_store: 64MB", "  max_file_store: 1GB"]
    if sync is not None:
        jetstream.append(f"  sync_interval: {_q(sync)}")
    routes = [f"    {_q(f'nats-route://{ROUTE_USER}:{password}@{p}:{ROUTE_PORT}')}" for p in peers]
    lines = [
        "# written by the harness for one run: the cluster address only, the run's password",
        f"server_name: {_q(name)}",
        f"listen: {_q(f'{host}:{CLIENT_PORT}')}",
        f"authorization {{ user: {_q(CLIENT_USER)}, password: {_q(password)} }}",
        "jetstream {", *jetstream, "}",
        "cluster {",
        f"  name: {_q(CLUSTER_NAME)}",
        f"  listen: {_q(f'{host}:{ROUTE_PORT}')}",
        f"  authorization {{ user: {_q(ROUTE_USER)}, password: {_q(password)} }}",
        "  routes: [", *routes, "  ]",
        "}",
    ]
    lines += [f"{k}: {v}" for k, v in sorted(user_conf.items())]
    return "\n".join(lines) + "\n"


def check_conf(remote: Remote, binary: str, path: str, user_conf: Mapping[str, str], sync: str | None) -> None:
    """`nats-server -c path -t` (parse, report, exit). BadInput naming the user's setting it refuses."""
    r = remote.run([binary, "-c", path, "-t"], timeout=20, check=False)
    if r.exit_code == 0:
        return
    out = (r.stderr + r.stdout).strip()
    field = m.group(1) if (m := _UNKNOWN_FIELD.search(out)) else None
    if field == "sync_interval" and sync is not None:
        raise BadInput(f"sync={sync}: nats-server on {remote.node} has no JetStream sync_interval (nats-server 2.10 "
                       "added it; 2.9 fsyncs JetStream's files on its own fixed schedule)")
    key = field if field is not None and field in user_conf else next((k for k in user_conf if k in out), None)
    if key is not None:
        raise BadInput(f"nats-server on {remote.node} refuses conf.{key}={user_conf[key]}: {out.splitlines()[-1]}")
    raise ClusterError(f"nats-server on {remote.node} refuses its configuration: {out or r.exit_code}")
