"""Fax.Plus payloads and deliveries for tests that need a real provider event."""

from __future__ import annotations

import itertools
import json
from typing import Any

from hookreceiver import Delivery, Headers

_ids = itertools.count(1)


def faxplus_payload(event: str = "fax_received", hook_id: str | None = None, **data: Any) -> dict:
    """A Fax.Plus payload shaped like the documented example, unique per call."""
    hook_id = hook_id or f"66df09cf1d6d0b295c{next(_ids):06d}"
    fax = {
        "id": hook_id,
        "uid": "490ae330dbc749f0b6561dafa300f2fb",
        "pages": 1,
        "from": "+1 334-304-0000",
        "to": "+1 334-304-1111",
        "start_time": "2024-09-09 10:44:39",
        "file": "1d0b618e4fb54957878eed0ecc64ae5e.tiff",
        "file_name": "fax-to-1334304xxxx",
        "status": "success",
        "cost": 1,
    }
    fax.update(data)
    return {
        "hook": {
            "id": hook_id,
            "event": event,
            "event_time": "2024-09-09 10:44:39",
            "target": "https://webhook.example",
        },
        "data": fax,
    }


def faxplus_delivery(
    payload: dict | bytes | None = None,
    *,
    path: str = "/hooks/faxplus",
    peer: str = "127.0.0.1",
    method: str = "POST",
    content_type: str = "application/json",
    headers: tuple[tuple[str, str], ...] = (),
) -> Delivery:
    """A delivery of ``payload`` (a fresh Fax.Plus event by default)."""
    if payload is None:
        payload = faxplus_payload()
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return Delivery(
        method,
        path,
        headers=Headers([("content-type", content_type), *headers]),
        peer=peer,
        body=body,
    )
