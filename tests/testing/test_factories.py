"""Every factory builds what its provider sends, and the real provider parser accepts it."""

from __future__ import annotations

import json
from email.parser import BytesParser
from email.policy import HTTP
from urllib.parse import parse_qsl

import pytest
from five_providers import DOCUMO_AUTH, Seen

from hookreceiver import GenericEvent, Receiver
from hookreceiver.parsing.form import decode_bracket_form
from hookreceiver.security import URLSigner
from hookreceiver.testing import (
    PROVIDERS,
    SimulatedDelivery,
    UnknownName,
    WebhookClient,
    documo,
    factory,
    faxplus,
    make,
    seed,
    updox,
    wirecloud,
    zipwhip,
)
from hookreceiver.testing.pdf import pdf_page_count

ALL_EVENTS = [(p, e) for p, module in sorted(PROVIDERS.items()) for e in module.EVENTS]


def _build(provider: str, event: str) -> SimulatedDelivery:
    options = {"basic_auth": DOCUMO_AUTH} if provider == "documo" else {}
    return make(provider, event, **options)


def _multipart(delivery: SimulatedDelivery) -> dict[str, tuple[str | None, str, bytes]]:
    raw = f"Content-Type: {delivery.header('content-type')}\r\n\r\n".encode() + delivery.body
    message = BytesParser(policy=HTTP).parsebytes(raw)
    parts = {}
    for part in message.iter_parts():
        payload = part.get_payload(decode=True)
        parts[part.get_param("name", header="content-disposition")] = (
            part.get_filename(),
            part.get_content_type(),
            payload,
        )
    return parts


@pytest.mark.parametrize(("provider", "event"), ALL_EVENTS)
def test_each_event_is_accepted_by_the_real_provider_as_that_event(
    provider: str, event: str, deliver: WebhookClient, seen: Seen
) -> None:
    delivery = _build(provider, event)
    result = deliver(delivery)
    assert result.status == 200, result.body
    assert result.outcome == "handled"
    assert seen.names == [delivery.event]
    handled, ctx = seen.events[0]
    assert not isinstance(handled, GenericEvent)
    assert ctx.client == delivery.sender
    assert result.calls is not None and result.calls[0].event is handled


@pytest.mark.parametrize(("provider", "event"), ALL_EVENTS)
def test_defaults_are_unique_per_call(provider: str, event: str, deliver: WebhookClient) -> None:
    first, second = _build(provider, event), _build(provider, event)
    assert first.body != second.body or first.query != second.query
    assert [deliver(first).outcome, deliver(second).outcome] == ["handled", "handled"]


def test_documo_inbound_is_multipart_with_a_pdf_of_the_fax_pages(deliver: WebhookClient) -> None:
    delivery = documo.fax_inbound(pages=3, basic_auth=DOCUMO_AUTH)
    assert delivery.header(
        "content-type",
    ).startswith("multipart/form-data; boundary=")
    assert delivery.header("content-length") == str(len(delivery.body))
    assert delivery.header("authorization") == "Basic ZG9jdW1vOnMzY3JldC1kb2N1bW8="
    parts = _multipart(delivery)
    assert set(parts) == {"data", "attachment"}
    data = json.loads(parts["data"][2])
    assert data["pagesCount"] == 3 and data["direction"] == "inbound"
    filename, content_type, pdf = parts["attachment"]
    assert content_type == "application/pdf" and filename == f"{data['messageId']}.pdf"
    assert pdf == delivery.attachment and pdf_page_count(pdf) == 3

    result = deliver(delivery)
    assert result.status == 200
    (call,) = result.calls or []
    assert call.event.pages_count == 3
    assert [(f.field, f.content_type, f.data) for f in call.files] == [
        ("attachment", "application/pdf", pdf)
    ]


def test_documo_attachment_can_be_left_out_or_replaced() -> None:
    assert "attachment" not in _multipart(documo.fax_inbound(attachment=False))
    assert _multipart(documo.fax_inbound(attachment=b"II*\x00tiff"))["attachment"][2] == (
        b"II*\x00tiff"
    )
    assert "attachment" not in _multipart(documo.fax_outbound())
    assert "attachment" in _multipart(documo.fax_outbound(attachment=True))


