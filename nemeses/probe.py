"""Measurements on the nodes that show a fault took effect: the evidence nemeses attach to their ops
(`harness.evidence`). Every probe runs through the node's `Remote` with only a POSIX shell, bash, coreutils,
iproute2 and /proc there, so the same code measures local namespaces, docker containers and ssh hosts; each is
one command per node, run on all nodes at once, and bounded by a short timeout (a fault op spends well under a
second or two probing).

Owns `listening_ports` (TCP ports a node listens on at its
cluster address), `HasPorts` (the optional DB ability that names the system's own ports) with `probe_aims` (the
port a probe of a node's links aims at: the system's own when it names them, else the lowest port the node
listens on, else the discard port), `tcp_connects` (connects with a short timeout from a node to peers: connected, refused, or
timed out) and `connect_from_here` (the same from the harness's host, where clients run), `link_evidence` (the cut links of a partition or a clog: every ordered pair of nodes probed, a
connect expected to time out where either direction is cut), `HasPidfile` (the optional DB ability that names
the pid file of the system's main process) with `system_pids`, `process_states` (state letters from
/proc/PID/stat), `udp_delivery` (a burst of datagrams from one node to another, counted by the receiver's
kernel) and `connect_times_ms` (how long TCP handshakes from a node take). Does not inject or heal anything.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from harness.control import Remote, on_all
from harness.evidence import Evidence, Probe

if TYPE_CHECKING:
    from harness.test import Test

CONNECT_TIMEOUT_S = 0.5  # a SYN on a healthy link is answered in well under a millisecond; a dropped one never
RETRY_TIMEOUT_S = 3.0  # for a node on which even open links did not answer in CONNECT_TIMEOUT_S (a loaded host)
FALLBACK_PORT = 9  # the discard port, closed on every node we know: answered by a reset when the link is open
WILDCARDS = ("0.0.0.0", "*", "[::]", "::")


# ------------------------------------------------------------------------------------------------ network
def listening_ports(remote: Remote, host: str) -> list[int] | None:
    """TCP ports the node listens on at `host` (or on every address), lowest first; None when `ss` cannot tell."""
    r = remote.run(["ss", "-Hltn"], timeout=10, check=False)
    if r.exit_code != 0:
        return None
    exact, wild = set(), set()
    for line in r.stdout.splitlines():
        parts = line.split()
        if len(parts) < 4 or ":" not in parts[3]:
            continue
        addr, _, port = parts[3].rpartition(":")
        if not port.isdigit():
            continue
        if addr == host:
            exact.add(int(port))
        elif addr in WILDCARDS:
            wild.add(int(port))
    return sorted(exact) + sorted(wild - exact)


@runtime_checkable
class HasPorts(Protocol):
    """Optional DB ability: the TCP ports the system listens on at `node`'s cluster address, those its nodes
    talk to each other on first (etcd: peer 2380, then client 2379). Link probes aim at them rather than at
    whatever else the host runs (an ssh host's lowest listening port is sshd's 22)."""

    def ports(self, test: Test, node: str) -> Sequence[int]: ...


@dataclass(frozen=True, kw_only=True)
class Aim:
    """Where a link probe of a node connects: `port`, and whether something (of the system, when it names its
    ports) listens there: False when nothing does, None when `ss` could not tell."""

    port: int
    listens: bool | None


def probe_aims(test: Test, nodes: Sequence[str]) -> dict[str, Aim]:
    """Per node: the first of the system's own ports (`HasPorts`) it listens on, or its first own port when it
    listens on none of them (a connect is then refused on an open link); for a system that names no ports, the
    lowest port the node listens on, or the discard port when it listens on none."""
    seen = on_all(nodes, lambda n: listening_ports(test.cluster.remote(n), test.node_host(n)))
    aims = {}
    for n in nodes:
        own: list[int] = list(test.db.ports(test, n)) if isinstance(test.db, HasPorts) else []
        ports = seen[n]
        up = [p for p in own if p in (ports or ())] if own else list(ports or ())
        aim = up[0] if up else (own[0] if own else FALLBACK_PORT)
        aims[n] = Aim(port=aim, listens=None if ports is None else bool(up))
    return aims


_CONNECT = r'''
t=$1; shift
for hp in "$@"; do
  ( h=${hp%:*}; p=${hp##*:}
    out=$(timeout "$t" bash -c 'exec 3<>"/dev/tcp/$0/$1"' "$h" "$p" 2>&1); rc=$?
    echo "$hp $rc $(printf %s "$out" | tr '\n' ' ' | cut -c1-120)" ) &
done
wait
'''


def _outcome(rc: str, message: str) -> str:
    if rc == "0":
        return "connected"
    if rc == "124":
        return "timed out"
    low = message.lower()
    if "refused" in low:
        return "refused"
    if "no route" in low or "unreachable" in low:
        return "unreachable"
    return f"not measured ({message.strip() or 'exit ' + rc})"


def tcp_connects(remote: Remote, targets: Sequence[tuple[str, int]],
                 timeout_s: float = CONNECT_TIMEOUT_S) -> dict[tuple[str, int], str]:
    """Connect from the node to each (host, port) at once: "connected", "refused" (a reset came back: the link
    is open, nothing listens), "timed out" or "unreachable" (the link drops or rejects), or "not measured (...)"."""
    if not targets:
        return {}
    args = [f"{h}:{p}" for h, p in targets]
    r = remote.run(["sh", "-c", _CONNECT, "tcp-connects", f"{timeout_s:g}", *args], timeout=timeout_s + 20,
                   check=False)
    seen: dict[str, str] = {}
    for line in r.stdout.splitlines():
        parts = line.split(" ", 2)
        if len(parts) >= 2:
            seen[parts[0]] = _outcome(parts[1], parts[2] if len(parts) > 2 else "")
    why = (r.stderr.strip().splitlines() or [f"exit {r.exit_code}"])[-1]
    return {(h, p): seen.get(f"{h}:{p}", f"not measured ({why})") for h, p in targets}


def connect_from_here(host: str, port: int, timeout_s: float = CONNECT_TIMEOUT_S) -> str:
    """A TCP connect from the harness's own host (where the clients run) to host:port, classified as by
    `tcp_connects`."""
    import socket

    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return "connected"
    except ConnectionRefusedError:
        return "refused"
    except (socket.timeout, TimeoutError):
        return "timed out"
    except OSError as e:
        return "unreachable" if "unreachable" in str(e).lower() or "no route" in str(e).lower() else \
            f"not measured ({e})"


BLOCKED = ("timed out", "unreachable")
OPEN = ("connected", "refused")


@dataclass(frozen=True, kw_only=True)
class LinkPlan:
    """What a network fault means to cut: `cut` holds directed pairs (a, b) whose packets from a to b are
    dropped; `nodes` the nodes whose links are probed."""

    cut: frozenset[tuple[str, str]]
    nodes: tuple[str, ...]

    def handshake_blocked(self, a: str, b: str) -> bool:
        """A TCP handshake needs both directions: a connect from a to b fails when either is cut."""
        return (a, b) in self.cut or (b, a) in self.cut


def link_evidence(test: Test, plan: LinkPlan, who: str) -> Evidence:
    """Probe every ordered pair of `plan.nodes` with a TCP connect to the target's `probe_aims` port: judged where a cut is meant (it must time out), for information elsewhere.
    A time-out proves a cut only if the node's links meant to stay open do connect: from a node where none
    does, even after a slower second try, the cut links are recorded and not judged.
    The fault acted on nothing when it cut no link, or only links between nodes on which nothing listens."""
    if not plan.cut:
        return Evidence(nothing=f"{who} cut no link (the grudge is empty)")
    hosts = {n: test.node_host(n) for n in plan.nodes}
    aimed = probe_aims(test, plan.nodes)
    port = {n: a.port for n, a in aimed.items()}

    def aims(a: str) -> list[tuple[str, int]]:
        return [(hosts[b], port[b]) for b in plan.nodes if b != a]

    def controls_fail(a: str, seen_a: Mapping[tuple[str, int], str]) -> bool:
        """Every link from `a` meant to stay open failed to connect too: the probe itself, not the fault, may
        have run out of time (a loaded host takes longer than CONNECT_TIMEOUT_S just to start the connect)."""
        opens = [seen_a[(hosts[b], port[b])] for b in plan.nodes if b != a and not plan.handshake_blocked(a, b)]
        return bool(opens) and not any(o in OPEN for o in opens)

    seen = on_all(plan.nodes, lambda a: tcp_connects(test.cluster.remote(a), aims(a)))
    slow = [a for a in plan.nodes if controls_fail(a, seen[a])]
    if slow:  # once more, with time to spare, from the nodes whose open links did not answer either
        seen.update(on_all(slow, lambda a: tcp_connects(test.cluster.remote(a), aims(a), RETRY_TIMEOUT_S)))
    probes = []
    for a in plan.nodes:
        unjudged = controls_fail(a, seen[a])
        for b in plan.nodes:
            if a == b:
                continue
            obs = seen[a][(hosts[b], port[b])]
            aim = f"{b}:{port[b]}" + (" (nothing listens)" if aimed[b].listens is False else "")
            if plan.handshake_blocked(a, b) and not unjudged:
                probes.append(Probe(node=a, what="tcp connect", target=aim, expected="blocked",
                                    observed=obs, effect=obs in BLOCKED))
            elif plan.handshake_blocked(a, b):
                probes.append(Probe(node=a, what="tcp connect", target=aim, expected="blocked",
                                    observed=f"{obs} (not judged: no open link from {a} answered either)"))
            else:
                probes.append(Probe(node=a, what="tcp connect", target=aim, expected="open", observed=obs))
    idle = sorted(n for n, a in aimed.items() if a.listens is False)  # None: ss could not tell, not counted idle
    if all(a in idle and b in idle for a, b in plan.cut):
        return Evidence(probes=tuple(probes), nothing=f"{who} cut only links between nodes on which nothing "
                        f"listens ({', '.join(idle)}): it blocked nothing of the system")
    return Evidence(probes=tuple(probes))


_CONNECT_TIME = r'''h=$1 p=$2 n=$3; i=0
while [ "$i" -lt "$n" ]; do
  timeout 5 bash -c 's=$EPOCHREALTIME; exec 3<>"/dev/tcp/$0/$1"; e=$EPOCHREALTIME; echo "${s/[.,]/} ${e/[.,]/}"' \
    "$h" "$p" 2>/dev/null
  i=$((i + 1))
done; true'''


def connect_times_ms(remote: Remote, host: str, port: int, count: int = 5) -> list[float]:
    """Milliseconds each of `count` TCP handshakes from the node to host:port took, timed by bash around the
    connect alone (an answer either way counts: a reset takes the same path back); ones that timed out are left
    out."""
    r = remote.run(["bash", "-c", _CONNECT_TIME, "connect-time", host, str(port), str(count)], timeout=60,
                   check=False)
    out = []
    for line in r.stdout.splitlines():
        parts = line.split()
        if len(parts) == 2 and all(p.isdigit() for p in parts):
            out.append((int(parts[1]) - int(parts[0])) / 1000.0)
    return out


_UDP_COUNT = r"awk '/^Udp: [0-9]/ {print $2 + $3 + $4}' /proc/net/snmp"
_UDP_SEND = r'''h=$1 p=$2 n=$3; i=0
while [ "$i" -lt "$n" ]; do echo x > "/dev/udp/$h/$p"; i=$((i + 1)); done 2>/dev/null; true'''


def udp_delivery(test: Test, src: str, dst: str, count: int) -> tuple[int, int] | None:
    """Send `count` datagrams from src to a closed port of dst and count those dst's kernel received (its UDP
    counters, read before and after: datagrams, to closed ports, in error). Returns (sent, arrived), or None
    when the counters cannot be read. Other UDP traffic to dst in the meantime would only add arrivals."""
    rd = test.cluster.remote(dst)

    def read() -> int | None:
        r = rd.run(["sh", "-c", _UDP_COUNT], timeout=10, check=False)
        return int(r.stdout.split()[0]) if r.exit_code == 0 and r.stdout.split() and r.stdout.split()[0].isdigit() else None

    before = read()
    test.cluster.remote(src).run(["bash", "-c", _UDP_SEND, "udp-send", test.node_host(dst), str(FALLBACK_PORT),
                                  str(count)], timeout=30, check=False)
    after = read()
    if before is None or after is None:
        return None
    return count, max(0, after - before)


# ---------------------------------------------------------------------------------------------- processes
@runtime_checkable
class HasPidfile(Protocol):
    """Optional DB ability: the path on `node` of the file that holds the pid of the system's main process
    (written by `clusters.daemon`), so that faults on processes can show what they did to it."""

    def pidfile(self, test: Test, node: str) -> str: ...


def system_pids(test: Test, node: str) -> list[int] | None:
    """The live pid of the system's main process on `node` ([] when it is not running); None when the system
    names no pid file."""
    if not isinstance(test.db, HasPidfile):
        return None
    from clusters.daemon import daemon_pids

    return daemon_pids(test.cluster.remote(node), test.db.pidfile(test, node))


_STATES = 'for p in "$@"; do s=$(sed -e "s/^.*) //" "/proc/$p/stat" 2>/dev/null | cut -c1); echo "$p ${s:--}"; done'


def process_states(remote: Remote, pids: Sequence[int]) -> dict[int, str]:
    """State letter of each pid from /proc/PID/stat ("R", "S", "T", "Z", ...; "-" for no such process)."""
    if not pids:
        return {}
    r = remote.run(["sh", "-c", _STATES, "states", *map(str, pids)], timeout=10, check=False)
    out = {p: "-" for p in pids}
    for line in r.stdout.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0].isdigit():
            out[int(parts[0])] = parts[1]
    return out


def by_node(probes: Mapping[str, Sequence[Probe]]) -> tuple[Probe, ...]:
    """The probes of several nodes, in node order."""
    return tuple(p for n in probes for p in probes[n])
