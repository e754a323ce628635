"""Every Python block of docs/forward.md and docs/frameworks-native.md runs as written."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGES = ["docs/forward.md", "docs/frameworks-native.md"]
BLOCK = re.compile(r"```python\n(.*?)```", re.S)


def blocks() -> list[tuple[str, int, str]]:
    found = []
    for page in PAGES:
        for number, match in enumerate(BLOCK.finditer((ROOT / page).read_text()), 1):
            found.append((page, number, match.group(1)))
    return found


@pytest.mark.parametrize(("page", "number", "code"), blocks(), ids=lambda v: str(v)[:30])
def test_the_block_runs(page: str, number: int, code: str, tmp_path: Path) -> None:
    script = tmp_path / "block.py"
    script.write_text(code)
    done = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, f"{page} block {number}:\n{done.stderr}"


def test_every_page_has_blocks() -> None:
    assert {page for page, _, _ in blocks()} == set(PAGES)
