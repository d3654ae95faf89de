"""The demo site `make run` sets up: one interface whose flow offers live and video chat, served by the admins.

A newcomer opens the agent console (`/console`) in one tab and the demo page (`/demo/<public key>`) in another
and talks to themselves, by text and by video, without writing a line of code. Everything here goes through
the same services as the admin API, so the demo is an ordinary interface the admin may edit or delete.
"""
from urllib.parse import urlsplit

from sqlalchemy import select

from extensions import db
from models import Component, Interface, User
from services.core import active_admins
from services.flows import do_add_component
from services.interfaces import do_create_interface, do_set_agents, do_update_interface

DEMO_NAME = "Demo site"
WELCOME = "Hello! This is the demo site's bot. Would you like to talk to a person?"
GOODBYE = "Thanks for visiting the demo site!"


def origins_of(public_url):
    """The origins a browser may send for this server: loopback is reachable as 127.0.0.1 and as localhost."""
    parts = urlsplit(public_url)
    origin = f"{parts.scheme}://{parts.netloc}"
    if parts.hostname in ("127.0.0.1", "localhost"):
        port = f":{parts.port}" if parts.port else ""
        return [f"{parts.scheme}://127.0.0.1{port}", f"{parts.scheme}://localhost{port}"]
    return [origin]


def do_ensure_demo(workspace_id, public_url):
    """The workspace's demo interface, created on first use; its allowed origins follow `public_url`.

    Returns the interface. Its flow: a welcome message with a button, the Live chat component with both
    live and video chat, and a goodbye message where the flow goes on after it (Skip). The workspace's admins serve it, so the admin
    who logs in to the console receives its requests.
    """
    admins = active_admins(workspace_id)
    if not admins:
        raise LookupError("the workspace has no active admin")
    actor = db.session.get(User, admins[0].id)
    origins = origins_of(public_url)
    interface = db.session.scalar(select(Interface).where(Interface.workspace_id == workspace_id,
                                                          Interface.name == DEMO_NAME).order_by(Interface.id).limit(1))
    if interface is None:
        interface = do_create_interface(actor, {"name": DEMO_NAME, "allowed_origins": origins})
        do_set_agents(actor, interface, [admin.id for admin in admins])
    elif not set(origins) <= set(interface.allowed_origins):
        do_update_interface(actor, interface, {"allowed_origins": sorted(set(interface.allowed_origins) | set(origins))})
    has_flow = db.session.scalar(select(Component.id).where(Component.interface_id == interface.id).limit(1))
    if has_flow is None:
        do_add_component(actor, interface, {"type": "message", "name": "Welcome", "config": {
            "text": WELCOME,
            "buttons": [{"label": "Talk to a person", "style": "primary"}],
        }})
        do_add_component(actor, interface, {"type": "live_chat", "name": "Live chat", "config": {
            "options": {"live_chat": {"enabled": True}, "video_chat": {"enabled": True}},
        }})
        do_add_component(actor, interface, {"type": "message", "name": "Goodbye", "config": {"text": GOODBYE}})
    return interface
