"""Elle-style transactional isolation checking, native Python (issue 4).

Owns the `elle` checker plugin (`PLUGIN`) and the classes workloads use directly (`ListAppendChecker`,
`RWRegisterChecker`, `ElleChecker`, `ElleOptions`, `analyze`). Modules, by noun:

    models        consistency models, anomaly implications, `not` / `also-not`
    txns          transactions as integer columns; process and real-time edges
    graph         edge arrays, CSR adjacency, iterative Tarjan
    case          a non-cycle anomaly instance; what a workload analysis returns
    list_append   list-append version orders, dependencies, non-cycle anomalies
    rw_register   rw-register version orders, dependencies, non-cycle anomalies
    cycles        per-component cycle search with a budget; naming cycles
    analysis      the pipeline and Elle's result-map rules
    checker       Verdict, findings in plain words
    elle_cli      cross-check with an external elle-cli
    plugin        entry point and options

Does not own history parsing (harness.formats) nor any other checker.
"""

from checkers.elle.analysis import ElleOptions, Result, analyze
from checkers.elle.checker import ElleChecker, ListAppendChecker, RWRegisterChecker
from checkers.elle.plugin import PLUGIN, EllePlugin

__all__ = [
    "PLUGIN",
    "ElleChecker",
    "ElleOptions",
    "EllePlugin",
    "ListAppendChecker",
    "RWRegisterChecker",
    "Result",
    "analyze",
]
