"""The `packet` fault family: degraded links between nodes — delay, jitter, loss, duplication, reordering
(tc netem) and rate limits (tc htb) on the packets a target node sends to the other nodes, and random loss
through iptables (`-m statistic --mode random`, on the receiving nodes) where netem is missing or asked for.
Client traffic (from the host or other machines) is never touched: filters match the other nodes' addresses.

Ops: `start-packet` {"nodes": spec or list} applies the behaviour of the options to the chosen nodes (healing
any earlier one first) and completes with what was applied and the evidence measured from each target to a peer
(`harness.evidence`): loss as a burst of datagrams counted by the peer's kernel, delay as the time TCP
handshakes take, and, for what no short probe can show (duplication, reordering, a rate), the qdisc read back
from the node; `stop-packet` removes it. Every shaped interface is
in the ledger (kind "nemesis-tc") and the loss rules live in the chain HARNESS-LOSS (kind "nemesis-iptables").

Options: packet-delay-ms, packet-jitter-ms, packet-loss (percent), packet-duplicate (percent), packet-reorder
(percent), packet-rate (a tc rate such as 1mbit), packet-loss-via=auto|netem|iptables, packet-targets (node
specs). With none of the behaviour options: delay 50 ms with 25 ms jitter where netem exists, else 20 % loss
through iptables. A behaviour that needs netem on a kernel without it is refused before the run.
"""

from __future__ import annotations

import math
import re
import statistics
import threading
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from harness.control import on_all
from harness.errors import BadInput, FaultError, MissingAbility
from harness.evidence import Evidence, Probe, with_evidence
from harness.nemesis import Package
from harness.op import Op
from harness.options import OptionSpec
from nemeses.net import tc
from nemeses.net.iptables import ChainSet
from nemeses.probe import (
    connect_times_ms,
    probe_aims,
    udp_delivery,
)
from nemeses.remotes import locator_for, require_remotes
from nemeses.schedule import (
    SCHEDULE_SPEC,
    default_schedule,
    family_generator,
)
from nemeses.targets import parse_specs, require_targets, targets_of

if TYPE_CHECKING:
    from harness.test import Test

CHAIN = "HARNESS-LOSS"
START, STOP = "start-packet", "stop-packet"
FS = frozenset({START, STOP})
SHARED_KERNEL_PROVIDERS = ("local", "docker")


@dataclass(frozen=True, kw_only=True)
class Behaviour:
    """What happens to the packets a target sends to the other nodes."""

    delay_ms: float = 0.0
    jitter_ms: float = 0.0
    loss_pct: float = 0.0
    duplicate_pct: float = 0.0
    reorder_pct: float = 0.0
    rate: str = ""
    loss_via: str = "auto"  # netem | iptables | auto

    def netem(self, have_netem: bool) -> list[str]:
        loss = self.loss_pct if self.loss_through_netem(have_netem) else 0.0
        return tc.netem_args(self.delay_ms, self.jitter_ms, loss, self.duplicate_pct, self.reorder_pct)

    def loss_through_netem(self, have_netem: bool) -> bool:
        return self.loss_via == "netem" or (self.loss_via == "auto" and have_netem)

    def needs_netem(self) -> str | None:
        """Which part of the behaviour only netem can do, or None."""
        if self.delay_ms or self.jitter_ms:
            return "delay and jitter"
        if self.duplicate_pct:
            return "duplication"
        if self.reorder_pct:
            return "reordering"
        if self.loss_pct and self.loss_via == "netem":
            return "loss with packet-loss-via=netem"
        return None

    def is_empty(self) -> bool:
        return not (self.delay_ms or self.jitter_ms or self.loss_pct or self.duplicate_pct or self.reorder_pct
                    or self.rate)


def _pct(s: str) -> float:
    v = float(s)
    if not 0 <= v <= 100:
        raise ValueError("a percentage from 0 to 100")
    return v


def _ms(s: str) -> float:
    v = float(s)
    if v < 0:
        raise ValueError("milliseconds >= 0")
    return v


