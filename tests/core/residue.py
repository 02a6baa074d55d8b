"""What a harness run may leave on this host, for tests that assert nothing is left."""

from __future__ import annotations

import os
import subprocess


def _out(argv: list[str]) -> str:
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.TimeoutExpired):
        return ""


def harness_leftovers(run_id: str | None = None) -> list[str]:
    """Namespaces, links, iptables rules, daemons and containers of the harness still present; only those of
    `run_id` when given (other runs may be going on at the same time)."""
    left = _all_leftovers()
    if run_id is None:
        return left
    from clusters.local.network import names_for

    tag = names_for(run_id).tag
    return [x for x in left if tag in x or run_id in x]


def _all_leftovers() -> list[str]:
    left: list[str] = []
    left += [f"netns {line.split()[0]}" for line in _out(["ip", "netns", "list"]).splitlines()
             if line.startswith("harness-")]
    for line in _out(["ip", "-o", "link", "show"]).splitlines():
        name = line.split(":")[1].strip().split("@")[0] if ":" in line else ""
        if name.startswith(("hbr", "hv")):
            left.append(f"link {name}")
    left += [f"iptables {r}" for r in _out(["iptables", "-S"]).splitlines() if "hbr" in r or "HARNESS" in r]
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                cmd = fh.read().replace(b"\0", b" ").decode(errors="replace")
            with open(f"/proc/{pid}/stat") as fh:
                state = fh.read().split(") ", 1)[1][0]
        except OSError:
            continue
        if "/var/lib/harness/" in cmd and state != "Z":
            left.append(f"process {pid} ({state}): {cmd[:120]}")
    left += [f"container {c}" for c in _out(["docker", "ps", "-aq", "--filter", "label=harness.run"]).split()]
    return left
