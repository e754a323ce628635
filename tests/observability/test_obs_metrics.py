"""The metrics in process: bounded labels, store errors, the inbox gauges read at scrape time,
and nothing imported or paid by a receiver that enables none of it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("prometheus_client")
from prometheus_client import CollectorRegistry, generate_latest  # noqa: E402

from hookreceiver import Receiver, providers  # noqa: E402
from hookreceiver.engine import dispatch  # noqa: E402
from hookreceiver.inbox import InboxState, SQLiteInbox  # noqa: E402
from hookreceiver.observability import REFUSAL_REASONS, refusal_reason  # noqa: E402
from hookreceiver.stores.redis import RedisStore  # noqa: E402
from support.payloads import faxplus_delivery, faxplus_payload  # noqa: E402
from support.servers import free_port  # noqa: E402


def receiver(**options: Any) -> tuple[Receiver, CollectorRegistry]:
    registry = CollectorRegistry()
    hooks = Receiver(**options)
    hooks.endpoint("/hooks/faxplus", providers.FaxPlus(allow_ips=["127.0.0.1"]))
    hooks.on("*")(lambda event, ctx: None)
    hooks.enable_metrics(registry=registry)
    return hooks, registry


def sample(registry: CollectorRegistry, name: str, **labels: str) -> float | None:
    return registry.get_sample_value(name, labels)


def test_an_undocumented_event_is_counted_as_other() -> None:
    hooks, registry = receiver()
    payload = faxplus_payload(event="something_new_from_the_sender_12345")
    assert dispatch(hooks, faxplus_delivery(payload)).response.status == 200
    labels = {"provider": "faxplus", "event": "other", "outcome": "handled", "status": "200"}
    assert sample(registry, "hookreceiver_deliveries_total", **labels) == 1
    assert b"something_new" not in generate_latest(registry)


def test_a_path_that_is_no_endpoint_is_not_counted() -> None:
    hooks, registry = receiver()
    assert dispatch(hooks, faxplus_delivery(path="/hooks/nope-123")).response.status == 404
    assert b"nope-123" not in generate_latest(registry)
    assert b"hookreceiver_deliveries_total{" not in generate_latest(registry)


def test_each_refusal_has_a_bounded_reason() -> None:
    from hookreceiver.errors import DeliveryRejected, NotVerified, PayloadTooLarge

    assert refusal_reason(NotVerified("x", error="address_not_allowed")) == "ip"
    assert refusal_reason(NotVerified("x", status=401, error="unauthorized")) == "auth"
    assert refusal_reason(NotVerified("x", error="invalid_token")) == "token"
    assert refusal_reason(PayloadTooLarge("x")) == "size"
    assert refusal_reason(DeliveryRejected("x", error="a-code-of-some-guard-of-yours")) == "other"
    assert set(REFUSAL_REASONS.values()) >= {
        "ip",
        "auth",
        "signature",
        "token",
        "size",
        "content_type",
        "method",
    }


def test_a_store_outage_counts_as_a_store_error() -> None:
    closed = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    hooks, registry = receiver(store=RedisStore(closed, socket_timeout=0.5))
    assert dispatch(hooks, faxplus_delivery()).response.status == 503
    assert sample(registry, "hookreceiver_store_errors_total", store="redis") == 1
    labels = {"provider": "faxplus", "outcome": "store_unavailable"}
    assert sample(registry, "hookreceiver_delivery_duration_seconds_count", **labels) == 1


def test_the_inbox_gauges_are_read_at_scrape_time(tmp_path: Path) -> None:
    now = [1000.0]
    inbox = SQLiteInbox(tmp_path / "inbox.db", clock=lambda: now[0])
    hooks, registry = receiver(inbox=inbox, worker=False)
    hooks.endpoint("/hooks/inbox", providers.FaxPlus(allow_ips=["127.0.0.1"]), ack="inbox")
    first = dispatch(hooks, faxplus_delivery(path="/hooks/inbox")).delivery_id
    now[0] = 1030.0
    dispatch(hooks, faxplus_delivery(path="/hooks/inbox"))
    now[0] = 1100.0
    assert sample(registry, "hookreceiver_inbox_records", state="pending") == 2
    assert sample(registry, "hookreceiver_inbox_oldest_pending_seconds") == 100.0
    # A failed attempt makes one "retrying"; its age still counts from its arrival.
    record = inbox.take_id("t", first or "")
    assert record is not None
    inbox.finish(record.id, "t", InboxState.PENDING, error="x", retry_in=60)
    assert sample(registry, "hookreceiver_inbox_records", state="retrying") == 1
    assert sample(registry, "hookreceiver_inbox_records", state="pending") == 1
    assert sample(registry, "hookreceiver_inbox_oldest_pending_seconds") == 100.0
    record = inbox.take_id("u", first or "", replay=True)
    assert record is not None
    inbox.finish(record.id, "u", InboxState.FAILED, error="x")
    assert sample(registry, "hookreceiver_inbox_records", state="dead") == 1
    assert sample(registry, "hookreceiver_inbox_oldest_pending_seconds") == 70.0
    assert sample(registry, "hookreceiver_inbox_up") == 1


def test_an_unreachable_inbox_reads_as_down(tmp_path: Path) -> None:
    class Down:
        clock = staticmethod(lambda: 0.0)

        def counts(self) -> Any:
            raise OSError("unreachable")

    registry = CollectorRegistry()
    hooks = Receiver()
    from hookreceiver.observability import Metrics

    Metrics(hooks, registry=registry, inbox=Down())
    assert sample(registry, "hookreceiver_inbox_up") == 0
    assert sample(registry, "hookreceiver_inbox_records", state="pending") is None


def test_enable_metrics_is_idempotent() -> None:
    hooks, _ = receiver()
    metrics = hooks.metrics
    assert hooks.enable_metrics() is metrics
    assert hooks.observers.count(metrics) == 1  # type: ignore[arg-type]


def test_nothing_is_imported_or_set_without_it() -> None:
    """A receiver that enables nothing imports neither library and has no tracer."""
    code = (
        "import sys\n"
        "from hookreceiver import Receiver, providers\n"
        "from hookreceiver.engine import dispatch\n"
        "sys.path.insert(0, 'tests')\n"
        "from support.payloads import faxplus_delivery\n"
        "hooks = Receiver()\n"
        "hooks.endpoint('/hooks/faxplus', providers.FaxPlus(allow_ips=['127.0.0.1']))\n"
        "assert dispatch(hooks, faxplus_delivery()).response.status == 200\n"
        "assert hooks.tracer is None\n"
        "names = ('prometheus_client', 'opentelemetry')\n"
        "loaded = [m for m in sys.modules if m.startswith(names)]\n"
        "assert not loaded, loaded\n"
        "assert 'hookreceiver.observability' not in sys.modules\n"
    )
    root = Path(__file__).resolve().parents[2]
    subprocess.run([sys.executable, "-c", code], cwd=root, check=True)


def test_two_receivers_share_one_registry() -> None:
    """An app imported twice in one process (the demo, a worker beside the app) must not fail
    on prometheus-client's duplicate names: both count into the same families."""
    registry = CollectorRegistry()
    counted = []
    for _ in range(2):
        hooks = Receiver()
        hooks.endpoint("/hooks/faxplus", providers.FaxPlus(allow_ips=["127.0.0.1"]))
        hooks.enable_metrics(registry=registry)
        counted.append(dispatch(hooks, faxplus_delivery()).response.status)
    assert counted == [200, 200]
    labels = {"provider": "faxplus", "event": "faxplus.fax_received", "outcome": "handled"}
    assert sample(registry, "hookreceiver_deliveries_total", **labels, status="200") == 2
