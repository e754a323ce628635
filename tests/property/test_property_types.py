"""The shared field types of the provider models under arbitrary input.

Each gives the exact value or a validation error (a 400 once inside a model): never another
exception, and never a value past its cap.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from enum import Enum, IntEnum
from typing import Annotated, Any

import pytest
from bad_input_support import examples
from hypothesis import given, settings
from hypothesis import strategies as st
from mutations import edge_numbers, edge_times, hostile_text
from pydantic import TypeAdapter, ValidationError

from hookreceiver.providers.types import (
    GREGORIAN_UNIX_OFFSET,
    MAX_ID_LENGTH,
    MAX_INT_DIGITS,
    ExactInt,
    FlexibleId,
    FormDict,
    GregorianSeconds,
    IdText,
    Int64,
    OpenEnum,
    UTCDateTime,
)

UTC = timezone.utc
#: Integers at the edges (built without int/str conversion: some are over its 4,300 digits).
edge_ints = st.one_of(
    st.sampled_from([19, 20, 21, 40, 1000, 4300, 4301, 5000]).map(lambda n: 10**n - 1),
    st.sampled_from([2**63, 2**64, -(2**63) - 1, 2**64 - 1, -(10**20), 10**20 - 1]),
)
anything = st.one_of(
    hostile_text,
    st.integers(),
    edge_ints,
    st.floats(),
    st.booleans(),
    st.none(),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)
offsets = st.integers(-24 * 60 + 1, 24 * 60 - 1).map(lambda m: timezone(timedelta(minutes=m)))


def validate(annotation: Any, value: Any) -> Any:
    """The validated value, or ``ValidationError``; anything else fails the test."""
    return TypeAdapter(annotation).validate_python(value)


def validate_json(annotation: Any, text: str) -> Any:
    return TypeAdapter(annotation).validate_json(text)


# Times -----------------------------------------------------------------------------------------


def _in_utc(moment: datetime) -> datetime | None:
    """``moment`` in UTC, or None when that leaves years 1-9999 (computed independently)."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    offset = moment.utcoffset()
    assert offset is not None
    naive = moment.replace(tzinfo=None)
    try:
        return (naive - offset).replace(tzinfo=UTC)
    except OverflowError:
        return None


@settings(max_examples=examples(300))
@given(st.datetimes(timezones=st.none() | st.just(UTC) | offsets))
def test_utc_datetime_is_the_same_instant_or_a_validation_error(moment: datetime) -> None:
    expected = _in_utc(moment)
    for text in (moment.isoformat(), moment):
        if expected is None:
            with pytest.raises(ValidationError, match="out of range"):
                validate(UTCDateTime, text)
            continue
        value = validate(UTCDateTime, text)
        assert value == expected and value.tzinfo is UTC


@given(st.one_of(edge_times, hostile_text, anything))
def test_utc_datetime_takes_any_text(value: Any) -> None:
    try:
        result = validate(UTCDateTime, value)
    except ValidationError:
        return
    assert result.tzinfo is UTC and 1 <= result.year <= 9999


@given(
    st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(1, 1, 2))
    | st.datetimes(min_value=datetime(9999, 12, 31), max_value=datetime(9999, 12, 31, 23, 59, 59)),
    offsets,
)
def test_utc_datetime_at_the_edges_of_the_calendar(moment: datetime, offset: timezone) -> None:
    aware = moment.replace(tzinfo=offset)
    expected = _in_utc(aware)
    try:
        value = validate_json(UTCDateTime, f'"{aware.isoformat()}"')
    except ValidationError:
        assert expected is None
    else:
        assert value == expected


@given(st.one_of(st.integers(), edge_numbers, st.floats(), hostile_text, st.booleans()))
def test_gregorian_seconds_are_exact_or_refused(value: Any) -> None:
    try:
        result = validate(GregorianSeconds, value)
    except ValidationError:
        return
    assert result.tzinfo is UTC
    if type(value) is int:
        epoch = datetime(1970, 1, 1, tzinfo=UTC)
        assert result == epoch + timedelta(seconds=value - GREGORIAN_UNIX_OFFSET)


# Ids and numbers --------------------------------------------------------------------------------


@given(anything)
def test_flexible_id_is_exact_text_within_its_cap(value: Any) -> None:
    try:
        result = validate(FlexibleId, value)
    except ValidationError:
        if isinstance(value, str):
            assert len(value) > MAX_ID_LENGTH
        if type(value) is int:
            assert abs(value) >= 10**MAX_INT_DIGITS
        return
    assert isinstance(result, str) and len(result) <= MAX_ID_LENGTH
    assert result == (value if isinstance(value, str) else str(value))


@given(st.one_of(hostile_text, st.text(min_size=1000, max_size=1100)))
def test_id_text_is_capped(value: str) -> None:
    try:
        assert validate(IdText, value) == value
    except ValidationError:
        assert len(value) > MAX_ID_LENGTH
    else:
        assert len(value) <= MAX_ID_LENGTH


@given(st.one_of(anything, edge_numbers))
def test_exact_int_is_exact_within_twenty_digits(value: Any) -> None:
    try:
        result = validate(ExactInt, value)
    except ValidationError:
        return
    assert type(result) is int and abs(result) < 10**MAX_INT_DIGITS
    assert result == int(value)
    assert not isinstance(value, (float, bool))


@given(st.one_of(anything, edge_numbers))
def test_int64_is_within_64_bits(value: Any) -> None:
    try:
        result = validate(Int64, value)
    except ValidationError:
        return
    assert -(2**63) <= result <= 2**64 - 1


@given(edge_numbers)
def test_json_numbers_at_the_edges_are_exact_or_refused(literal: str) -> None:
    for annotation in (ExactInt, Int64, FlexibleId):
        try:
            result = validate_json(annotation, literal)
        except ValidationError:
            continue
        assert len(literal) <= 2 * MAX_INT_DIGITS
        assert str(result) == str(int(literal))


# Enums and forms -------------------------------------------------------------------------------


class Color(str, Enum):
    RED = "red"


class Code(IntEnum):
    ZERO = 0
    FOUR = 4


@given(anything)
def test_open_enums_keep_new_values_within_their_caps(value: Any) -> None:
    for enum, kind in ((Color, str), (Code, int)):
        annotation = Annotated[enum | kind, OpenEnum(enum)]  # type: ignore[valid-type]
        try:
            result = validate(annotation, value)
        except ValidationError:
            continue
        if isinstance(result, enum):
            continue
        assert type(result) is kind
        if kind is str:
            assert len(result) <= MAX_ID_LENGTH
        else:
            assert abs(result) < 10**MAX_INT_DIGITS


@given(anything)
def test_form_dict_takes_an_empty_form_value_or_an_object(value: Any) -> None:
    try:
        result = validate(FormDict, value)
    except ValidationError:
        assert value not in ("", None) and not isinstance(value, dict)
        return
    assert isinstance(result, dict)
