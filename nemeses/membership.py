"""The `membership` fault family: remove a member from the cluster and add it back, testing the overlap
between old and new configurations. Built in for etcd (`EtcdMembership`); any system whose DB is
`harness.db.ChangesMembership` (a system file's `nodes.membership`) gets it through `AbilityMembership`.

Ops: `remove-member` {"nodes": spec or list} (default one random member; never so many that fewer than two
members remain) removes each chosen member with `etcdctl member remove` through another member; etcd stops a
removed member itself (the nemesis SIGKILLs it if it has not within 10 s) and its data directory is wiped, as
a removed member cannot come back with its old identity. `add-member` adds every removed node back with
`etcdctl member add` and starts it with `--initial-cluster-state existing` and the cluster list etcd returned.
Teardown adds back whatever is still removed; `residue` names nodes that are not members again. Both ops
complete with evidence (`harness.evidence`): the member list read back from the cluster after the change (a
removed node must be gone from it; added ones are listed for the record, as a joiner shows up once it runs).

`Membership` owns the ops, the two-members-stay rule, evidence and teardown; a subclass only removes, adds and
lists members. Nothing of this fault lives outside the cluster (the membership is
etcd's own state, wiped with the cluster), so there is no ledger entry.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from clusters.daemon import daemon_pids, start_daemon
from harness.control import NotYet, retry_until
from harness.db import ChangesMembership, ability
from harness.errors import BadInput, FaultError, MissingAbility, TimedOut
from harness.evidence import Evidence, Probe, with_evidence
from harness.nemesis import Package
from harness.op import Op
from harness.options import OptionSpec
from nemeses.targets import require_targets, targets_of
from nemeses.schedule import (
    SCHEDULE_SPEC,
    default_schedule,
    family_generator,
)

if TYPE_CHECKING:
    from clusters.etcd.db import EtcdDB
    from harness.test import Test

REMOVE, ADD = "remove-member", "add-member"
FS = frozenset({REMOVE, ADD})
CLIENT_PORT, PEER_PORT = 2379, 2380


class Membership:
    """Removes members and adds them back; subclasses say how (`_remove`, `_add`, `members`)."""

    fs = FS

    def __init__(self) -> None:
        self.removed: list[str] = []

    def setup(self, test: Test) -> None:
        pass

    def _remove(self, test: Test, node: str) -> None:
        raise NotImplementedError

    def _add(self, test: Test, node: str) -> None:
        raise NotImplementedError

    def members(self, test: Test) -> Mapping[str, object] | Sequence[str]:
        raise NotImplementedError

    def invoke(self, test: Test, op: Op) -> Op:
        return _invoke(self, test, op)

    def evidence(self, test: Test, nodes: Sequence[str], *, member: bool) -> Evidence:
        return _evidence(self, test, nodes, member=member)

    def teardown(self, test: Test) -> None:
        errors = []
        for n in list(self.removed):
            try:
                self._add(test, n)
            except Exception as e:  # noqa: BLE001 - report each node, keep adding the rest
                errors.append(f"{n}: {e}")
        if errors:
            raise FaultError("could not add members back: " + "; ".join(errors))

    def residue(self, test: Test) -> list[str]:
        return [f"{n}: removed from the cluster and not added back" for n in self.removed]


class AbilityMembership(Membership):
    """Through the DB's `ChangesMembership` (its leave / join / members)."""

    @staticmethod
    def _db(test: Test) -> ChangesMembership:
        return ability(test, ChangesMembership)  # package() chose this nemesis for such a DB

    def _remove(self, test: Test, node: str) -> None:
        self._db(test).leave(test, node)
        self.removed.append(node)

    def _add(self, test: Test, node: str) -> None:
        self._db(test).join(test, node)
        self.removed.remove(node)

    def members(self, test: Test) -> Sequence[str]:
        return self._db(test).members(test)


