"""docs/observability.md and the Grafana dashboard stay true: every metric the receiver exports is
documented, the dashboard and the alert rules name only those, and the page's code runs."""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path

import pytest

pytest.importorskip("prometheus_client")
yaml = pytest.importorskip("yaml")
from prometheus_client import CollectorRegistry  # noqa: E402

from hookreceiver import Receiver, providers  # noqa: E402
from hookreceiver.engine import dispatch  # noqa: E402
from hookreceiver.inbox import SQLiteInbox  # noqa: E402
from support.payloads import faxplus_delivery  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "observability.md").read_text()
DASHBOARD = json.loads((ROOT / "docs" / "grafana" / "hookreceiver-dashboard.json").read_text())

#: PromQL's functions, aggregations and keywords the dashboard and rules may use.
PROMQL = {
    "sum",
    "max",
    "min",
    "avg",
    "count",
    "by",
    "without",
    "rate",
    "increase",
    "irate",
    "histogram_quantile",
    "label_values",
    "and",
    "or",
    "unless",
    "offset",
    "bool",
    "topk",
}


def exported_metrics(tmp_path: Path) -> set[str]:
    """The metric names a receiver with an inbox exports, histograms by their base name."""
    registry = CollectorRegistry()
    hooks = Receiver(inbox=SQLiteInbox(tmp_path / "inbox.db"), worker=False)
    hooks.endpoint("/hooks/faxplus", providers.FaxPlus(allow_ips=["127.0.0.1"]))
    hooks.enable_metrics(registry=registry)
    dispatch(hooks, faxplus_delivery())
    return {family.name for family in registry.collect()} | {
        f"{family.name}_total" for family in registry.collect() if family.type == "counter"
    }


def documented() -> set[str]:
    table = DOC.split("## Metrics", 1)[1].split("\n### ", 1)[0]
    return set(re.findall(r"^\| `(hookreceiver_[a-z_]+)`", table, re.M))


def names_in(expr: str) -> set[str]:
    """The metric names a PromQL expression reads."""
    bare = re.sub(r'"[^"]*"', "", expr)  # label values
    bare = re.sub(r"\{[^}]*\}", "", bare)  # matchers
    bare = re.sub(r"\[[^\]]*\]", "", bare)  # ranges
    bare = re.sub(r"\b(by|without)\s*\([^)]*\)", "", bare)  # grouping labels
    bare = re.sub(r"\$\w+", "", bare)  # Grafana variables
    bare = re.sub(r"label_values\(([^,]+),[^)]*\)", r"\1", bare)  # Grafana's label query
    bare = re.sub(r"(?<![A-Za-z_])\d+(\.\d+)?[smhdwy]*", "", bare)  # numbers, durations
    words = set(re.findall(r"[A-Za-z_:][A-Za-z0-9_:]*", bare))
    return {w for w in words if w not in PROMQL and not re.fullmatch(r"\d+\w*", w)}


def allowed(tmp_path: Path) -> set[str]:
    base = exported_metrics(tmp_path)
    histograms = {n for n in base if n.endswith("_seconds") and "duration" in n}
    return base | {f"{h}_{s}" for h in histograms for s in ("bucket", "count", "sum")}


def test_every_exported_metric_is_documented(tmp_path: Path) -> None:
    exported = {n for n in exported_metrics(tmp_path) if n.startswith("hookreceiver_")}
    counters = {n.removesuffix("_total") for n in exported if n.endswith("_total")}
    assert {n for n in exported if n not in counters} == documented()


def test_the_dashboard_names_only_our_metrics(tmp_path: Path) -> None:
    exprs = [t["expr"] for p in DASHBOARD["panels"] for t in p["targets"]]
    exprs += [v["definition"] for v in DASHBOARD["templating"]["list"]]
    assert len(exprs) >= 15
    ours = allowed(tmp_path)
    used: set[str] = set()
    for expr in exprs:
        names = names_in(expr)
        assert names, expr
        assert names <= ours, (expr, names - ours)
        used |= names
    # It shows the deliveries, refusals, both durations, store errors and the inbox.
    for name in (
        "hookreceiver_deliveries_total",
        "hookreceiver_refusals_total",
        "hookreceiver_delivery_duration_seconds_bucket",
        "hookreceiver_handler_duration_seconds_bucket",
        "hookreceiver_store_errors_total",
        "hookreceiver_inbox_records",
        "hookreceiver_inbox_oldest_pending_seconds",
    ):
        assert name in used, name


def test_the_alert_rules_parse_and_name_only_our_metrics(tmp_path: Path) -> None:
    (block,) = re.findall(r"```yaml\n(.*?)```", DOC, re.S)
    rules = yaml.safe_load(block)["groups"][0]["rules"]
    alerts = {rule["alert"]: rule["expr"] for rule in rules}
    assert {
        "HookreceiverDeadLetters",
        "HookreceiverInboxBacklog",
        "HookreceiverRefusalSpike",
    } <= set(alerts)
    ours = allowed(tmp_path)
    for expr in alerts.values():
        assert names_in(expr) and names_in(expr) <= ours, expr


def test_the_pages_python_blocks_run() -> None:
    blocks = re.findall(r"```python\n(.*?)```", DOC, re.S)
    assert len(blocks) >= 2
    for block in blocks:
        exec(compile(textwrap.dedent(block), "docs/observability.md", "exec"), {})
