"""The plugin registry: systems, workloads, nemeses, clusters and checkers, loaded from entry points.

Owns the five entry-point groups (the only extension points of the harness), loading, listing and the
duplicate-name rule. Built-in plugins register through the same groups in this package's pyproject.toml.
With `HARNESS_NO_PLUGINS=1` only entry points of this distribution load.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from importlib import metadata
from typing import Any

from harness.errors import BadInput, UnknownPlugin

GROUPS: dict[str, str] = {
    "systems": "harness.systems",
    "workloads": "harness.workloads",
    "nemeses": "harness.nemeses",
    "clusters": "harness.clusters",
    "checkers": "harness.checkers",
}
KIND_OF_GROUP = {v: k[:-1] if k != "nemeses" else "nemesis" for k, v in GROUPS.items()}
BUILTIN_DISTRIBUTION = "chaos-harness"


@dataclass(frozen=True)
class PluginEntry:
    group: str
    name: str
    module: str
    entry_point: metadata.EntryPoint

    @property
    def distribution(self) -> str:
        """The installed distribution that registers it (read from its metadata only when asked: parsing every
        distribution's metadata was a tenth of a `harness check`)."""
        return _dist_name(self.entry_point)

    def load(self) -> object:
        try:
            obj = self.entry_point.load()
        except Exception as e:  # noqa: BLE001 - a broken third-party plugin is bad input, named
            raise BadInput(f"plugin {self.name!r} in {self.group} ({self.module}) fails to load: {e}") from None
        return obj() if isinstance(obj, type) else obj


def _dist_name(ep: metadata.EntryPoint) -> str:
    return ep.dist.name if ep.dist is not None else "?"


class Registry:
    """Entry points by group and name. Loading a plugin imports it; listing does not."""

    def __init__(self, *, builtins_only: bool | None = None) -> None:
        if builtins_only is None:
            builtins_only = os.environ.get("HARNESS_NO_PLUGINS", "") not in ("", "0")
        self._entries: dict[str, dict[str, PluginEntry]] = {g: {} for g in GROUPS.values()}
        self._loaded: dict[tuple[str, str], object] = {}
        every = metadata.entry_points()  # one scan of the installed distributions, not one per group
        for group in GROUPS.values():
            for ep in every.select(group=group):
                if builtins_only and _dist_name(ep) != BUILTIN_DISTRIBUTION:
                    continue
                entry = PluginEntry(group, ep.name, ep.value.split(":")[0], ep)
                prev = self._entries[group].get(ep.name)
                if prev is not None and prev.module != entry.module:
                    raise BadInput(
                        f"{KIND_OF_GROUP[group]} {ep.name!r} is registered twice: by {prev.distribution} "
                        f"({prev.entry_point.value}) and by {_dist_name(ep)} ({ep.value})"
                    )
                self._entries[group][ep.name] = entry

    def entries(self) -> list[PluginEntry]:
        return [e for g in GROUPS.values() for e in sorted(self._entries[g].values(), key=lambda e: e.name)]

    def names(self, kind: str) -> list[str]:
        return sorted(self._entries[GROUPS[kind]])

    def get(self, kind: str, name: str) -> Any:
        """The loaded plugin `name` of `kind` ("systems", "workloads", ...); UnknownPlugin lists the known."""
        group = GROUPS[kind]
        key = (group, name)
        if key not in self._loaded:
            entry = self._entries[group].get(name)
            if entry is None:
                known = ", ".join(self.names(kind)) or "none"
                raise UnknownPlugin(f"unknown {KIND_OF_GROUP[group]} {name!r} (known: {known})")
            self._loaded[key] = entry.load()
        return self._loaded[key]
