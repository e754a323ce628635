"""The growth benchmark's attachment target: Documo in ``ack="inbox"`` mode.

The delivery is stored in the inbox named by ``BENCH_INBOX`` (a URL), answered at once, and
handled by the app's in-process worker, whose handler reads the fax a chunk at a time (as a
handler that saves or forwards it would) and writes its size and SHA-256 to ``BENCH_DONE_DIR``.
``BENCH_ACK=sync`` serves the same endpoint in sync mode, for comparison.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from apps.documo import documo_provider
from hookreceiver import DeliveryContext, Receiver
from hookreceiver.inbox import open_inbox
from hookreceiver.stores import MemoryStore

__all__ = ["app", "hooks"]

MiB = 1024 * 1024

_ack = os.environ.get("BENCH_ACK", "inbox")
hooks = Receiver(
    store=MemoryStore(),
    inbox=open_inbox(os.environ["BENCH_INBOX"]) if _ack == "inbox" else None,
)
provider = documo_provider()
provider.max_multipart_body = 200 * MiB
hooks.endpoint("/hooks/documo", provider, ack=_ack)
_done = Path(os.environ.get("BENCH_DONE_DIR", "."))


@hooks.on("documo.fax.inbound")
def fax_in(event: object, ctx: DeliveryContext) -> None:
    for attachment in ctx.attachments:
        digest = hashlib.sha256()
        file = attachment.open()
        while chunk := file.read(MiB):
            digest.update(chunk)
        # Written aside and renamed: the benchmark waits for the file and must never read it
        # half written.
        part = _done / f"{ctx.delivery_id}.part"
        part.write_text(f"{attachment.size} {digest.hexdigest()}")
        part.rename(_done / f"{ctx.delivery_id}.done")


app = hooks.asgi_app
