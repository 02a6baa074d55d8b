"""Fault families of the harness, each a `harness.nemeses` plugin that builds a `harness.nemesis.Package`
(nemesis + schedule + final heal + report label).

Owns the built-in fault families: `partition`, `kill`, `pause`, `clock`, `packet`, `disk`, `membership`,
`swizzle-clog`, and `combined` (a random mixture of the others), plus the pieces they share: reaching a node
again from a ledger entry (`nemeses.remotes`), choosing target nodes (`nemeses.targets`), schedules
(`nemeses.schedule`, including the hand-written `schedule=FILE` form) and iptables chains of the harness
(`nemeses.net.iptables`). Does not own the `Nemesis` and `Package` interfaces (`harness.nemesis`) nor any
system: abilities a family needs are checked with `harness.db.require` when the package is built.

A third-party family is a package with a `harness.nemeses` entry point; see docs/nemesis-plugins.md.
"""
