"""etcd's system options: the specs `--system-opt` is checked against (the one place their defaults live) and
`EtcdOptions`, their typed value for one test. Does not own what the options do (`clusters.etcd.db`, `.client`).

  binary=PATH          the etcd binary on the nodes (default: `etcd` from PATH; any 3.x with the v3 gateway)
  version=X.Y[.Z]      require this version (setup fails with one line if the binary reports another)
  reads=linearizable   or `serializable` (member-local reads, may be stale)
  heartbeat_ms=100, election_ms=1000, txn_retries=2 (retries of a guarded txn, see `clusters.etcd.guarded`)
  conf.KEY=VALUE       a command-line flag --KEY=VALUE of etcd; lazyfs=true: the data directory on the lazy
                       filesystem (`clusters.lazyfs`)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from harness.options import OptionSpec, conf_spec, lazyfs_spec, typed_options


def _positive_int(s: str) -> int:
    v = int(s)
    if v <= 0:
        raise ValueError("must be a positive integer")
    return v


def _non_negative_int(s: str) -> int:
    v = int(s)
    if v < 0:
        raise ValueError("must be 0 or more")
    return v


OPTION_SPECS: Sequence[OptionSpec] = (
    OptionSpec(name="binary", default="etcd", help="path of the etcd binary on the nodes"),
    OptionSpec(name="version", default="", help="required etcd version (prefix, e.g. 3.4)"),
    OptionSpec(name="reads", default="linearizable", help="read consistency",
               choices=("linearizable", "serializable"), expectation=True),
    OptionSpec(name="heartbeat_ms", default=100, help="raft heartbeat interval (ms)", parse=_positive_int),
    OptionSpec(name="election_ms", default=1000, help="raft election timeout (ms)", parse=_positive_int),
    OptionSpec(name="txn_retries", default=2, help="retries of a guarded read-modify-write that lost a race",
               parse=_non_negative_int),
    conf_spec("a command-line flag --KEY=VALUE of etcd"),
    lazyfs_spec(),
)


@dataclass(frozen=True, kw_only=True)
class EtcdOptions:
    """The etcd system's options for one test, typed (see the module docstring)."""

    binary: str
    version: str
    reads: str
    heartbeat_ms: int
    election_ms: int
    txn_retries: int
    conf: Mapping[str, str]
    lazyfs: bool

    @classmethod
    def of(cls, opts: Mapping[str, object]) -> EtcdOptions:
        """From parsed options (`harness.options.parse_opts`); options left out take their defaults."""
        return typed_options(cls, OPTION_SPECS, opts)
