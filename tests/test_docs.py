"""Every code block of the documentation site runs, so the docs cannot rot.

The blocks of each page under docs/ run in order, in a temporary directory of the page's own, as
a reader would run them. An HTML comment on the line just above a fence (invisible on the site)
says how a block is used; without one, a block runs:

- ```` ```python ````: executed in-process, all the page's python blocks in one namespace.
- ```` ```bash ````: run with ``bash -eu`` (the venv's ``hookreceiver``, ``uvicorn``,
  ``gunicorn`` first on ``PATH``); it must exit 0 (``hookreceiver send`` exits 1 when the
  provider would not count the delivery as delivered, ``curl -f`` on a 4xx/5xx).
- ``<!-- docs-test: file NAME -->``: the block is written to NAME (a module the page's commands
  serve or import); it also runs as the module it is, through the commands that use it.
- ``<!-- docs-test: server -->``: a bash block that starts a server; it is started in the
  background and the page's later blocks run once it accepts connections on its port. Pages
  write ports 8000, 8001...; each page gets free ports in their place.
- ``<!-- docs-test: pytest -->``: a test module; the page's pytest blocks run in one pytest
  subprocess (the bundled plugin loaded as for a user) and must all pass.
- ``<!-- docs-test: not-run REASON -->``: a block that cannot run here (``pip install`` of a
  package, a production server's command line, a PostgreSQL URL). It is still checked: python
  compiles; a ``pip install`` names extras and groups that exist; a server command's
  ``module:attribute`` resolves (from the page's file blocks or installed packages) and its
  ``--options`` are ones the server's ``--help`` lists; a ``hookreceiver`` command's
  subcommands and options exist; toml and json parse.

`grep -rn "docs-test: not-run" docs/` lists every block that does not run. The site itself is
built by .ci/run with `mkdocs build --strict` (a broken link or API reference fails it).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
import types
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    tomllib: Any = pytest.importorskip("tomli")

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
BIN = Path(sys.executable).parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
PAGES = sorted(p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.md"))

FENCE = re.compile(
    r"^(?:<!-- docs-test: (?P<mark>[^\n]*?) -->\n)?```(?P<lang>[\w-]*)[^\n]*\n(?P<code>.*?)^```$",
    re.S | re.M,
)
MARKS = re.compile(r"^(?:|file [\w./-]+\.py|server|pytest|not-run \S.*)$")
# Pages naming these run against the real services (skipped, with this reason, where unset).
SERVICES = ("HOOKRECEIVER_REDIS_URL", "HOOKRECEIVER_POSTGRES_DSN")
SERVERS = {"uvicorn", "gunicorn", "hypercorn", "granian", "daphne"}


@dataclass
class Block:
    page: str
    line: int
    lang: str
    mark: str
    code: str

    def where(self) -> str:
        return f"docs/{self.page}:{self.line} ({self.lang}, {self.mark or 'run'})"


def blocks_of(page: str) -> list[Block]:
    text = (DOCS / page).read_text()
    return [
        Block(
            page,
            text.count("\n", 0, m.start("code")),
            m["lang"],
            (m["mark"] or "").strip(),
            m["code"],
        )
        for m in FENCE.finditer(text)
    ]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def page_env(directory: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH",)}
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONPATH"] = str(directory)
    env["NO_COLOR"] = "1"
    return env


def logical_lines(code: str) -> list[str]:
    joined = re.sub(r"\\\n\s*", " ", code)
    return [line.strip() for line in joined.splitlines() if line.strip()]


# Static checks for blocks that do not run ----------------------------------------------------


def check_pip(words: list[str], block: Block) -> None:
    extras = set(PYPROJECT["project"]["optional-dependencies"])
    groups = set(PYPROJECT["dependency-groups"])
    for i, word in enumerate(words):
        match = re.fullmatch(r"(?:hookreceiver|\.)\[([\w,-]+)\]", word)
        if match:
            missing = set(match[1].split(",")) - extras
            assert not missing, f"{block.where()}: no extra {sorted(missing)}"
        if word == "--group":
            assert words[i + 1] in groups, f"{block.where()}: no dependency group {words[i + 1]}"


def check_server(words: list[str], block: Block, directory: Path) -> None:
    targets = [w for w in words[1:] if re.fullmatch(r"[A-Za-z_][\w.]*:[A-Za-z_][\w.]*(\(\))?", w)]
    assert targets, f"{block.where()}: no module:attribute in {' '.join(words)}"
    for target in targets:
        module, _, attribute = target.partition(":")
        if module.startswith("examples."):
            # The repository's example apps need their keys in the environment to import:
            # the module must exist and define the attribute at its top level.
            source = (ROOT / (module.replace(".", "/") + ".py")).read_text()
            name = attribute.removesuffix("()").split(".")[0]
            defined = rf"^(?:{name}\b[^=\n]*=|(?:async )?def {name}\b|class {name}\b)"
            assert re.search(defined, source, re.M), f"{block.where()}: {target} is not defined"
            continue
        probe = (
            "import importlib, functools;"
            f"m = importlib.import_module({module!r});"
            f"functools.reduce(getattr, {attribute.removesuffix('()').split('.')!r}, m)"
        )
        resolved = subprocess.run(
            [sys.executable, "-c", probe],
            cwd=directory,
            env=page_env(directory),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert resolved.returncode == 0, f"{block.where()}: {target}: {resolved.stderr[-800:]}"
    command = words[0]
    if command in ("uvicorn", "gunicorn"):
        helped = subprocess.run(
            [str(BIN / command), "--help"], capture_output=True, text=True, timeout=60
        )
        for word in words[1:]:
            option = word.split("=", 1)[0]
            if option.startswith("--"):
                assert option in helped.stdout, f"{block.where()}: {command} has no {option}"


def check_hookreceiver(words: list[str], block: Block) -> None:
    # Walk the command line down click's own command tree: a group's options (``inbox --inbox
    # URL``) come before its subcommand, so the options are checked at the level they are given.
    import click

    from hookreceiver.cli import main

    command: click.Command = main
    context = click.Context(main, info_name="hookreceiver")
    for word in words[1:]:
        option = word.split("=", 1)[0]
        if option.startswith("-"):
            known = {o for p in command.params for o in (*p.opts, *p.secondary_opts)}
            assert option in known | {"--help", "-h"}, (
                f"{block.where()}: hookreceiver has no {option} (at `{context.command_path}`)"
            )
        elif isinstance(command, click.Group):
            sub = command.get_command(context, word)
            if sub is not None:
                command, context = sub, click.Context(sub, info_name=word, parent=context)


def check_not_run(block: Block, directory: Path) -> None:
    if block.lang == "python":
        compile(block.code, block.where(), "exec")
    elif block.lang == "toml":
        tomllib.loads(block.code)
    elif block.lang == "json":
        json.loads(block.code)
    elif block.lang == "yaml":
        import yaml  # PyYAML: MkDocs itself needs it

        yaml.safe_load(block.code)
    elif block.lang == "bash":
        for line in logical_lines(block.code):
            if line.startswith("#"):
                continue
            words = shlex.split(line, comments=True)
            while words and "=" in words[0] and not words[0].startswith("-"):
                words = words[1:]  # VAR=value prefixes
            command = Path(words[0]).name
            if command in ("pip", "pip3") or words[:3] == ["python", "-m", "pip"]:
                check_pip(words, block)
            elif command in SERVERS or words[1:3] == ["-m", "gunicorn"]:
                check_server(words, block, directory)
            elif command == "hookreceiver":
                check_hookreceiver(words, block)
    else:
        pytest.fail(f"{block.where()}: no check for {block.lang!r} blocks")


# Running a page ------------------------------------------------------------------------------


@pytest.fixture
def servers() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for process in started:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(10)


@pytest.fixture
def logging_restored() -> Iterator[None]:
    """A page configures logging as a user would; the next test gets it back as it was."""
    import logging

    def state() -> dict[str, tuple[Any, ...]]:
        loggers = [
            logging.getLogger(),
            *map(logging.getLogger, list(logging.root.manager.loggerDict)),
        ]
        return {
            lg.name: (lg, lg.level, list(lg.handlers), list(lg.filters), lg.propagate)
            for lg in loggers
            if isinstance(lg, logging.Logger)
        }

    before = state()
    yield
    for name, (logger, *_) in state().items():
        level, handlers, filters, propagate = before.get(name, (None, 0, [], [], True))[1:]
        logger.setLevel(level)
        logger.handlers[:] = handlers
        logger.filters[:] = filters
        logger.propagate = propagate


def start_server(block: Block, directory: Path, port: int) -> subprocess.Popen[bytes]:
    with open(directory / f"server-{block.line}.log", "wb") as log:  # the child keeps it
        process = subprocess.Popen(
            ["bash", "-euo", "pipefail", "-c", block.code],  # stopped by its process group
            cwd=directory,
            env=page_env(directory),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    deadline = time.monotonic() + 30
    while True:
        if process.poll() is not None:
            pytest.fail(f"{block.where()}: the server exited:\n{server_log(directory, block)}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return process
        except OSError:
            if time.monotonic() > deadline:
                pytest.fail(f"{block.where()}: no server on port {port} within 30 s")
            time.sleep(0.05)


def server_log(directory: Path, block: Block | None = None) -> str:
    logs = sorted(directory.glob("server-*.log"))
    return "\n".join(p.read_text(errors="replace")[-3000:] for p in logs)


def run_python(block: Block, namespace: dict[str, Any]) -> None:
    exec(compile(block.code, block.where(), "exec"), namespace)


def run_bash(block: Block, directory: Path) -> None:
    ran = subprocess.run(
        ["bash", "-eu", "-c", block.code],
        cwd=directory,
        env=page_env(directory),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert ran.returncode == 0, (
        f"{block.where()} exited {ran.returncode}:\n{ran.stdout[-3000:]}\n{ran.stderr[-3000:]}"
        f"\nserver log:\n{server_log(directory)}"
    )


def run_pytest(blocks: list[Block], directory: Path) -> None:
    names = []
    for block in blocks:
        name = f"test_docs_block_{block.line}.py"
        (directory / name).write_text(block.code)
        names.append(name)
    ran = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *names],
        cwd=directory,
        env=page_env(directory),
        capture_output=True,
        text=True,
        timeout=180,
    )
    where = ", ".join(b.where() for b in blocks)
    assert ran.returncode == 0, f"{where}:\n{ran.stdout[-4000:]}{ran.stderr[-2000:]}"
    passed = re.search(r"(\d+) passed", ran.stdout)
    assert passed and int(passed[1]) >= len(blocks), f"{where}: {ran.stdout[-1000:]}"


PORT = re.compile(r"(?<![\d.])(800\d)(?!\d)")


def with_ports(block: Block, ports: dict[str, int]) -> Block:
    code = PORT.sub(lambda m: str(ports.setdefault(m[1], free_port())), block.code)
    return Block(block.page, block.line, block.lang, block.mark, code)


@pytest.mark.slow
@pytest.mark.parametrize("page", PAGES)
def test_every_block_of_the_page_runs(
    page: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    servers: list[subprocess.Popen[bytes]],
    logging_restored: None,
) -> None:
    for name in SERVICES:
        if any(name in b.code for b in blocks_of(page)) and not os.environ.get(name):
            if os.environ.get("CI"):
                pytest.fail(f"{name} must be set on CI (see .ci/run)")
            pytest.skip(f"{name} is not set: docs/{page} runs against that server")
    ports: dict[str, int] = {}  # the page's 8000, 8001... each a free port
    originals = blocks_of(page)
    blocks = [with_ports(b, ports) for b in originals]
    for block in blocks:
        assert MARKS.match(block.mark), f"{block.where()}: unknown docs-test mark"
        if block.mark.startswith("file "):
            (tmp_path / block.mark.split()[1]).write_text(block.code)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    for name, value in page_env(tmp_path).items():
        if name in ("PATH",):
            monkeypatch.setenv(name, value)
    before = set(sys.modules)
    environ = dict(os.environ)  # a page may set variables as a deployment would: not for later
    # A module of its own (frameworks look their handlers' annotations up in sys.modules).
    module = types.ModuleType("docs_" + re.sub(r"\W", "_", page))
    monkeypatch.setitem(sys.modules, module.__name__, module)
    namespace = module.__dict__
    try:
        for original, block in zip(originals, blocks, strict=True):
            if block.mark.startswith("not-run"):
                check_not_run(block, tmp_path)
            elif block.mark.startswith("file ") or block.mark == "pytest":
                continue
            elif block.mark == "server":
                assert block.lang == "bash", f"{block.where()}: a server is a bash block"
                named = PORT.search(original.code)
                assert named, f"{block.where()}: a server listens on 8000 (or 8001...)"
                servers.append(start_server(block, tmp_path, ports[named[1]]))
            elif block.lang == "python":
                run_python(block, namespace)
            elif block.lang == "bash":
                run_bash(block, tmp_path)
            else:
                pytest.fail(f"{block.where()}: a {block.lang!r} block must be marked not-run")
        tests = [b for b in blocks if b.mark == "pytest"]
        if tests:
            run_pytest(tests, tmp_path)
    finally:
        os.environ.clear()
        os.environ.update(environ)
        for name in set(sys.modules) - before:
            origin = getattr(sys.modules[name], "__file__", None) or ""
            if origin.startswith(str(tmp_path)):
                del sys.modules[name]
    for process in servers:
        assert process.poll() is None, f"the server died:\n{server_log(tmp_path)}"


# The site as a whole --------------------------------------------------------------------------


def nav_pages() -> list[str]:
    config = (ROOT / "mkdocs.yml").read_text()
    return re.findall(r"^\s*- (?:[^:\n]+: )?([\w/.-]+\.md)\s*$", config, flags=re.M)


def test_every_page_is_in_the_nav_and_titled_by_its_subject() -> None:
    assert sorted(nav_pages()) == PAGES
    for page in PAGES:
        first = (DOCS / page).read_text().splitlines()[0]
        assert re.fullmatch(r"# \S.*", first), f"docs/{page} starts with its title, not {first!r}"


def test_every_page_has_code_and_every_block_runs_or_is_marked() -> None:
    for page in PAGES:
        for block in blocks_of(page):
            assert MARKS.match(block.mark), f"{block.where()}: unknown docs-test mark"
            if not block.mark.startswith("not-run"):
                assert block.lang in ("python", "bash"), f"{block.where()}: mark it not-run"
    unmarked = [
        b for p in PAGES for b in blocks_of(p) if not b.mark.startswith(("not-run", "file "))
    ]
    assert len(unmarked) > 50  # the site's examples run; this is not a site of marked blocks


def test_no_fence_escapes_the_extractor() -> None:
    # A fence indented (in a list or an admonition) would not be matched and not run.
    for page in PAGES:
        text = (DOCS / page).read_text()
        fences = len(re.findall(r"^```", text, flags=re.M))
        assert fences == 2 * len(blocks_of(page)), f"docs/{page}: an unmatched fence"
        assert not re.search(r"^[ \t]+```", text, flags=re.M), f"docs/{page}: indented fence"


def test_the_changelog_page_includes_the_root_changelog() -> None:
    assert '--8<-- "CHANGELOG.md:3:"' in (DOCS / "changelog.md").read_text()  # after its title
    assert (ROOT / "CHANGELOG.md").read_text().startswith("# Changelog")


def test_readme_says_how_to_serve_the_docs() -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Documentation", 1)[1].split("\n## ", 1)[0]
    assert ".venv/bin/mkdocs serve" in section


@pytest.mark.parametrize(
    ("lang", "code", "complaint"),
    [
        ("bash", "pip install 'hookreceiver[nope]'\n", "no extra"),
        ("bash", "pip install -e . --group nope\n", "no dependency group"),
        ("bash", "uvicorn --no-proxy-headers missing_module:app\n", "missing_module:app"),
        ("bash", "uvicorn --no-such-flag hookreceiver:Receiver\n", "uvicorn has no --no-such-flag"),
        (
            "bash",
            "hookreceiver send faxplus fax_sent --url x --nope\n",
            "hookreceiver has no --nope",
        ),
        ("python", "def broken(:\n", "invalid syntax"),
        ("json", "{not json}\n", "Expecting property name"),
        ("text", "anything\n", "no check for 'text' blocks"),
    ],
)
def test_blocks_that_do_not_run_are_still_checked(
    lang: str, code: str, complaint: str, tmp_path: Path
) -> None:
    block = Block("example.md", 1, lang, "not-run an example", code)
    with pytest.raises((AssertionError, SyntaxError, ValueError, pytest.fail.Exception)) as caught:
        check_not_run(block, tmp_path)
    assert complaint in str(caught.value)


def test_a_server_command_resolves_against_the_pages_own_files(tmp_path: Path) -> None:
    (tmp_path / "myapp.py").write_text("app = object()\n")
    good = Block("example.md", 1, "bash", "not-run", "gunicorn --workers 2 myapp:app\n")
    check_not_run(good, tmp_path)
    bad = Block("example.md", 1, "bash", "not-run", "gunicorn --workers 2 myapp:nothing\n")
    with pytest.raises(AssertionError, match="myapp:nothing"):
        check_not_run(bad, tmp_path)


def test_every_built_in_provider_and_framework_has_its_page() -> None:
    from hookreceiver.providers import provider_class, provider_names

    # Built in: defined in this package (other tests register toy providers in the registry).
    built_in = {
        name
        for name in provider_names()
        if provider_class(name).__module__.startswith("hookreceiver.providers.")
    }
    providers = {p.removeprefix("providers/") for p in PAGES if p.startswith("providers/")}
    assert providers == {f"{name}.md" for name in built_in}
    frameworks = {p.removeprefix("frameworks/") for p in PAGES if p.startswith("frameworks/")}
    expected = "starlette fastapi litestar quart blacksheep falcon django flask prefix"
    assert frameworks == {f"{name}.md" for name in expected.split()}


def test_the_api_reference_shows_the_public_names() -> None:
    """Each public name of the package, and of the forward, feed, verify and framework
    modules, is rendered by a ``:::`` directive of an API reference page (its own or its
    module's)."""
    import importlib

    directives = {
        line[4:].strip()
        for page in (DOCS / "reference").glob("*.md")
        for line in page.read_text().splitlines()
        if line.startswith("::: ")
    }

    def shown(dotted: str) -> bool:
        return any(dotted == d or dotted.startswith(d + ".") for d in directives)

    wanted = {
        "hookreceiver": None,
        "hookreceiver.testing.forward": None,
        "hookreceiver.inbox.feed": ["InboxFeed"],
        "hookreceiver.integrations.fastapi": ["webhook_router"],
        "hookreceiver.integrations.django.signals": None,
    }
    missing = []
    for module_name, names in wanted.items():
        module = importlib.import_module(module_name)
        for name in names or module.__all__:
            obj = getattr(module, name)
            if isinstance(obj, types.ModuleType):
                continue
            home = getattr(obj, "__module__", None) or module_name
            qualname = getattr(obj, "__qualname__", name)
            if not (shown(f"{home}.{qualname}") or shown(f"{module_name}.{name}")):
                missing.append(f"{module_name}.{name}")
    assert not missing, f"not in the API reference: {missing}"
