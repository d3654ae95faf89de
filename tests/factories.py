"""Test data built through the services, and an HTTP auth helper."""
import itertools

from extensions import db
from models import Interface, Role, User
from services.passwords import hash_password
from services.workspaces import do_create_workspace

PASSWORD = "correct horse battery"
_seq = itertools.count(1)


def make_workspace(name="Acme", admin_email=None):
    """A workspace whose admin has PASSWORD; returns (workspace, admin)."""
    n = next(_seq)
    workspace, admin, _ = do_create_workspace(name, admin_email or f"admin{n}@example.com", f"Admin {n}")
    admin.password_hash = hash_password(PASSWORD)
    db.session.commit()
    return workspace, admin


def make_user(workspace, role=Role.AGENT, interfaces=(), max_chats=3, email=None, name=None, password=PASSWORD):
    n = next(_seq)
    user = User(workspace_id=workspace.id, name=name or f"Agent {n}", email=email or f"agent{n}@example.com",
                role=role, max_chats=max_chats, token_version=1, is_active=True,
                password_hash=hash_password(password) if password else None)
    user.interfaces = list(interfaces)
    db.session.add(user)
    db.session.commit()
    return user


def make_interface(workspace, name=None, agents=(), **fields):
    n = next(_seq)
    fields.setdefault("allowed_origins", [])
    interface = Interface(workspace_id=workspace.id, name=name or f"Widget {n}", **fields)
    interface.agents = list(agents)
    db.session.add(interface)
    db.session.commit()
    return interface


class Auth:
    """Logs users in over HTTP and hands out their Authorization headers."""

    def __init__(self, client):
        self.client = client

    def login(self, email, password=PASSWORD):
        response = self.client.post("/api/auth/login", json={"email": email, "password": password})
        assert response.status_code == 200, response.get_json()
        return response.get_json()

    def headers(self, user_or_email, password=PASSWORD):
        email = user_or_email if isinstance(user_or_email, str) else user_or_email.email
        return {"Authorization": f"Bearer {self.login(email, password)['access_token']}"}


def make_component(interface, kind, config=None, name=None):
    """Append a component with its config normalised as the builder stores it."""
    from sqlalchemy import func, select

    from models import Component, ComponentType
    from schemas.components import CONFIG_SCHEMAS

    position = db.session.scalar(select(func.count()).select_from(Component)
                                 .where(Component.interface_id == interface.id))
    component = Component(workspace_id=interface.workspace_id, interface_id=interface.id, position=position,
                          type=ComponentType(kind), name=name, config=CONFIG_SCHEMAS[kind]().load(config or {}))
    db.session.add(component)
    db.session.commit()
    return component


def go_online(*users):
    from models import Availability

    for user in users:
        user.availability = Availability.ONLINE
    db.session.commit()
