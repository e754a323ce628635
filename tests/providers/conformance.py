"""The provider conformance suite: what every provider must do, run once per provider.

A provider's test module subclasses :class:`ProviderConformance` (the class name must start with
``Test``) and describes the provider: its endpoint, a valid delivery, the examples of its docs
parsed verbatim, its transports, a payload missing a required field, an unknown event, an
unknown status, and its response-policy table. The tests below then drive the whole receiver
(``Receiver.handle`` and the ASGI app) with them. Parametrized tests (examples, transports,
outcomes) get their parameters from ``conftest.pytest_generate_tests``.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urlencode

import httpx
import pytest
from pydantic import BaseModel

from hookreceiver import (
    ConfigurationError,
    Delivery,
    DeliveryContext,
    GenericEvent,
    Headers,
    Outcome,
    Receiver,
    Response,
    StoreUnavailable,
)
from hookreceiver.providers.base import Provider
from hookreceiver.stores import Claim, MemoryStore

DOCS = Path(__file__).resolve().parents[2] / "docs" / "providers.md"
BOUNDARY = "----hookreceiverConformanceBoundary7MA4YWxkTrZu0gW"
PEER = "127.0.0.1"


# Encoding deliveries ---------------------------------------------------------------------------


def bracket_pairs(value: Any, prefix: str = "") -> list[tuple[str, str]]:
    """Flatten a payload the way Kazoo encodes forms: ``a[b][c]=v``, ``arr[]=1``, ``true``."""
    if isinstance(value, dict):
        pairs: list[tuple[str, str]] = []
        for key, item in value.items():
            pairs += bracket_pairs(item, f"{prefix}[{key}]" if prefix else str(key))
        return pairs
    if isinstance(value, list):
        return [pair for item in value for pair in bracket_pairs(item, f"{prefix}[]")]
    if isinstance(value, bool):
        return [(prefix, "true" if value else "false")]
    return [(prefix, "" if value is None else str(value))]


def bracket_encode(payload: dict[str, Any]) -> str:
    """A payload as a Kazoo form body or query string."""
    return urlencode(bracket_pairs(payload))


@dataclass(frozen=True)
class Sample:
    """One delivery as a provider sends it.

    ``transport`` is ``json``, ``form`` (bracket form body), ``query`` (GET query string) or
    ``multipart`` (Documo: ``data`` JSON plus ``files``). ``raw`` is sent verbatim instead of
    encoding ``payload`` (the examples of the providers' pages).
    """

    path: str
    payload: dict[str, Any] | None = None
    transport: str = "json"
    method: str = "POST"
    raw: bytes | None = None
    headers: tuple[tuple[str, str], ...] = ()
    files: tuple[tuple[str, str | None, str | None, bytes], ...] = ()
    content_type: str | None = None

    def with_payload(self, payload: dict[str, Any]) -> Sample:
        """The same delivery with another payload (and no verbatim body)."""
        return replace(self, payload=payload, raw=None)

    def edit(self, change: Callable[[dict[str, Any]], None]) -> Sample:
        """The same delivery with its payload changed in place by ``change``."""
        payload = json.loads(json.dumps(self.decoded()))
        change(payload)
        return self.with_payload(payload)

    def decoded(self) -> dict[str, Any]:
        """The payload (decoded from ``raw`` for JSON-carrying transports)."""
        if self.payload is not None:
            return self.payload
        assert self.raw is not None and self.transport in ("json", "multipart")
        decoded: dict[str, Any] = json.loads(self.raw)
        return decoded

    def encoded(self) -> tuple[str, str, bytes, list[tuple[str, str]]]:
        """``(method, query, body, headers)`` of this delivery."""
        headers = list(self.headers)
        query, body = "", b""
        if self.transport == "query":
            query = self.raw.decode() if self.raw is not None else bracket_encode(self.decoded())
        elif self.transport == "form":
            body = self.raw if self.raw is not None else bracket_encode(self.decoded()).encode()
            headers.append(("content-type", "application/x-www-form-urlencoded"))
        elif self.transport == "multipart":
            data = self.raw if self.raw is not None else json.dumps(self.decoded()).encode()
            body = multipart_body(data, self.files)
            headers.append(("content-type", f"multipart/form-data; boundary={BOUNDARY}"))
        else:
            body = self.raw if self.raw is not None else json.dumps(self.decoded()).encode()
            headers.append(("content-type", self.content_type or "application/json"))
        return self.method, query, body, headers

    def delivery(self, peer: str | None = PEER, headers: tuple[tuple[str, str], ...] = ()):
        """This sample as a :class:`~hookreceiver.Delivery` from ``peer``."""
        method, query, body, all_headers = self.encoded()
        return Delivery(
            method, self.path, query, Headers([*all_headers, *headers]), peer=peer, body=body
        )


def multipart_body(
    data: bytes | None, files: tuple[tuple[str, str | None, str | None, bytes], ...]
) -> bytes:
    """A multipart body with a ``data`` field and file parts, as Documo posts it."""
    out = b""
    if data is not None:
        out += (
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="data"\r\n\r\n'.encode()
            + data
            + b"\r\n"
        )
    for name, filename, content_type, content in files:
        out += f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"'.encode()
        if filename is not None:
            out += f'; filename="{filename}"'.encode()
        out += b"\r\n"
        if content_type is not None:
            out += f"Content-Type: {content_type}\r\n".encode()
        out += b"\r\n" + content + b"\r\n"
    return out + f"--{BOUNDARY}--\r\n".encode()


@dataclass(frozen=True)
class Example:
    """A delivery and what parsing it must give."""

    id: str
    sample: Sample
    event: str
    model: type[BaseModel]
    check: Callable[[Any], None] = lambda model: None
    normalized: str | None = None
    check_normalized: Callable[[Any], None] = lambda view: None


@dataclass
class Recorder:
    """A receiver with one endpoint and a catch-all handler that records its calls."""

    receiver: Receiver
    calls: list[tuple[Any, DeliveryContext]] = field(default_factory=list)
    fail: int = 0

    def handler(self, event: Any, ctx: DeliveryContext) -> None:
        self.calls.append((event, ctx))
        if self.fail:
            self.fail -= 1
            raise RuntimeError("handler failed on purpose")

    def send(self, sample: Sample, **kwargs: Any) -> Response:
        return self.receiver.handle(sample.delivery(**kwargs))


class DownStore(MemoryStore):
    """A store whose backend is unreachable."""

    def claim(self, key: str, lease: float) -> Claim:
        raise StoreUnavailable("connection refused")


def expect(condition: object) -> None:
    """An assertion usable inside a lambda (``check=lambda e: expect(e.pages == 1)``)."""
    assert condition


def detail(response: Response) -> dict[str, Any]:
    decoded: dict[str, Any] = json.loads(response.body)
    return decoded


#: The response policy of shared/DESIGN.md for senders that retry 5xx and drop 4xx.
RETRYING_SENDER = {
    Outcome.HANDLED: 200,
    Outcome.DUPLICATE: 200,
    Outcome.IN_FLIGHT: 503,
    Outcome.HANDLER_FAILED: 500,
    Outcome.INVALID_PAYLOAD: 400,
    Outcome.STORE_UNAVAILABLE: 503,
    Outcome.RECEIVER_ERROR: 500,
}

POLICY_OUTCOMES = list(RETRYING_SENDER)


# The suite -------------------------------------------------------------------------------------


class ProviderConformance:
    """Subclass as ``TestMyProvider`` and fill in the class attributes and methods below."""

    #: The provider class under test.
    provider_class: ClassVar[type[Provider]]
    #: The endpoint's path template.
    endpoint: ClassVar[str]
    #: Status per outcome (shared/DESIGN.md's table for this provider).
    statuses: ClassVar[dict[Outcome, int]] = RETRYING_SENDER
    #: The event the :meth:`valid` sample is.
    valid_event: ClassVar[str]

    # What a provider's test module describes ---------------------------------------------

    def make_provider(self, **options: Any) -> Provider:
        """The provider as the tests use it: verified by the test peer's address."""
        options.setdefault("allow_ips", [PEER])
        return self.provider_class(**options)

    def valid(self) -> Sample:
        """A valid delivery of :attr:`valid_event`."""
        raise NotImplementedError

    def examples(self) -> list[Example]:
        """The examples of the provider's pages and NOTES.md, sent verbatim."""
        raise NotImplementedError

    def transports(self) -> list[Example]:
        """One delivery per transport the provider uses."""
        raise NotImplementedError

    def missing_field(self) -> tuple[Sample, str]:
        """A delivery missing a required field, and that field's wire name."""
        raise NotImplementedError

    def unknown_event(self) -> tuple[Sample, str]:
        """A delivery of an event the provider does not document, and its full name."""
        raise NotImplementedError

    def unknown_status(self) -> tuple[Sample, Callable[[Any], object], str]:
        """A delivery with a status value nobody knows yet, how to read it, and the value."""
        raise NotImplementedError

    def malformed(self) -> Sample:
        """A delivery whose body cannot be decoded."""
        return replace(self.valid(), raw=b'{"not json', payload=None)

    def unknown_field_holder(self, model: Any) -> Any:
        """The object in a parsed model that keeps a top-level unknown field."""
        return model

    # Helpers ------------------------------------------------------------------------------

    def recorder(self, provider: Provider | None = None, **receiver_options: Any) -> Recorder:
        receiver = Receiver(**receiver_options)
        receiver.endpoint(self.endpoint, provider or self.make_provider())
        recorder = Recorder(receiver)
        receiver.on("*")(recorder.handler)
        return recorder

    def parse_one(self, sample: Sample) -> tuple[Any, DeliveryContext]:
        recorder = self.recorder()
        response = recorder.send(sample)
        assert response.status == 200, (response.status, response.body)
        assert len(recorder.calls) == 1
        return recorder.calls[0]

    # The tests ----------------------------------------------------------------------------

    def test_example_parses_verbatim(self, example: Example) -> None:
        event, ctx = self.parse_one(example.sample)
        assert ctx.event_name == example.event
        assert type(event) is example.model
        assert ctx.event.model is event
        example.check(event)
        assert ctx.event.normalized_name == example.normalized
        if example.normalized is not None:
            view = ctx.event.normalized
            assert view is not None and view.source is event
            example.check_normalized(view)

    def test_transport(self, transport: Example) -> None:
        event, ctx = self.parse_one(transport.sample)
        assert ctx.event_name == transport.event
        assert type(event) is transport.model
        transport.check(event)

    def test_every_transport_of_one_event_gives_one_key(self) -> None:
        keys = {
            self.parse_one(t.sample)[1].idempotency_key
            for t in self.transports()
            if t.event == self.valid_event
        }
        assert len(keys) <= 1

    def test_unknown_fields_are_kept(self) -> None:
        sample = self.valid().edit(lambda p: p.update(zz_new_field="kept"))
        event, _ = self.parse_one(sample)
        holder = self.unknown_field_holder(event)
        assert holder.model_extra["zz_new_field"] == "kept"

    def test_unknown_status_is_accepted_and_kept(self) -> None:
        sample, read, value = self.unknown_status()
        event, _ = self.parse_one(sample)
        assert read(event) == value

    def test_unknown_event_reaches_catch_all_as_generic(self) -> None:
        sample, name = self.unknown_event()
        event, ctx = self.parse_one(sample)
        assert isinstance(event, GenericEvent)
        assert event.name == name == ctx.event_name
        assert event.provider == self.provider_class.name
        assert name not in self.provider_class.events

    def test_unknown_event_on_strict_endpoint_is_422(self) -> None:
        sample, _ = self.unknown_event()
        recorder = self.recorder(self.make_provider(strict=True))
        response = recorder.send(sample)
        assert response.status == 422
        assert detail(response)["error"] == "unknown_event"
        assert recorder.calls == []

    def test_valid_event_on_strict_endpoint_is_handled(self) -> None:
        recorder = self.recorder(self.make_provider(strict=True))
        assert recorder.send(self.valid()).status == 200
        assert recorder.calls[0][1].event_name == self.valid_event

    def test_missing_required_field_is_400_naming_it(self) -> None:
        sample, wire_name = self.missing_field()
        recorder = self.recorder()
        response = recorder.send(sample)
        assert response.status == 400
        body = detail(response)
        assert body["error"] == "invalid_payload"
        assert re.search(rf"\b{re.escape(wire_name)}\b", body["detail"]), body
        assert recorder.calls == []

    def test_malformed_body_is_400(self) -> None:
        recorder = self.recorder()
        response = recorder.send(self.malformed())
        assert response.status == 400
        assert detail(response)["error"] in ("malformed_body", "invalid_payload")
        assert recorder.calls == []

    def test_a_payload_kept_in_quarantine_gets_the_providers_status_for_it(
        self, tmp_path: Path
    ) -> None:
        from hookreceiver.inbox import SQLiteInbox

        inbox = SQLiteInbox(tmp_path / "inbox.db", synchronous="NORMAL")
        recorder = self.recorder(inbox=inbox, worker=False)
        response = recorder.send(self.missing_field()[0])
        # Declared (Kazoo: 200, never a 4xx for what we keep), else the refusal's own 400.
        assert response.status == self.statuses.get(Outcome.QUARANTINED, 400)
        assert [e.state.value for e in inbox.list()] == ["quarantined"]
        assert recorder.calls == []
        inbox.close()

    def test_duplicate_is_handled_once(self) -> None:
        recorder = self.recorder()
        assert recorder.send(self.valid()).status == 200
        second = recorder.send(self.valid())
        assert second.status == 200
        assert detail(second) == {"status": "duplicate"}
        assert len(recorder.calls) == 1

    def test_retry_after_failure_runs_handlers_again(self) -> None:
        recorder = self.recorder()
        recorder.fail = 1
        first = recorder.send(self.valid())
        assert first.status == self.statuses[Outcome.HANDLER_FAILED]
        assert recorder.send(self.valid()).status == 200
        assert len(recorder.calls) == 2

    def test_response_policy(self, outcome: Outcome) -> None:
        expected = self.statuses[outcome]
        if outcome is Outcome.STORE_UNAVAILABLE:
            recorder = self.recorder(store=DownStore())
            response = recorder.send(self.valid())
        elif outcome is Outcome.INVALID_PAYLOAD:
            recorder = self.recorder()
            response = recorder.send(self.missing_field()[0])
        elif outcome is Outcome.RECEIVER_ERROR:
            provider = self.make_provider()

            def parse(*args: Any) -> Any:  # a bug of the receiver's own, not a refusal
                raise KeyError("a bug")

            provider.parse = parse  # type: ignore[method-assign]
            recorder = self.recorder(provider)
            response = recorder.send(self.valid())
            assert detail(response)["error"] == "internal_error"
            assert recorder.calls == []
        elif outcome is Outcome.IN_FLIGHT:
            recorder = self.recorder()
            inner: list[Response] = []
            recorder.receiver.on(self.valid_event)(
                lambda event, ctx: inner.append(recorder.send(self.valid()))
            )
            assert recorder.send(self.valid()).status == self.statuses[Outcome.HANDLED]
            (response,) = inner
        else:
            recorder = self.recorder()
            recorder.fail = 1 if outcome is Outcome.HANDLER_FAILED else 0
            response = recorder.send(self.valid())
            if outcome is Outcome.DUPLICATE:
                response = recorder.send(self.valid())
        assert response.status == expected, (outcome, response.body)
        if expected >= 400 and outcome not in (Outcome.INVALID_PAYLOAD, Outcome.RECEIVER_ERROR):
            assert detail(response) == {"status": outcome.value}

    def test_unverified_sender_is_403_and_body_unread(self) -> None:
        recorder = self.recorder(self.make_provider(allow_ips=["198.51.100.7"], ip_preset=False))
        response = recorder.send(self.valid())
        assert response.status == 403
        assert recorder.calls == []

    def test_basic_auth_is_401_with_challenge_then_accepted(self) -> None:
        provider = self.provider_class(basic_auth=[("hooks", "s3cret")], ip_preset=False)
        recorder = self.recorder(provider)
        refused = recorder.send(self.valid())
        assert refused.status == 401
        assert dict(refused.headers)["www-authenticate"].startswith("Basic ")
        good = recorder.send(self.valid(), headers=(("authorization", "Basic aG9va3M6czNjcmV0"),))
        assert good.status == 200

    def test_ip_preset_on_by_default_and_extendable(self) -> None:
        preset = self.provider_class.ip_preset
        if not preset:
            with pytest.raises(ConfigurationError):
                Receiver().endpoint(self.endpoint, self.provider_class())
            return
        network = ipaddress.ip_network(preset[-1])
        sender = str(network.network_address + (1 if network.num_addresses > 1 else 0))
        recorder = self.recorder(self.provider_class())
        assert recorder.send(self.valid(), peer=sender).status == 200
        assert recorder.send(self.valid(), peer="198.51.100.7").status == 403
        extended = self.recorder(self.provider_class(allow_ips=["198.51.100.7"]))
        assert extended.send(self.valid(), peer="198.51.100.7").status == 200
        off = self.recorder(self.provider_class(ip_preset=False, allow_ips=["198.51.100.7"]))
        assert off.send(self.valid(), peer=sender).status == 403

    def test_wrong_content_type_is_415(self) -> None:
        sample = replace(self.valid(), transport="json", content_type="text/csv")
        if sample.method == "GET":
            sample = replace(sample, method="POST")
        response = self.recorder().send(sample)
        assert response.status == 415

    def test_body_over_limit_is_413(self) -> None:
        provider = self.make_provider(max_body=64, max_multipart_body=64)
        response = self.recorder(provider).send(
            self.valid().edit(lambda p: p.update(pad="x" * 200))
        )
        assert response.status == 413

    def test_asgi_app_delivers_the_same_event(self) -> None:
        recorder = self.recorder()
        method, query, body, headers = self.valid().encoded()
        url = self.valid().path + (f"?{query}" if query else "")

        async def send() -> httpx.Response:
            transport = httpx.ASGITransport(app=recorder.receiver.asgi_app, client=(PEER, 5060))
            async with httpx.AsyncClient(transport=transport, base_url="http://hooks") as client:
                return await client.request(method, url, content=body, headers=headers)

        response = asyncio.run(send())
        assert response.status_code == 200, response.text
        assert recorder.calls[0][1].event_name == self.valid_event

    def test_every_event_name_is_documented(self) -> None:
        text = DOCS.read_text()
        for name in self.provider_class.events:
            assert f"`{name}`" in text, f"{name} missing from docs/providers.md"
