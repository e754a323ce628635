"""The Django view of webhook endpoints: an adapter from a Django request to the engine.

It builds a :class:`~hookreceiver.Delivery` from the request (headers, the TCP peer from
``REMOTE_ADDR``, the body streamed from the request, never read whole by Django first),
hands it to the engine's ``dispatch`` with the endpoint the URL pattern matched, and turns
the engine's answer into an ``HttpResponse``: the statuses, refusals and dedup of every other
adapter. CSRF does not apply (senders have no session).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

from ...delivery import PATH_PLACEHOLDER, Delivery, Headers
from ...engine.dispatch import DeliveryAbandoned, dispatch
from .conf import get_receiver

__all__ = ["webhook"]

_CHUNK = 64 * 1024


def _headers(meta: dict[str, Any]) -> Headers:
    items: list[tuple[str, str]] = []
    for key, value in meta.items():
        if key.startswith("HTTP_"):
            items.append((key[5:].replace("_", "-").lower(), str(value)))
        elif key in ("CONTENT_TYPE", "CONTENT_LENGTH") and value:
            items.append((key.replace("_", "-").lower(), str(value)))
    return Headers(items)


def _chunks(request: HttpRequest) -> Iterator[bytes]:
    while chunk := request.read(_CHUNK):
        yield chunk


@csrf_exempt
def webhook(request: HttpRequest, *, hookreceiver_endpoint: str, **params: str) -> HttpResponse:
    """Answer one delivery to the endpoint ``hookreceiver_endpoint`` (its path template)."""
    receiver = get_receiver()
    if receiver.worker_lifecycle.due:  # as the WSGI adapter: the worker starts with a delivery
        receiver.worker_lifecycle.start()
    names = PATH_PLACEHOLDER.findall(hookreceiver_endpoint)
    path = PATH_PLACEHOLDER.sub(lambda m: params.get(m.group(1), ""), hookreceiver_endpoint)
    route = receiver.match(path)
    delivery = Delivery(
        method=request.method or "GET",
        path=path,
        query=request.META.get("QUERY_STRING", ""),
        headers=_headers(request.META),
        peer=request.META.get("REMOTE_ADDR") or None,
        body=_chunks(request),
        scheme=request.scheme or "http",
    )
    if route is None or route.endpoint.path != hookreceiver_endpoint or len(names) != len(params):
        route = None  # a segment the router refuses ("..", an encoded "/"): its own 404
    try:
        report = dispatch(receiver, delivery, route) if route is not None else None
    except DeliveryAbandoned:
        return HttpResponse(status=400)
    if report is None:
        return HttpResponse(
            b'{"error":"not_found","detail":"no webhook endpoint at this path"}',
            status=404,
            content_type="application/json",
        )
    answer = report.response
    response = HttpResponse(answer.body, status=answer.status)
    for name, value in answer.headers:
        if name != "content-length":
            response[name] = value
    return response
