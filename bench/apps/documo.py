"""The Documo endpoint of the multipart benchmark.

``providers.Documo`` when the package has it; until then a minimal provider on the same code path
(``MultipartSink`` streaming the attachment to a spooled file, ``data`` validated to a model).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from pydantic import BaseModel, ConfigDict

from hookreceiver import Delivery, ParsedEvent, providers
from hookreceiver.parsing.body import Body
from hookreceiver.parsing.json import decode_json_object
from hookreceiver.providers.base import Provider, validate_model

__all__ = ["DOCUMO_CREDENTIALS", "documo_provider"]

#: The basic-auth pair the Documo webhook is configured with in the benchmark.
DOCUMO_CREDENTIALS = ("documo", "bench-secret")


class _Fax(BaseModel):
    model_config = ConfigDict(extra="allow")

    messageId: str
    status: str
    direction: str


class _LocalDocumo(Provider):
    """Stand-in for ``providers.Documo``: multipart ``data`` + ``attachment``."""

    name: ClassVar[str] = "documo"
    content_types: ClassVar[frozenset[str]] = frozenset({"multipart/form-data"})
    events: ClassVar[frozenset[str]] = frozenset({"documo.fax.inbound"})

    def parse(self, delivery: Delivery, params: Mapping[str, str], body: Body) -> ParsedEvent:
        """Validate the ``data`` field; the attachment is already on disk."""
        fax = validate_model(_Fax, decode_json_object(body.fields.get("data", "")))
        name = self.event_name(f"fax.{fax.direction}")
        return ParsedEvent(name, self.name, f"documo:{fax.messageId}", fax, attachments=body.files)


def documo_provider() -> Provider:
    """The Documo provider the benchmark measures, allowing 127.0.0.1 with basic auth."""
    documo = getattr(providers, "Documo", None)
    cls: type[Provider] = documo if documo is not None else _LocalDocumo
    return cls(allow_ips=["127.0.0.1"], basic_auth=[DOCUMO_CREDENTIALS])