def test_documo_wrong_or_missing_credentials_are_refused(deliver: WebhookClient) -> None:
    assert deliver(documo.fax_inbound()).status == 401
    wrong = documo.fax_inbound(basic_auth=("documo", "guess"))
    assert deliver(wrong).outcome == "unauthorized"


def test_documo_extended_sequence_shares_one_fax() -> None:
    posts = documo.outbound_extended_sequence(basic_auth=DOCUMO_AUTH)
    ids = {post.payload["messageId"] for post in posts}
    assert len(ids) == 1
    assert [post.payload["status"] for post in posts] == list(documo.OUTBOUND_EXTENDED_STATUSES)


def test_documo_v1_is_plain_json_naming_its_event() -> None:
    delivery = documo.fax_v1("outbound.failed")
    assert delivery.header("content-type") == "application/json"
    assert json.loads(delivery.body)["event"] == "fax.v1.outbound.failed"
    assert delivery.event == "documo.fax.v1.outbound.failed"


def test_wire_fields_override_and_ellipsis_drops(deliver: WebhookClient) -> None:
    delivery = zipwhip.receive(body="STOP", finalSource="+12065550100", deviceId=...)
    payload = json.loads(delivery.body)
    assert payload["body"] == "STOP" and payload["finalSource"] == "+12065550100"
    assert "deviceId" not in payload
    missing_id = deliver(zipwhip.receive(id=...))
    assert missing_id.status == 400 and "id" in missing_id.json()["detail"]


def test_zipwhip_ids_stay_exact_above_2_53(deliver: WebhookClient) -> None:
    delivery = zipwhip.progress(id=1327295480212647937, status_code=6)
    assert b'"id":1327295480212647937' in delivery.body
    assert delivery.header("user-agent") == "Jakarta Commons-HttpClient/3.1"
    assert delivery.header("content-type") == "application/json; charset=UTF-8"
    result = deliver(delivery)
    assert str(result.events[0].id) == "1327295480212647937"


def test_zipwhip_get_and_put(deliver: WebhookClient) -> None:
    get = zipwhip.receive(method="GET")
    assert get.body == b"" and get.header("content-type") is None
    assert dict(parse_qsl(get.query))["id"] == str(get.payload["id"])
    assert deliver(get).status == 200
    assert deliver(zipwhip.send(method="PUT")).status == 200


def test_zipwhip_sender_comes_from_its_ranges_and_a_spoof_is_refused(
    deliver: WebhookClient,
) -> None:
    for _ in range(20):
        sender = zipwhip.receive().sender or ""
        assert sender.startswith(("69.46.44.", "208.69.95."))
    spoofed = deliver(zipwhip.receive(sender="198.18.0.7"))
    assert (spoofed.status, spoofed.outcome) == (403, "address_not_allowed")


def test_wirecloud_form_get_and_json_forms(deliver: WebhookClient, seen: Seen) -> None:
    form = wirecloud.channel_destroy(custom_data={"screen_pop": True, "account_id": "crm-1"})
    assert form.header("content-type") == "application/x-www-form-urlencoded"
    decoded = decode_bracket_form(form.body)
    assert decoded["screen_pop"] == "true" and decoded["account_id"] == "crm-1"
    assert decoded["custom_channel_vars"]["authorizing_type"] == "device"
    assert form.header("x-hook-id") and form.header("x-account-id")
    assert form.header("user-agent") is None  # Kazoo's httpc sends none

    get = wirecloud.channel_create(method="GET", hook_id="h" * 32)
    assert get.method == "GET" and get.body == b"" and "hook_event=channel_create" in get.query
    as_json = wirecloud.channel_answer(method="PUT", format="json")
    assert json.loads(as_json.body)["hook_event"] == "channel_answer"

    for delivery in (form, get, as_json):
        assert deliver(delivery).status == 200
    assert seen.names == [
        "wirecloud.channel_destroy",
        "wirecloud.channel_create",
        "wirecloud.channel_answer",
    ]
    duration = seen.events[0][0].duration_seconds
    assert duration == 6


