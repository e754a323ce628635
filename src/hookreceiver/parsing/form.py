"""Kazoo's bracket-encoded forms and query strings, decoded into nested dicts.

Kazoo (2600Hz) encodes a webhook event with PHP/Rack-style keys: ``custom_channel_vars[k]=v``,
``a[b][c]=v`` and ``arr[]=1&arr[]=2``; booleans arrive as the words ``true``/``false`` and are
kept as strings here (the pydantic models coerce them). An empty object can leave an empty
segment (``a=1&&b=2``), which is skipped.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

from ..errors import MalformedBody

__all__ = ["decode_bracket_form", "nest_bracket_pairs"]

#: Deeper nesting than this is refused: no genuine Kazoo event comes close.
MAX_DEPTH = 8


def decode_bracket_form(data: bytes | str, *, max_fields: int = 1000) -> dict[str, Any]:
    """Decode an ``application/x-www-form-urlencoded`` body or a query string into nested dicts.

    Raises:
        MalformedBody: not valid UTF-8, too many fields, too deep, or a key used both as a
            value and as an object.
    """
    if isinstance(data, bytes):
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise MalformedBody("form body is not valid UTF-8") from None
    else:
        text = data
    try:
        pairs = parse_qsl(
            text, keep_blank_values=True, strict_parsing=False, max_num_fields=max_fields
        )
    except ValueError:
        raise MalformedBody(f"form body has more than {max_fields} fields") from None
    return nest_bracket_pairs(pairs)


def nest_bracket_pairs(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """Turn ``[("a[b][]", "1")]`` style pairs into ``{"a": {"b": ["1"]}}``."""
    root: dict[str, Any] = {}
    for key, value in pairs:
        if not key:
            continue
        _assign(root, _split_key(key), value)
    return root


def _split_key(key: str) -> list[str]:
    head, bracket, rest = key.partition("[")
    if not bracket:
        return [key]
    parts = [head]
    rest = "[" + rest
    while rest.startswith("["):
        close = rest.find("]")
        if close < 0:
            # An unbalanced bracket: treat the whole key as a plain name, as Rack does.
            return [key]
        parts.append(rest[1:close])
        rest = rest[close + 1 :]
        if len(parts) > MAX_DEPTH:
            raise MalformedBody(f"form key nested deeper than {MAX_DEPTH} levels")
    if rest:
        return [key]
    return parts


def _assign(node: dict[str, Any], parts: list[str], value: str) -> None:
    for index, part in enumerate(parts[:-1]):
        following = parts[index + 1]
        if part == "":
            raise MalformedBody("form key has an empty [] before a nested key")
        child = node.get(part)
        if following == "" and index + 1 == len(parts) - 1:
            if child is None:
                node[part] = child = []
            if not isinstance(child, list):
                raise MalformedBody(f"form key {part!r} is used both as a list and a value")
            child.append(value)
            return
        if child is None:
            node[part] = child = {}
        if not isinstance(child, dict):
            raise MalformedBody(f"form key {part!r} is used both as an object and a value")
        node = child
    last = parts[-1]
    if last == "":
        raise MalformedBody("form key ends in an empty [] inside a nested list")
    if isinstance(node.get(last), (dict, list)):
        raise MalformedBody(f"form key {last!r} is used both as an object and a value")
    node[last] = value
