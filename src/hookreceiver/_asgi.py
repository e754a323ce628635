"""What every ASGI app of the package answers alike: the lifespan protocol, acknowledged.

The receiver's own app, the inbox feed and the console take no part in start-up and shut-down
but must not leave a server waiting on them (uvicorn's ``--lifespan on``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

__all__ = ["acknowledge_lifespan"]


async def acknowledge_lifespan(
    receive: Callable[[], Awaitable[Mapping[str, Any]]],
    send: Callable[[dict[str, Any]], Awaitable[None]],
) -> None:
    """Answer a lifespan scope's start-up and shut-down messages, until shut-down."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
