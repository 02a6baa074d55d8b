"""Real Jepsen histories from elle-cli (ligurio/elle-cli `histories/jepsen/`), with the verdicts elle-cli's
test.sh asserts (see tests/data/elle-cli/PROVENANCE.md), through `harness.formats.load_history`."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.checker import safe_check
from harness.options import parse_opts
from harness.plugins import Registry
from tests.corpora import ELLE_CLI

JEPSEN = ELLE_CLI / "jepsen"

# file, checker, expected validity, a substring every diagnosis of an invalid verdict must contain
CASES = [
    ("counter.edn", "counter", True, ""),
    ("counter.json", "counter", True, ""),
    ("set.edn", "set", True, ""),
    ("set.edn", "set-full", True, ""),
    # adds are [key element] pairs but the read returns bare ints: every add is lost, every read value unexpected
    ("set_full.edn", "set-full", False, "lost acknowledged write: add [0, 0] was ok (op #1)"),
    ("set_full.json", "set-full", False, "lost acknowledged write: add [0, 0] was ok (op #1)"),
    ("bank.edn", "bank", True, ""),
    ("bank.json", "bank", True, ""),
    ("bank-tidb.edn", "bank", False, "invariant broken: total changed (total is 105, not 100, in read op #258)"),
    ("bank-neg.edn", "bank", True, ""),
    ("bank-negative-balances.json", "bank", False, "invariant broken: balance below zero (account 7 = -1"),
]


@pytest.mark.parametrize(("file", "checker", "valid", "diagnosis"), CASES, ids=lambda x: str(x))
def test_elle_cli_history(file: str, checker: str, valid: bool, diagnosis: str, tmp_path: Path) -> None:
    from harness.formats import load_history

    plugin = Registry(builtins_only=True).get("checkers", checker)
    c = plugin.make(parse_opts(checker, plugin.option_specs, {}))
    v = safe_check(c, None, load_history(JEPSEN / file, repair=True), tmp_path)
    assert v.valid is valid, v.summary
    if diagnosis:
        assert diagnosis in v.findings[0].diagnosis


def test_bank_negative_balances_allowed(tmp_path: Path) -> None:
    from harness.formats import load_history

    plugin = Registry(builtins_only=True).get("checkers", "bank")
    c = plugin.make(parse_opts("bank", plugin.option_specs, {"allow_negative": "true"}))
    assert c.check(None, load_history(JEPSEN / "bank-negative-balances.json", repair=True), tmp_path).valid is True