def _rate(s: str) -> str:
    if s and not re.fullmatch(r"\d+(\.\d+)?(bit|kbit|mbit|gbit|bps|kbps|mbps|gbps)", s):
        raise ValueError("a tc rate such as 500kbit, 1mbit or 10mbps")
    return s


OPTION_SPECS: Sequence[OptionSpec] = (
    OptionSpec(name="packet-delay-ms", default=0.0, parse=_ms, help="added delay (netem)"),
    OptionSpec(name="packet-jitter-ms", default=0.0, parse=_ms, help="delay jitter (netem)"),
    OptionSpec(name="packet-loss", default=0.0, parse=_pct, help="loss percentage (netem or iptables)"),
    OptionSpec(name="packet-duplicate", default=0.0, parse=_pct, help="duplication percentage (netem)"),
    OptionSpec(name="packet-reorder", default=0.0, parse=_pct, help="reordering percentage (netem)"),
    OptionSpec(name="packet-rate", default="", parse=_rate, help="rate limit, e.g. 1mbit (htb)"),
    OptionSpec(name="packet-loss-via", default="auto", choices=("auto", "netem", "iptables"),
               help="how loss is made: netem, iptables statistic, or netem when the kernel has it"),
    OptionSpec(name="packet-targets", default=("one", "minority", "majority", "all"), parse=parse_specs,
               help="node specs the schedule draws from"),
    SCHEDULE_SPEC,
)


def behaviour_from_opts(opts: Mapping[str, Any], have_netem: bool) -> Behaviour:
    b = Behaviour(
        delay_ms=float(opts.get("packet-delay-ms") or 0), jitter_ms=float(opts.get("packet-jitter-ms") or 0),
        loss_pct=float(opts.get("packet-loss") or 0), duplicate_pct=float(opts.get("packet-duplicate") or 0),
        reorder_pct=float(opts.get("packet-reorder") or 0), rate=str(opts.get("packet-rate") or ""),
        loss_via=str(opts.get("packet-loss-via") or "auto"),
    )
    if b.is_empty():
        b = Behaviour(delay_ms=50, jitter_ms=25) if have_netem else Behaviour(loss_pct=20, loss_via="iptables")
    return b


LOSS_PROBES = (100, 2000)  # datagrams per loss measurement: enough that a loss this rare shows (see loss_probe)


def loss_probe(test: Test, node: str, peer: str, loss_pct: float) -> Probe:
    """Datagrams from `node` to `peer`, counted on arrival: the loss must show. The burst is long enough that
    the loss asked for drops none of it with a chance below 1e-4 (LOSS_PROBES bounds its length)."""
    p = loss_pct / 100
    n = math.ceil(math.log(1e-4) / math.log1p(-p)) if 0 < p < 1 else LOSS_PROBES[0]
    got = udp_delivery(test, node, peer, min(max(n, LOSS_PROBES[0]), LOSS_PROBES[1]))
    if got is None:
        return Probe(node=node, what="udp delivery", target=peer, expected=f"{loss_pct:g}% lost", effect=False,
                     observed="not measured (no UDP counters on the peer)")
    sent, arrived = got
    lost = sent - arrived
    return Probe(node=node, what="udp delivery", target=peer, expected=f"{loss_pct:g}% lost", effect=lost > 0,
                 observed=f"{lost} of {sent} lost ({100 * lost / sent:.1f}%)")


def delay_probe(test: Test, node: str, peer: str, delay_ms: float) -> Probe:
    """The median of five TCP handshakes from `node` to `peer`: at least half the delay asked for."""
    port = probe_aims(test, [peer])[peer].port
    times = connect_times_ms(test.cluster.remote(node), test.node_host(peer), port)
    want = f">= {delay_ms / 2:g} ms (delay {delay_ms:g} ms)"
    if not times:
        return Probe(node=node, what="tcp handshake time", target=f"{peer}:{port}", expected=want, effect=False,
                     observed="not measured (no handshake completed)")
    med = statistics.median(times)
    return Probe(node=node, what="tcp handshake time", target=f"{peer}:{port}", expected=want,
                 observed=f"median {med:.1f} ms of {len(times)}", effect=med >= delay_ms / 2)


