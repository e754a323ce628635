"""What the demo's app counted: its ``/metrics`` by outcome, and where to look for the rest."""

from __future__ import annotations

import re

__all__ = ["scrape_metrics", "where_to_look"]

_DELIVERIES = re.compile(
    r'^hookreceiver_deliveries_total\{[^}]*outcome="([a-z_]+)"[^}]*\} (\S+)$', re.M
)


def scrape_metrics(base: str) -> dict[str, int] | None:
    """The app's ``/metrics``, as deliveries counted by outcome; ``None`` when it serves none
    (prometheus-client is not installed)."""
    from urllib.error import URLError
    from urllib.request import urlopen

    try:
        with urlopen(base + "/metrics", timeout=5) as response:
            text = response.read().decode()
    except (URLError, OSError):
        return None
    if "hookreceiver_" not in text:
        return None
    counted: dict[str, int] = {}
    for outcome, value in _DELIVERIES.findall(text):
        counted[outcome] = counted.get(outcome, 0) + int(float(value))
    return counted


def where_to_look(base: str, scraped: dict[str, int] | None) -> str:
    """Where the demo's deliveries show up: metrics, logs and traces."""
    if scraped is None:
        metrics = "pip install 'hookreceiver[prometheus]', and the example app serves /metrics"
    else:
        ranked = sorted(scraped.items(), key=lambda item: -item[1])
        by_outcome = ", ".join(f"{count} {outcome}" for outcome, count in ranked)
        metrics = (
            f"{base}/metrics (while the app runs) counted {sum(scraped.values())} deliveries: "
            f"{by_outcome}"
        )
    return "\n".join(
        [
            "Where to look (docs/observability.md):",
            f"  metrics  {metrics}",
            '  logs     one JSON line per handled event on the "hookreceiver.events" logger '
            "(the lines above)",
            "  traces   a hookreceiver.delivery span per delivery with hookreceiver[otel]: run the "
            "app under opentelemetry-instrument",
        ]
    )
