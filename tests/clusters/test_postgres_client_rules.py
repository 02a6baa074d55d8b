"""The Postgres client's outcome table, rule by rule: which errors make an op `fail` (it definitely did not
happen) and which make it `info` (it may have). The subject is the table itself, so the errors are psycopg's
own exception classes with their real SQLSTATEs and no server is involved; the same rules on a real server
(connection refused, a commit lost with the primary, serialization failures) are exercised in
test_postgres_db.py and test_postgres_workloads.py."""

from __future__ import annotations

import psycopg
import psycopg.errors as pe
import pytest

from clusters.postgres.client import describe
from clusters.postgres.tables import TABLES
from clusters.postgres.client import outcome as table_outcome
from harness.op import Op

WRITE = Op(type="invoke", process=0, f="add", value=1)
READ = Op(type="invoke", process=0, f="read", value=None)


def outcome(op: Op, error: psycopg.Error, stage: str) -> str:
    return table_outcome(error, stage=stage, read_only=TABLES["set"].read_only(op))  # the rule table is the subject


@pytest.mark.parametrize(
    ("error", "stage", "expected"),
    [
        # nothing was committed before COMMIT was sent, whatever happened to the connection
        (pe.OperationalError("server closed the connection unexpectedly"), "body", "fail"),
        (pe.QueryCanceled("canceling statement due to statement timeout"), "body", "fail"),
        (pe.UniqueViolation("duplicate key"), "body", "fail"),
        # the server said the transaction rolled back
        (pe.SerializationFailure("could not serialize access"), "commit", "fail"),
        (pe.DeadlockDetected("deadlock detected"), "commit", "fail"),
        (pe.UniqueViolation("deferred constraint"), "commit", "fail"),
        # the answer to COMMIT was lost: it may have committed
        (pe.OperationalError("server closed the connection unexpectedly"), "commit", "info"),
        (pe.AdminShutdown("terminating connection due to administrator command"), "commit", "info"),
        (pe.InterfaceError("the connection is lost"), "commit", "info"),
    ],
)
def test_a_write_is_fail_only_when_it_certainly_did_not_commit(error: psycopg.Error, stage: str,
                                                                expected: str) -> None:
    assert outcome(WRITE, error, stage) == expected


@pytest.mark.parametrize("stage", ["body", "commit"])
def test_a_read_that_did_not_complete_is_fail_since_it_changed_nothing(stage: str) -> None:
    assert outcome(READ, pe.OperationalError("server closed the connection unexpectedly"), stage) == "fail"


def test_error_names() -> None:
    assert describe(pe.SerializationFailure("x")) == "refused: serialization-failure"
    assert describe(pe.DeadlockDetected("x")) == "refused: deadlock"
    assert describe(pe.UniqueViolation("dup")) == "refused: 23505: dup"
