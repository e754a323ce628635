"""Basic auth: rotation, constant-time comparison of every pair, environment variables."""

from __future__ import annotations

import base64

import pytest

from hookreceiver import BasicAuth, ConfigurationError, Delivery, Headers, NotVerified
from hookreceiver.security import GuardRequest, credentials_from_env, secrets_from_env
from hookreceiver.security import basic_auth as basic_auth_module


def request(*headers: tuple[str, str]) -> GuardRequest:
    return GuardRequest(Delivery("POST", "/h", headers=Headers(headers)), "/h", {}, None)


def authorization(user: str, password: str) -> tuple[str, str]:
    return ("authorization", "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode())


def test_every_listed_pair_is_accepted_during_rotation() -> None:
    guard = BasicAuth([("documo", "old-password"), ("documo", "new-pässword"), ("b", "x:y")])
    guard.check(request(authorization("documo", "old-password")))
    guard.check(request(authorization("documo", "new-pässword")))
    guard.check(request(authorization("b", "x:y")))  # the password may hold colons
    with pytest.raises(NotVerified) as refused:
        guard.check(request(authorization("documo", "older-password")))
    assert refused.value.status == 401
    assert refused.value.headers == (
        ("www-authenticate", 'Basic realm="hookreceiver", charset="UTF-8"'),
    )


@pytest.mark.parametrize(
    "credentials",
    [("documo", "old-password"), ("nobody", "x"), ("documo", "old-passwor")],
)
def test_every_pair_is_compared_whether_or_not_one_matches(
    monkeypatch: pytest.MonkeyPatch, credentials: tuple[str, str]
) -> None:
    calls: list[tuple[int, int]] = []
    real = basic_auth_module.hmac.compare_digest

    def counting(a: bytes, b: bytes) -> bool:
        calls.append((len(a), len(b)))
        return real(a, b)

    guard = BasicAuth([("documo", "old-password"), ("documo", "new-password"), ("c", "d")])
    monkeypatch.setattr(basic_auth_module.hmac, "compare_digest", counting)
    try:
        guard.check(request(authorization(*credentials)))
    except NotVerified:
        pass
    # Three comparisons, always of two 32-byte digests: no length of any secret shows.
    assert calls == [(32, 32)] * 3


def test_from_environment() -> None:
    environ = {"DOCUMO_BASIC_AUTH": " documo:n3w:pw , documo:old-pw "}
    guard = BasicAuth.from_env("DOCUMO_BASIC_AUTH", realm="documo", environ=environ)
    guard.check(request(authorization("documo", "n3w:pw")))
    guard.check(request(authorization("documo", "old-pw")))
    assert repr(guard) == "BasicAuth(users=['documo'], realm='documo')"
    assert credentials_from_env("DOCUMO_BASIC_AUTH", environ=environ) == [
        ("documo", "n3w:pw"),
        ("documo", "old-pw"),
    ]


def test_from_the_real_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HR_TEST_KEYS", "k1,k2")
    assert secrets_from_env("HR_TEST_KEYS") == ["k1", "k2"]


@pytest.mark.parametrize(
    "value, message",
    [
        (None, "must hold one or more"),
        ("", "must hold one or more"),
        ("documo:pw,,x:y", "must hold one or more"),
        ("documo-secret-pw", "entry 1 of environment variable AUTH is not 'user:password'"),
        ("a:b,:secret-pw", "entry 2"),
        ("a:b,user-secret:", "entry 2"),
    ],
)
def test_environment_errors_name_the_variable_never_the_value(
    value: str | None, message: str
) -> None:
    environ = {} if value is None else {"AUTH": value}
    with pytest.raises(ConfigurationError, match=message) as error:
        BasicAuth.from_env("AUTH", environ=environ)
    assert "secret" not in str(error.value)


@pytest.mark.parametrize(
    "credentials, realm, message",
    [
        ([], "r", "at least one"),
        ([("user", "")], "r", "must not be empty"),
        ([("", "pw")], "r", "must not be empty"),
        ([("us:er", "pw")], "r", "must not contain ':'"),
        ("user:pw", "r", "not a string"),
        ([("user", "pw")], 'say "hi"', "realm"),
        ([("user", "pw")], "réalm", "realm"),
        ([("user", "pw")], "", "realm"),
    ],
)
def test_configuration_errors(credentials: object, realm: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        BasicAuth(credentials, realm=realm)  # type: ignore[arg-type]


def test_repr_shows_users_not_passwords() -> None:
    assert "pw-secret" not in repr(BasicAuth([("u", "pw-secret")]))
