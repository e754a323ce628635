"""``hookreceiver store cleanup``: the operator's way to empty a dedup store of expired keys.

The SQLite and PostgreSQL stores delete expired keys as they claim new ones, a few batches at a
time; after an outage, a burst, or a change of ``retain_for`` this deletes the whole backlog at
once, still a batch (one short write) at a time, so running claims never wait long. Redis
expires its keys itself, and a memory store lives in one process only.
"""

from __future__ import annotations

import click

from ..errors import StoreUnavailable
from .urls import open_store

__all__ = ["store"]


@click.group()
def store() -> None:
    """Maintain the dedup store."""


@store.command("cleanup")
@click.option(
    "--store",
    "url",
    envvar="HOOKRECEIVER_STORE",
    required=True,
    help="sqlite:///path, postgresql://...?table=, redis://... (or HOOKRECEIVER_STORE).",
)
def cleanup(url: str) -> None:
    """Delete every expired key now (the stores also do it as they go)."""
    try:
        found = open_store(url)
    except (ValueError, ImportError) as exc:
        raise click.UsageError(f"--store (HOOKRECEIVER_STORE): {exc}") from None
    sweep = getattr(found, "cleanup_all", None)
    try:
        if sweep is None:
            click.echo(f"{type(found).__name__}: nothing to clean up (keys expire by themselves)")
            return
        removed = sweep()
    except StoreUnavailable as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        found.close()
    click.echo(f"deleted {removed} expired key{'' if removed == 1 else 's'}")
