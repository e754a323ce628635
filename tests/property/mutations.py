"""Hypothesis strategies: hostile values, and mutations of a provider's real delivery.

A mutated delivery starts from a factory of ``hookreceiver.testing`` (every provider, every
event, every transport) so that most mutations pass verification and reach the parsers and
models, then changes what a broken or hostile sender could: a value deep in the JSON, a form
key or value, the multipart ``data`` field, raw bytes, headers, the query string, the method,
the path's event segment, and how the body is split into chunks.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl, quote_plus

from bad_input_support import Request
from hypothesis import strategies as st

from hookreceiver.testing.factories import PROVIDERS, SimulatedDelivery, wirecloud, zipwhip

MARKER = "__hookreceiver_marker__"

# Values -----------------------------------------------------------------------------------------

_SPECIAL_TEXT = [
    "",
    " ",
    "null",
    "true",
    "false",
    "0",
    "-1",
    "NaN",
    "1e999",
    "..",
    "../../etc/passwd",
    "%00",
    "\x00",
    "\u202e",
    "\ud7ff\uffff",
    "[]",
    "{}",
    "a[b]",
    "x" * 1025,
    "x" * 70_000,
    "9" * 21,
    "9" * 4000,
    "9" * 5000,
    "-" + "9" * 30,
    "0001-01-01T00:00:00+05:00",
    "9999-12-31T23:59:59-05:00",
    "0001-01-01 00:00:00",
    "9999-12-31 23:59:59",
    "2024-02-30 10:00:00",
    "0000-00-00 00:00:00",
    "2024-09-09T10:44:39.000Z",
    "63724349409",
    "-63724349409",
    "success",
    "inbound",
    "outbound",
]


@st.composite
def timestamps(draw: st.DrawFn) -> str:
    """ISO 8601 or ``YYYY-MM-DD HH:MM:SS`` text, often at the edges of years 1-9999."""
    moment = draw(st.datetimes())
    minutes = draw(st.integers(-24 * 60 + 1, 24 * 60 - 1))
    sign = "-" if minutes < 0 else "+"
    offset = f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"
    form = draw(st.sampled_from(["iso", "z", "offset", "space"]))
    if form == "space":
        return moment.strftime("%Y-%m-%d %H:%M:%S").rjust(19, "0")
    text = moment.isoformat()
    return text + {"iso": "", "z": "Z", "offset": offset}[form]


#: Digit counts at the edges: 64-bit, the models' caps, Python's 4,300-digit conversion limit.
_EDGE_DIGITS = st.sampled_from([19, 20, 21, 40, 1000, 4000, 4300, 4301, 5000])

#: Times at the edges of years 1-9999, with offsets that push them out once in UTC.
edge_times = st.one_of(
    st.sampled_from(["0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59-05:00"]),
    st.sampled_from(["0001-01-01T00:59:59+01:00", "9999-12-31T23:00:00-01:00"]),
    st.sampled_from(["0001-01-01 00:00:00", "9999-12-31 23:59:59", "0000-01-01T00:00:00Z"]),
    timestamps(),
)

edge_numbers = st.one_of(
    _EDGE_DIGITS.map(lambda n: "9" * n),
    _EDGE_DIGITS.map(lambda n: "-1" + "0" * n),
    st.sampled_from([str(2**63), str(2**64), str(-(2**63) - 1), str(2**64 - 1), "-0", "1e400"]),
)

hostile_text = st.one_of(
    st.sampled_from(_SPECIAL_TEXT),
    st.text(max_size=40),
    timestamps(),
    st.integers().map(str),
    edge_numbers,
    edge_times,
    _EDGE_DIGITS.map(lambda n: "x" * n * 18),
)

#: A JSON literal (raw JSON text): numbers at every size, hostile strings, nesting.
json_literals = st.one_of(
    st.integers().map(str),
    st.integers(min_value=-(2**80), max_value=2**80).map(str),
    edge_numbers,
    st.sampled_from(["1e308", "1e309", "-1e309", "-0", "0.1", "1E-400", "1.5", "NaN", "Infinity"]),
    st.sampled_from(["null", "true", "false", "[]", "{}", '""', "[[[[[[[[]]]]]]]]"]),
    st.integers(100, 100_000).map(lambda n: "[" * n + "]" * n),
    st.floats(allow_nan=True, allow_infinity=True).map(json.dumps),
    hostile_text.map(json.dumps),
    st.lists(hostile_text, max_size=3).map(json.dumps),
    st.dictionaries(st.text(max_size=8), hostile_text, max_size=3).map(json.dumps),
)

# Mutations of structured bodies ---------------------------------------------------------------


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found: list[tuple[Any, ...]] = [prefix] if prefix else []
    if isinstance(node, dict):
        for key, value in node.items():
            found.extend(_paths(value, (*prefix, key)))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found.extend(_paths(value, (*prefix, index)))
    return found


def _parent(root: Any, path: tuple[Any, ...]) -> Any:
    node = root
    for key in path[:-1]:
        node = node[key]
    return node


_TIME_TEXT = re.compile(r"\d{4}-\d\d-\d\d")


def like(draw: st.DrawFn, value: Any) -> str:
    """A hostile JSON literal of the same kind as ``value``: where a model reads it."""
    if isinstance(value, bool) or value is None:
        return draw(json_literals)
    if isinstance(value, (int, float)):
        return draw(st.one_of(edge_numbers, edge_numbers.map(json.dumps)))
    if isinstance(value, str) and _TIME_TEXT.match(value):
        return json.dumps(draw(edge_times))
    if isinstance(value, str) and value.isdigit():
        return draw(st.one_of(edge_numbers, edge_numbers.map(json.dumps)))
    return json.dumps(draw(st.one_of(hostile_text, _EDGE_DIGITS.map(lambda n: "i" * n * 70))))


def mutate_json_text(draw: st.DrawFn, text: str) -> str:
    """``text`` (a JSON document) with one to three values replaced, removed or added."""
    try:
        payload = json.loads(text)
    except ValueError:
        return text
    literals: list[str] = []
    for _ in range(draw(st.integers(1, 3))):
        paths = _paths(payload)
        action = draw(
            st.sampled_from(["like", "like", "like", "replace", "delete", "add", "retype"])
        )
        if not paths or action == "add":
            target = payload
            if paths:
                inner = _parent(payload, draw(st.sampled_from(paths)) + (None,))
                target = inner if isinstance(inner, dict) else payload
            if isinstance(target, dict):
                target[draw(st.text(max_size=12))] = MARKER
                literals.append(draw(json_literals))
            continue
        path = draw(st.sampled_from(paths))
        parent = _parent(payload, path)
        if action == "delete":
            if isinstance(parent, dict):
                del parent[path[-1]]
            continue
        if action == "retype":
            value = parent[path[-1]]
            parent[path[-1]] = (
                [value] if not isinstance(value, list) else {"0": value} if value else ""
            )
            continue
        value = parent[path[-1]]
        if MARKER not in json.dumps(value):
            parent[path[-1]] = MARKER
            literals.append(like(draw, value) if action == "like" else draw(json_literals))
    out = json.dumps(payload, ensure_ascii=draw(st.booleans()))
    for literal in literals:
        out = out.replace(f'"{MARKER}"', literal, 1)
    return out


_BRACKET_KEYS = st.sampled_from(
    [
        "a[",
        "a]",
        "a[]]",
        "[]",
        "[x]",
        "a[][b]",
        "a[b][]",
        "a[b][][]",
        "custom_channel_vars",
        "custom_channel_vars[k]",
        "custom_channel_vars[]",
        "custom_channel_vars[k][j]",
        "hook_event[x]",
        "call_id[]",
        "timestamp[a]",
        "a" + "[x]" * 9,
        "a" + "[x]" * 7,
        "",
        "=",
        "&",
    ]
)


def mutate_form_text(draw: st.DrawFn, text: str) -> str:
    """A bracket form (Kazoo's body or query string) with pairs changed, added or removed."""
    pairs = parse_qsl(text, keep_blank_values=True)
    for _ in range(draw(st.integers(1, 3))):
        action = draw(st.sampled_from(["value", "value", "key", "add", "delete", "duplicate"]))
        if action == "add" or not pairs:
            key = draw(st.one_of(_BRACKET_KEYS, st.text(max_size=12)))
            pairs.append((key, draw(hostile_text)))
            continue
        index = draw(st.integers(0, len(pairs) - 1))
        key, value = pairs[index]
        if action == "value" and (value.isdigit() or _TIME_TEXT.match(value)):
            pairs[index] = (key, draw(st.one_of(edge_numbers, edge_times)))
        elif action == "value":
            pairs[index] = (key, draw(hostile_text))
        elif action == "key":
            pairs[index] = (draw(st.one_of(_BRACKET_KEYS, st.just(key + "[x]"))), value)
        elif action == "delete":
            del pairs[index]
        else:
            pairs.insert(index, (key + draw(st.sampled_from(["", "[]", "[y]"])), value))
    encoded = "&".join(f"{quote_plus(k, safe='[]')}={quote_plus(v)}" for k, v in pairs)
    if draw(st.integers(0, 9)) == 0:  # raw junk a strict encoder would never send
        junk = draw(st.sampled_from(["%", "%ZZ", "%C3", "%FF%FE", "&&", "==", "%5B", "+", ";"]))
        at = draw(st.integers(0, len(encoded)))
        encoded = encoded[:at] + junk + encoded[at:]
    return encoded


_DATA_FIELD = re.compile(rb'(name="data"\r\n\r\n)(.*?)(\r\n--)', re.S)


def mutate_multipart(draw: st.DrawFn, body: bytes) -> bytes:
    """A multipart body (Documo) with the JSON of its ``data`` field mutated."""
    found = _DATA_FIELD.search(body)
    if found is None:
        return body
    text = found.group(2).decode("utf-8")
    changed = mutate_json_text(draw, text).encode("utf-8", "surrogatepass")
    return body[: found.start(2)] + changed + body[found.end(2) :]


def mutate_bytes(draw: st.DrawFn, body: bytes) -> bytes:
    """Raw byte damage: a flipped byte, inserted junk, a cut, a duplicated slice."""
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, len(body)))
        action = draw(st.sampled_from(["flip", "insert", "cut", "truncate", "duplicate"]))
        if action == "flip" and body:
            at = min(at, len(body) - 1)
            body = body[:at] + bytes([body[at] ^ draw(st.integers(1, 255))]) + body[at + 1 :]
        elif action == "insert":
            body = body[:at] + draw(st.binary(max_size=16)) + body[at:]
        elif action == "cut":
            body = body[:at] + body[at + draw(st.integers(1, 64)) :]
        elif action == "truncate":
            body = body[:at]
        else:
            body = body[:at] + body[at : at + draw(st.integers(1, 64))] * 2 + body[at:]
    return body


