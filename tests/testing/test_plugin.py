"""The pytest plugin, run by pytester as a user's test suite would use it."""

from __future__ import annotations

import subprocess
import sys

import pytest

pytest_plugins = ["pytester"]

USER_APP = """
import pytest
from hookreceiver import Receiver, providers
from hookreceiver.testing import documo, updox

HANDLED = []
FAILED = []

@pytest.fixture
def webhook_app(webhook_store):
    hooks = Receiver(store=webhook_store)
    hooks.endpoint("/hooks/documo", providers.Documo(basic_auth=[("u", "p" * 8)]))
    hooks.endpoint("/hooks/updox/{event}", providers.Updox(allow_ips=["198.51.100.0/24"]))

    @hooks.on("documo.fax.inbound")
    def fax_in(event, ctx):
        HANDLED.append((event.pages_count, ctx.attachments[0].read()[:5]))

    @hooks.on("updox.inbound_fax")
    def updox_fax(event, ctx):
        if not FAILED:
            FAILED.append(event.fax_id)
            raise RuntimeError("database down")

    return hooks
"""


def test_fixtures_are_registered_through_the_entry_point(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--fixtures", "-p", "no:cacheprovider")
    text = result.stdout.str()
    fixtures = ("deliver", "adeliver", "send_with_retries", "replay", "webhook_app")
    for name in (*fixtures, "webhook_store", "webhook_clock"):
        assert f"{name} --" in text or f"{name} [" in text, name
    assert "hookreceiver/testing/plugin.py" in text.replace("\\\\", "/")


def test_a_user_suite_sends_deliveries_and_replays_retries(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(USER_APP)
    pytester.makepyfile(
        """
        from conftest import HANDLED
        from hookreceiver.testing import documo, updox

        def test_fax(deliver):
            result = deliver(documo.fax_inbound(pages=3, basic_auth=("u", "p" * 8)))
            assert result.status == 200
            assert HANDLED == [(3, b"%PDF-")]
            assert [c.name for c in result.calls] == ["webhook_app.<locals>.fax_in"]

        def test_updox_retry(send_with_retries, webhook_clock):
            run = send_with_retries(updox.inbound_fax())
            assert run.statuses == [503, 200]
            assert webhook_clock.elapsed == 300

        def test_store_is_fresh_per_test(deliver, webhook_store):
            assert len(webhook_store) == 0
        """
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=3)


def test_async_tests_use_adeliver(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(USER_APP)
    pytester.makepyfile(
        """
        import pytest
        from hookreceiver.testing import documo

        @pytest.mark.anyio
        @pytest.mark.parametrize("anyio_backend", ["asyncio"])
        async def test_async(adeliver, anyio_backend):
            result = await adeliver(documo.fax_inbound(pages=2, basic_auth=("u", "p" * 8)))
            assert result.status == 200 and result.events[0].pages_count == 2
        """
    )
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=1)


def test_fixtures_can_be_overridden(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        """
        import pytest
        from hookreceiver.testing import FakeClock

        @pytest.fixture
        def webhook_clock():
            return FakeClock(start=42)
        """
    )
    pytester.makepyfile(
        """
        def test_clock(webhook_clock, webhook_store):
            assert webhook_clock() == 42
            webhook_store.claim("k", 10)
            webhook_clock.advance(11)
            assert webhook_store.claim("k", 10).state.value == "new"
        """
    )
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=1)


def test_forgetting_webhook_app_fails_with_a_clear_message(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        def test_needs_app(deliver):
            pass
        """
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*define a `webhook_app` fixture*"])


def test_the_plugin_module_imports_nothing_heavy() -> None:
    code = (
        "import sys, hookreceiver.testing.plugin;"
        "heavy = ('httpx', 'starlette', 'flask', 'uvicorn', 'click', 'hookreceiver.testing.send',"
        " 'hookreceiver.testing.factories', 'hookreceiver.testing.retries');"
        "print(','.join(m for m in heavy if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""


def test_the_old_replay_fixture_still_works_and_says_it_is_deprecated(
    pytester: pytest.Pytester,
) -> None:
    pytester.makeconftest(USER_APP)
    pytester.makepyfile(
        """
        from hookreceiver.testing import updox

        def test_updox_retry(replay, webhook_clock):
            run = replay(updox.inbound_fax())
            assert run.statuses == [503, 200]
        """
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*'replay' fixture is deprecated: use 'send_with_retries'*"])
