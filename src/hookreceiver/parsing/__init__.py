"""Body decoding: JSON, Kazoo bracket forms, and streaming multipart with limits."""

from .._lazy import lazy_names

# Names load on first use (python-multipart only when a multipart body arrives); type checkers
# read this block.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from .attachment import Attachment
    from .body import Body, BodySink, BufferedSink
    from .form import decode_bracket_form, nest_bracket_pairs
    from .json import decode_json, decode_json_object
    from .multipart import MultipartSink, multipart_boundary

_LAZY = {
    "Attachment": "attachment",
    "Body": "body",
    "BodySink": "body",
    "BufferedSink": "body",
    "MultipartSink": "multipart",
    "decode_bracket_form": "form",
    "decode_json": "json",
    "decode_json_object": "json",
    "multipart_boundary": "multipart",
    "nest_bracket_pairs": "form",
}


__getattr__, __dir__ = lazy_names(__name__, _LAZY, globals())


__all__ = [
    "Attachment",
    "Body",
    "BodySink",
    "BufferedSink",
    "MultipartSink",
    "decode_bracket_form",
    "decode_json",
    "decode_json_object",
    "multipart_boundary",
    "nest_bracket_pairs",
]
