"""Wirecloud (2600Hz Kazoo) deliveries, as Kazoo's webhooks app sends them.

Kazoo sends the event as a bracket-encoded form (``format: form-data``, the default, over POST or
PUT), as the query string of a GET, or as JSON (``format: json``, Kazoo 4.3+). Every request
carries ``X-Hook-ID`` (the webhook's id) and ``X-Account-ID``. Kazoo's HTTP client (Erlang
``httpc``) sends no ``User-Agent`` of its own. The webhook's ``custom_data`` is merged on top of
the event. Timestamps are Gregorian seconds (Unix + 62167219200). Wirecloud publishes no sender
addresses: deliveries come from a TEST-NET address unless ``sender=`` says otherwise.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from ..schedules import RetrySchedule
from ._base import (
    HeadersArg,
    SimulatedDelivery,
    assemble,
    bracket_form,
    deep_merge,
    json_body,
    next_number,
    recent_time,
    signature_of,
    transport_of,
    unique_hex,
)

if TYPE_CHECKING:
    from ...security.signed_urls import URLSigner

__all__ = [
    "EVENTS",
    "GREGORIAN_OFFSET",
    "IP_PRESET",
    "channel_answer",
    "channel_bridge",
    "channel_create",
    "channel_destroy",
    "event",
    "notifications",
    "object_event",
    "parking",
]

PROVIDER = "wirecloud"
#: Seconds between 0000-01-01 (Erlang's Gregorian calendar) and the Unix epoch.
GREGORIAN_OFFSET = 62167219200
#: Wirecloud publishes none; simulated senders use TEST-NET-3.
IP_PRESET = ("203.0.113.0/24",)
DEFAULT_PATH = "/hooks/wirecloud"
REALM = "sip.wirecloud.example"


def _call_id() -> str:
    return base64.b64encode(unique_hex(32).encode()).decode().rstrip("=")


def _channel(hook_event: str, account_id: str) -> dict[str, Any]:
    n = next_number()
    caller, callee = f"+1555{n % 10**7:07d}", f"+1555{(n * 7919) % 10**7:07d}"
    base: dict[str, Any] = {
        "account_id": account_id,
        "call_direction": "inbound",
        "call_forwarded": False,
        "call_id": _call_id(),
        "callee_id_name": "Front Desk",
        "callee_id_number": callee,
        "caller_id_name": "Test Caller",
        "caller_id_number": caller,
        "custom_channel_vars": {"account_id": account_id, "authorizing_type": "device"},
        "emergency_resource_used": False,
        "from": f"{caller}@{REALM}",
        "inception": "onnet",
        "is_internal_leg": False,
        "local_resource_used": False,
        "owner_id": unique_hex(32),
        "request": f"{callee}@{REALM}",
        "reseller_id": unique_hex(32),
        "timestamp": int(recent_time().timestamp()) + GREGORIAN_OFFSET,
        "to": f"{callee}@{REALM}",
        "hook_event": hook_event,
    }
    if hook_event == "channel_bridge":
        base |= {"original_number": callee, "other_leg_destination_number": callee}
        base["other_leg_call_id"] = _call_id()
    if hook_event == "channel_destroy":
        base |= {
            "hangup_cause": "NORMAL_CLEARING",
            "hangup_code": "sip:200",
            "duration_seconds": 6,
            "ringing_seconds": 0,
            "billing_seconds": 6,
        }
    return base


def _other(kind: str, account_id: str) -> dict[str, Any]:
    if kind == "object":
        return {
            "id": unique_hex(32),
            "account_id": account_id,
            "action": "doc_created",
            "type": "callflow",
        }
    if kind == "parking":
        return {
            "account_id": account_id,
            "call_id": _call_id(),
            "callee_id_name": "Parking",
            "callee_id_number": "*3101",
            "caller_id_name": "Test Caller",
            "caller_id_Number": f"+1555{next_number() % 10**7:07d}",  # sic: Kazoo's spelling
            "event_name": "PARK_PARKED",
            "parking_slot": 101,
        }
    return {
        "account_id": account_id,
        "event_name": "voicemail_new",
        "app_name": "teletype",
        "msg_id": unique_hex(32),
    }


def event(
    hook: str,
    /,
    *,
    method: str = "POST",
    format: str = "form-data",
    hook_id: str | None = None,
    account_id: str | None = None,
    custom_data: Mapping[str, Any] | None = None,
    path: str | None = None,
    sender: str | None = None,
    basic_auth: tuple[str, str] | None = None,
    headers: HeadersArg = None,
    user_agent: str | None = None,
    url: str | None = None,
    signer: URLSigner | None = None,
    signed_context: Mapping[str, Any] | None = None,
    **fields: Any,
) -> SimulatedDelivery:
    """Any Kazoo webhook (``channel_create``... ``object``, ``notifications``, ``parking``).

    Args:
        hook: the webhook's ``hook``.
        method: ``POST`` (default), ``PUT`` or ``GET`` (the event goes in the query string).
        format: ``form-data`` (default) or ``json`` (Kazoo 4.3+; POST and PUT only).
        hook_id: the webhook's id, sent as ``X-Hook-ID`` (random by default).
        account_id: the account, sent as ``X-Account-ID`` and in the event.
        custom_data: the webhook's ``custom_data``, laid over the event (it wins on clashes).
        fields: wire fields of the event to set (``call_id=...``); ``...`` drops one.
    """
    transport = transport_of(locals())
    account = account_id or unique_hex(32)
    base = _channel(hook, account) if hook.startswith("channel_") else _other(hook, account)
    payload = deep_merge(deep_merge(base, fields), dict(custom_data or {}))
    method = method.upper()
    query, body, content_type = "", b"", None
    if method == "GET":
        query = bracket_form(payload)
    elif format == "json":
        body, content_type = json_body(payload), "application/json"
    elif format == "form-data":
        body = bracket_form(payload).encode("ascii")
        content_type = "application/x-www-form-urlencoded"
    else:
        raise ValueError(f"Kazoo webhook format is 'form-data' or 'json', not {format!r}")
    return assemble(
        provider=PROVIDER,
        event=f"{PROVIDER}.{hook}",
        method=method,
        default_path=DEFAULT_PATH,
        body=body,
        content_type=content_type,
        payload=payload,
        preset=IP_PRESET,
        provider_headers=[("x-hook-id", hook_id or unique_hex(32)), ("x-account-id", account)],
        query=query,
        # Kazoo appends "?" and the fields to the URL as given, even one with a query already.
        query_joiner="?",
        url_event=hook,
        **transport,
    )


@signature_of(event)
def channel_create(**kwargs: Any) -> SimulatedDelivery:
    """``channel_create``: a new call leg. Keywords as for :func:`event`."""
    return event("channel_create", **kwargs)


@signature_of(event)
def channel_answer(**kwargs: Any) -> SimulatedDelivery:
    """``channel_answer``: the called party answered. Keywords as for :func:`event`."""
    return event("channel_answer", **kwargs)


@signature_of(event)
def channel_bridge(**kwargs: Any) -> SimulatedDelivery:
    """``channel_bridge``: two legs were bridged. Keywords as for :func:`event`."""
    return event("channel_bridge", **kwargs)


@signature_of(event)
def channel_destroy(**kwargs: Any) -> SimulatedDelivery:
    """``channel_destroy``: the call hung up, with durations. Keywords as for :func:`event`."""
    return event("channel_destroy", **kwargs)


@signature_of(event)
def object_event(**kwargs: Any) -> SimulatedDelivery:
    """``object``: a document changed (no ``hook_event``). Keywords as for :func:`event`."""
    return event("object", **kwargs)


@signature_of(event)
def notifications(**kwargs: Any) -> SimulatedDelivery:
    """``notifications``: a notification fired. Keywords as for :func:`event`."""
    return event("notifications", **kwargs)


@signature_of(event)
def parking(**kwargs: Any) -> SimulatedDelivery:
    """``parking``: a call was parked or retrieved. Keywords as for :func:`event`."""
    return event("parking", **kwargs)


#: Every event's factory, by the event name after ``wirecloud.``.
EVENTS: dict[str, Callable[..., SimulatedDelivery]] = {
    "channel_create": channel_create,
    "channel_answer": channel_answer,
    "channel_bridge": channel_bridge,
    "channel_destroy": channel_destroy,
    "object": object_event,
    "notifications": notifications,
    "parking": parking,
}

#: Other names of the provider, for look-ups by name (``hookreceiver send kazoo ...``).
PROVIDER_ALIASES = ("kazoo",)

#: Events ``hookreceiver demo`` sends with something worth showing: its "case", the keywords.
DEMO_VARIANTS: dict[str, tuple[str, dict[str, Any]]] = {
    "channel_create": ("bracket form", {}),
    "channel_destroy": ("JSON", {"format": "json"}),
}


def retry_schedule(retries: int = 2) -> RetrySchedule:
    """Wirecloud / Kazoo: only transport errors (refused, timed out) are retried, 2 s apart, for
    the webhook's ``retries`` attempts in all (1..5, default 2); any HTTP answer but 200 (201 for
    PUT) is logged as a failure and never retried.

    Raises:
        ValueError: ``retries`` outside Kazoo's 1..5.
    """
    if not 1 <= retries <= 5:
        raise ValueError("Kazoo webhooks take retries from 1 to 5")
    return RetrySchedule(
        PROVIDER,
        (2.0,) * (retries - 1),
        retry_status=lambda status: False,
        success=lambda status, method: status == 200 or (status == 201 and method == "PUT"),
        then="logs the failure (six in a minute disable the webhook)",
    )
