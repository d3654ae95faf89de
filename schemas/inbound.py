"""What every inbound JSON document must satisfy before any schema sees it, REST body and socket frame alike.

JSON nested deeper than JSON_DEPTH_MAX is refused before it is parsed: Python's parser recurses once per
level and fails with RecursionError on a 10,000-deep document. Strings that cannot be stored are found
here too: a lone surrogate (a JSON escape like \\ud800) cannot be encoded as UTF-8, and PostgreSQL text
columns refuse NUL characters.
"""
import json
import re
from collections.abc import Mapping

# Our own documents nest a handful of levels (a component's configuration is the deepest).
JSON_DEPTH_MAX = 32
# The characters that open or close a level, a string, or escape within one.
_SPECIAL = re.compile(r'[\[\]{}"\\]')
BAD_TEXT_MESSAGE = "Must be valid text: no lone surrogates (unpaired \\ud800-\\udfff escapes) and no NUL characters."


class JSONTooDeep(ValueError):
    """A JSON document nested deeper than JSON_DEPTH_MAX."""

    def __init__(self):
        super().__init__(f"JSON nested deeper than {JSON_DEPTH_MAX} levels")


def check_depth(text, limit=JSON_DEPTH_MAX):
    """Raise JSONTooDeep when the document in text opens more than limit arrays or objects at once."""
    if isinstance(text, (bytes, bytearray)):
        text = text.decode(json.detect_encoding(text), "replace")
    if text.count("[") + text.count("{") <= limit:  # the usual case: too few brackets to matter
        return
    depth, in_string, escaped_at = 0, False, -1
    for match in _SPECIAL.finditer(text):  # linear: one step per special character, never a backtrack
        at = match.start()
        if at == escaped_at:
            continue
        char = text[at]
        if in_string:
            if char == "\\":
                escaped_at = at + 1
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > limit:
                raise JSONTooDeep()
        elif char in "]}":
            depth -= 1


def load_json(data, loads=json.loads):
    """json.loads with bounded nesting; every failure is a ValueError (JSONTooDeep when too deep).

    loads: another parser that answers as json.loads does (the socket's services.wire.loads)."""
    check_depth(data)
    try:
        return loads(data)
    except RecursionError as error:  # not reachable within the depth bound; kept a client error all the same
        raise JSONTooDeep() from error


def is_bad_text(value):
    """True when value cannot be stored as text: a lone surrogate or a NUL character."""
    if "\0" in value:
        return True
    if value.isascii():
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def has_bad_text(value):
    """True when any string in value (keys too, at any depth) is bad text."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if is_bad_text(item):
                return True
        elif isinstance(item, Mapping):
            for key in item:
                if isinstance(key, str) and is_bad_text(key):
                    return True
                stack.append(item[key])
        elif isinstance(item, (list, tuple)):
            stack.extend(item)
    return False


def printable_key(key):
    """A key that can itself be sent back in an error (a lone surrogate is written as its escape)."""
    return key.encode("utf-8", "backslashreplace").decode("utf-8") if isinstance(key, str) else str(key)


def bad_text_errors(data):
    """Per-field errors for every top-level field of data holding bad text; {} when there is none."""
    if isinstance(data, Mapping):
        return {printable_key(key): [BAD_TEXT_MESSAGE] for key in data
                if (isinstance(key, str) and is_bad_text(key)) or has_bad_text(data[key])}
    return {"_schema": [BAD_TEXT_MESSAGE]} if has_bad_text(data) else {}
