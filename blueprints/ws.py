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
from blueprints.common import login_required
from blueprints.socket_protocol import CloseSocket, SocketSession
from errors import error_response
from extensions import client_address, sock
from metrics import SOCKET_FRAMES, SOCKETS_OPEN, SOCKETS_REFUSED, frame_type, observe_delivery
from models import User
from schemas.events import EphemeralType, EventType, ServerFrame
from schemas.sockets import TicketSchema
from services.core import DatabaseFailed
from services.socket_slots import AddressSlots
from services.sockets import TicketInvalid, do_consume_ticket, do_issue_ticket
from services.visitors import origin_allowed
from services.wire import dumps

log = logging.getLogger(__name__)

bp = Blueprint("ws", __name__)
_OUT_TYPES = {str(kind) for enum in (EventType, EphemeralType, ServerFrame) for kind in enum}
blp = ApiBlueprint("sockets", __name__, url_prefix="/api/sockets", description="WebSocket tickets")



@blp.route("/ticket")
class SocketTicket(MethodView):
    @blp.doc(operationId="createSocketTicket")
    @login_required(blp)
    @blp.response(201, TicketSchema)
    def post(self):
        """Get a single-use ticket that opens the WebSocket at /ws?ticket=...

        The ticket is single-use and short-lived; open /ws?ticket=... with it.
        """
        return do_issue_ticket(current_user)


@bp.before_request
def _hold_a_slot():
    """Refuse an address past its open sockets before anything else (its ticket stays unused)."""
    slots = current_app.extensions.setdefault("socket_slots", AddressSlots())
    address = client_address()
    if not slots.take(address, current_app.config["SOCKET_LIMIT_PER_ADDRESS"]):
        SOCKETS_REFUSED.labels("per_address").inc()
        return error_response(429, "Too many sockets open from this address", "too_many_sockets",
                              headers={"Retry-After": "30"})
    g.socket_slot = (slots, address)


@bp.teardown_request
def _give_back_the_slot(error=None):
    # The socket's request ends when the socket does (or at once when the upgrade was refused).
    held = g.pop("socket_slot", None)
    if held is not None:
        held[0].give_back(held[1])


def _same_origin(origin):
    """The page comes from this server (the console at /console): its Origin names the host the browser asked.

    A browser sets both headers itself, so a page elsewhere cannot pass this check for our host."""
    return origin.split("://", 1)[-1].rstrip("/").lower() == request.host.lower()


@bp.before_request
def _check_ticket_and_origin():
    try:
        principal = do_consume_ticket(request.args.get("ticket"))
    except TicketInvalid as error:
        return error_response(error.status, error.message, error.code)
    origin = request.headers.get("Origin")
    if isinstance(principal, User):
        allowed = origin is None or origin in current_app.config["CORS_ORIGINS"] or _same_origin(origin)
    else:
        allowed = origin_allowed(principal.interface.allowed_origins, origin)
    if not allowed:
        return error_response(403, "This origin may not open a socket", "origin_not_allowed")
    g.socket_session = SocketSession(principal, push=None)
    g.socket_role = principal.role.value if isinstance(principal, User) else "visitor"
    g.log_context = {"user_id" if isinstance(principal, User) else "visitor_id": principal.id,
                     "workspace_id": principal.workspace_id}


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
    log.info("socket opened")

    def send(frames):
        for frame in frames:
            ws.send(_dump(frame))
            SOCKET_FRAMES.labels("out", frame_type(frame, _OUT_TYPES)).inc()

    role = g.socket_role
    SOCKETS_OPEN.labels(role).inc()
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
            if kind == "frame":
                try:
                    frames = session.handle_text(payload)
                finally:  # the session parsed it: its type is counted without a second parse
                    SOCKET_FRAMES.labels("in", session.frame_type).inc()
            else:
                frames = session.deliver(stream, payload)
            send(frames)
            if kind != "frame" and frames and "pos" in payload:
                observe_delivery(payload)
    except CloseSocket as close:
        try:
            send(close.frames)
        except ConnectionClosed:
            pass
        else:
            ws.close(reason=close.code, message=close.reason)
    except ConnectionClosed:
        pass
    except DatabaseFailed as failure:
        # The database is away or saturated (hello reads it): 1013, try again later. The client backs off and
        # reconnects, and its resume misses nothing; 1011 would tell it the server is broken.
        log.warning("socket closed: database unavailable (%s)", failure.cause)
        try:
            ws.close(reason=1013, message="try again later")
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
        SOCKETS_OPEN.labels(role).dec()
        log.info("socket closed")


def _dump(frame):
    return dumps(frame)
