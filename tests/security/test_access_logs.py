"""Signed-URL tokens stay out of access logs: :class:`RedactTokens` on the records of uvicorn,
gunicorn, granian and werkzeug, and real servers configured as the README says."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlsplit

import pytest
from security_support import URL_KEYS, gunicorn_command, served, uvicorn_command

from hookreceiver import ConfigurationError, Delivery, Headers, ParsedEvent, Receiver, URLSigner
from hookreceiver.parsing.body import Body
from hookreceiver.providers.base import Provider
from hookreceiver.security import RedactTokens, redact_access_logs
from hookreceiver.security.redact import ACCESS_LOGGERS
from hookreceiver.testing import SimulatedDelivery, send_http, updox, wirecloud
from support.servers import free_port

KAZOO = "/hooks/kazoo/{event}/{token}"
UPDOX = "/hooks/updox/{event}"


def signer(keys: list[str] = URL_KEYS, **options: Any) -> URLSigner:
    return URLSigner(keys, expires_in=options.pop("expires_in", None), **options)


def kazoo_url(**options: Any) -> str:
    return signer(**options).url(
        "https://hooks.example.com", KAZOO, {"event": "channel_create"}, options.get("context")
    )


def token_of(url_or_path: str) -> str:
    parts = urlsplit(url_or_path)
    query = parse_qs(parts.query)
    return query["token"][0] if "token" in query else parts.path.rsplit("/", 1)[1]


# The filter on records ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "make",
    [
        lambda: signer().url("https://h.example.com", KAZOO, {"event": "channel_create"}),
        lambda: signer().url(
            "https://h.example.com", KAZOO, {"event": "x"}, {"job": 42, "note": "n" * 400}
        ),  # a long context is compressed: the token then starts with "."
        lambda: signer(expires_in=60).url("https://h.example.com", KAZOO, {"event": "x"}),
        lambda: signer([URL_KEYS[1]]).url("https://h.example.com", KAZOO, {"event": "x"}),
        lambda: signer().url("https://h.example.com", "/cb/{token}"),
    ],
    ids=["plain", "compressed-context", "expiring", "old-key", "token-only-path"],
)
def test_path_tokens_of_every_kind_are_redacted_and_the_prefix_kept(make: Any) -> None:
    url = make()
    token = token_of(url)
    redacted = RedactTokens().redact(url + "?call_id=abc&hook_event=channel_create")
    assert token not in redacted
    assert redacted.endswith("/[redacted]?call_id=abc&hook_event=channel_create")
    assert redacted.startswith("https://h.example.com/")


def test_query_tokens_are_redacted_wherever_the_query_starts() -> None:
    url = signer().url("https://h.example.com", UPDOX, {"event": "inbound_fax"})
    token = token_of(url)
    redactor = RedactTokens()
    path_and_query = url.removeprefix("https://h.example.com")
    for text in (
        path_and_query,
        f"POST {path_and_query} HTTP/1.1",  # gunicorn's %(r)s, werkzeug's request line
        f"token={token}&a=1",  # gunicorn's %(q)s, granian's query_string
        f"/x?a=1&TOKEN={token};b=2",
    ):
        redacted = redactor.redact(text)
        assert token not in redacted and "token=[redacted]" in redacted.lower(), text
    assert redactor.redact("/hooks/updox/inbound_fax?token=").endswith("token=[redacted]")


@pytest.mark.parametrize(
    "text",
    [
        "/static/app.min.js",
        "/hooks/kazoo/channel_create",
        "127.0.0.1:51000",
        "/files/report.2026-12-01.tar.gz?page=2&tokens=3",
        "/a/b.c/d",
    ],
)
def test_what_is_no_token_is_left_alone(text: str) -> None:
    assert RedactTokens().redact(text) == text


def test_custom_query_parameter_names() -> None:
    custom = signer(param="sig").url("https://h.example.com", UPDOX, {"event": "inbound_fax"})
    assert "sig=" in custom
    token = parse_qs(urlsplit(custom).query)["sig"][0]
    assert token not in RedactTokens(["sig"]).redact(custom)
    # By shape alone a query value is not found: the parameter must be named.
    assert "sig=[redacted]" in RedactTokens(["sig", "token"]).redact(custom)
    with pytest.raises(ConfigurationError):
        RedactTokens(["not a name"])
    with pytest.raises(ConfigurationError):
        RedactTokens([])


def _record(name: str, msg: str, args: Any) -> logging.LogRecord:
    # As Logger.info(msg, mapping) makes it: a sole mapping argument becomes record.args.
    wrapped = (args,) if isinstance(args, dict) else args
    return logging.LogRecord(name, logging.INFO, __file__, 1, msg, wrapped, None)


def test_uvicorn_access_record() -> None:
    from uvicorn.logging import AccessFormatter

    url = kazoo_url()
    path = url.removeprefix("https://hooks.example.com") + "?call_id=c1"
    record = _record(
        "uvicorn.access",
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:50000", "POST", path, "1.1", 200),
    )
    assert RedactTokens().filter(record) is True
    line = AccessFormatter('%(client_addr)s - "%(request_line)s" %(status_code)s').format(record)
    assert token_of(url) not in line
    assert line.startswith(
        '127.0.0.1:50000 - "POST /hooks/kazoo/channel_create/[redacted]?call_id=c1 HTTP/1.1" 200'
    )


def test_gunicorn_access_record_keeps_its_atoms() -> None:
    from gunicorn.config import Config
    from gunicorn.glogging import SafeAtoms

    url = signer().url("https://hooks.example.com", UPDOX, {"event": "inbound_fax"})
    path, query = urlsplit(url).path, urlsplit(url).query
    atoms = SafeAtoms(
        {
            "h": "127.0.0.1",
            "l": "-",
            "u": "-",
            "t": "[01/Dec/2026:10:00:00 +0000]",
            "r": f"POST {path}?{query} HTTP/1.1",
            "s": "200",
            "b": "16",
            "f": "-",
            "a": "updox",
            "U": path,
            "q": query,
            "{x-hook-id}i": "h1",
        }
    )
    fmt = Config().access_log_format + " %(U)s %(q)s %({X-Hook-Id}i)s %({missing}i)s"
    record = _record("gunicorn.access", fmt, atoms)
    RedactTokens().filter(record)
    assert isinstance(record.args, SafeAtoms)  # missing header atoms still format as "-"
    line = record.getMessage()
    assert token_of(url) not in line
    assert '"POST /hooks/updox/inbound_fax?token=[redacted] HTTP/1.1" 200 16' in line
    assert line.endswith(" /hooks/updox/inbound_fax token=[redacted] h1 -")


def test_granian_and_werkzeug_shaped_records_and_preformatted_messages() -> None:
    url = kazoo_url()
    path = url.removeprefix("https://hooks.example.com")
    granian = _record(
        "granian.access",
        '%(addr)s "%(method)s %(path)s?%(query_string)s" %(status)d',
        {"addr": "127.0.0.1", "method": "GET", "path": path, "query_string": "a=1", "status": 200},
    )
    request_line = f"GET {path} HTTP/1.1"
    werkzeug = _record("werkzeug", '%s - - "%s" %s %s', ("127.0.0.1", request_line, 200, "-"))
    formatted = _record("hookreceiver", f"unexpected error handling POST {path}", None)
    mapping_proxy = _record("x", "%(p)s", (MappingProxyType({"p": path}),))
    redactor = RedactTokens()
    for record in (granian, werkzeug, formatted, mapping_proxy):
        assert redactor.filter(record) is True
        message = record.getMessage()
        assert token_of(url) not in message and "/channel_create/[redacted]" in message
    assert werkzeug.args is not None and werkzeug.args[2] == 200  # not a string: untouched


def test_redact_access_logs_attaches_one_filter_to_each_access_logger() -> None:
    try:
        first = redact_access_logs()
        second = redact_access_logs(["token", "sig"])
        for name in ACCESS_LOGGERS:
            filters = [
                f
                for f in logging.getLogger(name).filters
                if isinstance(f, RedactTokens) and f._by_helper
            ]
            assert filters == [second], name
        assert first is not second and second.params == ("token", "sig")
        assert {"uvicorn.access", "gunicorn.access", "werkzeug"} <= set(ACCESS_LOGGERS)
    finally:
        for name in ACCESS_LOGGERS:
            logger = logging.getLogger(name)
            for f in [f for f in logger.filters if isinstance(f, RedactTokens) and f._by_helper]:
                logger.removeFilter(f)


class Buggy(Provider):
    """A provider with a bug: its parse raises something no delivery should cause."""

    name: ClassVar[str] = "buggy"

    def parse(self, delivery: Delivery, params: Mapping[str, str], body: Body) -> ParsedEvent:
        raise RuntimeError("a bug")


@pytest.mark.parametrize("param", ["token", "sig"])
def test_hookreceivers_own_log_never_shows_a_token_it_was_handed(
    param: str, caplog: pytest.LogCaptureFixture
) -> None:
    # Without redact_access_logs(): a signed endpoint protects its own log lines by itself.
    hooks = Receiver(public_base_url="https://hooks.example.com")
    sign = signer(param=param)
    hooks.endpoint("/in-query", Buggy(signed_urls=sign))
    urls = [hooks.callback_url("/in-query")]
    if param == "token":  # a path placeholder named as the signer's parameter
        hooks.endpoint("/in-path/{token}", Buggy(signed_urls=sign))
        urls.append(hooks.callback_url("/in-path/{token}"))
    with caplog.at_level(logging.ERROR, logger="hookreceiver"):
        for url in urls:
            parts = urlsplit(url)
            json_type = Headers([("content-type", "application/json")])
            delivery = Delivery("POST", parts.path, parts.query, json_type, body=b"{}")
            assert hooks.handle(delivery).status == 500
    # A parser's crash is a receiver bug: logged with the path it was sent to, token redacted.
    assert "receiver bug while parsing POST" in caplog.text
    for url in urls:
        token = parse_qs(urlsplit(url).query).get(param, [url.rsplit("/", 1)[1]])[0]
        assert token not in caplog.text
    if param == "token":  # the path logged holds the token (a query is not logged)
        assert "receiver bug while parsing POST /in-path/[redacted]" in caplog.text


# Real servers --------------------------------------------------------------------------------

SERVED_KEY = "served-url-key-0123456789abcdef"


def deliveries() -> list[SimulatedDelivery]:
    served_signer = URLSigner(SERVED_KEY, expires_in=None)
    return [
        wirecloud.channel_create(path=KAZOO, signer=served_signer),
        wirecloud.channel_destroy(path=KAZOO, signer=served_signer, method="GET"),
        updox.inbound_fax(path=UPDOX, signer=served_signer),
    ]


def deliver_and_read_log(command: list[str], port: int, **env: str) -> tuple[str, list[str]]:
    sent = deliveries()
    tokens = [token_of(d.path + ("?" + d.query if d.query else "")) for d in sent]
    with served(command, port, SERVED_URL_KEY=SERVED_KEY, **env) as server:
        statuses = [send_http(d, server.base_url).status for d in sent]
        output = server.output()
    assert statuses == [200, 200, 200], output
    assert len(server.handled()) == 3, output
    return output, tokens


def assert_redacted(output: str, tokens: list[str]) -> None:
    for token in tokens:
        assert token not in output
    assert "POST /hooks/kazoo/channel_create/[redacted] HTTP/1.1" in output, output
    assert "GET /hooks/kazoo/channel_destroy/[redacted]?" in output, output
    assert "POST /hooks/updox/inbound_fax?token=[redacted] HTTP/1.1" in output, output


@pytest.mark.slow
def test_documented_uvicorn_access_log_has_no_token() -> None:
    port = free_port()
    output, tokens = deliver_and_read_log(uvicorn_command(port, "--no-proxy-headers"), port)
    assert_redacted(output, tokens)


@pytest.mark.slow
def test_without_the_filter_uvicorn_prints_the_tokens() -> None:
    # The hazard the filter removes: what the access log shows when it is not installed.
    port = free_port()
    command = uvicorn_command(port, "--no-proxy-headers")
    output, tokens = deliver_and_read_log(command, port, SERVED_REDACT="0")
    assert all(token in output for token in tokens)


@pytest.mark.slow
def test_uvicorn_log_config_naming_the_filter(tmp_path: Path) -> None:
    from uvicorn.config import LOGGING_CONFIG

    config = json.loads(json.dumps(LOGGING_CONFIG))
    config["filters"] = {"redact": {"()": "hookreceiver.security.RedactTokens"}}
    config["handlers"]["access"]["filters"] = ["redact"]
    path = tmp_path / "logging.json"
    path.write_text(json.dumps(config))
    port = free_port()
    command = uvicorn_command(port, "--no-proxy-headers", "--log-config", str(path))
    output, tokens = deliver_and_read_log(command, port, SERVED_REDACT="0")
    assert_redacted(output, tokens)


@pytest.mark.slow
def test_gunicorn_access_log_has_no_token() -> None:
    port = free_port()
    output, tokens = deliver_and_read_log(gunicorn_command(port, "--access-logfile", "-"), port)
    assert_redacted(output, tokens)


@pytest.mark.slow
def test_gunicorn_uvicorn_worker_access_log_has_no_token() -> None:
    port = free_port()
    flags = ("-k", "uvicorn.workers.UvicornWorker", "--forwarded-allow-ips", "")
    command = gunicorn_command(port, *flags, "--access-logfile", "-", app="served:app")
    output, tokens = deliver_and_read_log(command, port)
    assert_redacted(output, tokens)
