"""The types of JSON values, for the places where a value really is JSON (results.json, test.json, summaries,
YAML suite files after loading, checker details). Owns only these aliases; does not read or write JSON (see
harness.store and harness.op for that).

`Json` is what `json.loads` can return. A function that reads a field of a `JsonObject` narrows it with
isinstance before use; a function that builds one for `json.dumps` gets its values checked by mypy.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TypeAlias

Json: TypeAlias = "None | bool | int | float | str | list[Json] | dict[str, Json]"
JsonObject: TypeAlias = "dict[str, Json]"
# What may be written as JSON (read-only views: a tuple, a Mapping built by the caller)
JsonLike: TypeAlias = "None | bool | int | float | str | Sequence[JsonLike] | Mapping[str, JsonLike]"
