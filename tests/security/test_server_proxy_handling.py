"""IP allowlists under the servers' own proxy handling, with real servers run as documented.

``uvicorn app:app`` believes ``X-Forwarded-For`` from 127.0.0.1 and ::1 and rewrites the client
address before the app sees it (leaving the header in place): behind a same-host tunnel or
proxy that passes the header on, anyone could claim a Fax.Plus address. The README's commands
turn that off (``uvicorn --no-proxy-headers``; gunicorn never rewrites ``REMOTE_ADDR``, and its
uvicorn worker takes ``--forwarded-allow-ips``), and an allowlist that sees forwarding headers
while the receiver trusts no proxies says so once, naming the fix; an address the server
took from such a header is refused while no proxy is trusted.
"""

from __future__ import annotations

import httpx
import pytest
from security_support import gunicorn_command, served, uvicorn_command

from hookreceiver.providers import FaxPlus
from hookreceiver.testing import faxplus, zipwhip
from support.servers import free_port

pytestmark = pytest.mark.slow

FAXPLUS = FaxPlus.ip_preset[0]
KEY = {"SERVED_URL_KEY": "served-url-key-0123456789abcdef"}
WARNING = "trusts no proxies"


def post_spoofed(base_url: str, headers: dict[str, str], event_id: str = "spoof") -> int:
    """A Fax.Plus delivery from 127.0.0.1 claiming, in ``headers``, a Fax.Plus address."""
    delivery = faxplus.fax_received(hook_id=event_id)
    response = httpx.post(
        base_url + delivery.path,
        content=delivery.body,
        headers={**dict(delivery.headers), **headers},
        timeout=10,
    )
    return response.status_code


def warnings_in(output: str) -> list[str]:
    return [line for line in output.splitlines() if WARNING in line]


def test_documented_uvicorn_refuses_a_spoofed_address_and_warns_once() -> None:
    port = free_port()
    with served(uvicorn_command(port, "--no-proxy-headers"), port, **KEY) as server:
        spoofs = [
            {"X-Forwarded-For": FAXPLUS},
            {"X-Forwarded-For": f"203.0.113.9, {FAXPLUS}"},
            {"Forwarded": f"for={FAXPLUS}"},
            {"X-Real-IP": FAXPLUS},
        ]
        statuses = [post_spoofed(server.base_url, h, f"s{i}") for i, h in enumerate(spoofs)]
        output = server.output()
    assert statuses == [403] * 4, output
    assert server.handled() == []
    warned = warnings_in(output)
    assert len(warned) == 1, output
    assert "/hooks/faxplus" in warned[0] and "x-forwarded-for" in warned[0]
    assert "TrustedProxies" in warned[0] and "--no-proxy-headers" in warned[0]
    assert "server took it" not in warned[0]  # the server reported the true peer


def test_default_uvicorn_rewriting_the_address_is_refused_and_warned_once() -> None:
    # Plain `uvicorn app:app` believes the header from loopback: the allowlist is handed the
    # claimed address. The receiver trusts no proxies, and the address is one the header
    # names, so the claim is refused (nothing is trusted by default) and the warning says so.
    port = free_port()
    with served(uvicorn_command(port), port, **KEY) as server:
        first = post_spoofed(server.base_url, {"X-Forwarded-For": FAXPLUS}, "a")
        second = post_spoofed(server.base_url, {"X-Forwarded-For": FAXPLUS}, "b")
        output = server.output()
    assert (first, second) == (403, 403), output
    assert server.handled() == []
    warned = warnings_in(output)
    assert len(warned) == 1, output
    assert f"({FAXPLUS}), an address the header names: the server took it" in warned[0]
    assert "refused" in warned[0] and "--no-proxy-headers" in warned[0]


def test_trusted_proxies_with_the_documented_flag_take_the_forwarded_sender() -> None:
    port = free_port()
    command = uvicorn_command(port, "--no-proxy-headers")
    with served(command, port, SERVED_TRUSTED_PROXIES="127.0.0.1", **KEY) as server:
        through_proxy = post_spoofed(server.base_url, {"X-Forwarded-For": FAXPLUS}, "p")
        stranger = post_spoofed(server.base_url, {"X-Forwarded-For": "203.0.113.9"}, "q")
        output = server.output()
    assert (through_proxy, stranger) == (200, 403), output
    assert server.handled() == [{"handled": "faxplus.fax_received", "peer": FAXPLUS}]
    assert warnings_in(output) == []


def test_gunicorn_never_rewrites_remote_addr_so_a_spoof_is_refused() -> None:
    port = free_port()
    with served(gunicorn_command(port), port, **KEY) as server:
        status = post_spoofed(server.base_url, {"X-Forwarded-For": FAXPLUS})
        again = post_spoofed(server.base_url, {"X-Forwarded-For": FAXPLUS}, "again")
        output = server.output()
    assert (status, again) == (403, 403), output
    assert server.handled() == []
    assert len(warnings_in(output)) == 1, output


def test_gunicorn_uvicorn_worker_with_no_forwarded_allow_ips_refuses_a_spoof() -> None:
    port = free_port()
    flags = ("-k", "uvicorn.workers.UvicornWorker", "--forwarded-allow-ips", "")
    with served(gunicorn_command(port, *flags, app="served:app"), port, **KEY) as server:
        status = post_spoofed(server.base_url, {"X-Forwarded-For": FAXPLUS})
        output = server.output()
    assert status == 403, output
    assert server.handled() == []
    assert len(warnings_in(output)) == 1, output


def test_the_warning_is_once_per_endpoint_and_names_each() -> None:
    port = free_port()
    with served(uvicorn_command(port, "--no-proxy-headers"), port, **KEY) as server:
        post_spoofed(server.base_url, {"X-Forwarded-For": FAXPLUS})
        delivery = zipwhip.receive(path="/hooks/zipwhip/receive")
        for _ in range(2):
            httpx.post(
                server.base_url + delivery.path,
                content=delivery.body,
                headers={**dict(delivery.headers), "X-Forwarded-For": "69.46.44.10"},
                timeout=10,
            )
        output = server.output()
    warned = warnings_in(output)
    assert len(warned) == 2, output
    assert "/hooks/faxplus" in warned[0] and "/hooks/zipwhip/{event}" in warned[1]
