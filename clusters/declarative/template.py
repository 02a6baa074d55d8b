"""Placeholders in a system file: which names each field may use, finding them, and filling them in.

A placeholder is `{name}` where name is lower-case letters, digits and `_`, or `conf.KEY` (a setting the file
declares under `conf:`). Anything else in braces is text and is left as written, so JSON bodies, shell
`${VAR}` and awk programs need no escaping. Owns the placeholder vocabulary; does not know what a node is.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

PLACEHOLDER = re.compile(r"\{([a-z_][a-z0-9_]*(?:\.[A-Za-z0-9_-]+)?)\}")

NODE_NAMES = frozenset({"node", "ip", "port", "peer_port", "peers", "initial_cluster", "nodes", "data_dir",
                        "workdir"})
"""On a node (install, start, ready, logs, data_files, primary): its name and address, the ports the file
declares, every node (`{nodes}` names, `{peers}` ip:peer_port, `{initial_cluster}` name=http://ip:peer_port),
its data directory and workdir."""

SECRET = "secret"
"""The run's password for the system (`test.secrets`): allowed only where it stays off command lines and out of
the run directory: node `files` contents, HTTP headers and bodies, the Redis `hello` command."""

OP_NAMES = frozenset({"key", "value", "old", "new", "ip", "port", "node"})
"""In a client op (HTTP path, body and headers; Redis command words): the op's key and values, the node,
and conf.KEY."""


def names(text: str) -> list[str]:
    """The placeholder names in `text`, in order."""
    return PLACEHOLDER.findall(text)


def unknown(text: str, allowed: frozenset[str], conf: frozenset[str]) -> str | None:
    """The first placeholder of `text` that is neither in `allowed` nor a declared `conf.KEY`, else None."""
    for name in names(text):
        if name in allowed:
            continue
        if name.startswith("conf.") and name[5:] in conf:
            continue
        return name
    return None


def fill(text: str, values: Mapping[str, str]) -> str:
    """`text` with every placeholder replaced by its value (placeholders were checked when the file loaded)."""
    return PLACEHOLDER.sub(lambda m: values[m.group(1)], text)
