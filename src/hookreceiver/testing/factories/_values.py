"""The values a factory fills a request with: unique ids, recent times, senders from a
provider's IP preset (all reproducible with :func:`seed`), and the encodings providers use
(compact JSON, Kazoo's bracket form, multipart)."""

from __future__ import annotations

import base64
import ipaddress
import itertools
import json
import random
import secrets
import uuid
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import quote_plus

__all__ = [
    "AttachmentArg",
    "basic_auth_header",
    "bracket_form",
    "deep_merge",
    "json_body",
    "multipart_body",
    "next_number",
    "pick_sender",
    "recent_time",
    "seed",
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
