"""The public API: flat, sorted, complete, and importable without optional extras."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

import hookreceiver

PUBLIC_MODULES = [
    "hookreceiver",
    "hookreceiver.errors",
    "hookreceiver.core",
    "hookreceiver.parsing",
    "hookreceiver.providers",
    "hookreceiver.security",
    "hookreceiver.stores",
    "hookreceiver.adapters",
    "hookreceiver.inbox",
    "hookreceiver.testing",
]


@pytest.mark.parametrize("name", PUBLIC_MODULES)
def test_all_is_sorted_and_resolves(name: str) -> None:
    module = importlib.import_module(name)
    exported = module.__all__
    assert exported == sorted(exported, key=str), f"{name}.__all__ is not sorted"
    assert len(set(exported)) == len(exported)
    for attribute in exported:
        assert getattr(module, attribute) is not None


def test_top_level_exports_every_public_class_of_core_and_errors() -> None:
    from hookreceiver import core, errors

    for module in (core, errors):
        for attribute in module.__all__:
            assert attribute in hookreceiver.__all__, f"{attribute} missing from hookreceiver"


def test_importing_the_package_pulls_in_no_framework_or_optional_client() -> None:
    code = (
        "import sys, hookreceiver, hookreceiver.stores;"
        "bad = [m for m in ('starlette', 'flask', 'redis', 'psycopg', 'httpx', 'uvicorn',"
        " 'fastapi', 'click', 'werkzeug') if m in sys.modules];"
        "print(','.join(bad))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == ""


def test_a_provider_without_signed_urls_loads_no_signing_or_multipart_code() -> None:
    code = (
        "import sys; from hookreceiver import Receiver, providers;"
        "hooks = Receiver(); hooks.endpoint('/f', providers.FaxPlus());"
        "print(','.join(m for m in ('itsdangerous', 'multipart', 'hookreceiver.security.hmac',"
        " 'hookreceiver.security.signed_urls', 'hookreceiver.security.proxies')"
        " if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == ""


def test_every_public_callable_has_a_docstring() -> None:
    for name in PUBLIC_MODULES:
        module = importlib.import_module(name)
        assert module.__doc__, name
        for attribute in module.__all__:
            value = getattr(module, attribute)
            if callable(value):
                assert value.__doc__, f"{name}.{attribute} has no docstring"
