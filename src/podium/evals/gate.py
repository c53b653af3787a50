"""CI gates: thresholds on an experiment's metrics, a baseline comparison, and JUnit XML.

``parse_gate("f1 >= 0.80")`` reads one gate; ``check_gates`` grades an experiment's metrics
against them (a metric the experiment lacks fails its gate, naming the metrics it has);
``regressions`` picks the scorers a comparison found significantly worse; ``junit_xml`` writes
one testcase per gate and per compared scorer, as CI systems read it.
"""

from __future__ import annotations

import operator
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from podium.errors import InvalidInput

_OPERATORS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge,
    ">": operator.gt,
    "<=": operator.le,
    "<": operator.lt,
    "==": operator.eq,
}
_GATE = re.compile(r"^\s*([A-Za-z0-9_.:-]+)\s*(>=|<=|==|>|<)\s*(-?[0-9]*\.?[0-9]+(?:e-?\d+)?)\s*$")


@dataclass(frozen=True)
class Gate:
    """``metric op threshold``, e.g. ``f1 >= 0.8``."""

    metric: str
    op: str
    threshold: float

    def __str__(self) -> str:
        return f"{self.metric} {self.op} {self.threshold:g}"


@dataclass(frozen=True)
class GateResult:
    """One gate graded: the value found (None when the metric is missing) and the outcome."""

    gate: Gate
    value: float | None
    passed: bool
    message: str


def parse_gate(text: str) -> Gate:
    """The gate written as ``METRIC OP NUMBER``; ``InvalidInput`` showing the form."""
    match = _GATE.match(text)
    if match is None:
        raise InvalidInput(
            f'gate {text!r} does not parse; write it as METRIC OP NUMBER, e.g. "f1 >= 0.80" '
            "(OP: >=, >, <=, <, ==)",
            field="gate",
        )
    return Gate(match.group(1), match.group(2), float(match.group(3)))


def check_gates(gates: Sequence[Gate], metrics: Mapping[str, float]) -> list[GateResult]:
    """Each gate against ``metrics`` (an experiment's aggregates)."""
    results = []
    for gate in gates:
        value = metrics.get(gate.metric)
        if value is None:
            known = ", ".join(sorted(metrics)) or "none"
            message = f"no metric {gate.metric!r}; the experiment has: {known}"
            results.append(GateResult(gate, None, False, message))
            continue
        passed = _OPERATORS[gate.op](value, gate.threshold)
        message = f"{gate.metric} = {value:.4g} ({'meets' if passed else 'fails'} {gate})"
        results.append(GateResult(gate, value, passed, message))
    return results


def regressions(comparison: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The scorers of a comparison (the API's JSON) that are significantly worse."""
    return [s for s in comparison.get("scorers", []) if s["verdict"] == "worse"]


@dataclass(frozen=True)
class GateReport:
    """What the gate decided for one target: its gates and its baseline comparison."""

    suite: str
    target: str
    gates: list[GateResult]
    comparison: Mapping[str, Any] | None = None

    @property
    def passed(self) -> bool:
        """No gate failed and nothing is significantly worse than the baseline."""
        return all(g.passed for g in self.gates) and not regressions(self.comparison or {})


def junit_xml(reports: Sequence[GateReport]) -> str:
    """JUnit XML: a testsuite per target with one testcase per gate and per compared scorer."""
    root = ET.Element("testsuites")
    for report in reports:
        cases: list[tuple[str, str, str | None]] = []  # (class, name, failure message)
        for result in report.gates:
            failure = None if result.passed else result.message
            cases.append((f"{report.suite}.gates", str(result.gate), failure))
        for scorer in (report.comparison or {}).get("scorers", []):
            text = (
                f"{scorer['scorer']}: delta {scorer['delta']:+.4g} "
                f"(95% CI {scorer['ci_low']:+.4g} .. {scorer['ci_high']:+.4g}), {scorer['verdict']}"
            )
            failure = None
            if scorer["verdict"] == "worse":
                failure = "significantly worse than the baseline: " + text
            cases.append((f"{report.suite}.baseline", f"{scorer['scorer']} vs baseline", failure))
        element = ET.SubElement(
            root,
            "testsuite",
            name=f"{report.suite}:{report.target}",
            tests=str(len(cases)),
            failures=str(sum(1 for c in cases if c[2] is not None)),
            errors="0",
            skipped="0",
        )
        for classname, name, failure in cases:
            case = ET.SubElement(element, "testcase", classname=classname, name=name, time="0")
            if failure is not None:
                node = ET.SubElement(case, "failure", message=failure, type="EvalGateFailure")
                node.text = failure
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"
