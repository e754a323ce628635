"""docs/providers.md's response policy says one thing, and the code does it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from hookreceiver import Outcome, providers
from hookreceiver.providers.base import Provider

DOCS = Path(__file__).resolve().parents[2] / "docs" / "providers.md"
ROWS = {
    "handled, or duplicate already handled": Outcome.HANDLED,
    "duplicate still in flight": Outcome.IN_FLIGHT,
    "handler failed": Outcome.HANDLER_FAILED,
    "dedup store unavailable": Outcome.STORE_UNAVAILABLE,
    "payload invalid for its event": Outcome.INVALID_PAYLOAD,
}
# Wirecloud's column follows its own policy work (issue 13, item 5); these are checked here.
COLUMNS = {
    "Updox": providers.Updox,
    "Zipwhip": providers.Zipwhip,
    "Documo": providers.Documo,
    "Fax.Plus": providers.FaxPlus,
}


def policy_section() -> str:
    text = DOCS.read_text()
    return text.split("## Response policy", 1)[1].split("\n## ", 1)[0]


def table() -> dict[str, dict[str, str]]:
    lines = [line for line in policy_section().splitlines() if line.startswith("|")]
    header = [cell.strip() for cell in lines[0].strip("|").split("|")]
    rows = {}
    for line in lines[2:]:
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        rows[cells[0]] = dict(zip(header[1:], cells[1:], strict=True))
    return rows


@pytest.mark.parametrize("column", sorted(COLUMNS))
def test_the_table_is_what_the_provider_answers(column: str) -> None:
    provider_class: type[Provider] = COLUMNS[column]
    found = {header: cells for header, cells in table().items() if header in ROWS}
    assert set(found) == set(ROWS)
    for row, outcome in ROWS.items():
        status = int(re.match(r"\d{3}", found[row][column]).group())  # type: ignore[union-attr]
        assert status == provider_class.statuses[outcome], (row, column)


def test_updox_4xx_is_told_one_way() -> None:
    # Updox drops a 4xx for good: the page may not both list 4xx answers for Updox and say
    # that Updox never gets one.
    updox = [cells["Updox"] for cells in table().values()]
    assert any(cell.startswith("4") for cell in updox)  # invalid payload, unknown event
    paragraphs = [" ".join(p.split()) for p in policy_section().split("\n\n")]
    about = [p for p in paragraphs if "Updox" in p and "4xx" in p and not p.startswith("|")]
    assert about, "the page says nothing about Updox and 4xx"
    for paragraph in about:
        for sentence in re.split(r"(?<=[.;])\s+", paragraph):
            assert not re.search(r"\b(never|nothing|no)\b[^.]*\b4xx\b", sentence), sentence
    # What a retry can fix is a 5xx; what it cannot is a 4xx whose delivery is quarantined.
    assert providers.Updox.statuses[Outcome.HANDLER_FAILED] >= 500
    assert "quarantine" in " ".join(about)