# Headers, query, method, path ---------------------------------------------------------------------

_CONTENT_TYPES = [
    "application/json",
    "application/json; charset=UTF-8",
    "application/json; charset=latin-1",
    "APPLICATION/JSON",
    "application/x-www-form-urlencoded",
    "multipart/form-data",
    "multipart/form-data; boundary=",
    "multipart/form-data; boundary=" + "b" * 300,
    'multipart/form-data; boundary="quoted"',
    "multipart/form-data; boundary=x; boundary=y",
    "text/plain",
    "application/octet-stream",
    ";",
    "",
]

#: Latin-1 text without CR, LF or NUL: what an HTTP server hands over as a header value.
header_text = st.text(
    alphabet=st.characters(min_codepoint=1, max_codepoint=255, exclude_characters="\r\n"),
    max_size=60,
)

content_lengths = st.one_of(
    st.integers(0, 10**7).map(str),
    # Latin-1 text, as servers hand headers over: superscripts pass str.isdigit(), not int().
    st.sampled_from(["", "-1", "abc", " 12", "12 ", "1e3", "0x10", "+5", "9" * 40]),
    st.sampled_from(["³", "²", "¹", "1²", "٣".encode().decode("latin-1")]),
)


def _set_header(
    headers: list[tuple[str, str]], name: str, value: str | None
) -> list[tuple[str, str]]:
    kept = [(n, v) for n, v in headers if n.lower() != name]
    return kept if value is None else [*kept, (name, value)]


