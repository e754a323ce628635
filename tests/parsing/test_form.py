"""Kazoo's bracket-encoded forms and query strings."""

from __future__ import annotations

import pytest

from hookreceiver import MalformedBody
from hookreceiver.parsing import decode_bracket_form

KAZOO_DESTROY = (
    "account_id=91eb05e5c68d7ca05e7618b6821d2d16&call_direction=inbound&call_forwarded=false"
    "&call_id=NDlkNGI3OTZlMDgzNWQxNGYxNTA3NjQ4NDZjNDFkOTc&callee_id_number=%2B15556783945"
    "&caller_id_name=Test+Man&caller_id_number=%2B15556783945"
    "&from=%2B15556783945%40matrix.test.com&hangup_cause=NORMAL_CLEARING&hangup_code=sip%3A200"
    "&duration_seconds=6&billing_seconds=6&ringing_seconds=0&hook_event=channel_destroy"
    "&request=%2B15552345678%40matrix.test.com&timestamp=63724349409"
    "&to=%2B15552345678%40matrix.test.com"
)


def test_documented_kazoo_body_decodes() -> None:
    form = decode_bracket_form(KAZOO_DESTROY.encode())
    assert form["caller_id_name"] == "Test Man"
    assert form["from"] == "+15556783945@matrix.test.com"
    assert form["hangup_code"] == "sip:200"
    assert form["timestamp"] == "63724349409"
    assert form["call_forwarded"] == "false"


def test_brackets_nest_and_lists_collect() -> None:
    body = (
        "custom_channel_vars[owner_id]=abc&custom_channel_vars[bridge_id]=x"
        "&a[b][c]=deep&arr[]=1&arr[]=2&obj[list][]=p&obj[list][]=q&&empty=&=orphan"
    )
    assert decode_bracket_form(body) == {
        "custom_channel_vars": {"owner_id": "abc", "bridge_id": "x"},
        "a": {"b": {"c": "deep"}},
        "arr": ["1", "2"],
        "obj": {"list": ["p", "q"]},
        "empty": "",
    }


def test_unbalanced_bracket_is_a_plain_key() -> None:
    assert decode_bracket_form("a[b=1&c]d=2") == {"a[b": "1", "c]d": "2"}


@pytest.mark.parametrize(
    "body",
    [
        "a=1&a[b]=2",  # value, then object
        "a[b]=2&a=1",  # object, then value
        "a[]=1&a[b]=2",  # list, then object
        "a" + "[x]" * 20 + "=1",  # too deep
        b"a=\xff",  # not UTF-8
    ],
)
def test_conflicting_or_hostile_keys_are_malformed(body: str | bytes) -> None:
    with pytest.raises(MalformedBody):
        decode_bracket_form(body)


def test_too_many_fields_is_malformed() -> None:
    with pytest.raises(MalformedBody, match="more than 10 fields"):
        decode_bracket_form("&".join(f"k{i}=v" for i in range(11)), max_fields=10)
