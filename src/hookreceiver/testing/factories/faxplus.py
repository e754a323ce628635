"""Fax.Plus deliveries: POST JSON ``{"hook": {...}, "data": {...}}`` from Fax.Plus's addresses.

``hook.id`` differs from ``data.id`` when Fax.Plus is retrying a fax (``retry=True``). The docs
name the numbers ``from``/``to`` while the official SDKs' model says ``from_number``/``to_number``
(``sdk_names=True``). Times are ``YYYY-MM-DD HH:mm:ss`` in UTC.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from ._base import (
    HeadersArg,
    SimulatedDelivery,
    deep_merge,
    next_number,
    post_json,
    recent_time,
    signature_of,
    transport_of,
    unique_hex,
)

if TYPE_CHECKING:
    from ...security.signed_urls import URLSigner

__all__ = [
    "EVENTS",
    "IP_PRESET",
    "USER_AGENT",
    "fax_event",
    "fax_page_received",
    "fax_received",
    "fax_sent",
]

PROVIDER = "faxplus"
#: Fax.Plus's published sender addresses.
IP_PRESET = ("34.65.253.117", "34.65.146.131")
#: Fax.Plus does not publish its agent [I].
USER_AGENT = "FaxPlus-Webhooks/1.0"
DEFAULT_PATH = "/hooks/faxplus"
_TIME = "%Y-%m-%d %H:%M:%S"


def fax_event(
    event: str,
    /,
    *,
    status: str = "success",
    pages: int = 1,
    retry: bool = False,
    sdk_names: bool = False,
    target: str = "https://example.com/hooks/faxplus",
    path: str | None = None,
    sender: str | None = None,
    basic_auth: tuple[str, str] | None = None,
    headers: HeadersArg = None,
    user_agent: str | None = USER_AGENT,
    url: str | None = None,
    signer: URLSigner | None = None,
    signed_context: Mapping[str, Any] | None = None,
    **fields: Any,
) -> SimulatedDelivery:
    """Any Fax.Plus event (``fax_sent``, ``fax_received``, ``fax_page_received``).

    Args:
        status: the fax's ``FaxStatus`` (``success``, ``failed_user_busy``...).
        retry: Fax.Plus is retrying this fax: ``hook.id`` differs from ``data.id``.
        sdk_names: name the numbers ``from_number``/``to_number`` as the SDKs do.
        fields: fields of ``data`` to set; ``hook={...}`` sets fields of ``hook``.
    """
    transport = transport_of(locals())
    fax_id = unique_hex(24)
    started = recent_time()
    n = next_number()
    ours, theirs = "+1 334-304-0000", f"+1 334-555-{n % 10000:04d}"
    sent = event == "fax_sent"
    data: dict[str, Any] = {
        "id": fax_id,
        "uid": unique_hex(32),
        "pages": pages,
        "from": ours if sent else theirs,
        "to": theirs if sent else ours,
        "start_time": started.strftime(_TIME),
        "file": f"{unique_hex(32)}.tiff",
        "file_name": f"fax-{'to' if sent else 'from'}-{theirs.replace(' ', '')}",
        "status": status,
        "cost": pages,
    }
    if sdk_names:
        data["from_number"], data["to_number"] = data.pop("from"), data.pop("to")
    hook = {
        "id": unique_hex(24) if retry else fax_id,
        "event": event,
        "event_time": started.strftime(_TIME),
        "target": target,
    }
    hook = deep_merge(hook, fields.pop("hook", {}))
    payload = {"hook": hook, "data": deep_merge(data, fields)}
    return post_json(
        PROVIDER, event, payload, default_path=DEFAULT_PATH, preset=IP_PRESET, transport=transport
    )


@signature_of(fax_event)
def fax_sent(**kwargs: Any) -> SimulatedDelivery:
    """``fax_sent``: a fax was sent (see ``status=``). Keywords as for :func:`fax_event`."""
    return fax_event("fax_sent", **kwargs)


@signature_of(fax_event)
def fax_received(**kwargs: Any) -> SimulatedDelivery:
    """``fax_received``: a fax was received. Keywords as for :func:`fax_event`."""
    return fax_event("fax_received", **kwargs)


@signature_of(fax_event)
def fax_page_received(**kwargs: Any) -> SimulatedDelivery:
    """``fax_page_received``: one page of a fax being received (fax streaming)."""
    return fax_event("fax_page_received", **kwargs)


#: Every event's factory, by the event name after ``faxplus.``.
EVENTS: dict[str, Callable[..., SimulatedDelivery]] = {
    "fax_sent": fax_sent,
    "fax_received": fax_received,
    "fax_page_received": fax_page_received,
}

#: Other names of the provider, for look-ups by name (``hookreceiver send fax.plus ...``).
PROVIDER_ALIASES = ("fax.plus", "fax_plus")

#: Events ``hookreceiver demo`` sends with something worth showing: its "case", the keywords.
#: Fax.Plus documents no retries: no ``retry_schedule``, so one attempt.
DEMO_VARIANTS: dict[str, tuple[str, dict[str, Any]]] = {
    "fax_sent": ("busy", {"status": "failed_user_busy"}),
}
