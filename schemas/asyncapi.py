"""The AsyncAPI document of the WebSocket protocol, generated from schemas/events.py."""
from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin

from schemas.events import (
    COMMAND_SCHEMAS, EVENT_SCHEMAS, REF_MAX_LEN, CommandType, EphemeralType, EventType, ServerFrame,
)

COMMAND_SUMMARIES = {
    CommandType.RESUME: "Subscribe to your streams, replaying what came after the given positions",
    CommandType.SUBSCRIBE: "Follow one more stream (a conversation you may see)",
    CommandType.UNSUBSCRIBE: "Stop following a stream",
    CommandType.PING: "Application-level heartbeat; answered with pong",
    CommandType.MESSAGE_SEND: "Send a chat message; a retry with the same client_id makes no duplicate",
    CommandType.TYPING: "Tell the other side you are typing (not stored)",
    CommandType.READ: "Say up to which message seq you have read",
    CommandType.REQUEST_ACCEPT: "Agents: accept a live or video request (first with room wins)",
    CommandType.CONVERSATION_TAKEOVER: "Agents: take over a conversation the bot leads",
    CommandType.CONVERSATION_TRANSFER: "Agents: hand your chat to another online agent with room",
    CommandType.CONVERSATION_HAND_BACK: "Agents: give the chat back to the bot",
    CommandType.CONVERSATION_END: "Agents: end the chat",
    CommandType.CALL_OFFER: "Call participants: send your SDP offer to the other participant (relayed, not stored)",
    CommandType.CALL_ANSWER: "Call participants: send your SDP answer; the call becomes active",
    CommandType.CALL_CANDIDATE: "Call participants: send one ICE candidate (\"\" ends them); throttled per socket",
    CommandType.CALL_HANGUP: "Call participants: end the call; the chat goes on in text",
    CommandType.CALL_OFFER_VIDEO: "Agents: offer a video call in your text chat (counts the video weight)",
    CommandType.CALL_ACCEPT_VIDEO: "Visitors: accept the video call the agent offered",
    CommandType.CALL_DECLINE_VIDEO: "Visitors: decline the video call the agent offered",
    CommandType.CALL_FALLBACK_TO_TEXT: "Call participants: leave the video call and go on chatting in text",
}

EVENT_SUMMARIES = {
    EventType.MESSAGE_CREATED: "A message was added to a conversation",
    EventType.CONVERSATION_UPDATED: "A conversation changed state (on an agent's user stream: a chat became "
                                    "theirs or stopped being theirs; their sockets follow it accordingly)",
    EventType.NEW_CHAT_INITIATED: "A visitor made their first action on an interface you serve",
    EventType.LIVE_CHAT_REQUEST: "A visitor asks for a live chat",
    EventType.VIDEO_CHAT_REQUEST: "A visitor asks for a video chat",
    EventType.NOTIFICATION_WITHDRAWN: "A notification no longer needs you; its reason says why",
    EventType.REQUEST_UPDATED: "The visitor's live request changed (queue position, outcome)",
    EventType.SESSION_REVOKED: "Your session ended (deleted, deactivated, role changed); sent before the socket closes with 4401",
    EventType.CONVERSATION_READ: "The other side has read up to a message",
    EventType.CALL_UPDATED: "A call changed: offered, ringing, active, ended (who, when, how long)",
    EventType.VISITOR_PRESENCE: "The visitor of a chat with an agent left (no socket past the grace period) or "
                                "came back; on the conversation's stream and its agent's user stream",
    EphemeralType.TYPING: "Someone is typing (not stored, not replayed)",
    EphemeralType.QUEUE_POSITION: "Your place in the queue changed (not stored; GET .../request reads it again)",
    EphemeralType.CALL_OFFER: "The other participant's SDP offer (on your user or visitor stream only; not replayed)",
    EphemeralType.CALL_ANSWER: "The other participant's SDP answer (on your user or visitor stream only)",
    EphemeralType.CALL_CANDIDATE: "One ICE candidate of the other participant (on your user or visitor stream only)",
}


def _envelope(type_value, data_ref, durable):
    properties = {
        "type": {"type": "string", "enum": [type_value]},
        "stream": {"type": "string", "example": "conversation:12"},
        "data": {"$ref": data_ref},
    }
    required = ["type", "stream", "data"]
    if durable:
        properties["pos"] = {"type": "integer", "minimum": 1, "description": "Position in the stream"}
        properties["at"] = {"type": "string", "format": "date-time"}
        required += ["pos", "at"]
    return {"type": "object", "properties": properties, "required": required}


