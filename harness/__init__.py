"""A Jepsen-style chaos-testing harness for real clusters.

This package is the core: the op and history model, the generator DSL, the interpreter, the runner, the
store, the plugin registry and the CLI. It knows about no particular database; systems live in `clusters/`,
workloads in `workloads/`, faults in `nemeses/` and checkers in `checkers/`.
"""

__version__ = "0.1.0"
