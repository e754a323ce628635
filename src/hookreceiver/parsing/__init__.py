"""Body decoding: JSON, Kazoo bracket forms, and streaming multipart with limits."""

from .attachment import Attachment
from .body import Body, BodySink, BufferedSink
from .form import decode_bracket_form, nest_bracket_pairs
from .json import decode_json, decode_json_object
from .multipart import MultipartSink, multipart_boundary

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