def qdisc_probe(test: Test, node: str, dev: str, netem_words: Sequence[str], rate: str) -> Probe:
    """The node's shaping read back: the netem parameters in its qdisc, a limited rate on the harness's class."""
    remote = test.cluster.remote(node)
    qdiscs = remote.run(["tc", "qdisc", "show", "dev", dev], timeout=10, check=False).stdout.lower().split()
    classes = remote.run(["tc", "class", "show", "dev", dev], timeout=10, check=False).stdout.lower().splitlines()
    ours = next((c for c in classes if f"{tc.ROOT}2 " in c + " "), "")
    missing = [w for w in netem_words if w.lower() not in qdiscs]
    if rate and ("rate" not in ours or f"rate {tc.UNLIMITED}" in ours):
        missing.append(f"rate {rate}")
    want = " ".join([*netem_words, *([f"rate {rate}"] if rate else [])])
    return Probe(node=node, what="tc read back", target=dev, expected=want, effect=not missing,
                 observed="in place" if not missing else f"missing {' '.join(missing)}")


class PacketNemesis:
    """Applies a `Behaviour` to the packets chosen nodes send to the other nodes."""

    fs = FS

    def __init__(self, behaviour: Behaviour, have_netem: bool | None) -> None:
        self.behaviour = behaviour
        self.have_netem = have_netem  # None: find out on the nodes at setup (own kernels)
        self.loss = ChainSet(CHAIN, "nemesis packet (loss through iptables)")
        self.shaped: dict[str, str] = {}  # node -> interface
        self.active: list[str] = []  # nodes whose packets are degraded now
        self._lock = threading.Lock()

    def setup(self, test: Test) -> None:
        if self.have_netem is None:
            why = next((w for w in (tc.node_has_netem(test.cluster.remote(n)) for n in test.nodes) if w), None)
            self.have_netem = why is None
            need = self.behaviour.needs_netem()
            if why and need:
                raise MissingAbility(f"nemesis packet: {need} needs the netem qdisc; {why}")
        if self._uses_iptables():
            self.loss.check_available(test)

    def _uses_iptables(self) -> bool:
        return bool(self.behaviour.loss_pct) and not self.behaviour.loss_through_netem(bool(self.have_netem))

    def _shape(self, test: Test, node: str, peers: list[str], netem: list[str]) -> None:
        remote = test.cluster.remote(node)
        dev = self.shaped.get(node) or tc.node_interface(remote, test.node_host(node))
        if test.ledger is not None:
            test.ledger.record(tc.KIND, f"{node}:{dev}", dev=dev, **locator_for(test, node))
        with self._lock:
            self.shaped[node] = dev
        tc.shape(remote, dev, peers, rate=self.behaviour.rate, netem=netem)

    def heal(self, test: Test) -> list[str]:
        healed, self.active = sorted(set(self.active) | set(self.shaped)), []
        for node, dev in sorted(self.shaped.items()):
            tc.unshape(test.cluster.remote(node), dev)
            if test.ledger is not None:
                test.ledger.release(tc.KIND, f"{node}:{dev}")
            with self._lock:
                self.shaped.pop(node, None)
        self.loss.flush(test)
        return healed

    def invoke(self, test: Test, op: Op) -> Op:
        if op.f == STOP:
            return op.replace(type="info", value={"healed": self.heal(test)})
        if op.f != START:
            return op.replace(type="info", error=f"packet does not handle {op.f!r}")
        v = op.value if isinstance(op.value, Mapping) else {"nodes": op.value}
        try:
            nodes, note = targets_of(test, v.get("nodes", "one"))
        except ValueError as e:
            return op.replace(type="info", error=f"packet: {e}")
        self.heal(test)
        b = self.behaviour
        netem = b.netem(bool(self.have_netem))
        value: dict[str, object] = {"nodes": nodes, "behaviour": {k: x for k, x in asdict(b).items() if x}}
        if netem or b.rate:
            for n in nodes:
                self._shape(test, n, [test.node_host(p) for p in test.nodes if p != n], netem)
            value["tc"] = {"netem": " ".join(netem), "rate": b.rate or None}
        if self._uses_iptables():
            p = f"{b.loss_pct / 100:.4f}"
            for n in nodes:
                for peer in test.nodes:
                    if peer != n:
                        self.loss.add_rules(test, peer, [["-s", test.node_host(n), "-m", "statistic", "--mode",
                                                          "random", "--probability", p, "-j", "DROP"]])
            value["iptables_loss_pct"] = b.loss_pct
        self.active = list(nodes)
        if note:
            value["skipped"] = note
        return op.replace(type="info", value=with_evidence(value, self.evidence(test, nodes, netem)))

    def evidence(self, test: Test, nodes: Sequence[str], netem: Sequence[str]) -> Evidence:
        """Measured from each target to one peer (another target only when every node is one): loss and delay;
        what no short probe shows (duplication, reordering, a rate) is read back from the node."""
        if not nodes:
            return Evidence(nothing="no node was chosen")
        b = self.behaviour
        locks = {p: threading.Lock() for p in test.nodes}

        def measure(n: str) -> list[Probe]:
            peers = [p for p in test.nodes if p != n]
            peer = next((p for p in peers if p not in nodes), peers[0])
            out = []
            with locks[peer]:  # the peer's UDP counters count one burst at a time
                if b.loss_pct:
                    out.append(loss_probe(test, n, peer, b.loss_pct))
                if b.delay_ms:
                    out.append(delay_probe(test, n, peer, b.delay_ms))
            if b.rate or b.duplicate_pct or b.reorder_pct:
                words = [w for w in netem if not w.endswith("ms")] if netem else []
                out.append(qdisc_probe(test, n, self.shaped[n], words, b.rate))
            return out

        return Evidence(probes=tuple(p for ps in on_all(nodes, measure).values() for p in ps))

    def teardown(self, test: Test) -> None:
        errors = []
        try:
            self.heal(test)
        except FaultError as e:
            errors.append(str(e))
        try:
            self.loss.teardown(test)
        except FaultError as e:
            errors.append(str(e))
        if errors:
            raise FaultError("; ".join(errors))

    def residue(self, test: Test) -> list[str]:
        left = self.loss.residue(test)
        for node in test.nodes:
            remote = test.cluster.remote(node)
            try:
                dev = tc.node_interface(remote, test.node_host(node))
            except FaultError as e:
                left.append(str(e))
                continue
            left += tc.shaping_residue(remote, dev)
        return left


