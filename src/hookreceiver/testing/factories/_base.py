"""What every provider factory shares: the simulated delivery, unique ids, senders, encodings.

A factory builds the exact bytes a provider puts on the wire; nothing here imports a provider
module, so a factory stays true to the provider's documents even when our parser changes.
"""

from __future__ import annotations

import base64
import inspect
import ipaddress
import itertools
import json
import random
import re
import secrets
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, TypedDict, TypeVar, cast
from urllib.parse import quote, quote_plus, unquote, urlsplit

from ...delivery import PATH_PLACEHOLDER as _PLACEHOLDER
from ...delivery import Delivery, Headers

if TYPE_CHECKING:
    from ...security.signed_urls import URLSigner

__all__ = [
    "AttachmentArg",
    "HeadersArg",
    "SimulatedDelivery",
    "Transport",
    "assemble",
    "basic_auth_header",
    "bracket_form",
    "deep_merge",
    "json_body",
    "multipart_body",
    "next_number",
    "pick_sender",
    "post_json",
    "recent_time",
    "seed",
    "signature_of",
    "transport_of",
    "unique_hex",
    "unique_uuid",
]

#: What an ``attachment=`` keyword takes: bytes, ``None`` for the default, ``False`` for none.
AttachmentArg = bytes | bool | None

_random = random.Random()
# Start at a random place so ids made by two runs (two CLI calls at one server) differ.
_counter = itertools.count(_random.randrange(1, 10**6))


def seed(value: int | str | None) -> None:
    """Make the "random" parts of simulated deliveries (ids, senders, times) reproducible.

    ``seed(None)`` goes back to fresh randomness.
    """
    global _counter
    _random.seed(value)
    _counter = itertools.count(1 if value is not None else _random.randrange(1, 10**6))


def next_number() -> int:
    """A number unique within this process (and, unseeded, most likely across processes)."""
    return next(_counter)


def unique_hex(length: int = 32) -> str:
    """Lower-case hex digits, unique per call (Kazoo ids are 32 of them)."""
    text = f"{_random.getrandbits(4 * length):0{length}x}"
    return text[:length]


def unique_uuid() -> str:
    """A version-4 UUID string, unique per call."""
    return str(uuid.UUID(int=_random.getrandbits(128), version=4))


def recent_time(within: float = 3600.0) -> datetime:
    """A UTC time up to ``within`` seconds in the past, whole seconds."""
    moment = datetime.now(timezone.utc) - timedelta(seconds=_random.uniform(0, within))
    return moment.replace(microsecond=0)


def pick_sender(networks: Iterable[str]) -> str:
    """An address inside one of ``networks`` (a provider's IP preset)."""
    choices = [ipaddress.ip_network(n, strict=False) for n in networks]
    if not choices:
        return "127.0.0.1"
    network = _random.choice(choices)
    if network.num_addresses == 1:
        return str(network.network_address)
    # Skip the network and broadcast addresses of IPv4 ranges.
    offset = _random.randrange(1, max(2, network.num_addresses - 1))
    return str(network.network_address + offset)


def basic_auth_header(username: str, password: str) -> tuple[str, str]:
    """The ``Authorization`` header a sender builds from ``username`` and ``password``."""
    token = base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
    return ("authorization", f"Basic {token}")


