"""Putting a provider's request together: the transport keywords every factory takes (path,
callback URL, signer, sender, credentials, headers) and :func:`assemble`, which turns them and a
body into a :class:`~hookreceiver.testing.SimulatedDelivery`."""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, TypedDict, TypeVar, cast
from urllib.parse import quote, unquote, urlsplit

from ...delivery import PATH_PLACEHOLDER as _PLACEHOLDER
from ._delivery import SimulatedDelivery
from ._values import basic_auth_header, json_body, pick_sender

if TYPE_CHECKING:
    from ...security.signed_urls import URLSigner

__all__ = ["HeadersArg", "Transport", "assemble", "post_json", "signature_of", "transport_of"]


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
