"""Changing one file on a node, for the disk nemesis: where its written data ends, a checksum of that part, a
bit flipped in it, its tail cut. Everything runs through the node's `Remote` with coreutils only (dd, od, tr,
wc, stat, head, sha256sum, truncate), so it works in local namespaces, docker containers and on ssh hosts.

Owns `written_bytes`, `checksum`, `bitflip` and `truncate`, and `Change` (what was done to a file, with its
checksums before and after: the disk nemesis's evidence). Does not choose files or nodes, nor stop the system.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from harness.control import Remote
from harness.errors import FaultError

BLOCK = 4096

# Where the written data of a file ends: a binary search for the first block of the all-zero tail (each probe
# reads one block), then the last non-zero byte of the block before it. It assumes the data comes first and
# zeros after it, as in a preallocated log (an all-zero block inside the data can make it answer short, never
# long: the answer always ends at a non-zero byte).
_WRITTEN = r'''f=$1 bs=$2
size=$(stat -c %s "$f") || exit 1
n=$(( (size + bs - 1) / bs ))
zero() { [ "$(dd if="$f" bs="$bs" skip="$1" count=1 2>/dev/null | tr -d '\000' | wc -c)" -eq 0 ]; }
lo=0 hi=$n
while [ "$lo" -lt "$hi" ]; do
  mid=$(( (lo + hi) / 2 ))
  if zero "$mid"; then hi=$mid; else lo=$((mid + 1)); fi
done
if [ "$lo" -eq 0 ]; then echo "$size 0"; exit 0; fi
last=$(dd if="$f" bs="$bs" skip=$((lo - 1)) count=1 2>/dev/null | od -An -v -tu1 -w1 | awk '$1 != 0 {k = NR} END {print k + 0}')
echo "$size $(( (lo - 1) * bs + last ))"'''
_CHECKSUM = 'head -c "$2" "$1" | sha256sum | cut -c1-64'
_READ = 'od -An -tu1 -j "$2" -N1 "$1"'
_WRITE = 'printf "$(printf "\\\\%03o" "$3")" | dd of="$1" bs=1 seek="$2" conv=notrunc status=none'


def written_bytes(remote: Remote, path: str) -> tuple[int, int]:
    """(size, written): the file's size, and how many bytes from its start hold data (up to and including its
    last non-zero byte; 0 for an empty or all-zero file)."""
    r = remote.run(["sh", "-c", _WRITTEN, "written-bytes", path, str(BLOCK)], timeout=30, check=False)
    parts = r.stdout.split()
    if r.exit_code != 0 or len(parts) != 2 or not all(p.isdigit() for p in parts):
        raise FaultError(f"on {remote.node}: cannot read {path}: {r.stderr.strip() or r.exit_code}")
    return int(parts[0]), int(parts[1])


def checksum(remote: Remote, path: str, nbytes: int) -> str:
    """sha256 of the first `nbytes` of the file (of all of it, if it is shorter)."""
    return remote.run(["sh", "-c", _CHECKSUM, "checksum", path, str(nbytes)], timeout=30).stdout.strip()


@dataclass(frozen=True, kw_only=True)
class Change:
    """What was done to one file: `written` bytes of data before (the part checksummed before and after),
    and the mode's own record (offset, bit and bytes of a flip; sizes of a cut)."""

    file: str
    mode: str
    written: int
    sha256_before: str
    sha256_after: str
    detail: dict[str, int]

    @property
    def changed(self) -> bool:
        return self.sha256_before != self.sha256_after

    def to_json(self) -> dict[str, Any]:
        return {"file": self.file, "mode": self.mode, "written": self.written, **self.detail,
                "sha256_before": self.sha256_before, "sha256_after": self.sha256_after}


def _byte(remote: Remote, path: str, offset: int) -> int:
    return int(remote.run(["sh", "-c", _READ, "read", path, str(offset)], timeout=30).stdout.split()[0])


def bitflip(remote: Remote, path: str, rng: random.Random, written: int) -> dict[str, int]:
    """Flip one random bit among the first `written` bytes; the offset, bit and byte before and after."""
    if written <= 0:
        raise FaultError(f"on {remote.node}: {path} holds no written data; nothing to flip")
    offset, bit = rng.randrange(written), rng.randrange(8)
    before = _byte(remote, path, offset)
    after = before ^ (1 << bit)
    remote.run(["sh", "-c", _WRITE, "write", path, str(offset), str(after)], timeout=30)
    got = _byte(remote, path, offset)
    if got != after:
        raise FaultError(f"on {remote.node}: bitflip of {path} at {offset} did not take ({got} != {after})")
    return {"offset": offset, "bit": bit, "before": before, "after": after}


def truncate(remote: Remote, path: str, rng: random.Random, written: int, size: int,
             max_bytes: int) -> dict[str, int]:
    """Cut 1..max_bytes of the last written bytes (and the zero tail after them): the file ends inside its
    data, as after a torn write. The sizes before and after."""
    if written <= 0:
        raise FaultError(f"on {remote.node}: {path} holds no written data; nothing to cut")
    cut = rng.randint(1, min(written, max_bytes))
    remote.run(["truncate", "-s", str(written - cut), path], timeout=30)
    return {"from_size": size, "to_size": written - cut}
