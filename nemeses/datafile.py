"""Changing one file on a node, for the disk nemesis: where its written data ends, a checksum of that part, a
bit flipped in it, its tail cut. Everything runs through the node's `Remote` with coreutils only (dd, od, tr,
wc, stat, head, sha256sum, truncate), so it works in local namespaces, docker containers and on ssh hosts.

Owns `written_bytes`, `checksum`, `bitflip`, `truncate`, `read_chunk`/`write_chunk` (for the rollback and copy
modes: a region rolled back to older content, one region copied over another), and `Change` (what was done to a file, with its
checksums before and after: the disk nemesis's evidence). Does not choose files or nodes, nor stop the system.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

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
_READ_CHUNK = 'tail -c +"$(( $2 + 1 ))" "$1" | head -c "$3" | od -An -v -tx1 | tr -d " \\n"'
_WRITE_CHUNK = 'dd of="$1" bs=65536 seek="$2" oflag=seek_bytes conv=notrunc status=none'
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

    def to_json(self) -> dict[str, object]:
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


def read_chunk(remote: Remote, path: str, offset: int, n: int) -> bytes:
    """The `n` bytes of the file at `offset` (fewer at its end)."""
    r = remote.run(["sh", "-c", _READ_CHUNK, "read-chunk", path, str(offset), str(n)], timeout=30)
    return bytes.fromhex(r.stdout.strip())


def write_chunk(remote: Remote, path: str, offset: int, data: bytes) -> None:
    """Overwrite the file at `offset` with `data` (the rest of the file unchanged)."""
    remote.run(["sh", "-c", _WRITE_CHUNK, "write-chunk", path, str(offset)], stdin=data, timeout=30)


def chunk_at(rng: random.Random, written: int, size: int = BLOCK) -> tuple[int, int]:
    """A random block-aligned region inside the first `written` bytes: (offset, length)."""
    blocks = max(1, (written + size - 1) // size)
    offset = rng.randrange(blocks) * size
    return offset, min(size, written - offset)


def bitflips(remote: Remote, path: str, rng: random.Random, written: int, p: float) -> dict[str, int]:
    """Flip each bit of one random block of the written data with probability `p` (at least one bit)."""
    offset, n = chunk_at(rng, written)
    old = read_chunk(remote, path, offset, n)
    new = bytearray(old)
    flipped = 0
    for i in range(len(new) * 8):
        if rng.random() < p:
            new[i // 8] ^= 1 << (i % 8)
            flipped += 1
    if not flipped:
        i = rng.randrange(len(new) * 8)
        new[i // 8] ^= 1 << (i % 8)
        flipped = 1
    write_chunk(remote, path, offset, bytes(new))
    return {"offset": offset, "length": n, "bits": flipped}


def copy_chunk(remote: Remote, path: str, rng: random.Random, written: int) -> dict[str, int]:
    """Copy one block of the written data over another (a misdirected write); both inside the written part."""
    src, n = chunk_at(rng, written)
    dst, m = chunk_at(rng, written)
    if written > BLOCK:
        while dst == src:
            dst, m = chunk_at(rng, written)
    data = read_chunk(remote, path, src, min(n, m))
    write_chunk(remote, path, dst, data)
    return {"from_offset": src, "to_offset": dst, "length": len(data)}
