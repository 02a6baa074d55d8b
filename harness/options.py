"""Options: what the user asked for, validated before any node is touched.

Owns `RunOptions` (the plain dataclass the CLI builds for `harness run`) and `OptionSpec` with `parse_opts`,
which every plugin uses to validate its `key=value` options (`--system-opt`, `--workload-opt`,
`--nemesis-opt`, cluster options). Unknown keys and bad values raise BadInput naming the plugin and the key.
A system's options record checks them against the test's nodes with `require_nodes` and `one_node_only`.
Also owns the test name (`build_test_name`): system, workload and nemeses, then every option a plugin marks as
changing the expectation (`OptionSpec.expectation`: an isolation level, a planted bug, a replication mode) that is
not at its default, so runs that expect different things never share a name (and a results directory).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

from harness.errors import BadInput


def parse_bool(s: str) -> bool:
    v = s.strip().lower()
    if v in ("1", "true", "yes", "on"):
        return True
    if v in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"expected true or false, not {s!r}")


@dataclass(frozen=True, kw_only=True)
class OptionSpec:
    """One `key=value` option a plugin accepts. `parse` turns the string into the typed value (raising
    ValueError on bad input); `choices`, if given, limits the strings accepted; `expectation` marks an option
    that changes what the run expects of the system (it then goes into the test name when not at its default)."""

    name: str
    default: Any
    help: str
    parse: Callable[[str], object] = str
    choices: tuple[str, ...] = ()
    expectation: bool = False


def parse_opts(owner: str, specs: Sequence[OptionSpec], raw: Mapping[str, str]) -> Mapping[str, Any]:
    """Typed options of a plugin, defaults filled in. `owner` names the plugin in errors ("system etcd")."""
    known = {s.name: s for s in specs}
    out: dict[str, object] = {s.name: s.default for s in specs}
    conf: dict[str, str] = {}
    for key, text in raw.items():
        if key.startswith(CONF_PREFIX) and CONF in known:
            name = key[len(CONF_PREFIX):]
            if not name:
                raise BadInput(f"option {key!r} of {owner} names no setting (conf.KEY=VALUE)")
            conf[name] = text
            continue
        spec = known.get(key)
        if spec is None:
            names = ", ".join(sorted(known)) or "none"
            raise BadInput(f"unknown option {key!r} for {owner} (it takes: {names})")
        if spec.choices and text not in spec.choices:
            raise BadInput(f"bad value {text!r} for option {key!r} of {owner}: one of {', '.join(spec.choices)}")
        try:
            out[key] = spec.parse(text)
        except (ValueError, TypeError) as e:
            raise BadInput(f"bad value {text!r} for option {key!r} of {owner}: {e}") from None
    if conf:
        out[CONF] = MappingProxyType(conf)
    return MappingProxyType(out)


def filled(specs: Sequence[OptionSpec], opts: Mapping[str, object]) -> dict[str, object]:
    """A plugin's parsed options (`parse_opts`) with the specs' defaults for any that a test built by hand (a unit
    test, `bare_test`) left out: the specs stay the one place a default lives."""
    return {**{s.name: s.default for s in specs}, **opts}


Record = TypeVar("Record", bound="DataclassInstance")


def typed_options(record: type[Record], specs: Sequence[OptionSpec], opts: Mapping[str, object]) -> Record:
    """A plugin's options as its one typed record: `record` is a dataclass whose fields are named as the specs
    (each spec's `parse` has already given its value its type); defaults come from the specs (`filled`)."""
    values = filled(specs, opts)
    return record(**{f.name: values[f.name] for f in fields(record)})


def require_nodes(system: str, nodes: Sequence[str]) -> None:
    """BadInput unless the test has a node for `system` to run on."""
    if not nodes:
        raise BadInput(f"{system} needs at least one node")


def one_node_only(setting: str, nodes: Sequence[str], instead: str) -> None:
    """BadInput when `setting` (e.g. "redis mode=standalone"), which runs the system on one node, meets more
    nodes: the others would run nothing. `instead` names the setting to use with more nodes."""
    if len(nodes) > 1:
        raise BadInput(f"{setting} runs on one node, and {', '.join(nodes[1:])} would run nothing: "
                       f"use --nodes 1, or {instead}")


CONF = "conf"
CONF_PREFIX = "conf."


def conf_spec(where: str) -> OptionSpec:
    """The option of a system that passes `conf.KEY=VALUE` through to its own configuration (`where` says how);
    parse_opts gathers every conf.* key into one mapping under "conf". The system rejects unknown keys when it
    starts."""
    return OptionSpec(name=CONF, default=MappingProxyType({}), expectation=True,
                      help=f"conf.KEY=VALUE (repeatable): a setting passed to the system as {where}")


LAZYFS = "lazyfs"


def lazyfs_spec() -> OptionSpec:
    """The option of a system with a data directory (`HasDataDir`) that puts the directory on the lazy filesystem
    from setup to teardown (`clusters.lazyfs`): every kill of the system, by any nemesis, then also loses what it
    had not fsynced, as a power cut would. The node then needs FUSE (`ClusterSpec.needs`)."""
    return OptionSpec(name=LAZYFS, default=False, parse=parse_bool, expectation=True,
                      help="true: the data directory is on the lazy filesystem, so every kill also loses what was "
                      "not fsynced (a power cut)")


def parse_kv(pairs: Sequence[str], flag: str) -> dict[str, str]:
    """`["a=1", "b=x"]` -> {"a": "1", "b": "x"}; a pair without '=' is BadInput naming the flag."""
    out: dict[str, str] = {}
    for p in pairs:
        key, sep, value = p.partition("=")
        if not sep or not key:
            raise BadInput(f"{flag} takes key=value, not {p!r}")
        out[key.strip()] = value
    return out


def parse_nemeses(text: str) -> tuple[str, ...]:
    """`"partition,kill"` -> ("partition", "kill"); `"none"` or `""` -> () (no faults), as `--nemesis` and suites
    take it; "none" beside a fault is BadInput."""
    names = tuple(x.strip() for x in text.split(",") if x.strip())
    if "none" in names and len(names) > 1:
        raise BadInput(f"--nemesis none means no faults; it cannot be combined with {', '.join(n for n in names if n != 'none')}")
    return tuple(n for n in names if n != "none")


@dataclass(frozen=True, kw_only=True)
class RunOptions:
    """Everything `harness run` was asked, before plugins interpret it."""

    system: str = "etcd"
    system_file: str | None = None  # a declarative system (clusters.declarative); `system` is then its name
    workload: str = "register"
    nemeses: tuple[str, ...] = ()
    cluster: str = "local"
    node_names: tuple[str, ...] = ("n1", "n2", "n3")
    nodes_file: str | None = None
    concurrency: int = 5
    rate: float = 100.0  # ops per second across all workers; 0 = as fast as possible
    time_limit: float = 30.0
    seed: int = 0
    op_timeout: float | None = None  # None: 5 s without faults, else derived from the interval (harness.pacing)
    nemesis_interval: float | None = None  # None: scaled to the time limit (harness.pacing.fault_interval)
    min_fault_ops: int = 10  # completed client ops a fault window needs, else the verdict is unknown
    system_opts: Mapping[str, str] = field(default_factory=dict)
    workload_opts: Mapping[str, str] = field(default_factory=dict)
    nemesis_opts: Mapping[str, str] = field(default_factory=dict)
    cluster_opts: Mapping[str, str] = field(default_factory=dict)
    leave_running: bool = False
    results_dir: str = "results"
    argv: tuple[str, ...] = ()
    replay_of: str | None = None  # run directory whose seed and options this run repeats

    @property
    def test_name(self) -> str:
        nem = "+".join(self.nemeses) if self.nemeses else "none"
        return f"{self.system}-{self.workload}-{nem}"


def expectation_opts(specs: Sequence[OptionSpec], values: Mapping[str, object]) -> list[tuple[str, object]]:
    """(name, value) of the options marked `expectation` whose parsed value is not the default, in spec order; a
    mapping (the conf.KEY=VALUE settings) gives one (name.KEY, VALUE) per key."""
    out: list[tuple[str, object]] = []
    for s in specs:
        if s.expectation and s.name in values and values[s.name] != s.default:
            v = values[s.name]
            out += [(f"{s.name}.{k}", v[k]) for k in sorted(v)] if isinstance(v, Mapping) else [(s.name, v)]
    return out


def _name_part(value: object) -> str:
    text = ",".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)
    return re.sub(r"[^A-Za-z0-9._,=+-]", "_", text)


def build_test_name(options: RunOptions, expectations: Sequence[tuple[str, object]] = ()) -> str:
    """`postgres-list-append-none`, then `-isolation=read-committed` for each option that changes the expectation
    (see `expectation_opts`); characters a file name or URL would mangle become `_`."""
    return "-".join([options.test_name, *(f"{k}={_name_part(v)}" for k, v in expectations)])


def options_from_test_json(test: Mapping[str, Any], *, results_dir: str, argv: Sequence[str], replay_of: str) -> RunOptions:
    """RunOptions of a stored run (its test.json), to repeat its generator and nemesis schedule."""
    o = dict(test.get("options") or {})
    fields = {f for f in RunOptions.__dataclass_fields__}
    kw = {k: v for k, v in o.items() if k in fields}
    for k in ("nemeses", "node_names", "argv"):
        if k in kw and kw[k] is not None:
            kw[k] = tuple(kw[k])
    kw.update(results_dir=results_dir, argv=tuple(argv), replay_of=replay_of, leave_running=False)
    try:
        return RunOptions(**kw)
    except TypeError as e:
        raise BadInput(f"cannot replay: test.json options do not fit this harness: {e}") from None
