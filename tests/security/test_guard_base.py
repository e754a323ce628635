"""Guards with declared defaults: GuardBase, the one GuardOrder table, and users' own guards
written against the old protocol (no base class) still working, adapted once per endpoint."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from security_support import HMAC_SECRET, URL_KEYS, Probe, Request, Result, Seen

import hookreceiver
from hookreceiver import ConfigurationError, NotVerified, Receiver
from hookreceiver.security import (
    BasicAuth,
    EventNames,
    Guard,
    GuardBase,
    GuardOrder,
    GuardRequest,
    IPAllowlist,
    SignedURLGuard,
    StandardWebhooks,
    URLSigner,
)

SRC = Path(hookreceiver.__file__).resolve().parent
BUILT_IN = {
    IPAllowlist: GuardOrder.ADDRESS,
    BasicAuth: GuardOrder.CREDENTIALS,
    SignedURLGuard: GuardOrder.URL_TOKEN,
    StandardWebhooks: GuardOrder.BODY_SIGNATURE,
}


class HeaderKey:
    """A guard as a user wrote it against the old protocol: no base class, ``order`` and
    ``needs_body`` declared, a no-op-free ``check_body`` that records what it saw."""

    order = 25  # between basic auth and signed URLs
    needs_body = True

    def __init__(self, key: str) -> None:
        self.key = key
        self.bodies: list[bytes] = []

    def check(self, request: GuardRequest) -> None:
        if request.delivery.headers.get("x-key") != self.key:
            raise NotVerified("wrong key", error="bad_key")

    def check_body(self, request: GuardRequest, body: bytes) -> None:
        self.bodies.append(body)
        if b"forbidden" in body:
            raise NotVerified("forbidden body", error="bad_body")


class Counting:
    """An old-protocol guard whose optional members count how often they are looked up."""

    order = 5
    needs_body = False

    def __init__(self) -> None:
        self.lookups = 0
        self.events: list[str] = []

    def check(self, request: GuardRequest) -> None:
        """Lets everyone through."""

    def check_body(self, request: GuardRequest, body: bytes) -> None:
        """Nothing."""

    @property
    def verifies(self) -> bool:
        self.lookups += 1
        return True

    @property
    def secret_params(self) -> tuple[str, ...]:
        self.lookups += 1
        return ("key",)

    @property
    def check_event(self) -> Callable[[GuardRequest, str, EventNames], None]:
        self.lookups += 1

        def check_event(request: GuardRequest, event_name: str, provider: EventNames) -> None:
            self.events.append(event_name)
            if event_name == "probe.banned":
                raise NotVerified("banned event", error="event_banned")

        return check_event


def test_built_in_guards_take_their_order_from_the_one_table() -> None:
    for guard_class, order in BUILT_IN.items():
        assert issubclass(guard_class, GuardBase)
        assert guard_class.order is order
    assert sorted(BUILT_IN.values()) == list(BUILT_IN.values())
    assert len(set(GuardOrder)) == len(GuardOrder)
    # No module but the table spells an order as a number.
    for path in (SRC / "security").glob("*.py"):
        assert not re.search(r"^\s+order\s*=\s*\d", path.read_text(), re.M), path.name


def test_built_in_guards_write_no_no_op_methods() -> None:
    optional = {"needs_body", "verifies", "secret_params", "check_body", "check_body_stream"}
    optional.add("check_event")
    declared = {cls: optional & set(vars(cls)) for cls in BUILT_IN}
    assert declared == {
        IPAllowlist: set(),  # verifies is set per instance (0.0.0.0/0 verifies nothing)
        BasicAuth: set(),
        SignedURLGuard: {"check_event"},  # secret_params: per instance (the signer's param)
        StandardWebhooks: {"needs_body", "check_body", "check_body_stream"},
    }


def test_declared_defaults() -> None:
    class Minimal(GuardBase):
        def check(self, request: GuardRequest) -> None:
            """Everyone passes."""

    guard = Minimal()
    assert (guard.order, guard.needs_body, guard.verifies, guard.secret_params) == (
        GuardOrder.CUSTOM,
        False,
        True,
        (),
    )
    request = GuardRequest(hookreceiver.Delivery("POST", "/h"), "/h", {}, None)
    guard.check_body(request, b"x")
    guard.check_body_stream(request, [b"a", b"b"])
    guard.check_event(request, "probe.ping", Probe(insecure_no_verification=True))
    assert isinstance(guard, Guard)

    class NoCheck(GuardBase):
        pass

    with pytest.raises(TypeError, match="check"):
        NoCheck()  # type: ignore[abstract]


def test_the_default_stream_check_hands_the_joined_body_to_check_body() -> None:
    seen: list[bytes] = []

    class Recording(GuardBase):
        needs_body = True

        def check(self, request: GuardRequest) -> None:
            """Nothing before the body."""

        def check_body(self, request: GuardRequest, body: bytes) -> None:
            seen.append(body)

    request = GuardRequest(hookreceiver.Delivery("POST", "/h"), "/h", {}, None)
    Recording().check_body_stream(request, iter([b"ab", b"", b"cd"]))
    assert seen == [b"abcd"]


def test_no_guard_member_is_read_with_getattr_outside_the_adapter() -> None:
    members = "verifies|secret_params|check_event|check_body|needs_body|order|check_body_stream"
    pattern = re.compile(rf"getattr\(\s*(\w*guard\w*|g)\b|getattr\([^)]*[\"']({members})[\"']")
    found = []
    for path in SRC.rglob("*.py"):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if pattern.search(line):
                found.append(f"{path.relative_to(SRC)}:{number}")
    # The one place: the adapter of duck-typed guards, run once when an endpoint is created.
    assert found and all(place.startswith("security/base.py:") for place in found), found


def test_an_old_protocol_guard_still_works(
    adapter: Callable[[Receiver, Request], Result], seen: Seen
) -> None:
    mine = HeaderKey("k-1")
    assert isinstance(mine, Guard)
    hooks = seen.attach(Receiver())
    hooks.endpoint("/hooks/mine/{event}", Probe(guards=[mine]))

    ok = adapter(hooks, Request("/hooks/mine/ping", headers=[("x-key", "k-1")]))
    no_key = adapter(hooks, Request("/hooks/mine/ping"))
    bad_body = adapter(
        hooks, Request("/hooks/mine/ping", headers=[("x-key", "k-1")], body=b'{"id": "forbidden"}')
    )

    assert ok.status == 200
    assert (no_key.status, no_key.json()["error"], no_key.body_reads) == (403, "bad_key", 0)
    assert (bad_body.status, bad_body.json()["error"]) == (403, "bad_body")
    assert mine.bodies == [b'{"id": "evt-1"}', b'{"id": "forbidden"}']
    assert [call[1] for call in seen.calls] == ["evt-1"]


def test_an_old_protocol_guard_takes_its_place_in_the_order() -> None:
    mine = HeaderKey("k")
    probe = Probe(
        guards=[StandardWebhooks(HMAC_SECRET), mine],
        signed_urls=URLSigner(URL_KEYS, expires_in=None),
        basic_auth=[("u", "p")],
        allow_ips=["192.0.2.1"],
    )
    orders = [guard.order for guard in probe.guards]
    assert orders == [10, 20, 25, 30, 40]
    assert repr(probe.guards[2]) == repr(mine)  # adapted, shown as itself


def test_an_old_protocol_guards_optional_members_are_read_once_per_endpoint(
    adapter: Callable[[Receiver, Request], Result], seen: Seen
) -> None:
    counting = Counting()
    hooks = seen.attach(Receiver())
    hooks.endpoint("/hooks/count/{event}", Probe(guards=[counting]))
    looked_up = counting.lookups
    assert looked_up == 3  # verifies, secret_params, check_event: once, at endpoint creation

    results = [adapter(hooks, Request(f"/hooks/count/{name}")) for name in ("a", "b", "banned")]

    assert [r.status for r in results] == [200, 200, 403]
    assert results[2].json()["error"] == "event_banned"
    assert counting.events == ["probe.a", "probe.b", "probe.banned"]
    assert counting.lookups == looked_up  # no look-up per delivery
    (guard,) = hooks.router.endpoints[0].provider.guards
    assert guard.secret_params == ("key",) and guard.verifies


def test_an_old_protocol_guard_that_verifies_nothing_fails_closed() -> None:
    class Open:
        order = 10
        needs_body = False
        verifies = False

        def check(self, request: GuardRequest) -> None:
            """Everyone passes."""

        def check_body(self, request: GuardRequest, body: bytes) -> None:
            """Nothing."""

    hooks = Receiver()
    with pytest.raises(ConfigurationError, match="no sender verification"):
        hooks.endpoint("/hooks/open", Probe(guards=[Open()]))


def test_what_is_not_a_guard_is_refused_when_the_endpoint_is_made() -> None:
    class NotAGuard:
        order = 10
        needs_body = False

    class NoBodyCheck:
        order = 10
        needs_body = True

        def check(self, request: GuardRequest) -> None:
            """Nothing."""

    bad: list[Any] = [NotAGuard(), NoBodyCheck()]
    with pytest.raises(ConfigurationError, match="not a guard"):
        Probe(guards=[bad[0]])
    with pytest.raises(ConfigurationError, match="needs_body but has no check_body"):
        Probe(guards=[bad[1]])


def test_an_old_protocol_guard_with_its_own_stream_check_gets_chunks() -> None:
    class Streaming(HeaderKey):
        def __init__(self) -> None:
            super().__init__("k")
            self.chunked: list[list[bytes]] = []

        def check_body_stream(self, request: GuardRequest, chunks: Any) -> None:
            self.chunked.append(list(chunks))

    mine = Streaming()
    (guard,) = Probe(guards=[mine]).guards
    request = GuardRequest(hookreceiver.Delivery("POST", "/h"), "/h", {}, None)
    guard.check_body_stream(request, iter([b"a", b"b"]))
    assert mine.chunked == [[b"a", b"b"]] and mine.bodies == []


USERS_GUARDS = """
from hookreceiver import NotVerified, providers
from hookreceiver.security import GuardBase, GuardOrder, GuardRequest


class OldStyle:
    order = 25
    needs_body = False

    def check(self, request: GuardRequest) -> None:
        if request.client is None:
            raise NotVerified("who are you")

    def check_body(self, request: GuardRequest, body: bytes) -> None:
        pass


class NewStyle(GuardBase):
    order = GuardOrder.CREDENTIALS + 5

    def check(self, request: GuardRequest) -> None:
        pass


documo = providers.Documo(guards=[OldStyle(), NewStyle()])
orders: list[int] = [guard.order for guard in documo.guards]
"""


def test_both_kinds_of_users_guards_pass_mypy_strict(tmp_path: Path) -> None:
    api = pytest.importorskip("mypy.api")
    path = tmp_path / "guards.py"
    path.write_text(USERS_GUARDS)
    out, err, status = api.run(
        ["--strict", "--no-incremental", "--cache-dir", str(tmp_path / "cache"), str(path)]
    )
    assert status == 0, out + err
