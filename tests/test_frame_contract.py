"""The frame checker itself: it refuses what the contract does not allow, on both hooks."""
import copy
import json

import pytest

from tests import frame_contract
from tests.frame_contract import ContractViolation, FrameValidator

GOOD_MESSAGE = {
    "type": "message.created", "stream": "conversation:1", "pos": 3, "at": "2026-01-01T10:00:00+00:00",
    "data": {"message": {"id": 7, "conversation_id": 1, "seq": 3, "sender_type": "agent", "sender_id": 2,
                         "sender_name": "Ann", "text": "hi", "data": None, "client_id": "c1",
                         "created_at": "2026-01-01T10:00:00+00:00"}},
}


@pytest.fixture(scope="module")
def checker():
    return FrameValidator()


def test_every_server_frame_type_of_schemas_events_is_declared(checker):
    from schemas.events import EVENT_SCHEMAS, ServerFrame

    declared = {str(kind) for kind in EVENT_SCHEMAS} | {str(kind) for kind in ServerFrame}
    assert declared == set(checker.validators)


def test_a_valid_frame_passes(checker):
    checker.check(copy.deepcopy(GOOD_MESSAGE))
    checker.check({"type": "pong", "ref": "p"})
    checker.check({"type": "error", "code": "not_found", "status": 404, "message": "Not found", "ref": "x"})


def bad(path, value):
    frame = copy.deepcopy(GOOD_MESSAGE)
    target = frame
    for key in path[:-1]:
        target = target[key]
    if value is KeyError:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return frame


@pytest.mark.parametrize("frame, expected", [
    ({"type": "message.creatd", "stream": "x", "data": {}}, "not declared as a server frame"),
    ({"stream": "x", "data": {}}, "None is not declared"),
    ({"type": "conversation.takeover", "conversation_id": 1}, "not declared as a server frame"),  # a command
    (bad(["pos"], KeyError), "'pos' is a required property"),
    (bad(["pos"], 0), "less than the minimum"),
    (bad(["at"], "yesterday"), "is not a 'date-time'"),
    (bad(["data", "message", "seq"], "3"), "is not of type 'integer'"),
    (bad(["data", "message", "sender_type"], "robot"), "is not one of"),
    (bad(["data", "message", "surprise"], 1), "Additional properties are not allowed"),
    (bad(["data", "message"], None), "is not of type 'object'"),
    ({"type": "hello", "kind": "user", "id": 1}, "'streams' is a required property"),
    ([1, 2], "not a JSON object"),
])
def test_an_invalid_frame_is_refused_with_a_clear_message(checker, frame, expected):
    with pytest.raises(ContractViolation) as refused:
        checker.check(frame)
    assert expected in str(refused.value), str(refused.value)


def test_text_that_is_not_json_is_refused(checker):
    with pytest.raises(ContractViolation, match="not JSON"):
        checker.check_text("{not json")


def test_the_server_hook_records_an_invalid_frame_the_server_sends():
    """The installed server-side wrapper sees what the send path writes, and records what breaks the contract."""
    owner, name = frame_contract._lookup(frame_contract.SERVER_SEND_HOOK[0])
    send_path = getattr(owner, name)
    assert getattr(send_path, "_frame_contract", False), "the server-side hook is not installed"
    ledger = frame_contract.ledger
    before = ledger.server_frames
    assert json.loads(send_path({"type": "pong", "ref": "ok"})) == {"type": "pong", "ref": "ok"}
    send_path({"type": "pong", "ref": 5})
    with ledger.lock:
        violations, ledger.violations = list(ledger.violations), []  # expected here: do not fail this test
    assert ledger.server_frames == before + 2
    assert len(violations) == 1 and "'pong' frame does not match" in str(violations[0]), violations


def test_the_server_hook_fails_loudly_when_the_send_path_is_gone():
    with pytest.raises(frame_contract.HookNotFound, match="Point SERVER_SEND_HOOK"):
        frame_contract.install_server_hook(("blueprints.ws:no_such_function", "no_such_module:send"))


def test_the_client_hook_refuses_an_invalid_frame_and_records_it(server, app):
    """A frame outside the contract that reaches a test socket raises there, and fails the test at its end."""
    import websocket

    from tests.factories import make_user, make_workspace
    from services.sockets import do_issue_ticket

    workspace, admin = make_workspace()
    ticket = do_issue_ticket(admin)["ticket"]
    sock = websocket.create_connection(server.url.replace("http://", "ws://") + f"/ws?ticket={ticket}", timeout=10,
                                       suppress_origin=True)
    try:
        assert json.loads(sock.recv())["type"] == "hello"
        owner, name = frame_contract._lookup(frame_contract.SERVER_SEND_HOOK[0])
        # Make the server write one frame the contract does not know, as a refactor gone wrong might.
        wrapped = getattr(owner, name)
        original = wrapped.__wrapped__
        try:
            setattr(owner, name, lambda frame: original({**frame, "type": "pong.v2"}))
            sock.send(json.dumps({"type": "ping", "ref": "p"}))
            with pytest.raises(ContractViolation, match="'pong.v2' is not declared"):
                sock.recv()
        finally:
            setattr(owner, name, wrapped)
    finally:
        sock.close()
    ledger = frame_contract.ledger
    with ledger.lock:
        violations, ledger.violations = list(ledger.violations), []  # expected here: do not fail this test
    assert len(violations) == 1 and "pong.v2" in str(violations[0])