def build_asyncapi(title, version):
    """The AsyncAPI 2.6 document: client commands (publish) and server frames (subscribe)."""
    spec = APISpec(title=title, version=version, openapi_version="3.0.3", plugins=[MarshmallowPlugin()])
    messages = {}
    server_refs, client_refs = [], []
    for event_type, schema in EVENT_SCHEMAS.items():
        if schema.__name__.removesuffix("Schema") not in spec.components.schemas:
            spec.components.schema(schema.__name__.removesuffix("Schema"), schema=schema)
        name = f"event.{event_type.value}"
        data_ref = f"#/components/schemas/{schema.__name__.removesuffix('Schema')}"
        messages[name] = {"name": event_type.value, "summary": EVENT_SUMMARIES[event_type],
                          "payload": _envelope(event_type.value, data_ref, isinstance(event_type, EventType))}
        server_refs.append({"$ref": f"#/components/messages/{name}"})
    for command_type, schema in COMMAND_SCHEMAS.items():
        schema_name = schema.__name__.removesuffix("Schema")
        spec.components.schema(schema_name, schema=schema)
        name = f"command.{command_type.value}"
        messages[name] = {"name": command_type.value, "summary": COMMAND_SUMMARIES[command_type],
                          "payload": {"$ref": f"#/components/schemas/{schema_name}"}}
        client_refs.append({"$ref": f"#/components/messages/{name}"})
    messages.update(_control_messages())
    server_refs += [{"$ref": f"#/components/messages/{name}"} for name in _control_messages()]
    schemas = spec.to_dict()["components"]["schemas"]
    for command_type, schema in COMMAND_SCHEMAS.items():
        schemas[schema.__name__.removesuffix("Schema")]["properties"]["type"]["enum"] = [command_type.value]
    return {
        "asyncapi": "2.6.0",
        "info": {"title": f"{title}: WebSocket protocol", "version": version, "description": __doc__ + (
            "\nConnect to /ws?ticket=T with a ticket from POST /api/sockets/ticket (users) or "
            "POST /api/widget/{public_key}/sockets/ticket (visitors). Send `resume` first; every durable "
            "frame carries its stream position; reconnect with the last positions you saw to get exactly "
            "what you missed, in order. An agent's sockets follow the conversations the agent holds "
            "without a `subscribe`: `hello` and `resume` include them, a `conversation.updated` on your user "
            "stream that makes a chat yours (accept, automatic assignment, transfer to you, takeover) starts "
            "following its stream from `conversation_pos` (so the change's own frames come too), and one "
            "that takes it from you (transfer away, end, hand back, requeue) stops it. Admins watching "
            "another's chat still `subscribe`. Close codes: 1008 policy (flood), 1009 frame too large, "
            "4401 session revoked.")},
        "servers": {"local": {"url": "localhost:5000", "protocol": "ws"}},
        "defaultContentType": "application/json",
        "channels": {
            "/ws": {
                "bindings": {"ws": {"method": "GET", "query": {
                    "type": "object", "required": ["ticket"],
                    "properties": {"ticket": {"type": "string", "description": "Single-use, short-lived"}}}}},
                "publish": {"operationId": "sendCommand", "summary": "Client to server",
                            "message": {"oneOf": client_refs}},
                "subscribe": {"operationId": "receiveFrame", "summary": "Server to client",
                              "message": {"oneOf": server_refs}},
            }
        },
        "components": {"messages": messages, "schemas": schemas},
    }


def _control_messages():
    ref = {"type": "string", "maxLength": REF_MAX_LEN}
    return {
        "frame.hello": {"name": ServerFrame.HELLO.value, "summary": "Sent once on connect", "payload": {
            "type": "object", "required": ["type", "kind", "id", "streams"], "properties": {
                "type": {"type": "string", "enum": ["hello"]}, "kind": {"type": "string", "enum": ["user", "visitor"]},
                "id": {"type": "integer"},
                "commands": {"type": "array", "items": {"type": "string"},
                             "description": "The commands you may send (agents' and visitors' differ); "
                                            "any other is answered with a 403 error"},
                "streams": {"type": "object", "additionalProperties": {"type": "integer"},
                            "description": "Your default streams and their latest positions: your user "
                                           "(or visitor) stream, a visitor's conversation, and an agent's "
                                           "every chat they hold (active, theirs)"}}}},
        "frame.ack": {"name": ServerFrame.ACK.value, "summary": "A command succeeded", "payload": {
            "type": "object", "required": ["type", "data"], "properties": {
                "type": {"type": "string", "enum": ["ack"]}, "ref": ref, "data": {"type": "object"}}}},
        "frame.error": {"name": ServerFrame.ERROR.value, "summary": "A command or frame failed", "payload": {
            "type": "object", "required": ["type", "code", "status", "message"], "properties": {
                "type": {"type": "string", "enum": ["error"]}, "code": {"type": "string"},
                "status": {"type": "integer"}, "message": {"type": "string"}, "errors": {"type": "object"},
                "ref": ref}}},
        "frame.pong": {"name": ServerFrame.PONG.value, "summary": "Answer to ping", "payload": {
            "type": "object", "required": ["type"], "properties": {"type": {"type": "string", "enum": ["pong"]},
                                                                   "ref": ref}}},
        "frame.refetch": {"name": ServerFrame.REFETCH.value,
                          "summary": "You were away too long for a replay: reload this stream over REST",
                          "payload": {"type": "object", "required": ["type", "stream", "pos"], "properties": {
                              "type": {"type": "string", "enum": ["refetch"]}, "stream": {"type": "string"},
                              "pos": {"type": "integer", "description": "Resume from here after reloading"}}}},
    }
