"""The busy commands' fast load (blueprints/socket_protocol.py) takes only what the schema takes, as the schema loads it.

Any frame it loads must load to the same command through the schema; any frame the schema refuses it must
leave to the schema (which words the error). Generated frames mix the commands' own fields, unknown ones,
and values at and beyond every bound.
"""
from hypothesis import given, settings
from hypothesis import strategies as st
from marshmallow import ValidationError

from blueprints.socket_protocol import _COMMAND_LOADERS, fast_load
from models.base import BIGINT_MAX, ID_MAX
from models.conversation import CLIENT_ID_MAX_LEN, MESSAGE_MAX_LEN
from schemas.events import REF_MAX_LEN, CommandType
from tests.passes import same_on_every_database

FAST = [CommandType.MESSAGE_SEND, CommandType.TYPING, CommandType.READ, CommandType.PING]
KEYS = ["type", "ref", "conversation_id", "client_id", "text", "typing", "seq", "attachment_ids", "stream", "extra"]

ints = st.sampled_from([-1, 0, 1, 2, ID_MAX, ID_MAX + 1, BIGINT_MAX, BIGINT_MAX + 1, 10 ** 30]) | st.integers()
texts = (st.sampled_from(["", "a", "x" * REF_MAX_LEN, "x" * (REF_MAX_LEN + 1), "x" * CLIENT_ID_MAX_LEN,
                          "x" * (CLIENT_ID_MAX_LEN + 1), "x" * MESSAGE_MAX_LEN, "x" * (MESSAGE_MAX_LEN + 1),
                          "nul\0", "lone \ud800", "é", "5", "true"]) | st.text(max_size=20))
values = ints | texts | st.booleans() | st.none() | st.floats(allow_nan=False) | st.lists(ints, max_size=2) \
    | st.dictionaries(st.text(max_size=3), ints, max_size=1)


FIELDS = {CommandType.MESSAGE_SEND: ["ref", "conversation_id", "client_id", "text"],
          CommandType.TYPING: ["ref", "conversation_id", "typing"], CommandType.READ: ["ref", "conversation_id", "seq"],
          CommandType.PING: ["ref"]}


@st.composite
def frames(draw):
    command = draw(st.sampled_from(FAST))
    if draw(st.booleans()):  # any keys
        frame = draw(st.dictionaries(st.sampled_from(KEYS), values, max_size=6))
    else:  # the command's own fields, most of them there: many of these frames are well formed
        frame = {key: draw(values) for key in FIELDS[command] if draw(st.integers(0, 5))}
    frame["type"] = command.value
    return command, frame


@same_on_every_database
@settings(max_examples=3000, deadline=None)
@given(frames())
def test_the_fast_load_agrees_with_the_schema(case):
    command, frame = case
    fast = fast_load(dict(frame))
    try:
        loaded = _COMMAND_LOADERS[command].load(dict(frame))
    except ValidationError:
        assert fast is None, frame
        return
    if fast is not None:
        assert fast == loaded, frame


def test_the_usual_frames_take_the_fast_path():
    assert fast_load({"type": "message.send", "ref": "m1", "conversation_id": 7, "client_id": "c1",
                      "text": "hello"}) is not None
    assert fast_load({"type": "typing", "conversation_id": 7, "typing": True}) is not None
    assert fast_load({"type": "read", "conversation_id": 7, "seq": 0}) is not None
    assert fast_load({"type": "ping", "ref": "p"}) is not None
    # Those the schema must see: an unknown field, a value it converts, an empty text (attachments decide).
    assert fast_load({"type": "ping", "extra": 1}) is None
    assert fast_load({"type": "typing", "conversation_id": "7", "typing": True}) is None
    assert fast_load({"type": "message.send", "conversation_id": 7, "client_id": "c1", "text": ""}) is None
