"""The WSGI middleware around a Django project: pass-through to Django's own views, webhooks
handled before Django sees them, in process and over a real socket."""

from __future__ import annotations

import json
import sys
import types
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from django.conf import settings
from django.core.wsgi import get_wsgi_application
from django.http import HttpRequest, JsonResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from hookreceiver import Receiver, providers
from support.payloads import faxplus_payload
from support.servers import serve_wsgi

URLCONF = "hookreceiver_test_django_urls"


@csrf_exempt
def echo(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"len": len(request.body), "method": request.method})


@pytest.fixture(scope="module")
def django_app() -> Iterator[Any]:
    """A one-view Django project (settings in code, as a test of any project's WSGI app)."""
    urls = types.ModuleType(URLCONF)
    urls.urlpatterns = [path("echo/", echo)]  # type: ignore[attr-defined]
    sys.modules[URLCONF] = urls
    if not settings.configured:
        settings.configure(
            DEBUG=False,
            SECRET_KEY="hookreceiver-tests-only",
            ROOT_URLCONF=URLCONF,
            ALLOWED_HOSTS=["*"],
            INSTALLED_APPS=[],
            MIDDLEWARE=["django.middleware.common.CommonMiddleware"],
            USE_TZ=True,
        )
    try:
        yield get_wsgi_application()
    finally:
        sys.modules.pop(URLCONF, None)


def wrapped(django_app: Any, seen: list[Any]) -> Any:
    hooks = Receiver()
    hooks.endpoint("/hooks/faxplus", providers.FaxPlus(allow_ips=["127.0.0.1"]))

    @hooks.on("faxplus.*")
    def handle(event: Any, ctx: Any) -> None:
        seen.append((event.hook.id, ctx.client))

    return hooks.wsgi_middleware(django_app)


def test_django_views_and_webhooks_over_a_real_socket(django_app: Any) -> None:
    seen: list[Any] = []
    with serve_wsgi(wrapped(django_app, seen)) as url, httpx.Client(base_url=url) as client:
        passed = client.post("/echo/", content=b"z" * 300_000)
        missing = client.get("/nowhere/")
        first = client.post("/hooks/faxplus", json=faxplus_payload(hook_id="dj-1"))
        again = client.post("/hooks/faxplus", json=faxplus_payload(hook_id="dj-1"))
        wrong = client.get("/hooks/faxplus")
        bad = client.post(
            "/hooks/faxplus", content=b"{not json", headers={"content-type": "application/json"}
        )
    assert passed.status_code == 200 and passed.json() == {"len": 300_000, "method": "POST"}
    assert missing.status_code == 404  # Django's own answer: the path is not a webhook
    assert first.status_code == 200 and first.json() == {"status": "handled"}
    assert again.json() == {"status": "duplicate"}
    assert wrong.status_code == 405 and wrong.headers["allow"] == "POST"
    assert bad.status_code == 400 and bad.headers["content-type"] == "application/json"
    assert set(json.loads(bad.content)) >= {"error"}
    assert seen == [("dj-1", "127.0.0.1")]


def test_django_in_process_with_a_wsgi_client(django_app: Any) -> None:
    from werkzeug.test import Client

    seen: list[Any] = []
    client = Client(wrapped(django_app, seen))
    spoofed = client.post(
        "/hooks/faxplus", json=faxplus_payload(), environ_base={"REMOTE_ADDR": "203.0.113.9"}
    )
    handled = client.post(
        "/hooks/faxplus",
        json=faxplus_payload(hook_id="dj-2"),
        environ_base={"REMOTE_ADDR": "127.0.0.1"},
    )
    echoed = client.post("/echo/", data=b"abc", environ_base={"REMOTE_ADDR": "203.0.113.9"})
    assert spoofed.status_code == 403
    assert handled.status_code == 200
    assert echoed.status_code == 200 and echoed.get_json() == {"len": 3, "method": "POST"}
    assert seen == [("dj-2", "127.0.0.1")]
