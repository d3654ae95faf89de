"""The WebSocket endpoint and its tickets.

The ticket and the Origin are checked in before_request, so a refused client
gets a plain HTTP error and never an upgraded socket.
"""
import logging
import queue
import threading
import time

from flask import Blueprint, current_app, g, request
from flask.views import MethodView
from flask_jwt_extended import current_user
from simple_websocket import ConnectionClosed

from blueprints.common import Blueprint as ApiBlueprint
from blueprints.common import errors, login_required
from errors import error_response
from extensions import sock
from models import User
from schemas.sockets import TicketSchema
from services.realtime import CloseSocket, SocketSession
from services.sockets import TicketInvalid, do_consume_ticket, do_issue_ticket
from services.visitors import origin_allowed

log = logging.getLogger(__name__)

bp = Blueprint("ws", __name__)
blp = ApiBlueprint("sockets", __name__, url_prefix="/api/sockets", description="WebSocket tickets")



@blp.route("/ticket")
class SocketTicket(MethodView):
    @login_required(blp)
    @blp.response(201, TicketSchema)
    def post(self):
        """Get a single-use ticket that opens the WebSocket at /ws?ticket=..."""
        return do_issue_ticket(current_user)


@bp.before_request
def _check_ticket_and_origin():
    try:
        principal = do_consume_ticket(request.args.get("ticket"))
    except TicketInvalid as error:
        return error_response(error.status, error.message, error.code)
    origin = request.headers.get("Origin")
    if isinstance(principal, User):
        allowed = origin is None or origin in current_app.config["CORS_ORIGINS"]
    else:
        allowed = origin_allowed(principal.interface, origin)
    if not allowed:
        return error_response(403, "This origin may not open a socket", "origin_not_allowed")
    g.socket_session = SocketSession(principal, push=None)


@sock.route("/ws", bp=bp)
def socket(ws):
    """Serve one connection: client frames and broker events go through one queue."""
    session = g.socket_session
    inbox = queue.Queue()
    session.push = lambda stream, frame: inbox.put(("event", stream, frame))

    def read():
        try:
            while True:
                inbox.put(("frame", None, ws.receive()))
        except ConnectionClosed:
            inbox.put(("closed", None, None))

    threading.Thread(target=read, name="ws-reader", daemon=True).start()
    send = lambda frames: [ws.send(_dump(frame)) for frame in frames]  # noqa: E731
    try:
        send(session.hello())
        refresh_s = current_app.config["PRESENCE_REFRESH_S"]
        next_beat = time.monotonic() + refresh_s
        while True:
            try:
                kind, stream, payload = inbox.get(timeout=max(next_beat - time.monotonic(), 0.01))
            except queue.Empty:
                kind = None
            if time.monotonic() >= next_beat:
                session.heartbeat()
                next_beat = time.monotonic() + refresh_s
            if kind is None:
                continue
            if kind == "closed":
                break
            frames = session.handle_text(payload) if kind == "frame" else session.deliver(stream, payload)
            send(frames)
    except CloseSocket as close:
        ws.close(reason=close.code, message=close.reason)
    except ConnectionClosed:
        pass
    except Exception:
        # Past the upgrade an HTTP error page would be written into the socket's byte stream: close it instead.
        log.exception("socket failed")
        try:
            ws.close(reason=1011, message="internal error")
        except ConnectionClosed:
            pass
    finally:
        session.unsubscribe_all()


def _dump(frame):
    import json

    return json.dumps(frame, separators=(",", ":"), default=str)
