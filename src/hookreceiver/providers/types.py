"""Field types shared by provider models."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Annotated

from pydantic import AfterValidator, BeforeValidator

__all__ = ["FlexibleId", "UTCDateTime"]


def _as_utc(value: datetime) -> datetime:
    # Providers that send naive times (Fax.Plus "YYYY-MM-DD HH:mm:ss") mean UTC.
    if value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)


def _id_text(value: object) -> object:
    # Ids arrive as numbers on some pages and strings on others; keep them exact, as text.
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return str(value)
    return value


#: A timezone-aware UTC datetime; naive input is taken as UTC.
UTCDateTime = Annotated[datetime, AfterValidator(_as_utc)]

#: An identifier sent as a number or a string, kept exactly as text.
FlexibleId = Annotated[str, BeforeValidator(_id_text)]