class EtcdMembership(Membership):
    """Removes etcd members and adds them back with etcdctl."""

    @staticmethod
    def _db(test: Test) -> EtcdDB:
        from clusters.etcd.db import EtcdDB  # not at import: nemeses do not load a system's plugin

        return ability(test, EtcdDB)

    def setup(self, test: Test) -> None:
        r = test.cluster.remote(test.nodes[0]).run(["etcdctl", "version"], timeout=30, check=False,
                                                   env={"ETCDCTL_API": "3"})
        if r.exit_code != 0:
            raise MissingAbility(f"nemesis membership needs etcdctl on the nodes: {r.stderr.strip() or r.exit_code}")

    # etcdctl through a member that is still in the cluster -------------------------------------------------
    def etcdctl(self, test: Test, *args: str, exclude: str | None = None) -> str:
        last = ""
        for via in [n for n in test.nodes if n not in self.removed and n != exclude]:
            r = test.cluster.remote(via).run(
                ["etcdctl", f"--endpoints=http://{test.node_host(via)}:{CLIENT_PORT}", "--command-timeout=5s", *args],
                timeout=30, check=False, env={"ETCDCTL_API": "3"},
            )
            if r.exit_code == 0:
                return r.stdout
            last = f"via {via}: {(r.stderr.strip() or r.stdout.strip()).splitlines()[-1:] or r.exit_code}"
        raise FaultError(f"etcdctl {' '.join(args)} failed on every member ({last})")

    def members(self, test: Test) -> dict[str, int]:
        """Member name -> id (members added but not started yet have no name and are left out)."""
        data = json.loads(self.etcdctl(test, "member", "list", "-w", "json"))
        return {str(m.get("name")): int(m["ID"]) for m in data.get("members", []) if m.get("name")}

    def _remove(self, test: Test, node: str) -> None:
        ids = self.members(test)
        if node not in ids:
            raise FaultError(f"{node} is not a member")
        # etcd refuses to remove a member while the rest has not been connected for a few seconds ("unhealthy
        # cluster", its strict reconfiguration check): retry for a while
        def remove() -> None:
            try:
                self.etcdctl(test, "member", "remove", format(ids[node], "x"), exclude=node)
            except FaultError as e:
                if "unhealthy cluster" not in str(e):  # etcdctl's words: its exit code does not tell this apart
                    raise
                raise NotYet(str(e)) from None

        retry_until(20, remove, every=1.0, what=f"removing member {node}")
        self.removed.append(node)
        db = self._db(test)
        remote, pidfile = test.cluster.remote(node), db.pidfile(test, node)

        def stopped() -> None:
            if daemon_pids(remote, pidfile):
                raise NotYet("its etcd still runs")

        try:
            retry_until(10, stopped, every=0.2, what=f"{node} leaving")
        except TimedOut:
            pass  # killed next
        db.kill(test, node)  # no-op when etcd already stopped itself
        remote.run(["rm", "-rf", db.data_dir(test, node)], timeout=60)

    def _add(self, test: Test, node: str) -> None:
        out = self.etcdctl(test, "member", "add", node, f"--peer-urls=http://{test.node_host(node)}:{PEER_PORT}")
        initial = ""
        for line in out.splitlines():
            if line.startswith("ETCD_INITIAL_CLUSTER="):
                initial = line.split("=", 1)[1].strip().strip('"')
        if not initial:
            raise FaultError(f"etcdctl member add {node} did not return the cluster list: {out.strip()}")
        db = self._db(test)
        argv = list(db.argv(test, node))
        argv[argv.index("--initial-cluster") + 1] = initial
        argv[argv.index("--initial-cluster-state") + 1] = "existing"
        workdir = str(test.node_info(node).workdir)
        start_daemon(test.cluster.remote(node), argv, pidfile=db.pidfile(test, node),
                     logfile=db.logfile(test, node), cwd=workdir, ledger=test.ledger, settle=0.3)
        self.removed.remove(node)


def _invoke(self: Membership, test: Test, op: Op) -> Op:
    """The remove-member and add-member ops (see the module docstring)."""
    if op.f == REMOVE:
        v: Mapping[str, object] = op.value if isinstance(op.value, Mapping) else {"nodes": op.value}
        try:
            nodes, note = targets_of(test, v.get("nodes", "one"))
        except ValueError as e:
            return op.replace(type="info", error=f"membership: {e}")
        nodes = [n for n in nodes if n not in self.removed]
        room = len(test.nodes) - len(self.removed) - 2
        skipped = nodes[max(0, room):]
        nodes = nodes[: max(0, room)]
        errors = []
        done = []
        for n in nodes:
            try:
                self._remove(test, n)
                done.append(n)
            except Exception as e:  # noqa: BLE001 - report each node
                errors.append(f"{n}: {e}")
        value: dict[str, object] = {"removed": done}
        if skipped:
            value["kept"] = skipped  # removing them would leave fewer than two members
        if note:
            value["skipped"] = note
        evidence = self.evidence(test, done, member=False) if done else Evidence(
            nothing="no member was removed" + (" (two must stay)" if skipped else ""))
        return op.replace(type="info", value=with_evidence(value, evidence), error="; ".join(errors) or None)
    if op.f == ADD:
        errors, added = [], []
        for n in list(self.removed):
            try:
                self._add(test, n)
                added.append(n)
            except Exception as e:  # noqa: BLE001 - report each node, keep adding the rest
                errors.append(f"{n}: {e}")
        evidence = self.evidence(test, added, member=True) if added else Evidence()
        return op.replace(type="info", value=with_evidence({"added": added}, evidence),
                          error="; ".join(errors) or None)
    return op.replace(type="info", error=f"membership does not handle {op.f!r}")


def _evidence(self: Membership, test: Test, nodes: Sequence[str], *, member: bool) -> Evidence:
    """The member list read back: removed nodes must be gone from it (judged); added ones are recorded."""
    try:
        names = sorted(self.members(test))
    except (FaultError, ValueError, KeyError) as e:
        names, why = [], str(e)
    else:
        why = ""
    probes = []
    for n in nodes:
        observed = (f"not measured ({why})" if why else
                    "a member" if n in names else "not a member") + f"; members: {', '.join(names) or '-'}"
        probes.append(Probe(node=n, what="member list", expected="a member" if member else "not a member",
                            observed=observed, effect=None if member else (not why and n not in names)))
    return Evidence(probes=tuple(probes))


class MembershipPlugin:
    """The `harness.nemeses` plugin `membership`."""

    name = "membership"
    fs = FS  # the ops its nemesis handles
    option_specs: Sequence[OptionSpec] = (SCHEDULE_SPEC,)

    def package(self, test: Test) -> Package:
        from clusters.etcd.db import EtcdDB

        nemesis: Membership
        if isinstance(test.db, ChangesMembership):
            nemesis = AbilityMembership()
        elif isinstance(test.db, EtcdDB):
            nemesis = EtcdMembership()
        else:
            raise MissingAbility(f"nemesis membership needs etcd or a system that is ChangesMembership (a system "
                                 f"file's nodes.membership); {test.options.system} is neither")
        if len(test.nodes) < 3:
            raise BadInput("nemesis membership needs at least three nodes (two must stay members)")
        require_targets(test, "nemesis membership", 3)
        gen = family_generator(test, "membership", FS,
                               default_schedule(test, {"f": REMOVE, "value": {"nodes": "one"}}, {"f": ADD}))
        return Package(name="membership", nemesis=nemesis, generator=gen, final_generator={"f": ADD},
                       label="membership", start_fs=frozenset({REMOVE}), stop_fs=frozenset({ADD}))


PLUGIN = MembershipPlugin()
