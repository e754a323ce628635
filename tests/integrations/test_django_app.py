"""The Django app under a real ``python -m django runserver``: endpoints from the HOOKRECEIVER
setting behind ``include(...urls)``, a Django signal per event (in the request and from the
inbox worker), the inbox read-only in the admin; and the settings builder on its own."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from hookreceiver import ConfigurationError, URLSigner
from hookreceiver.contrib.django import receiver_from_config, store_from_url
from hookreceiver.stores import MemoryStore, SQLiteStore
from hookreceiver.testing import documo, send_http, wirecloud, zipwhip
from support.servers import free_port

pytestmark = pytest.mark.slow

KEY = "django-kazoo-key-" + "k" * 16
ADMIN_PASSWORD = "admin-" + "p" * 12

SETTINGS = """
import os
SECRET_KEY = "hookreceiver-django-tests"
DEBUG = False
ALLOWED_HOSTS = ["*"]
USE_TZ = True
INSTALLED_APPS = [
    "django.contrib.admin", "django.contrib.auth", "django.contrib.contenttypes",
    "django.contrib.sessions", "django.contrib.messages",
    "hookreceiver.integrations.django", "testproj",
]
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]
ROOT_URLCONF = "testproj.urls"
TEMPLATES = [{
    "BACKEND": "django.template.backends.django.DjangoTemplates", "APP_DIRS": True,
    "OPTIONS": {"context_processors": [
        "django.template.context_processors.request",
        "django.contrib.auth.context_processors.auth",
        "django.contrib.messages.context_processors.messages",
    ]},
}]
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": os.environ["DB"]}}
STATIC_URL = "static/"
HOOKRECEIVER = {
    "STORE": "sqlite:///" + os.environ["STORE_DB"],
    "INBOX": "sqlite:///" + os.environ["DB"],
    "ENDPOINTS": [
        {"path": "/hooks/documo", "provider": "documo",
         "basic_auth": [["documo", "s3cret"]], "allow_ips": ["127.0.0.1"]},
        {"path": "/hooks/zipwhip/{event}", "provider": "zipwhip", "allow_ips": ["127.0.0.1"]},
        {"path": "/hooks/kazoo/{event}/{token}", "provider": "wirecloud",
         "signed_urls": {"keys": [os.environ["KAZOO_KEY"]], "expires_in": None}},
    ],
    "WORKER": {"poll_interval": 0.05},
}
"""

APPS = """
import json, os
from django.apps import AppConfig


class TestProj(AppConfig):
    name = "testproj"

    def ready(self):
        from django.dispatch import receiver
        from hookreceiver.integrations.django.signals import event_signal, webhook_received

        def write(signal, sender, context):
            with open(os.environ["SEEN"], "a") as f:
                f.write(json.dumps({"signal": signal, "sender": sender.__name__,
                                    "event": context.event_name,
                                    "attempt": context.attempt}) + "\\n")

        @receiver(event_signal("documo.fax.inbound"), weak=False)
        def fax(sender, event, context, **kwargs):
            assert context.attachments[0].read().startswith(b"%PDF")
            write("documo.fax.inbound", sender, context)

        @receiver(event_signal("fax.received"), weak=False)
        def any_fax(sender, event, context, **kwargs):
            write("fax.received", sender, context)

        @receiver(event_signal("zipwhip.message.delete"), weak=False)
        def broken(sender, event, context, **kwargs):
            raise RuntimeError("this receiver is broken")

        @receiver(webhook_received, weak=False)
        def every(sender, event, context, **kwargs):
            write("*", sender, context)
