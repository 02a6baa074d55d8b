"""Checkers: pure functions of a history (linearizable, elle, set, counter, bank, ...), one package each.

Owns nothing itself; each subpackage registers through the `harness.checkers` entry-point group. Checkers never
touch the network, the clock (beyond a time budget) or global state, and write files only under their out_dir.
"""