class PacketPlugin:
    """The `harness.nemeses` plugin `packet`."""

    name = "packet"
    fs = FS  # the ops its nemesis handles
    option_specs = OPTION_SPECS

    def package(self, test: Test) -> Package:
        if len(test.nodes) < 2:
            raise BadInput("nemesis packet needs at least two nodes")
        require_remotes(test, "nemesis packet")
        require_targets(test, "nemesis packet", 2)
        have: bool | None = None
        if test.options.cluster in SHARED_KERNEL_PROVIDERS:
            why = tc.host_has_netem()
            have = why is None
        b = behaviour_from_opts(test.nemesis_opts, bool(have) if have is not None else True)
        need = b.needs_netem()
        if have is False and need:
            raise MissingAbility(f"nemesis packet: {need} needs the netem qdisc, but {why}; "
                                 "use packet-loss with packet-loss-via=iptables, or packet-rate")
        specs = tuple(test.nemesis_opts.get("packet-targets") or ("one",))

        def start(t: Test) -> dict[str, object]:
            return {"f": START, "value": {"nodes": t.rng.choice(specs)}}

        gen = family_generator(test, "packet", FS, default_schedule(test, start, {"f": STOP}))
        return Package(name="packet", nemesis=PacketNemesis(b, have), generator=gen, final_generator={"f": STOP},
                       label="packet", start_fs=frozenset({START}), stop_fs=frozenset({STOP}))


PLUGIN = PacketPlugin()