"""

URLS = """
from django.contrib import admin
from django.http import HttpResponse
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("home/", lambda request: HttpResponse("home")),
    path("", include("hookreceiver.integrations.django.urls")),
]
"""


def wait_for(predicate: Any, timeout: float = 30.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def project(tmp_path: Path) -> Iterator[tuple[str, Path, Path]]:
    package = tmp_path / "testproj"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "settings.py").write_text(SETTINGS)
    (package / "apps.py").write_text(APPS)
    (package / "urls.py").write_text(URLS)
    settings = (
        (package / "settings.py").read_text().replace('"testproj",', '"testproj.apps.TestProj",')
    )
    (package / "settings.py").write_text(settings)
    seen = tmp_path / "seen.jsonl"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "testproj.settings",
        "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")]),
        "DB": str(tmp_path / "site.db"),
        "STORE_DB": str(tmp_path / "dedup.db"),
        "KAZOO_KEY": KEY,
        "SEEN": str(seen),
        "DJANGO_SUPERUSER_PASSWORD": ADMIN_PASSWORD,
    }
    django = [sys.executable, "-m", "django"]
    for command in (
        ["migrate", "--noinput"],
        ["createsuperuser", "--noinput", "--username", "admin", "--email", "admin@example.com"],
    ):
        done = subprocess.run(
            [*django, *command], env=env, capture_output=True, text=True, cwd=tmp_path, timeout=120
        )
        assert done.returncode == 0, done.stderr
    port = free_port()
    log = tmp_path / "server.log"
    with log.open("wb") as out:
        server = subprocess.Popen(
            [*django, "runserver", "--noreload", f"127.0.0.1:{port}"],
            env=env,
            cwd=tmp_path,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"

    def up() -> bool:
        if server.poll() is not None:
            raise AssertionError(log.read_text())
        try:
            return httpx.get(base + "/home/", timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    try:
        wait_for(up, what="runserver")
        yield base, seen, log
    finally:
        server.terminate()
        server.wait(10)


def seen_lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []


def test_deliveries_signals_and_the_admin_under_runserver(
    project: tuple[str, Path, Path],
) -> None:
    base, seen, log = project
    fax = documo.fax_inbound(pages=2, basic_auth=("documo", "s3cret"))
    assert send_http(fax, base).status == 200
    assert send_http(fax.with_basic_auth("documo", "wrong"), base).status == 401
    assert send_http(zipwhip.receive(path="/hooks/zipwhip/receive"), base).status == 200
    assert send_http(zipwhip.delete(path="/hooks/zipwhip/delete"), base).status == 500
    assert httpx.post(base + "/hooks/zipwhip/a/b").status_code == 404
    url = URLSigner([KEY], expires_in=None).url(
        base, "/hooks/kazoo/{event}/{token}", {"event": "channel_create"}
    )
    kazoo = wirecloud.channel_create(url=url)
    accepted = send_http(kazoo, base)
    assert accepted.status == 200 and accepted.outcome == "accepted"
    lines = wait_for(
        lambda: (
            any(x["event"] == "wirecloud.channel_create" for x in seen_lines(seen))
            and seen_lines(seen)
        ),
        what="the inbox worker's signal",
    )
    by_signal = [(x["signal"], x["event"]) for x in lines]
    assert ("documo.fax.inbound", "documo.fax.inbound") in by_signal
    assert ("fax.received", "documo.fax.inbound") in by_signal
    assert ("*", "zipwhip.message.receive") in by_signal
    assert ("*", "wirecloud.channel_create") in by_signal
    assert ("*", "zipwhip.message.delete") not in by_signal  # its receiver raised first
    assert next(x for x in lines if x["signal"] == "documo.fax.inbound")["sender"] == "FaxInbound"

    with httpx.Client(base_url=base) as admin:
        login = admin.get("/admin/login/")
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', login.text)
        assert token is not None
        logged = admin.post(
            "/admin/login/?next=/admin/",
            data={
                "username": "admin",
                "password": ADMIN_PASSWORD,
                "csrfmiddlewaretoken": token.group(1),
            },
            headers={"referer": base + "/admin/login/"},
        )
        assert logged.status_code == 302, logged.text[:500]
        listing = admin.get("/admin/hookreceiver/inboxdelivery/")
        assert listing.status_code == 200
        assert "wirecloud.channel_create" in listing.text
        record_id = re.search(r"/admin/hookreceiver/inboxdelivery/([0-9a-f]{16})/", listing.text)
        assert record_id is not None
        page = admin.get(f"/admin/hookreceiver/inboxdelivery/{record_id.group(1)}/change/")
        assert page.status_code == 200
        assert "/hooks/kazoo/channel_create/***" in page.text and KEY not in page.text
        assert "call_id" in page.text  # the stored body
        assert admin.get("/admin/hookreceiver/inboxdelivery/add/").status_code == 403
    assert "this receiver is broken" in log.read_text()  # logged as a failed handler


def test_the_settings_builder(tmp_path: Path) -> None:
    hooks = receiver_from_config(
        {
            "STORE": f"sqlite:///{tmp_path / 'd.db'}",
            "TRUSTED_PROXIES": 1,
            "ENDPOINTS": [
                {"path": "/hooks/faxplus", "provider": "faxplus", "allow_ips": ["127.0.0.1"]},
                {"path": "/hooks/updox/{event}", "provider": "updox", "signed_urls": ["u" * 20]},
            ],
        }
    )
    assert isinstance(hooks.store, SQLiteStore)
    assert [e.path for e in hooks.router.endpoints] == ["/hooks/faxplus", "/hooks/updox/{event}"]
    assert isinstance(store_from_url("memory"), MemoryStore)
    for bad in (
        {},
        {"ENDPOINTS": [{"path": "/x", "provider": "nope"}]},
        {"ENDPOINTS": [{"path": "/x", "provider": "faxplus", "colour": "red"}]},
        {"ENDPOINTS": [{"provider": "faxplus"}]},
        {"STORE": "ftp://x", "ENDPOINTS": [{"path": "/x", "provider": "faxplus"}]},
    ):
        with pytest.raises(ConfigurationError):
            receiver_from_config(bad)


def test_the_url_patterns_pass_djangos_system_checks(tmp_path: Path) -> None:
    # Names with a ':' (urls.W003) warned on every manage.py command, and failed
    # `check --fail-level WARNING` in a project's CI.
    package = tmp_path / "testproj"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "settings.py").write_text(SETTINGS)
    (package / "apps.py").write_text(APPS)
    (package / "urls.py").write_text(URLS)
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "testproj.settings",
        "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")]),
        "DB": str(tmp_path / "site.db"),
        "STORE_DB": str(tmp_path / "dedup.db"),
        "KAZOO_KEY": KEY,
    }
    done = subprocess.run(
        [sys.executable, "-m", "django", "check", "--fail-level", "WARNING"],
        env=env, capture_output=True, text=True, cwd=tmp_path, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
