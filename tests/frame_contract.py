"""Every frame the server sends is checked against the committed contract, openapi/asyncapi.json.

The AsyncAPI 3.0 document (generated from schemas/events.py and schemas/asyncapi.py by `make spec`,
tests/test_spec.py keeps it current) declares the server's frames as the messages of its `send`
operations (one per principal), each with a payload schema in components/schemas (JSON Schema draft-07,
AsyncAPI's default schema format). A frame whose `type` (the `const` of its payload's `type`) is not
declared there, or that matches none of the messages of its type (several for `ack`: one per command),
is a contract violation. The payloads are checked with jsonschema's Draft7Validator, $refs resolved in
the document itself.

Two hooks feed the checker (both installed by tests/conftest.py for the whole run):

- client side: websocket-client's WebSocket.recv_data, which every socket helper of the tests reads
  through (tests/live.Client.recv and close_code, webrtc_helpers.SignalSocket, raw
  websocket.create_connection sockets), plus the frames tests/call_helpers.Peer gets from a
  SocketSession driven without a socket;
- server side: SERVER_SEND_HOOK below, the one function every frame passes through on its way out of
  an in-process server (tests/live.ThreadServer). The gunicorn servers run in other processes: their
  frames are checked on the client side only.

Violations raise ContractViolation where a test thread reads the frame and are recorded either way,
so a frame read (or sent) in a background thread still fails the test that was running.
"""
import importlib
import json
import threading
from pathlib import Path

import jsonschema
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7

ROOT = Path(__file__).resolve().parent.parent
ASYNCAPI = ROOT / "openapi" / "asyncapi.json"
DOCUMENT_URI = "urn:livechat:asyncapi"  # the document's base URI for resolving its internal $refs

# The function every outgoing frame passes through in the server, as "module:attribute" (dotted
# attributes allowed). It takes the frame (a dict) and returns the text written to the socket.
# When a refactor moves it, point this at the new place (the first candidate that exists is used).
SERVER_SEND_HOOK = ("blueprints.ws:_dump",)

# Broker-internal frames a SocketSession hears but never sends (services/broker.py RESYNC).
INTERNAL_TYPES = {"_resync"}


# Known mismatches between the server and the committed document, waived so the rest is still checked.
# Each is (frame type, path in the frame, the offending value, why): only that exact value at that
# exact path is let through, and tests/test_frame_contract.py fails once the server stops doing it
# (then delete the entry). Found by this checker on its first run; to be settled in schemas/ or services/.
KNOWN_DEVIATIONS = []
waived = {}  # deviation text -> times let through during the run


class ContractViolation(AssertionError):
    """A frame that the committed AsyncAPI document does not allow."""


def _load_document():
    return json.loads(ASYNCAPI.read_text())


def server_frame_messages(document=None):
    """{frame type: [message id, ...]} for every message of the document's send operations.

    The frame type is the `const` of the payload's `type` property. Several messages share one type where
    the frame does not name what it answers: one `ack` message per command, correlated by `ref`.
    """
    document = document or _load_document()
    channels, messages = document["channels"], document["components"]["messages"]
    out = {}
    for operation in document["operations"].values():
        if operation["action"] != "send":
            continue
        for ref in operation["messages"]:
            message_id = _resolve(document, ref["$ref"])["$ref"].rsplit("/", 1)[-1]
            payload = _resolve(document, messages[message_id]["payload"]["$ref"])
            kind = payload["properties"]["type"]["const"]
            if message_id not in out.setdefault(kind, []):
                out[kind].append(message_id)
    return out


