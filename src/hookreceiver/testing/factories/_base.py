"""What every provider factory shares, in one import: the simulated delivery, unique ids,
senders, encodings, and the assembling of a request.

A factory builds the exact bytes a provider puts on the wire; nothing here imports a provider
module, so a factory stays true to the provider's documents even when our parser changes.

Each job has its module: ``_values.py`` (ids, times, senders, encodings), ``_delivery.py``
(:class:`SimulatedDelivery`), ``_assemble.py`` (the transport keywords and :func:`assemble`).
A factory module imports what it needs from here.
"""

from __future__ import annotations

from ._assemble import (
    HeadersArg,
    Transport,
    assemble,
    post_json,
    signature_of,
    transport_of,
)
from ._delivery import SimulatedDelivery
from ._values import (
    AttachmentArg,
    basic_auth_header,
    bracket_form,
    deep_merge,
    json_body,
    multipart_body,
    next_number,
    pick_sender,
    recent_time,
    seed,
    unique_hex,
    unique_uuid,
)

__all__ = [
    "AttachmentArg",
    "HeadersArg",
    "SimulatedDelivery",
    "Transport",
    "assemble",
    "basic_auth_header",
    "bracket_form",
    "deep_merge",
    "json_body",
    "multipart_body",
    "next_number",
    "pick_sender",
    "post_json",
    "recent_time",
    "seed",
    "signature_of",
    "transport_of",
    "unique_hex",
    "unique_uuid",
]
