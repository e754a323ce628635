"""Updox deliveries, as Updox's webhook job sends them.

Updox POSTs JSON to the callback URL registered for one event, and the payload names no event,
so the default path is ``/hooks/updox/<event>``. Updox signs nothing and publishes no sender
addresses: a secret callback URL is the protection, so pass ``url=`` (the URL
``receiver.callback_url(...)`` gave) or ``signer=`` (and ``signed_context=``) to put the token in
the URL. Ids are longs on current pages and strings on older ones (``string_ids=True``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from ..schedules import MINUTE, RetrySchedule
from ._base import (
    HeadersArg,
    SimulatedDelivery,
    deep_merge,
    next_number,
    post_json,
    signature_of,
    transport_of,
)

if TYPE_CHECKING:
    from ...security.signed_urls import URLSigner

__all__ = [
    "EVENTS",
    "IP_PRESET",
    "USER_AGENT",
    "account_status",
    "inbound_direct",
    "inbound_fax",
    "inbound_mdn",
    "module_status",
    "outbound_fax",
    "updox_event",
]

PROVIDER = "updox"
#: Updox publishes none; simulated senders use TEST-NET-2.
IP_PRESET = ("198.51.100.0/24",)
#: Updox's sender is a Java service; the exact agent is not published [I].
USER_AGENT = "Apache-HttpClient/4.5.13 (Java/1.8.0_292)"
DEFAULT_PATH = "/hooks/updox/{event}"
_ACCOUNT = 70012


def _payload(event: str, status: str | None) -> dict[str, Any]:
    n = next_number()
    if event == "inbound_fax":
        return {"faxId": 4_000_000 + n, "accountId": _ACCOUNT}
    if event == "outbound_fax":
        return {"faxId": 5_000_000 + n, "accountId": _ACCOUNT, "status": status or "success"}
    if event == "inbound_direct":
        return {"accountId": _ACCOUNT, "userId": 800 + n % 100, "messageId": 6_000_000 + n}
    if event == "inbound_mdn":
        return {"messageId": 6_000_000 + n, "mdnStatus": status or "processed"}
    if event == "account_status":
        return {"accountId": _ACCOUNT + n, "active": True}
    if event == "module_status":
        return {"practiceId": _ACCOUNT, "moduleId": 90 + n % 10, "active": True}
    raise ValueError(f"Updox has no event {event!r}")


def updox_event(
    event: str,
    /,
    *,
    status: str | None = None,
    string_ids: bool = False,
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
    """Any Updox event.

    Args:
        event: ``inbound_fax``, ``outbound_fax``, ``inbound_direct``, ``inbound_mdn``,
            ``account_status`` or ``module_status``.
        status: ``status`` of an outbound fax, or ``mdnStatus`` of an MDN.
        string_ids: send ids as strings, as older Updox pages show.
        url: the signed callback URL Updox was given (``receiver.callback_url(...)``).
        fields: wire fields to set (``faxId=...``); ``...`` drops one.
    """
    transport = transport_of(locals())
    payload = _payload(event, status)
    if string_ids:
        payload = {
            k: str(v) if isinstance(v, int) and k.endswith("Id") else v for k, v in payload.items()
        }
    payload = deep_merge(payload, fields)
    return post_json(
        PROVIDER, event, payload, default_path=DEFAULT_PATH, preset=IP_PRESET, transport=transport
    )


@signature_of(updox_event)
def inbound_fax(**kwargs: Any) -> SimulatedDelivery:
    """``inbound_fax``: a fax arrived (``faxId``, ``accountId``)."""
    return updox_event("inbound_fax", **kwargs)


@signature_of(updox_event)
def outbound_fax(**kwargs: Any) -> SimulatedDelivery:
    """``outbound_fax``: a sent fax ended; ``status=`` busy, cancelled, failure, received or
    success."""
    return updox_event("outbound_fax", **kwargs)


@signature_of(updox_event)
def inbound_direct(**kwargs: Any) -> SimulatedDelivery:
    """``inbound_direct``: a Direct message arrived."""
    return updox_event("inbound_direct", **kwargs)


@signature_of(updox_event)
def inbound_mdn(**kwargs: Any) -> SimulatedDelivery:
    """``inbound_mdn``: an MDN status arrived; ``status=`` received, processed, dispatched,
    failed, deleted or denied."""
    return updox_event("inbound_mdn", **kwargs)


@signature_of(updox_event)
def account_status(**kwargs: Any) -> SimulatedDelivery:
    """``account_status``: an account was (de)activated (``active=False``)."""
    return updox_event("account_status", **kwargs)


@signature_of(updox_event)
def module_status(**kwargs: Any) -> SimulatedDelivery:
    """``module_status``: a module was (de)activated (``active=False``)."""
    return updox_event("module_status", **kwargs)


#: Every event's factory, by the event name after ``updox.``.
EVENTS: dict[str, Callable[..., SimulatedDelivery]] = {
    "inbound_fax": inbound_fax,
    "outbound_fax": outbound_fax,
    "inbound_direct": inbound_direct,
    "inbound_mdn": inbound_mdn,
    "account_status": account_status,
    "module_status": module_status,
}


def retry_schedule() -> RetrySchedule:
    """Updox: 2xx is success, 4xx is dropped for good, 5xx is retried every 5 minutes, 15 times,
    then dropped."""
    return RetrySchedule(
        PROVIDER,
        (5 * MINUTE,) * 15,
        retry_status=lambda status: status >= 500,
        then="drops the event",
    )
