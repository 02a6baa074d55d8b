"""Where the upstream test histories live in this repository (`tests/data/`), named once for every test and
benchmark that reads them, and the verdicts upstream asserts that no file name carries.

Owns the paths and the Porcupine etcd verdict list; does not load or check anything. Where each folder comes
from, at which commit and under which licence: `tests/data/<folder>/PROVENANCE.md`."""

from __future__ import annotations

from pathlib import Path

DATA = Path(__file__).resolve().parent / "data"
PORCUPINE = DATA / "porcupine"
KNOSSOS = DATA / "knossos"
ELLE = DATA / "elle"
ELLE_CASES = ELLE / "derived" / "cases.json"
ELLE_CLI = DATA / "elle-cli"
ELLE_CLI_MPRIMI = DATA / "elle-cli-mprimi"

# Porcupine's porcupine_test.go: these etcd logs are linearizable, every other one is not; 095 is empty and
# untested upstream (see tests/data/porcupine/PROVENANCE.md).
PORCUPINE_ETCD_LINEARIZABLE = frozenset(
    "002 005 007 018 025 031 038 045 048 049 051 053 056 067 075 076 080 087 092 098 100 101 102".split())
PORCUPINE_ETCD_UNTESTED = "095"