def test_wirecloud_timestamps_are_gregorian_seconds() -> None:
    stamp = int(decode_bracket_form(wirecloud.channel_create().body)["timestamp"])
    unix = stamp - wirecloud.GREGORIAN_OFFSET
    assert 1_600_000_000 < unix < 4_000_000_000


def test_wirecloud_get_appends_to_a_url_with_a_query_as_kazoo_does() -> None:
    delivery = wirecloud.channel_create(method="GET", url="http://h/hooks/k?secret=1")
    assert delivery.query.startswith("secret=1?account_id=")


def test_updox_ids_as_longs_or_strings(deliver: WebhookClient, seen: Seen) -> None:
    as_long = updox.inbound_fax(faxId=42)
    as_text = updox.outbound_fax(status="busy", string_ids=True)
    assert json.loads(as_long.body)["faxId"] == 42
    assert isinstance(json.loads(as_text.body)["faxId"], str)
    assert as_long.path == "/hooks/updox/inbound_fax"
    assert [deliver(as_long).status, deliver(as_text).status] == [200, 200]
    assert seen.events[0][0].fax_id == "42"
    assert seen.events[1][0].status == "busy"


def test_updox_signed_callback_urls(
    deliver: WebhookClient, seen: Seen, hooks: Receiver, signer: URLSigner
) -> None:
    with_signer = updox.inbound_fax(
        path="/hooks/signed/updox/{event}", signer=signer, signed_context={"fax_job": 7}
    )
    assert with_signer.path == "/hooks/signed/updox/inbound_fax"
    assert with_signer.query.startswith("token=")
    url = hooks.callback_url(
        "/hooks/signed/updox/{event}", event="outbound_fax", base_url="https://x.example"
    )
    from_url = updox.outbound_fax(url=url, sender="192.0.2.1")
    assert [deliver(with_signer).status, deliver(from_url).status] == [200, 200]
    assert seen.events[0][1].signed == {"fax_job": 7}

    moved = with_signer.replace(path="/hooks/signed/updox/outbound_fax")
    assert deliver(moved).status == 403
    assert deliver(updox.inbound_fax(path="/hooks/signed/updox/{event}")).status == 403


def test_faxplus_retry_and_sdk_names() -> None:
    first, retried = faxplus.fax_sent(), faxplus.fax_sent(retry=True)
    assert first.payload["hook"]["id"] == first.payload["data"]["id"]
    assert retried.payload["hook"]["id"] != retried.payload["data"]["id"]
    sdk = json.loads(faxplus.fax_received(sdk_names=True).body)["data"]
    assert "from_number" in sdk and "from" not in sdk
    assert (
        faxplus.fax_sent(hook={"event_time": "2024-01-02 03:04:05"}).payload["hook"]["event_time"]
        == "2024-01-02 03:04:05"
    )


def test_headers_can_be_replaced_added_and_removed() -> None:
    delivery = faxplus.fax_sent(headers={"User-Agent": "custom/1", "X-Extra": "1"})
    assert delivery.header("user-agent") == "custom/1" and delivery.header("x-extra") == "1"
    assert faxplus.fax_sent(user_agent=None).header("user-agent") is None
    assert faxplus.fax_sent(headers={"content-length": ""}).header("content-length") is None
    without = documo.fax_inbound(basic_auth=DOCUMO_AUTH).without_auth()
    assert without.header("authorization") is None


def test_seed_makes_deliveries_reproducible() -> None:
    seed(1234)
    first = updox.inbound_fax()
    seed(1234)
    again = updox.inbound_fax()
    seed(None)
    assert (first.body, first.sender) == (again.body, again.sender)


def test_lookup_by_name_with_aliases_and_clear_errors() -> None:
    assert factory("kazoo", "channel_create") is wirecloud.channel_create
    assert factory("zipwhip", "receive") is zipwhip.receive
    assert factory("zipwhip", "optout change") is zipwhip.optout_change
    assert factory("documo", "documo.fax.inbound") is documo.fax_inbound
    with pytest.raises(UnknownName, match="Did you mean 'documo'"):
        factory("documoo", "fax.inbound")
    with pytest.raises(UnknownName, match="Did you mean 'fax.inbound'"):
        factory("documo", "fax.inbund")
