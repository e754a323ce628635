"""The simulated delivery: one request exactly as a provider sends it."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import quote, urlsplit

from ...delivery import Delivery, Headers
from ._values import basic_auth_header

__all__ = ["SimulatedDelivery"]


@dataclass(frozen=True)
class SimulatedDelivery:
    """One delivery exactly as a provider sends it, ready to be sent in-process or over HTTP.

    Attributes:
        provider: the provider's name (``"documo"``).
        event: the full event name our receiver gives it (``"documo.fax.inbound"``).
        method: the HTTP method.
        path: the URL path it is sent to.
        query: the query string, encoded (Kazoo GET events, signed-URL tokens).
        headers: the request headers as the provider sends them, in order.
        body: the encoded body.
        sender: the address it comes from (inside the provider's IP preset by default).
        payload: the event's fields, before encoding (for assertions).
        attachment: the attached file's content, when one is attached.
        url_event: what fills an ``{event}`` placeholder of the endpoint's path template.
        path_given: whether ``path`` was chosen by the caller (otherwise a sender that knows the
            receiver routes the delivery to the provider's endpoint).
    """

    provider: str
    event: str
    method: str
    path: str
    query: str
    headers: tuple[tuple[str, str], ...]
    body: bytes
    sender: str | None
    payload: Mapping[str, Any] = field(default_factory=dict)
    attachment: bytes | None = None
    url_event: str | None = None
    path_given: bool = False

    def to_delivery(self, *, path: str | None = None, peer: str | None = None) -> Delivery:
        """The core :class:`~hookreceiver.Delivery` for in-process handling."""
        target = path or self.path
        return Delivery(
            method=self.method,
            path=target,
            query=self.query,
            headers=Headers(self.headers),
            peer=peer if peer is not None else self.sender,
            body=self.body,
            raw_path=quote(target),
        )

    def url(self, base: str) -> str:
        """The full URL under ``base`` (``http://127.0.0.1:8000``), query string included."""
        parts = urlsplit(base)
        query = "&".join(q for q in (parts.query, self.query) if q)
        path = parts.path.rstrip("/") + quote(self.path)
        return f"{parts.scheme}://{parts.netloc}{path}" + (f"?{query}" if query else "")

    def header(self, name: str) -> str | None:
        """The first value of header ``name`` (case-insensitive), or ``None``."""
        lowered = name.lower()
        return next((v for k, v in self.headers if k.lower() == lowered), None)

    def replace(self, **changes: Any) -> SimulatedDelivery:
        """A copy with attributes changed (``delivery.replace(sender="203.0.113.9")``)."""
        if "path" in changes and "path_given" not in changes:
            changes["path_given"] = True
        return replace(self, **changes)

    def with_headers(self, *items: tuple[str, str], drop: Iterable[str] = ()) -> SimulatedDelivery:
        """A copy with headers ``items`` replacing same-named ones, and ``drop`` removed."""
        removed = {name.lower() for name in drop} | {name.lower() for name, _ in items}
        kept = tuple((k, v) for k, v in self.headers if k.lower() not in removed)
        return replace(self, headers=kept + tuple(items))

    def with_basic_auth(self, username: str, password: str) -> SimulatedDelivery:
        """A copy carrying other basic-auth credentials."""
        return self.with_headers(basic_auth_header(username, password))

    def without_auth(self) -> SimulatedDelivery:
        """A copy with no ``Authorization`` header."""
        return self.with_headers(drop=["authorization"])

    def with_body(self, body: bytes, content_type: str | None = None) -> SimulatedDelivery:
        """A copy with another body (and content type), ``Content-Length`` kept right."""
        items = [("content-length", str(len(body)))]
        if content_type is not None:
            items.insert(0, ("content-type", content_type))
        return replace(self.with_headers(*items), body=body)

    def __repr__(self) -> str:
        return (
            f"SimulatedDelivery({self.event!r}, {self.method} {self.path}"
            f"{'?' + self.query if self.query else ''}, from {self.sender}, {len(self.body)} bytes)"
        )