def _resolve(document, pointer):
    if not pointer.startswith("#/"):
        raise ValueError(f"unexpected $ref {pointer!r} in {ASYNCAPI}")
    node = document
    for part in pointer[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def message_validator(document, message_id, registry=None):
    """A JSON Schema (draft-07, AsyncAPI's default schema format) validator of one message's payload."""
    registry = registry or _registry(document)
    return jsonschema.Draft7Validator({"$ref": f"{DOCUMENT_URI}#/components/messages/{message_id}/payload"},
                                      registry=registry, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER)


def _registry(document):
    resource = Resource.from_contents(document, default_specification=DRAFT7)
    return Registry().with_resource(DOCUMENT_URI, resource)


_validator = None
_validator_lock = threading.Lock()
_waived_lock = threading.Lock()


class FrameValidator:
    def __init__(self, document=None, waivers=None):
        document = document or _load_document()
        self.waivers = KNOWN_DEVIATIONS if waivers is None else waivers
        self.messages = server_frame_messages(document)
        registry = _registry(document)
        # frame type -> [(message id, validator)]: a frame is valid when one of its type's messages accepts it.
        self.validators = {
            kind: [(message_id, message_validator(document, message_id, registry)) for message_id in message_ids]
            for kind, message_ids in self.messages.items()
        }

    def check(self, frame, where="a frame"):
        """Raise ContractViolation unless frame is a server frame the document declares, as declared."""
        if not isinstance(frame, dict):
            raise ContractViolation(f"{where}: not a JSON object: {_short(frame)}")
        kind = frame.get("type")
        variants = self.validators.get(kind)
        if variants is None:
            raise ContractViolation(
                f"{where}: frame type {kind!r} is not declared as a server frame in {ASYNCAPI.relative_to(ROOT)} "
                f"(declared: {', '.join(sorted(self.validators))}): {_short(frame)}")
        closest = None
        for message_id, validator in variants:
            errors = list(validator.iter_errors(frame))
            left = [e for e in errors if not self._matches(kind, e)]
            if not left:
                self._count_waived(kind, errors)
                return
            rank = (len(left), -max(len(e.absolute_path) for e in left))
            if closest is None or rank < closest[0]:
                closest = (rank, message_id, left)
        _, message_id, errors = closest
        errors.sort(key=lambda e: list(map(str, e.absolute_path)))
        lines = [f"  at {'/'.join(map(str, e.absolute_path)) or '(frame)'}: {e.message}" for e in errors[:5]]
        closest_note = f" (closest of its {len(variants)} messages: {message_id})" if len(variants) > 1 else ""
        raise ContractViolation(
            f"{where}: {kind!r} frame does not match its schema in {ASYNCAPI.relative_to(ROOT)}{closest_note}:\n"
            + "\n".join(lines) + f"\n  frame: {_short(frame)}")

    def _waiver(self, kind, error):
        path = tuple(error.absolute_path)
        for waiver_kind, waiver_path, value, why in self.waivers:
            if kind == waiver_kind and path == waiver_path and error.instance is value:
                return why
        return None

    def _matches(self, kind, error):
        return self._waiver(kind, error) is not None

    def _count_waived(self, kind, errors):
        for error in errors:
            why = self._waiver(kind, error)
            with _waived_lock:
                waived[why] = waived.get(why, 0) + 1

    def check_text(self, text, where="a frame"):
        try:
            frame = json.loads(text)
        except ValueError as error:
            raise ContractViolation(f"{where}: not JSON ({error}): {_short(text)}") from None
        self.check(frame, where)
        return frame


def _short(value, limit=600):
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= limit else text[:limit] + "…"


def validator():
    global _validator
    with _validator_lock:
        if _validator is None:
            _validator = FrameValidator()
        return _validator


class Ledger:
    """What the hooks saw during the current test: frames checked and violations, from any thread."""

    def __init__(self):
        self.lock = threading.Lock()
        self.reset()

    def reset(self):
        with self.lock:
            self.violations = []
            self.client_frames = 0          # text frames read by any client socket
            self.in_process_client_frames = 0  # of those, from an in-process server (ThreadServer)
            self.server_frames = 0          # frames that left an in-process server through the hook

    def add(self, counter):
        with self.lock:
            setattr(self, counter, getattr(self, counter) + 1)
            totals[counter] = totals.get(counter, 0) + 1


totals = {}  # the same counters over the whole run
ledger = Ledger()
# Ports of the in-process servers (tests/live.ThreadServer) running now.
in_process_ports = set()


def check_received(text, port=None):
    """A text frame a client read: check it, count it, record and raise a violation."""
    ledger.add("client_frames")
    if port is not None and port in in_process_ports:
        ledger.add("in_process_client_frames")
    try:
        return validator().check_text(text, where="frame received by a test socket")
    except ContractViolation as violation:
        _record(violation)
        raise


def check_session_frame(frame, where, raise_=True):
    """A frame a SocketSession produced for a socket (tests driving sessions directly, no socket)."""
    if isinstance(frame, dict) and frame.get("type") in INTERNAL_TYPES:
        return
    try:
        # The socket writes json.dumps(frame, default=str): check what the client would read.
        validator().check(json.loads(json.dumps(frame, default=str)), where=where)
    except ContractViolation as violation:
        _record(violation)
        if raise_:
            raise


def _record(violation):
    with ledger.lock:
        ledger.violations.append(violation)


# -- the client-side hook ---------------------------------------------------------


def install_client_hook():
    """Check every text frame websocket-client's WebSocket hands out (recv and recv_data use it)."""
    import websocket

    cls = websocket.WebSocket
    if getattr(cls.recv_data, "_frame_contract", False):
        return
    original = cls.recv_data

    def recv_data(self, control_frame=False):
        opcode, data = original(self, control_frame)
        if opcode == websocket.ABNF.OPCODE_TEXT:
            port = None
            try:
                port = self.sock.getpeername()[1] if self.sock is not None else None
            except OSError:
                pass
            check_received(data.decode("utf-8") if isinstance(data, bytes) else data, port)
        return opcode, data

    recv_data._frame_contract = True
    cls.recv_data = recv_data


# -- the server-side hook ---------------------------------------------------------


class HookNotFound(RuntimeError):
    pass


def _lookup(target):
    module_name, _, attribute = target.partition(":")
    try:
        owner = importlib.import_module(module_name)
    except ImportError:
        return None
    names = attribute.split(".")
    for name in names[:-1]:
        owner = getattr(owner, name, None)
        if owner is None:
            return None
    if not callable(getattr(owner, names[-1], None)):
        return None
    return owner, names[-1]


def install_server_hook(targets=SERVER_SEND_HOOK):
    """Wrap the server's send path so every frame it writes is checked. Fails loudly when it is gone."""
    for target in targets:
        found = _lookup(target)
        if found is None:
            continue
        owner, name = found
        original = getattr(owner, name)
        if getattr(original, "_frame_contract", False):
            return target
        def checked(frame, *args, **kwargs):
            text = original(frame, *args, **kwargs)
            ledger.add("server_frames")
            try:
                validator().check_text(text, where=f"frame sent by the server ({target})")
            except ContractViolation as violation:
                # Recorded, not raised: raising here would only close the socket with 1011 mid-test.
                _record(violation)
            return text

        checked._frame_contract = True
        checked.__wrapped__ = original
        setattr(owner, name, checked)
        return target
    raise HookNotFound(
        f"tests/frame_contract.py: none of SERVER_SEND_HOOK {targets} exists any more. Point SERVER_SEND_HOOK "
        "at the function every outgoing WebSocket frame passes through in the server (today the one that turns "
        "a frame dict into the text given to ws.send, in blueprints/ws.py or blueprints/socket_protocol.py).")
