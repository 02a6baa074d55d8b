"""Values in a history file: how an op's value or error becomes JSON and back, exactly.

Owns `encode_value` and `decode_value`. JSON's own types stand as themselves, and tagged objects stand for what
JSON lacks: `{"~tuple": [...]}`, `{"~set": [...]}` (`"~frozen": true` for a frozenset), `{"~map": [[k, v], ...]}`
(a dict with non-string keys or a key that starts with "~"), `{"~bytes": "<hex>"}`, `{"~float": "inf"}` (JSON
has no inf or nan). Does not own ops or their fields (see `harness.op`).
"""

from __future__ import annotations

import json
from typing import Any

_SCALARS = (str, int, float, bool, type(None))


_NON_FINITE = {"inf": float("inf"), "-inf": float("-inf"), "nan": float("nan")}


def encode_value(v: Any) -> Any:
    """A JSON-ready form of `v` that `decode_value` turns back into an equal value of the same types."""
    if isinstance(v, _SCALARS):
        if isinstance(v, float) and (v != v or v in (_NON_FINITE["inf"], _NON_FINITE["-inf"])):
            return {"~float": repr(v)}  # JSON has no inf or nan
        return v
    if isinstance(v, list):
        return [encode_value(x) for x in v]
    if isinstance(v, tuple):
        return {"~tuple": [encode_value(x) for x in v]}
    if isinstance(v, dict):
        if all(isinstance(k, str) and not k.startswith("~") for k in v):
            return {k: encode_value(x) for k, x in v.items()}
        return {"~map": [[encode_value(k), encode_value(x)] for k, x in v.items()]}
    if isinstance(v, (set, frozenset)):
        items = [encode_value(x) for x in v]
        try:
            items.sort(key=lambda x: json.dumps(x, sort_keys=True))
        except TypeError:
            pass
        return {"~set": items, "~frozen": isinstance(v, frozenset)} if isinstance(v, frozenset) else {"~set": items}
    if isinstance(v, bytes):
        return {"~bytes": v.hex()}
    raise TypeError(f"cannot encode a value of type {type(v).__name__} in a history: {v!r}")


def _freeze(x: Any) -> Any:
    """Hashable form for set members and map keys decoded from JSON lists."""
    if isinstance(x, list):
        return tuple(_freeze(i) for i in x)
    return x


def decode_value(v: Any) -> Any:
    """Inverse of `encode_value`."""
    if isinstance(v, _SCALARS):
        return v
    if isinstance(v, list):
        return [decode_value(x) for x in v]
    if isinstance(v, dict):
        if len(v) <= 2:
            if "~tuple" in v:
                return tuple(decode_value(x) for x in v["~tuple"])
            if "~set" in v:
                items = (_freeze(decode_value(x)) for x in v["~set"])
                return frozenset(items) if v.get("~frozen") else set(items)
            if "~map" in v:
                return {_freeze(decode_value(k)): decode_value(x) for k, x in v["~map"]}
            if "~bytes" in v:
                return bytes.fromhex(v["~bytes"])
            if "~float" in v:
                return _NON_FINITE[v["~float"]]
        return {k: decode_value(x) for k, x in v.items()}
    raise TypeError(f"not a JSON value: {v!r}")
