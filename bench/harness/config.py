"""How long and how hard one benchmark run works: the full run and the smoke run."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["Config"]

MiB = 1024 * 1024


@dataclass(frozen=True)
class Config:
    """The knobs of one run (see ``run.py --help``)."""

    smoke: bool = False
    #: ``wrk`` or ``python``.
    load: str = "wrk"
    rounds: int = 5
    #: Server processes per target, one after another, each measured ``rounds`` times: the
    #: same code's speed differs between processes (memory layout) by more than between rounds.
    processes: int = 1
    duration: float = 5.0
    warmup: float = 2.0
    connections: int = 16
    server_cpu: int | None = 1
    load_cpu: int | None = 0
    loop: str = "asyncio"
    attachment_size: int = 20 * MiB
    store_duration: float = 1.0
    import_runs: int = 15

    @classmethod
    def for_smoke(cls) -> Config:
        """A few seconds in all: every section runs, none of its numbers mean anything."""
        return cls(
            smoke=True,
            load="python",
            rounds=1,
            duration=0.4,
            warmup=0.1,
            connections=2,
            server_cpu=None,
            load_cpu=None,
            attachment_size=1 * MiB,
            store_duration=0.05,
            import_runs=1,
        )

    def as_dict(self) -> dict[str, Any]:
        """For the JSON report."""
        return asdict(self)
