"""junit.xml: the run's verdict in the format CI systems read.

Owns `junit_xml` and `write_junit`. One <testsuite> named after the test; one <testcase> per checker (as
`harness.report.diagnosis.checker_verdicts` finds them in the composed verdict):
  valid    -> a passing testcase
  invalid  -> <failure> with the checker's summary and its findings' diagnoses
  unknown  -> <error> (not <skipped>): an unknown verdict means the check could not be completed, which CI must
              not show as green; the message says why (checker crashed, time budget ran out, fault not injected)
Errors of the run itself (results.json "errors") add one testcase "run" with an <error>. A run without
results.json yields a single "run" testcase with an <error>. Does not own the verdict or exit code.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET

from harness.checker import UNKNOWN, Verdict
from harness.report.diagnosis import checker_verdicts
from harness.report.rundir import RunDir

MAX_FINDINGS_IN_TEXT = 50


def _case(suite: ET.Element, classname: str, v: Verdict) -> tuple[int, int]:
    case = ET.SubElement(suite, "testcase", classname=classname, name=v.checker or "checker", time="0")
    findings = v.all_findings()
    text = "\n".join(f"[{f.failure_class.value}] {f.kind} ({f.scope}): {f.diagnosis}"
                     for f in findings[:MAX_FINDINGS_IN_TEXT])
    if len(findings) > MAX_FINDINGS_IN_TEXT:
        text += f"\n... and {len(findings) - MAX_FINDINGS_IN_TEXT} more findings"
    if v.valid is False:
        el = ET.SubElement(case, "failure", message=v.summary or "invalid", type="invalid")
        el.text = text
        return 1, 0
    if v.valid == UNKNOWN:
        el = ET.SubElement(case, "error", message=v.summary or "verdict unknown", type="unknown")
        el.text = text
        return 0, 1
    return 0, 0


def junit_xml(run: RunDir) -> str:
    name = run.title
    classname = f"harness.{name}"
    suite = ET.Element("testsuite", name=name, timestamp=run.summary.started or run.test.started)
    props = ET.SubElement(suite, "properties")  # first, as the junit schema orders it
    failures = errors = tests = 0
    duration = run.summary.duration_s or 0.0
    if run.results is None:
        case = ET.SubElement(suite, "testcase", classname=classname, name="run", time="0")
        ET.SubElement(case, "error", message="no results.json: the run ended before its history was checked",
                      type="unknown")
        tests, errors = 1, 1
    else:
        verdict = run.results.verdict
        for child, _ in checker_verdicts(verdict):
            f, e = _case(suite, classname, child)
            failures += f
            errors += e
            tests += 1
        if run.results.errors:
            case = ET.SubElement(suite, "testcase", classname=classname, name="run", time=f"{duration:.3f}")
            el = ET.SubElement(case, "error", message=run.results.errors[0][:500], type="run-error")
            el.text = "\n".join(run.results.errors)
            tests += 1
            errors += 1
    suite.set("tests", str(tests))
    suite.set("failures", str(failures))
    suite.set("errors", str(errors))
    suite.set("skipped", "0")
    suite.set("time", f"{duration:.3f}")
    for k, v in (("run_id", run.run_id), ("seed", "" if run.test.seed is None else str(run.test.seed)),
                 ("valid", "unknown" if run.valid == UNKNOWN else str(run.valid).lower())):
        ET.SubElement(props, "property", name=k, value=v)
    root = ET.Element("testsuites", name="harness", tests=str(tests), failures=str(failures), errors=str(errors))
    root.append(suite)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def write_junit(run: RunDir, path: str | os.PathLike[str]) -> None:
    tmp = f"{os.fspath(path)}.tmp{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(junit_xml(run))
    os.replace(tmp, path)
