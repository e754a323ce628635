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
    "hookreceiver.console",
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


def loaded_by(code: str, modules: tuple[str, ...]) -> list[str]:
    """Which of ``modules`` a fresh interpreter has loaded after running ``code``."""
    check = f"import sys\n{code}\nprint(','.join(m for m in {modules!r} if m in sys.modules))"
    result = subprocess.run(
        [sys.executable, "-c", check], capture_output=True, text=True, check=True
    )
    return [m for m in result.stdout.strip().split(",") if m]


def test_importing_the_package_pulls_in_no_framework_or_optional_client() -> None:
    heavy = ("starlette", "flask", "redis", "psycopg", "httpx", "uvicorn", "fastapi", "click")
    heavy += ("jinja2",)
    assert loaded_by("import hookreceiver, hookreceiver.stores", (*heavy, "werkzeug")) == []
    assert loaded_by("import hookreceiver", ("httpx", "typing_extensions", "pydantic")) == []


def test_a_provider_without_signed_urls_loads_no_signing_or_multipart_code() -> None:
    code = (
        "from hookreceiver import Receiver, providers\n"
        "Receiver().endpoint('/f', providers.FaxPlus())"
    )
    signing = ("itsdangerous", "multipart", "hookreceiver.security.hmac")
    guards = ("hookreceiver.security.signed_urls", "hookreceiver.security.proxies")
    assert loaded_by(code, (*signing, *guards)) == []
    assert loaded_by(code, ("pydantic", "hookreceiver.security.allowlist")) == [
        "pydantic",
        "hookreceiver.security.allowlist",
    ]


def test_every_public_callable_has_a_docstring() -> None:
    for name in PUBLIC_MODULES:
        module = importlib.import_module(name)
        assert module.__doc__, name
        for attribute in module.__all__:
            value = getattr(module, attribute)
            if callable(value):
                assert value.__doc__, f"{name}.{attribute} has no docstring"
