"""Socket frames and broker payloads as JSON: written and read with orjson, answered as json would.

orjson does in a few microseconds what the standard library does in tens. Where the two would disagree,
the standard library decides, so a frame reads and writes as it always did:

- reading: orjson refuses what json takes (a lone surrogate escape, NaN, 1e400) and reads an integer
  wider than 64 bits as a float; such documents are read again by json.
- writing: datetimes and anything else orjson does not know go through str(), as json's default=str
  did; a string orjson cannot write (a lone surrogate) sends the whole frame through json.
"""
import json
import re

import orjson

_DUMP_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS
# Nineteen digits in a row may be an integer wider than 64 bits: json reads those as int, orjson as float.
_WIDE_NUMBER = re.compile(rb"\d{19}")
_WIDE_NUMBER_TEXT = re.compile(r"\d{19}")


def dumpb(frame):
    """The frame as UTF-8 JSON bytes (a broker payload)."""
    try:
        return orjson.dumps(frame, default=str, option=_DUMP_OPTIONS)
    except TypeError:  # orjson.JSONEncodeError: e.g. a lone surrogate in a string
        return json.dumps(frame, separators=(",", ":"), default=str).encode("utf-8", "surrogatepass")


def dumps(frame):
    """The frame as JSON text (a socket's text frame)."""
    try:
        return orjson.dumps(frame, default=str, option=_DUMP_OPTIONS).decode()
    except TypeError:
        return json.dumps(frame, separators=(",", ":"), default=str)


def loads(data):
    """json.loads's answer for data (str or bytes), from orjson whenever the two agree."""
    wide = _WIDE_NUMBER if isinstance(data, (bytes, bytearray)) else _WIDE_NUMBER_TEXT
    if isinstance(data, (str, bytes, bytearray)) and wide.search(data) is None:
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError:
            pass  # json decides: it takes some of what orjson refuses, and words its own errors
    return json.loads(data)