def deep_merge(base: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` with ``overrides`` laid on top; nested dicts merge, ``...`` removes a field.

    Passing ``field=...`` (the Ellipsis) leaves the field out, the way providers omit
    undefined fields.
    """
    merged: dict[str, Any] = dict(base)
    for key, value in overrides.items():
        if value is Ellipsis:
            merged.pop(key, None)
        elif isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def json_body(payload: Any) -> bytes:
    """Compact JSON, integers kept exact (Zipwhip ids exceed 2**53)."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _form_scalar(value: Any) -> str:
    if value is True:
        return "true"
    if value is False:
        return "false"
    if value is None:
        return ""
    return str(value)


def _form_pairs(prefix: str, value: Any) -> list[tuple[str, str]]:
    if isinstance(value, Mapping):
        return [pair for k, v in value.items() for pair in _form_pairs(f"{prefix}[{k}]", v)]
    if isinstance(value, (list, tuple)):
        return [pair for item in value for pair in _form_pairs(f"{prefix}[]", item)]
    return [(prefix, _form_scalar(value))]


def bracket_form(payload: Mapping[str, Any]) -> str:
    """Encode ``payload`` as Kazoo does (``kz_json:to_querystring``).

    Nested objects become bracket keys (``custom_channel_vars[k]=v``), lists ``arr[]=1``,
    booleans the words ``true``/``false``, spaces ``+``. An empty object adds nothing.
    """
    pairs: list[tuple[str, str]] = []
    for key, value in payload.items():
        pairs.extend(_form_pairs(str(key), value))
    return "&".join(f"{quote_plus(k, safe='[]')}={quote_plus(v)}" for k, v in pairs)


def multipart_body(
    fields: Iterable[tuple[str, str]],
    files: Iterable[tuple[str, str, str, bytes]] = (),
    *,
    boundary: str | None = None,
) -> tuple[bytes, str]:
    """Encode a ``multipart/form-data`` body; returns ``(body, content type header)``.

    ``files`` are ``(field, filename, content type, content)``.
    """
    boundary = boundary or f"----hookreceiver{secrets.token_hex(12)}"
    out = bytearray()
    for name, value in fields:
        out += f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
        out += value.encode("utf-8") + b"\r\n"
    for name, filename, content_type, content in files:
        out += (
            f"--{boundary}\r\nContent-Disposition: form-data; "
            f'name="{name}"; filename="{filename}"\r\nContent-Type: {content_type}\r\n\r\n'
        ).encode()
        out += content + b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return bytes(out), f"multipart/form-data; boundary={boundary}"


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


#: Extra headers given to a factory: a mapping or ``(name, value)`` pairs.
HeadersArg = Mapping[str, str] | Iterable[tuple[str, str]] | None


P = ParamSpec("P")
R = TypeVar("R")


def signature_of(
    generic: Callable[Concatenate[str, P], R],
) -> Callable[[Callable[..., R]], Callable[P, R]]:
    """Give an event's factory the keywords of the generic factory it calls, without the event
    argument it fills in: for mypy (the factory is typed as the generic minus its first,
    positional-only argument) and for ``help()``, editors and tools (``__signature__``)."""
    parameters = list(inspect.signature(generic).parameters.values())[1:]

    def apply(fn: Callable[..., R]) -> Callable[P, R]:
        fn.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
            parameters, return_annotation="SimulatedDelivery"
        )
        return fn

    return apply


def _header_items(headers: HeadersArg) -> list[tuple[str, str]]:
    if headers is None:
        return []
    if isinstance(headers, Mapping):
        return [(str(k), str(v)) for k, v in headers.items()]
    return [(str(k), str(v)) for k, v in headers]


class Transport(TypedDict):
    """The transport keywords every factory takes, passed on to :func:`assemble`.

    ``path`` may be a template (``/hooks/zipwhip/{event}``): ``{event}`` is filled with the
    event's URL name. ``url`` is the full callback URL the provider was given (what
    ``receiver.callback_url(...)`` returns): its path and query are used. ``signer`` (a
    :class:`~hookreceiver.security.URLSigner`) signs ``path`` as an endpoint template, with
    ``signed_context`` as the context handlers receive in ``ctx.signed``.
    """

    path: str | None
    url: str | None
    sender: str | None
    basic_auth: tuple[str, str] | None
    headers: HeadersArg
    user_agent: str | None
    signer: URLSigner | None
    signed_context: Mapping[str, Any] | None


def transport_of(arguments: Mapping[str, Any]) -> Transport:
    """The :class:`Transport` keywords among a factory's ``arguments``.

    A factory declares the transport keywords in its own signature (so calls stay typed and
    documented) and passes ``locals()`` here first thing, instead of naming each one again.
    """
    return cast(Transport, {key: arguments[key] for key in Transport.__annotations__})




def _fill(template: str, url_event: str | None) -> str:
    def value(match: re.Match[str]) -> str:
        if match.group(1) != "event" or url_event is None:
            raise ValueError(f"cannot fill {{{match.group(1)}}} in {template!r}: pass path=")
        return quote(url_event, safe="")

    return _PLACEHOLDER.sub(value, template)


def _signed(
    signer: URLSigner, template: str, url_event: str | None, context: Mapping[str, Any] | None
) -> tuple[str, str]:
    names = set(_PLACEHOLDER.findall(template)) - {signer.param}
    params = {"event": url_event} if "event" in names and url_event is not None else {}
    url = signer.url("http://signed.invalid", template, params, context)
    parts = urlsplit(url)
    return unquote(parts.path), parts.query


def _where(
    path: str | None,
    url: str | None,
    default_path: str,
    url_event: str | None,
    signer: URLSigner | None,
    context: Mapping[str, Any] | None,
) -> tuple[str, str]:
    if url is not None:
        parts = urlsplit(url)
        return unquote(parts.path) or "/", parts.query
    template = path if path is not None else default_path
    if signer is not None:
        return _signed(signer, template, url_event, context)
    return _fill(template, url_event), ""


def assemble(
    *,
    provider: str,
    event: str,
    method: str,
    default_path: str,
    body: bytes,
    content_type: str | None,
    payload: Mapping[str, Any],
    preset: Iterable[str],
    path: str | None = None,
    url: str | None = None,
    sender: str | None = None,
    user_agent: str | None = None,
    provider_headers: Iterable[tuple[str, str]] = (),
    headers: HeadersArg = None,
    basic_auth: tuple[str, str] | None = None,
    signer: URLSigner | None = None,
    signed_context: Mapping[str, Any] | None = None,
    query: str = "",
    query_joiner: str = "&",
    attachment: bytes | None = None,
    url_event: str | None = None,
) -> SimulatedDelivery:
    """Put a provider's request together: headers in the order a client sends them.

    ``headers`` replace same-named defaults (an empty value removes the header). ``query`` is
    the event's own query string (Kazoo GET), appended to the callback URL's query with
    ``query_joiner``.
    """
    items: list[tuple[str, str]] = []
    if content_type is not None:
        items.append(("content-type", content_type))
        items.append(("content-length", str(len(body))))
    if user_agent:
        items.append(("user-agent", user_agent))
    items.extend(provider_headers)
    if basic_auth is not None:
        items.append(basic_auth_header(*basic_auth))
    extra = _header_items(headers)
    replaced = {name.lower() for name, _ in extra}
    items = [(k, v) for k, v in items if k.lower() not in replaced]
    items.extend((k, v) for k, v in extra if v != "")
    chosen_path, url_query = _where(path, url, default_path, url_event, signer, signed_context)
    full_query = query_joiner.join(q for q in (url_query, query) if q)
    return SimulatedDelivery(
        provider=provider,
        event=event,
        method=method.upper(),
        path=chosen_path,
        query=full_query,
        headers=tuple(items),
        body=body,
        sender=sender if sender is not None else pick_sender(preset),
        payload=payload,
        attachment=attachment,
        url_event=url_event,
        path_given=path is not None or url is not None or signer is not None,
    )


def post_json(
    provider: str,
    event: str,
    payload: Mapping[str, Any],
    *,
    default_path: str,
    preset: Iterable[str],
    transport: Transport,
) -> SimulatedDelivery:
    """``payload`` POSTed as JSON, the way Fax.Plus, Updox and Documo's ``fax.v1`` events come.

    ``event`` (without the provider's prefix) also fills an ``{event}`` placeholder of the path.
    """
    return assemble(
        provider=provider,
        event=f"{provider}.{event}",
        method="POST",
        default_path=default_path,
        body=json_body(payload),
        content_type="application/json",
        payload=payload,
        preset=preset,
        url_event=event,
        **transport,
    )
