"""History importers: every file format `harness check` reads, turned into `harness.op.History`.

Owns the format names (`FORMATS`), detection from content (`detect_format`) and the entry points
`read_history(path, fmt=None, repair=False)` (the history with the repairs made and the warnings about the file)
and `load_history` (the history only). Every format goes through the same rules after conversion
(`harness.validate`): an impossible history is refused naming the file, the line and the rule. Does not own
any checking, nor the harness's own JSONL codec (that is `harness.op`), nor EDN syntax (`harness.formats.edn`).

Formats:
    jsonl           the harness's own history.jsonl (harness.op.read_jsonl)
    edn             Jepsen history.edn / Knossos: one vector of op maps, or one op map per line
    porcupine-log   Porcupine's Jepsen etcd logs: `INFO  jepsen.util - 3\\t:invoke\\t:cas\\t[1 4]`
    porcupine-kv    Porcupine's kv lines: `{:process 9, :type :invoke, :f :get, :key "0", :value nil}`
    elle-json       elle-cli JSON: an array of op objects with keywords as strings

Every importer renumbers ops by position when the file has no (or no usable) `:index`, maps `:time` to
`time_ns`, keeps `:process :nemesis` as the process "nemesis", and turns keywords into plain strings.
Unreadable or malformed input raises `harness.errors.MalformedHistory` naming the file and line.
"""

from __future__ import annotations

import os
import re

from harness.errors import BadInput, MalformedHistory
from harness.formats.jepsen import load_edn, load_elle_json
from harness.formats.porcupine import load_porcupine_kv, load_porcupine_log
from harness.op import History, scan_jsonl
from harness.validate import Parsed, Validated, validate

__all__ = ["FORMATS", "detect_format", "load_history", "read_history"]

FORMATS: tuple[str, ...] = ("jsonl", "edn", "porcupine-log", "porcupine-kv", "elle-json")

_PEEK = 1 << 16
_KV_KEY = re.compile(r":key\s")
_TAG = re.compile(r"^#[A-Za-z][^\s{\[(]*")


def _read_text(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as fh:
            return fh.read()
    except FileNotFoundError:
        raise MalformedHistory("no such file", path=path) from None
    except IsADirectoryError:
        raise MalformedHistory("is a directory, not a history file", path=path) from None
    except UnicodeDecodeError as e:
        raise MalformedHistory(f"not UTF-8 text (byte {e.start})", path=path) from None
    except OSError as e:
        raise MalformedHistory(f"cannot read: {e.strerror}", path=path) from None


def _detect_text(head: str, path: str) -> str:
    """The format of a file from its first bytes."""
    if "jepsen.util - " in head:
        return "porcupine-log"
    # Skip blank lines and EDN comments; stop at the line that closes the first map, which is all that is
    # judged below (joining every line of the 64 KiB head was a tenth of reading a Knossos file).
    meaningful: list[str] = []
    for ln in head.splitlines():
        if ln.strip() and not ln.lstrip().startswith(";"):
            meaningful.append(ln)
            if "}" in ln:
                break
    body = "\n".join(meaningful)
    s = _TAG.sub("", body.lstrip(), count=1).lstrip()  # `#jepsen.history.Op{...}`: a record is its map
    if not s:
        ext = os.path.splitext(path)[1].lower()
        return {".jsonl": "jsonl", ".json": "elle-json", ".log": "porcupine-log"}.get(ext, "edn")
    if s.startswith("["):
        rest = s[1:].lstrip()
        if rest.startswith("{"):
            rest2 = rest[1:].lstrip()
            return "elle-json" if rest2.startswith(('"', "}")) else "edn"
        if rest.startswith("]"):
            return "elle-json" if path.lower().endswith(".json") else "edn"
        return "edn"
    if s.startswith("{"):
        rest = s[1:].lstrip()
        if rest.startswith('"'):
            first = s.splitlines()[0]
            # Our JSONL always carries time_ns; an elle-style object per line does not.
            return "jsonl" if '"time_ns"' in first or path.lower().endswith(".jsonl") else "elle-json"
        first_map = s.split("}", 1)[0]
        if _KV_KEY.search(first_map):
            return "porcupine-kv"
        return "edn"
    if s.startswith("("):
        return "edn"
    raise MalformedHistory("unrecognised history format (expected JSONL, EDN, elle-cli JSON or a Porcupine log); "
                           f"name one of: {', '.join(FORMATS)}", path=path)


def detect_format(path: str | os.PathLike[str]) -> str:
    """The format name of the history file at `path`, judged from its content (then its extension)."""
    p = os.fspath(path)
    try:
        with open(p, encoding="utf-8", errors="replace") as fh:
            head = fh.read(_PEEK)
    except FileNotFoundError:
        raise MalformedHistory("no such file", path=p) from None
    except IsADirectoryError:
        raise MalformedHistory("is a directory, not a history file (nor a run directory with a history.jsonl)",
                               path=p) from None
    except OSError as e:
        raise MalformedHistory(f"cannot read: {e.strerror}", path=p) from None
    return _detect_text(head, p)


def read_history(path: str | os.PathLike[str], fmt: str | None = None, *, repair: bool = False) -> Validated:
    """The history in the file at `path`, read as `fmt` (one of FORMATS) or as detected from its content, and
    held to the rules of `harness.validate` (mended where `repair` allows, each repair reported)."""
    return validate(parse_history(path, fmt), repair=repair)


def load_history(path: str | os.PathLike[str], fmt: str | None = None, *, repair: bool = False) -> History:
    """`read_history(...).history`."""
    return read_history(path, fmt, repair=repair).history


def parse_history(path: str | os.PathLike[str], fmt: str | None = None) -> Parsed:
    """The ops of the file at `path` as its format gives them, before the rules are applied."""
    p = os.fspath(path)
    if fmt is None:
        fmt = detect_format(p)
    elif fmt not in FORMATS:
        raise BadInput(f"unknown history format {fmt!r} (known: {', '.join(FORMATS)})")
    if fmt == "jsonl":
        return _parse_jsonl(p)
    text = _read_text(p)
    if fmt == "edn":
        return load_edn(text, p)
    if fmt == "elle-json":
        return load_elle_json(text, p)
    if fmt == "porcupine-log":
        return load_porcupine_log(text, p)
    return load_porcupine_kv(text, p)


def _parse_jsonl(path: str) -> Parsed:
    if not os.path.exists(path):
        raise MalformedHistory("no such file", path=path)
    if os.path.isdir(path):
        raise MalformedHistory("is a directory, not a history file", path=path)
    read = scan_jsonl(path)
    warnings: tuple[str, ...] = ()
    if read.torn_line is not None:
        warnings = (f"{path}:{read.torn_line}: the last line is cut off (a killed run leaves one); checked the "
                    + f"{len(read.ops)} ops before it",)
    return Parsed(path=path, ops=read.ops, lines=read.lines, warnings=warnings)
