"""``Receiver.verify`` / ``averify``: one delivery from a route of your own, verified and parsed
into its typed event, or refused with a typed ``DeliveryRejected``; never anything else."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hookreceiver import DeliveryRejected, NotVerified, Receiver, URLSigner, providers
from hookreceiver.errors import InvalidPayload, MethodNotAllowed, PayloadTooLarge
from hookreceiver.providers.documo import FaxInbound
from hookreceiver.testing import documo, faxplus, updox

KEY = "k" * 32


def make_receiver() -> Receiver:
    hooks = Receiver(log_events=False)
    hooks.endpoint("/hooks/documo", providers.Documo(basic_auth=[("documo", "s3cret")]))
    hooks.endpoint("/hooks/faxplus", providers.FaxPlus(allow_ips=["127.0.0.1"]))
    hooks.endpoint(
        "/hooks/updox/{event}",
        providers.Updox(signed_urls=URLSigner([KEY], expires_in=None)),
    )
    ran: list[object] = []

    @hooks.on("*")
    def never(event: object, ctx: object) -> None:  # verify runs no handler
        ran.append(event)

    hooks.ran = ran  # type: ignore[attr-defined]
    return hooks


HOOKS = make_receiver()


def test_a_documo_fax_becomes_its_typed_model_with_its_attachment() -> None:
    sent = documo.fax_inbound(pages=2, basic_auth=("documo", "s3cret"))
    with HOOKS.verify(
        sent.method, sent.path, sent.headers, sent.body, client=sent.sender
    ) as verified:
        assert isinstance(verified.model, FaxInbound)
        assert verified.name == "documo.fax.inbound"
        assert verified.endpoint == "/hooks/documo"
        assert verified.key
        [attachment] = verified.attachments
        assert attachment.read() == sent.attachment
    assert HOOKS.ran == []  # type: ignore[attr-defined]


def test_wrong_credentials_are_a_typed_401_with_its_challenge() -> None:
    sent = documo.fax_inbound(basic_auth=("documo", "hunter22"))
    with pytest.raises(NotVerified) as refused:
        HOOKS.verify(sent.method, sent.path, sent.headers, sent.body, client=sent.sender)
    assert refused.value.status == 401
    assert refused.value.error == "unauthorized"
    assert "hunter22" not in refused.value.detail
    assert dict(refused.value.headers)["www-authenticate"].startswith("Basic")


def test_an_address_outside_the_allowlist_is_refused_before_the_body() -> None:
    sent = faxplus.fax_received()
    with pytest.raises(NotVerified) as refused:
        HOOKS.verify("POST", "/hooks/faxplus", sent.headers, b"{not json", client="203.0.113.50")
    assert refused.value.status == 403
    result = HOOKS.verify("POST", "/hooks/faxplus", sent.headers, sent.body, client="127.0.0.1")
    assert result.name == "faxplus.fax_received"


def test_a_signed_url_in_the_path_with_its_query_gives_its_context() -> None:
    url = HOOKS.callback_url(
        "/hooks/updox/{event}", event="outbound_fax", context={"job": 7}, base_url="http://x"
    )
    sent = updox.outbound_fax(url=url)
    path = url.removeprefix("http://x")
    verified = HOOKS.verify("POST", path, dict(sent.headers), sent.body, client="203.0.113.9")
    assert verified.signed == {"job": 7}
    assert verified.params == {"event": "outbound_fax"}
    with pytest.raises(NotVerified):
        HOOKS.verify("POST", "/hooks/updox/outbound_fax", sent.headers, sent.body)


def test_unknown_path_wrong_method_bad_payload_and_size_are_typed() -> None:
    sent = faxplus.fax_received()
    with pytest.raises(DeliveryRejected) as missing:
        HOOKS.verify("POST", "/nowhere", sent.headers, sent.body, client="127.0.0.1")
    assert (missing.value.status, missing.value.error) == (404, "not_found")
    with pytest.raises(MethodNotAllowed):
        HOOKS.verify("GET", "/hooks/faxplus", sent.headers, b"", client="127.0.0.1")
    body = json.dumps({"event": "fax_received", "hook": 3}).encode()
    with pytest.raises(InvalidPayload):
        HOOKS.verify("POST", "/hooks/faxplus", sent.headers, body, client="127.0.0.1")
    huge = b"{" + b" " * (2 << 20) + b"}"
    headers = [("content-type", "application/json")]
    with pytest.raises(PayloadTooLarge):
        HOOKS.verify("POST", "/hooks/faxplus", headers, huge, client="127.0.0.1")


def test_averify_reads_an_async_body_in_chunks() -> None:
    sent = documo.fax_inbound(pages=1, basic_auth=("documo", "s3cret"))

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(sent.body), 1000):
            yield sent.body[start : start + 1000]

    async def main() -> str:
        verified = await HOOKS.averify(
            "POST", sent.path, sent.headers, chunks(), client=sent.sender
        )
        with verified:
            return verified.name

    assert asyncio.run(main()) == "documo.fax.inbound"


header_names = st.sampled_from(
    ["content-type", "content-length", "authorization", "x-hook-id", "webhook-signature", "x"]
) | st.text(max_size=12)
header_values = st.sampled_from(
    ["application/json", "multipart/form-data; boundary=b", "Basic ZG9jdW1vOnMzY3JldA==", "12"]
) | st.text(max_size=40)
paths = st.sampled_from(
    ["/hooks/documo", "/hooks/faxplus", "/hooks/updox/inbound_fax", "/hooks/updox/%2e%2e", "/"]
) | st.text(max_size=30)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    method=st.sampled_from(["POST", "GET", "PUT", "post", ""]) | st.text(max_size=6),
    path=paths,
    headers=st.lists(st.tuples(header_names, header_values), max_size=6),
    body=st.binary(max_size=400),
    client=st.none() | st.sampled_from(["127.0.0.1", "::1", "garbage", "198.51.100.7"]),
)
def test_arbitrary_input_is_an_event_or_a_typed_refusal(
    method: str, path: str, headers: list[tuple[str, str]], body: bytes, client: str | None
) -> None:
    try:
        verified = HOOKS.verify(method, path, headers, body, client=client)
    except DeliveryRejected as exc:
        assert 400 <= exc.status < 600 and exc.error and exc.detail
        assert exc.status != 500, exc.detail  # no bug of ours behind any of these
    else:
        verified.close()
        assert verified.name
    assert HOOKS.ran == []  # type: ignore[attr-defined]


def test_a_str_body_is_its_utf8_bytes_like_stripe_and_svix() -> None:
    sent = faxplus.fax_received()
    text = sent.body.decode("utf-8")
    verified = HOOKS.verify(sent.method, sent.path, sent.headers, text, client=sent.sender)
    expected = HOOKS.verify(sent.method, sent.path, sent.headers, sent.body, client=sent.sender)
    assert verified.body == sent.body
    assert verified.model == expected.model
    got = asyncio.run(HOOKS.averify(sent.method, sent.path, sent.headers, text, client=sent.sender))
    assert got.model == expected.model


@pytest.mark.parametrize(
    "change",
    [
        {"body": 12},
        {"body": {"a": 1}},
        {"body": ["chunk"]},  # an iterable of str, not of bytes
        {"method": b"POST"},
        {"path": b"/hooks/faxplus"},
        {"headers": 5},
        {"headers": [("content-type", 3)]},
        {"client": ("127.0.0.1", 5000)},
        {"query": b"x=1"},
    ],
    ids=repr,
)
def test_a_wrong_typed_argument_is_a_type_error_at_the_call_not_a_500(
    change: dict[str, object], caplog: pytest.LogCaptureFixture
) -> None:
    sent = faxplus.fax_received()
    args: dict[str, object] = {
        "method": sent.method,
        "path": sent.path,
        "headers": sent.headers,
        "body": sent.body,
        "client": sent.sender,
    }
    args.update(change)
    with pytest.raises(TypeError):
        HOOKS.verify(**args)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        asyncio.run(HOOKS.averify(**args))  # type: ignore[arg-type]
    assert "unexpected error" not in caplog.text