# The deliveries to start from --------------------------------------------------------------------

FACTORIES: list[Callable[[], SimulatedDelivery]] = [
    factory for module in PROVIDERS.values() for factory in module.EVENTS.values()
]
FACTORIES += [
    lambda: wirecloud.channel_destroy(method="GET"),
    lambda: wirecloud.channel_create(format="json"),
    lambda: wirecloud.parking(method="PUT"),
    lambda: zipwhip.receive(method="GET"),
    lambda: zipwhip.progress(method="PUT"),
]


def _is_form(request: Request) -> bool:
    return any(
        n.lower() == "content-type" and v.startswith("application/x-www-form-urlencoded")
        for n, v in request.headers
    )


@st.composite
def mutated_requests(draw: st.DrawFn, *, non_ascii_lengths: bool = True) -> Request:
    """A provider's real delivery, mutated (usually once or twice, sometimes not at all)."""
    sim = draw(st.sampled_from(FACTORIES))()
    method, path, query, body = sim.method, sim.path, sim.query, sim.body
    headers = [(n, v) for n, v in sim.headers if n.lower() != "content-length"]
    kinds = draw(
        st.lists(
            st.sampled_from(
                ["body", "body", "body", "bytes", "type", "length", "header", "query", "method"]
                + ["path", "chunks"]
            ),
            max_size=3,
        )
    )
    request = Request(method, path, query, tuple(headers), body)
    if "body" in kinds:
        if body.startswith(b"{"):
            body = mutate_json_text(draw, body.decode("utf-8")).encode("utf-8", "surrogatepass")
        elif body and _is_form(request):
            body = mutate_form_text(draw, body.decode("utf-8")).encode("utf-8", "surrogatepass")
        elif body:
            body = mutate_multipart(draw, body)
        elif query:
            query = mutate_form_text(draw, query)
    if "bytes" in kinds:
        body = mutate_bytes(draw, body)
    if "query" in kinds:
        query = draw(st.one_of(st.just(mutate_form_text(draw, query)), header_text))
    if "type" in kinds:
        value = draw(st.one_of(st.sampled_from(_CONTENT_TYPES), header_text, st.none()))
        headers = _set_header(headers, "content-type", value)
    if "header" in kinds:
        name = draw(st.sampled_from(["x-hook-id", "x-account-id", "user-agent", "x-forwarded-for"]))
        value = draw(st.one_of(header_text, st.sampled_from(["h" * 1025, "h" * 70_000])))
        headers = _set_header(headers, name, value)
    if "method" in kinds:
        method = draw(st.sampled_from(["GET", "PUT", "POST", "DELETE", "PATCH", "OPTIONS"]))
    if "path" in kinds:
        alphabet = st.characters(exclude_characters="/?#", exclude_categories=("Cs",))
        segment = draw(st.text(alphabet, max_size=70))
        path = path.rsplit("/", 1)[0] + "/" + segment
    length: str | None = str(len(body))
    if "length" in kinds:
        length = draw(st.one_of(content_lengths, st.none()))
        if not non_ascii_lengths and length is not None and not length.isascii():
            length = str(len(body))
    if length is not None and (body or "length" in kinds or method != "GET"):
        headers.append(("content-length", length))
    chunks: tuple[int, ...] = ()
    if "chunks" in kinds:
        chunks = tuple(draw(st.lists(st.integers(0, 256), max_size=6)))
    return Request(method, path, query, tuple(headers), body, chunks)
