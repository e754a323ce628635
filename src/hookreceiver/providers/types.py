"""Field types and base classes shared by provider models (:class:`WireModel`,
:class:`CamelModel`).

Each type takes what a provider really sends and keeps it exact:

- :data:`UTCDateTime`: ISO 8601 or ``YYYY-MM-DD HH:mm:ss`` (Fax.Plus) -> an aware UTC datetime;
- :data:`GregorianSeconds`: Kazoo's seconds since year 0 (int or numeric text) -> aware UTC;
- :data:`FlexibleId`: an id sent as a number on some pages and as text on others -> exact text;
- :data:`IdText`: an id sent as text (Kazoo's ``call_id``);
- :data:`ExactInt`: a 64-bit integer (Zipwhip's ids are above 2**53) that refuses floats;
- :data:`Int64`: a count or code, refused beyond the 64-bit range;
- :class:`OpenEnum`: an enum field that keeps values the provider adds later as plain text;
- :data:`FormDict`: an object that a form body may send as an empty string.

Sizes are capped so that hostile input fails validation (a 400) instead of reaching the
idempotency key, the inbox or a handler: ids and open enum values at :data:`MAX_ID_LENGTH`
characters, integers at :data:`MAX_INT_DIGITS` digits (or the 64-bit range for :data:`Int64`).
Every documented id is far shorter (UUIDs, 24 hex digits, 64-bit numbers, SIP Call-IDs).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from enum import Enum
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    PlainSerializer,
    PlainValidator,
    StringConstraints,
    WithJsonSchema,
)
from pydantic.alias_generators import to_camel
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import core_schema

__all__ = [
    "CamelModel",
    "WireModel",
    "GREGORIAN_UNIX_OFFSET",
    "MAX_ID_LENGTH",
    "MAX_INT_DIGITS",
    "ExactInt",
    "FlexibleId",
    "FormDict",
    "GregorianSeconds",
    "IdText",
    "Int64",
    "OpenEnum",
    "UTCDateTime",
]

#: Seconds from 0000-01-01 (proleptic Gregorian, as Erlang counts) to 1970-01-01.
GREGORIAN_UNIX_OFFSET = 62167219200

_UTC = timezone.utc
_EPOCH = datetime(1970, 1, 1, tzinfo=_UTC)
_NAIVE_EPOCH = datetime(1970, 1, 1)
#: Longest id (or open enum value) a model accepts, in characters.
MAX_ID_LENGTH = 1024
#: Most digits an integer id or code may have (a 64-bit integer has at most 20).
MAX_INT_DIGITS = 20
_INT_BOUND = 10**MAX_INT_DIGITS
_INTEGER_TEXT = re.compile(r"[+-]?\d{1,20}")
_INT64_MIN = -(2**63)
_INT64_MAX = 2**64 - 1  # unsigned 64-bit ids exist too


def _as_utc(value: datetime) -> datetime:
    # Providers that send naive times (Fax.Plus "YYYY-MM-DD HH:mm:ss") mean UTC. (The same
    # instant as an offset from the epoch: a quarter of the cost of ``replace(tzinfo=...)`` or
    # of the constructor, and this runs per field.)
    tz = value.tzinfo
    if tz is _UTC:
        return value
    if tz is None:
        return _EPOCH + (value - _NAIVE_EPOCH)
    try:
        return value.astimezone(_UTC)
    except OverflowError:
        # 0001-01-01T00:00+05:00 or 9999-12-31T23:59-05:00: no such time in UTC.
        raise ValueError("time is out of range (years 1-9999) once converted to UTC") from None


def _exact_int(value: object) -> object:
    # A float has already lost the low bits of a 64-bit id: refuse it rather than store a
    # neighbour's id. Digit strings (GET query strings) are exact and accepted.
    if isinstance(value, bool):
        raise ValueError("must be an integer, not a boolean")
    if isinstance(value, int):
        if not -_INT_BOUND < value < _INT_BOUND:
            raise ValueError(f"must be an integer of at most {MAX_INT_DIGITS} digits")
        return value
    if isinstance(value, float):
        raise ValueError("must be an integer; a float cannot hold a 64-bit id exactly")
    if isinstance(value, str) and _INTEGER_TEXT.fullmatch(value.strip()):
        return int(value)
    raise ValueError("must be an integer")


def _gregorian(value: object) -> datetime:
    if isinstance(value, datetime):
        return _as_utc(value)
    if isinstance(value, bool):
        raise ValueError("must be Gregorian seconds, not a boolean")
    if isinstance(value, str):
        text = value.strip()
        if not _INTEGER_TEXT.fullmatch(text):
            raise ValueError("must be Gregorian seconds (an integer)")
        value = int(text)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int):
        raise ValueError("must be Gregorian seconds (an integer)")
    try:
        return _EPOCH + timedelta(seconds=value - GREGORIAN_UNIX_OFFSET)
    except OverflowError:
        raise ValueError("Gregorian seconds out of range") from None


def _gregorian_seconds(value: datetime) -> int | float:
    # Back to the wire form in JSON, so a dump validates again. (Without a serializer of its
    # own the plain validator's inherited datetime one warned on every model_dump_json().)
    seconds = (_as_utc(value) - _EPOCH).total_seconds() + GREGORIAN_UNIX_OFFSET
    return int(seconds) if seconds.is_integer() else seconds


def _empty_as_dict(value: object) -> object:
    # Kazoo's form encoding can leave an empty object as "key=" (or drop it entirely).
    return {} if value == "" or value is None else value


#: A timezone-aware UTC datetime; naive input is taken as UTC.
UTCDateTime = Annotated[datetime, AfterValidator(_as_utc)]


class _FlexibleIdSchema:
    """:data:`FlexibleId` checked in pydantic's core, with no Python call per field.

    Ids arrive as numbers on some pages and strings on others; they are kept exact, as text:
    text of at most :data:`MAX_ID_LENGTH` characters as it is, an integer within
    :data:`MAX_INT_DIGITS` digits as its decimal text (never a boolean, never a float, which
    has lost digits already), else whatever a lax ``str`` takes (bytes, in Python mode).
    """

    __slots__ = ()

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        text = core_schema.str_schema(max_length=MAX_ID_LENGTH, strict=True)
        number = core_schema.chain_schema(
            [
                core_schema.int_schema(strict=True, gt=-_INT_BOUND, lt=_INT_BOUND),
                core_schema.str_schema(coerce_numbers_to_str=True),
            ]
        )
        lax = core_schema.str_schema(max_length=MAX_ID_LENGTH)
        return core_schema.union_schema(
            [text, number, lax],
            mode="left_to_right",
            custom_error_type="flexible_id",
            custom_error_message=(
                f"an id must be text of at most {MAX_ID_LENGTH} characters or an integer of "
                f"at most {MAX_INT_DIGITS} digits"
            ),
        )

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        return {"maxLength": MAX_ID_LENGTH, "type": "string"}


#: An identifier sent as a number or a string, kept exactly as text (at most
#: :data:`MAX_ID_LENGTH` characters, or :data:`MAX_INT_DIGITS` digits).
FlexibleId = Annotated[str, _FlexibleIdSchema()]

#: An identifier sent as text, at most :data:`MAX_ID_LENGTH` characters.
IdText = Annotated[str, StringConstraints(max_length=MAX_ID_LENGTH)]

#: An integer kept exact up to :data:`MAX_INT_DIGITS` digits: floats refused, digit strings
#: accepted.
ExactInt = Annotated[int, BeforeValidator(_exact_int)]

#: A count, duration or code: an integer within the 64-bit range (signed or unsigned).
Int64 = Annotated[int, Field(ge=_INT64_MIN, le=_INT64_MAX)]

#: Kazoo's ``timestamp``: seconds since 0000-01-01 (Unix = value - 62167219200), as aware UTC;
#: dumped as that integer in JSON (the datetime in Python mode).
GregorianSeconds = Annotated[
    datetime,
    PlainValidator(_gregorian),
    PlainSerializer(_gregorian_seconds, return_type=int, when_used="json"),
    WithJsonSchema({"type": "integer", "description": "Gregorian seconds"}),
]

#: An object that may arrive as ``""`` from a form body (taken as ``{}``).
FormDict = Annotated[dict[str, Any], BeforeValidator(_empty_as_dict)]


class OpenEnum:
    """Metadata for an ``Annotated[MyEnum | str, OpenEnum(MyEnum)]`` field that never fails on a
    value the provider adds later.

    Known values become members of the enum; new ones are kept as they came (text, or an integer
    for integer enums), so a new status never costs an event. Compare with members
    (``status == FaxStatus.SUCCESS``) or raw values; both work since the enums subclass
    ``str``/``int``.
    """

    __slots__ = ("enum", "_is_int", "_members", "_wire_type")

    def __init__(self, enum: type[Enum]) -> None:
        self.enum = enum
        self._is_int = issubclass(enum, int)
        self._wire_type: type = int if self._is_int else str
        self._members: dict[object, Enum] = {member.value: member for member in enum}

    def validate(self, value: object) -> object:
        """The member for a known value, the value itself for a new one."""
        if type(value) is self._wire_type:  # the common case: one look-up (bool is not int here)
            member = self._members.get(value)
            return member if member is not None else self._new(value)
        if isinstance(value, self.enum):
            return value
        if self._is_int and isinstance(value, str) and _INTEGER_TEXT.fullmatch(value.strip()):
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int if self._is_int else str):
            raise ValueError(f"must be {'an integer' if self._is_int else 'text'}")
        try:
            return self.enum(value)
        except ValueError:
            return self._new(value)

    def _new(self, value: Any) -> object:
        # A value nobody knows yet is kept as it came, within the size any real one has: it
        # becomes part of idempotency keys and log lines.
        if self._is_int:
            if not -_INT_BOUND < value < _INT_BOUND:
                raise ValueError(f"must be an integer of at most {MAX_INT_DIGITS} digits")
        elif len(value) > MAX_ID_LENGTH:
            raise ValueError(f"must be text of at most {MAX_ID_LENGTH} characters")
        return value

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        if self._is_int:
            return core_schema.no_info_plain_validator_function(self.validate)
        # A text enum in pydantic's core, with no Python call per field: a member for a known
        # value, else the text itself within its cap (the rules of :meth:`validate`).
        return core_schema.union_schema(
            [
                core_schema.enum_schema(self.enum, list(self.enum), sub_type="str"),
                core_schema.str_schema(max_length=MAX_ID_LENGTH, strict=True),
            ],
            mode="left_to_right",
            custom_error_type="open_enum",
            custom_error_message=f"must be text of at most {MAX_ID_LENGTH} characters",
        )

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        kind = "integer" if self._is_int else "string"
        return {"anyOf": [{"enum": [m.value for m in self.enum]}, {"type": kind}]}


class WireModel(BaseModel):
    """Base of provider models whose wire names are already Python names (Kazoo, Fax.Plus).

    Unknown fields are kept (``model_extra``), never dropped.
    """

    model_config = ConfigDict(extra="allow", populate_by_name=True, defer_build=True)


class CamelModel(BaseModel):
    """Base of models whose wire names are camelCase: ``messageId`` is read into ``message_id``.

    ``model_dump(by_alias=True)`` gives the wire names back; unknown fields are kept.
    """

    model_config = ConfigDict(
        extra="allow", populate_by_name=True, alias_generator=to_camel, defer_build=True
    )
