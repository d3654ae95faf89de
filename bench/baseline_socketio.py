"""Baseline (c): Flask-SocketIO doing the same work, as a team would build it instead.

Flask + Flask-SQLAlchemy (PostgreSQL, one insert per message under the
conversation's row lock, as in baseline b) + Flask-SocketIO with a Redis
message queue, served by gunicorn's gevent worker (Flask-SocketIO's best
server mode now that eventlet is deprecated; WebSocket through simple-websocket).
Frames are the product's, carried as the Socket.IO events "cmd" and "frame".

    BENCH_DATABASE_URL=... BENCH_REDIS_URL=... gunicorn -k gevent -w 1 bench.baseline_socketio:app
"""
import os
from datetime import datetime, timezone

from flask import Flask, request
from flask_socketio import SocketIO, emit, join_room
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import text

from bench.baseline_ws import INSERT, SCHEMA

app = Flask(__name__)
app.config["SQLALCHEMY_DATABASE_URI"] = os.environ["BENCH_DATABASE_URL"]
app.config["SQLALCHEMY_ENGINE_OPTIONS"] = {"pool_size": 10, "max_overflow": 10}
db = SQLAlchemy(app)
socketio = SocketIO(app, message_queue=os.environ.get("BENCH_REDIS_URL"), async_mode="gevent",
                    cors_allowed_origins="*", channel=os.environ.get("BENCH_SIO_CHANNEL", "bench-sio"),
                    max_http_buffer_size=64 * 1024)

with app.app_context():
    with db.engine.begin() as conn:
        conn.exec_driver_sql(SCHEMA)

_INSERT = text(INSERT.replace("%(c)s", ":c").replace("%(s)s", ":s").replace("%(k)s", ":k").replace("%(t)s", ":t"))
HELLO_COMMANDS = ["resume", "subscribe", "ping", "message.send"]


def _principal():
    kind = request.args.get("kind", "visitor")
    ident = int(request.args.get("id", "0"))
    conv = int(request.args.get("conv", "0"))
    return kind, ident, (f"user:{ident}" if kind == "user" else f"conversation:{conv}")


def _agents_here():
    """Agents connected to this process (one notification row each, as in baseline b)."""
    rooms = socketio.server.manager.rooms.get("/", {})
    return max(1, len(rooms.get("agents", ())))


def _now():
    return datetime.now(timezone.utc).isoformat()


@socketio.on("connect")
def on_connect(auth=None):
    kind, ident, default = _principal()
    emit("frame", {"type": "hello", "kind": kind, "id": ident, "streams": {default: 0},
                   "commands": HELLO_COMMANDS})


@socketio.on("cmd")
def on_command(frame):
    kind, ident, default = _principal()
    ref = frame.get("ref")
    command = frame.get("type")
    if command == "resume":
        join_room(default)
        if kind == "user":
            join_room("agents")
        emit("frame", {"type": "ack", "ref": ref, "data": {"positions": {}}})
    elif command == "subscribe":
        join_room(frame["stream"])
        emit("frame", {"type": "ack", "ref": ref, "data": {"stream": frame["stream"], "pos": 0}})
    elif command == "ping":
        emit("frame", {"type": "pong", "ref": ref})
    elif command == "message.send":
        conversation_id = frame["conversation_id"]
        sender = "agent" if kind == "user" else "visitor"
        row = db.session.execute(_INSERT, {"c": conversation_id, "s": sender, "k": frame["client_id"],
                                           "t": frame["text"]}).first()
        db.session.commit()
        if row is not None:
            stream = f"conversation:{conversation_id}"
            socketio.emit("frame", {
                "type": "message.created", "stream": stream, "pos": row[1], "at": _now(),
                "data": {"message": {"conversation_id": conversation_id, "seq": row[1], "sender_type": sender,
                                     "sender_id": ident, "client_id": frame["client_id"], "text": frame["text"]}}},
                to=stream)
        emit("frame", {"type": "ack", "ref": ref, "data": {"seq": row[1] if row else None, "created": row is not None}})
    elif command == "bench.live_request":
        conversation_id = frame["conversation_id"]
        db.session.execute(text(
            "insert into b_notifications (user_id, conversation_id) "
            "select g, :c from generate_series(1, :n) as g"), {"c": conversation_id, "n": _agents_here()})
        db.session.commit()
        socketio.emit("frame", {"type": "live_chat_request", "stream": "agents", "at": _now(),
                                "data": {"conversation_id": conversation_id, "request_id": None}}, to="agents")
    else:
        emit("frame", {"type": "error", "code": "unknown_type", "status": 400, "ref": ref})
    db.session.remove()
