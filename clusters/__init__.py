"""Where and what runs: cluster providers (local network namespaces, docker, ssh) and systems (etcd, ...).

Owns the provider and system plugins and what they share: the daemon helper (`clusters.daemon`) and the
ledger undo functions of every resource kind they create. Does not decide what a test checks (that is
workloads/ and checkers/), nor collect node logs (the core does, through `harness.db.HasLogs`).
"""