def test_waivers_let_through_only_their_exact_value():
    strict = FrameValidator(waivers=[])
    with pytest.raises(ContractViolation, match="None is not of type 'string'"):
        strict.check({"type": "ack", "ref": None, "data": {}})
    checker = FrameValidator(waivers=[("ack", ("ref",), None, "a waiver for this test only")])
    checker.check({"type": "ack", "ref": None, "data": {}})
    with pytest.raises(ContractViolation, match="5 is not of type 'string'"):
        checker.check({"type": "ack", "ref": 5, "data": {}})
    with pytest.raises(ContractViolation, match="'data' is a required property"):
        checker.check({"type": "ack", "ref": None})


def test_replies_to_commands_without_ref_carry_no_ref_and_follow_the_contract(app):
    """ack and pong name the command's ref only when it had one: never "ref": null, which the document forbids."""
    from blueprints.socket_protocol import SocketSession
    from tests.factories import make_workspace

    _, admin = make_workspace()
    session = SocketSession(admin, push=lambda stream, frame: None)
    try:
        without = [session.handle_text(json.dumps({"type": "resume", "positions": {}}))[0],
                   session.handle_text(json.dumps({"type": "ping"}))[0]]
        with_ref = [session.handle_text(json.dumps({"type": "resume", "positions": {}, "ref": "r1"}))[0],
                    session.handle_text(json.dumps({"type": "ping", "ref": "r2"}))[0]]
    finally:
        session.unsubscribe_all()
    assert [frame["type"] for frame in without] == ["ack", "pong"]
    assert all("ref" not in frame for frame in without), without
    assert [frame.get("ref") for frame in with_ref] == ["r1", "r2"]
    checker = frame_contract.validator()
    for frame in without + with_ref:
        checker.check(frame)
    assert frame_contract.KNOWN_DEVIATIONS == []

# -- the document itself: AsyncAPI 3.0, typed and exemplified --------------------------------------------------


@pytest.fixture(scope="module")
def document():
    return frame_contract._load_document()


def _walk(node, path=()):
    if isinstance(node, dict):
        yield path, node
        for key, value in node.items():
            yield from _walk(value, path + (key,))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _walk(value, path + (index,))


def test_the_document_is_asyncapi_3_without_openapi_nullable(document):
    assert document["asyncapi"].startswith("3.")
    nullable = ["/".join(map(str, path)) for path, node in _walk(document) if "nullable" in node]
    assert nullable == [], f"`nullable` is OpenAPI; use type: [X, \"null\"]: {nullable[:5]}"


def test_every_message_has_a_title_a_description_and_examples_that_validate(document):
    """Every example is a frame its payload schema accepts: a generated client can trust them."""
    registry = frame_contract._registry(document)
    messages = document["components"]["messages"]
    assert messages
    for message_id, message in messages.items():
        assert message.get("name") == message_id, message_id  # the key is the id (3.0 has no messageId field)
        assert message.get("title") and message.get("summary") and message.get("description"), message_id
        assert message.get("examples"), f"{message_id} has no example"
        validator = frame_contract.message_validator(document, message_id, registry)
        for example in message["examples"]:
            errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(example["payload"])]
            assert errors == [], f"example {example['name']!r} of {message_id}: {errors}"


def test_server_frame_examples_pass_the_frame_checker(document, checker):
    server = {m for ids in frame_contract.server_frame_messages(document).values() for m in ids}
    for message_id in server:
        for example in document["components"]["messages"][message_id]["examples"]:
            checker.check(example["payload"], where=f"example of {message_id}")


def test_each_principal_has_its_send_and_receive_operations(document):
    from schemas.events import commands_for

    channel_messages = document["channels"]["socket"]["messages"]
    messages = document["components"]["messages"]
    for principal, kind in (("admin", "user"), ("agent", "user"), ("visitor", "visitor")):
        label = principal.title()
        receive, send = document["operations"][f"receive{label}Commands"], document["operations"][f"send{label}Frames"]
        assert (receive["action"], send["action"]) == ("receive", "send")
        received = [ref["$ref"].rsplit("/", 1)[-1] for ref in receive["messages"]]
        assert all(message_id in channel_messages for message_id in received)
        commands = [messages[m]["examples"][0]["payload"]["type"] for m in received]
        assert commands == [c.value for c in commands_for(kind)], principal
        sent = {ref["$ref"].rsplit("/", 1)[-1] for ref in send["messages"]}
        acks = {m for m in sent if m.endswith("Ack")}
        assert len(acks) == len(commands) - 1, principal  # every command but ping (answered by pong) has its ack
        assert ("liveChatRequestEvent" in sent) == (kind == "user")


def test_message_data_and_error_details_are_typed(checker):
    def message(sender_type, data):
        frame = copy.deepcopy(GOOD_MESSAGE)
        frame["data"]["message"].update(sender_type=sender_type, data=data)
        return frame

    checker.check(message("system", {"event": "call_ended", "call_id": 4, "duration_s": 0, "ended_by": "system",
                                     "end_reason": "no_answer"}))
    checker.check(message("visitor", {"action": "skip", "button_id": None}))
    for data in ({"event": "exploded"}, {"action": "dance", "button_id": None}, {"anything": 1},
                 {"component_id": 1, "component_type": "message", "stage": "offline", "buttons": [], "form": None}):
        with pytest.raises(ContractViolation):
            checker.check(message("bot", data))
    checker.check({"type": "error", "code": "validation_error", "status": 422, "message": "m",
                   "errors": {"positions": {"x": {"key": ["Longer than maximum length 64."]}}}})
    with pytest.raises(ContractViolation):
        checker.check({"type": "error", "code": "validation_error", "status": 422, "message": "m",
                       "errors": {"text": "not a list"}})


def test_an_ack_must_match_one_command_s_ack(checker):
    checker.check({"type": "ack", "ref": "s", "data": {"message_id": 1, "seq": 2, "created": True}})
    with pytest.raises(ContractViolation, match="closest of its"):
        checker.check({"type": "ack", "ref": "s", "data": {"message_id": 1, "seq": 2}})
