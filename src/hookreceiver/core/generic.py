"""The event of a name the provider does not document: :class:`GenericEvent`.

A module of its own, imported on first use: defining a pydantic model loads pydantic's field
machinery (``pydantic.fields``, ``pydantic.types``, ``annotated_types``), which importing the
receiver or a provider would otherwise pay for before any delivery arrives.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

__all__ = ["GenericEvent"]


class GenericEvent(BaseModel):
    """An event whose name the provider does not document (yet).

    Catch-all and provider-wildcard handlers receive it, so nothing a provider adds tomorrow is
    lost; endpoints in strict mode answer 422 instead.
    """

    model_config = ConfigDict(extra="allow", frozen=True, defer_build=True)

    provider: str
    name: str
    payload: dict[str, Any]
