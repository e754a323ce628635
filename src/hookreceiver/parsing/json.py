"""JSON bodies: decoded with the standard library, which keeps every integer exact.

Zipwhip's message ids are 64-bit integers above 2**53; a float-based decoder would corrupt them.
An integer longer than Python's conversion limit (``sys.get_int_max_str_digits()``, 4,300 digits
by default) is refused as a malformed body; the models cap the numbers they keep far lower.
"""

from __future__ import annotations

import json
from typing import Any

from ..errors import MalformedBody

__all__ = ["decode_json", "decode_json_object"]


def decode_json(raw: bytes | str) -> Any:
    """Decode JSON, raising :class:`~hookreceiver.MalformedBody` with a short reason."""
    if not raw:
        raise MalformedBody("body is empty; a JSON document was expected")
    try:
        return json.loads(raw)
    except UnicodeDecodeError:
        raise MalformedBody("body is not valid UTF-8 JSON") from None
    except json.JSONDecodeError as exc:
        raise MalformedBody(f"body is not valid JSON: {exc.msg} at position {exc.pos}") from None
    except RecursionError:
        raise MalformedBody("JSON body is nested too deeply") from None
    except ValueError:
        # The only other ValueError json.loads raises: an integer literal over the interpreter's
        # int/str conversion limit (a guard against quadratic-time conversion).
        raise MalformedBody("JSON body holds an integer with too many digits") from None


def decode_json_object(raw: bytes | str) -> dict[str, Any]:
    """Decode JSON that must be an object (every provider's events are)."""
    value = decode_json(raw)
    if not isinstance(value, dict):
        raise MalformedBody(f"JSON body must be an object, not {type(value).__name__}")
    return value
