"""iptables chains of the harness on the nodes: each network fault family owns one chain (HARNESS-PART for
partitions, HARNESS-CLOG for swizzle-clog, HARNESS-LOSS for random loss), jumped to from INPUT, inside each
node's own network stack (its namespace or container). Healing flushes or removes only these chains, never a
rule someone else made.

Owns `ChainSet` (one chain on the nodes of a test: ensure, add rules, flush, remove, residue), the shell-outs to
`iptables` and the ledger kind "nemesis-iptables" with its undo function (removes the chain and its jump on a
node reached again through `nemeses.remotes`). Does not decide which packets to drop.
"""

from __future__ import annotations

import shlex
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING

from harness.control import Remote, on_nodes
from harness.errors import FaultError, MissingAbility
from harness.ledger import LedgerEntry, undoer
from nemeses.remotes import locator_for, node_is_gone, remote_from_locator

if TYPE_CHECKING:
    from harness.test import Test

KIND = "nemesis-iptables"
HOOK = "INPUT"


def _ipt(remote: Remote, *args: str, check: bool = True) -> tuple[int | None, str]:
    r = remote.run(["iptables", "-w", "5", *args], timeout=30, check=False)
    if check and r.exit_code != 0:
        raise FaultError(f"on {remote.node}: iptables {' '.join(args)} failed: {r.stderr.strip() or r.exit_code}")
    return r.exit_code, r.stdout


def has_iptables(remote: Remote) -> str | None:
    """None if iptables works on the node, else why not."""
    r = remote.run(["iptables", "-w", "5", "-S", HOOK], timeout=30, check=False)
    if r.exit_code == 0:
        return None
    return (r.stderr.strip() or f"exit {r.exit_code}").splitlines()[-1]


_ENSURE = 'iptables -w 5 -S "$1" >/dev/null 2>&1 || iptables -w 5 -N "$1" || exit 1\n' \
          'iptables -w 5 -C "$2" -j "$1" 2>/dev/null || iptables -w 5 -I "$2" 1 -j "$1" || exit 1\n'


def ensure_chain(remote: Remote, chain: str, rules: Sequence[Sequence[str]] = ()) -> None:
    """The chain exists and INPUT jumps to it first, then `rules` (argument lists after `-A CHAIN`) are appended;
    idempotent for the chain. One command on the node, however many rules: on an ssh host under load every
    command is a round trip, and a fault should start in one."""
    script = _ENSURE + "".join(
        f'iptables -w 5 -A "$1" {" ".join(shlex.quote(a) for a in rule)} || exit 1\n' for rule in rules)
    r = remote.run(["sh", "-c", script, "harness-iptables", chain, HOOK], timeout=30, check=False)
    if r.exit_code != 0:
        raise FaultError(f"on {remote.node}: iptables chain {chain} with {len(rules)} rule(s) failed: "
                         f"{r.stderr.strip() or r.exit_code}")


def remove_chain(remote: Remote, chain: str) -> None:
    """Remove every jump to the chain, then the chain. Idempotent."""
    for _ in range(20):
        code, _ = _ipt(remote, "-D", HOOK, "-j", chain, check=False)
        if code != 0:
            break
    code, _ = _ipt(remote, "-S", chain, check=False)
    if code == 0:
        _ipt(remote, "-F", chain)
        _ipt(remote, "-X", chain)


def chain_rules(remote: Remote, chain: str) -> list[str]:
    """The rules of the chain (`-A ...` lines); [] when it does not exist."""
    code, out = _ipt(remote, "-S", chain, check=False)
    if code != 0:
        return []
    return [line for line in out.splitlines() if line.startswith("-A ")]


def chain_residue(remote: Remote, chain: str) -> list[str]:
    """What of the chain is still on the node, one line each."""
    left = []
    code, _ = _ipt(remote, "-S", chain, check=False)
    if code == 0:
        left.append(f"{remote.node}: iptables chain {chain} exists")
    code, _ = _ipt(remote, "-C", HOOK, "-j", chain, check=False)
    if code == 0:
        left.append(f"{remote.node}: {HOOK} still jumps to {chain}")
    return left


class ChainSet:
    """One harness chain on the nodes of a test. Every node's chain is recorded in the ledger before it is
    created and released once removed. Thread-safe."""

    def __init__(self, chain: str, who: str) -> None:
        self.chain = chain
        self.who = who
        self._nodes: set[str] = set()
        self._lock = threading.Lock()

    def check_available(self, test: Test) -> None:
        """MissingAbility naming the first node on which iptables does not work."""
        for node in test.nodes:
            why = has_iptables(test.cluster.remote(node))
            if why is not None:
                raise MissingAbility(f"{self.who} needs iptables on every node; on {node} it fails: {why}")

    def ensure(self, test: Test, node: str, rules: Sequence[Sequence[str]] = ()) -> Remote:
        """The chain on the node (recorded in the ledger first), with `rules` appended."""
        remote = test.cluster.remote(node)
        with self._lock:
            fresh = node not in self._nodes
            self._nodes.add(node)
        if fresh and test.ledger is not None:
            test.ledger.record(KIND, f"{node}:{self.chain}", chain=self.chain, **locator_for(test, node))
        ensure_chain(remote, self.chain, rules)
        return remote

    def add_rules(self, test: Test, node: str, rules: Sequence[Sequence[str]]) -> None:
        """Append rules (argument lists after `-A CHAIN`) to the node's chain, in one command on the node."""
        self.ensure(test, node, rules)

    def delete_rule(self, test: Test, node: str, rule: Sequence[str]) -> None:
        _ipt(test.cluster.remote(node), "-D", self.chain, *rule, check=False)

    def flush(self, test: Test) -> None:
        """Empty the chain on every node that has it (the fault is healed; the chain stays until teardown)."""
        codes, failed = on_nodes(sorted(self._nodes), lambda node: _ipt(test.cluster.remote(node), "-F", self.chain,
                                                                        check=False)[0])
        errors = sorted([*failed, *(n for n, code in codes.items() if code not in (0, 1))])  # 1: chain gone already
        if errors:
            raise FaultError(f"{self.who}: could not flush {self.chain} on {', '.join(errors)}")

    def rules(self, test: Test, node: str) -> list[str]:
        return chain_rules(test.cluster.remote(node), self.chain)

    def teardown(self, test: Test) -> None:
        """Remove the chain and its jump from every node it may be on. Idempotent."""
        first: Exception | None = None
        for node in sorted(self._nodes):
            try:
                remove_chain(test.cluster.remote(node), self.chain)
                if test.ledger is not None:
                    test.ledger.release(KIND, f"{node}:{self.chain}")
                with self._lock:
                    self._nodes.discard(node)
            except Exception as e:  # noqa: BLE001 - heal every node, report the first failure
                first = first or e
        if first is not None:
            raise first

    def residue(self, test: Test) -> list[str]:
        left: list[str] = []
        for node in test.nodes:
            left.extend(chain_residue(test.cluster.remote(node), self.chain))
        return left


@undoer(KIND)
def _undo_chain(entry: LedgerEntry) -> None:
    if node_is_gone(entry.data):
        return
    remote = remote_from_locator(entry.data)
    try:
        remove_chain(remote, str(entry.data["chain"]))
    finally:
        remote.close()
