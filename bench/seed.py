"""Seed a scratch database with the benchmark's workspace, written straight as rows for speed.

    python -m bench.seed schema  URL PLAN.json OUT.json   # schema + workspace, agents, chats, tickets
    python -m bench.seed history URL CONVERSATION_ID COUNT   # append COUNT messages to a conversation

Agents are online with max chats 4 and three active chats each; idle visitors
sit in the bot phase of an interface whose flow is one Live chat component.
Every socket gets its own single-use ticket row (the token goes to the load
generator), as POST /api/sockets/ticket would have made it.
"""
import hashlib
import json
import secrets
import sys
from datetime import timedelta

ORIGIN = "https://shop.bench.example"
PASSWORD = "bench password 0123"


def _app(url):
    from app import create_app
    from config import Config

    return create_app(Config, SQLALCHEMY_DATABASE_URI=url, REDIS_URL=None, PASSWORD_HASH_PROFILE="fast",
                      OUTBOX_SENDER_THREAD=False, SWEEPER_THREAD=False, JWT_SECRET_KEY="seed-only-" + "x" * 32,
                      TEST_SERVER=True, PUBLIC_URL="http://127.0.0.1")


def seed_schema(url, plan):
    from sqlalchemy import insert

    from extensions import db
    from models import Availability, Interface, Role, User
    from models.base import utcnow
    from models.conversation import Conversation, ConversationStatus, Visitor
    from models.ticket import SocketTicket
    from models.workspace import Workspace
    from services.passwords import hash_password
    from tests.factories import make_component

    app = _app(url)
    with app.app_context():
        db.create_all()
        now = utcnow()
        expires = now + timedelta(hours=6)
        workspace = Workspace(name="Bench")
        db.session.add(workspace)
        db.session.flush()
        ws = workspace.id
        password_hash = hash_password(PASSWORD)
        n_agents, per_agent, n_idle = plan["agents"], plan["chats_per_agent"], plan["idle_max"]
        db.session.execute(insert(User), [
            {"workspace_id": ws, "name": f"Agent {i}", "email": f"agent{i}@bench.example", "role": Role.AGENT,
             "max_chats": plan["max_chats"], "password_hash": password_hash, "token_version": 1, "is_active": True,
             "availability": Availability.ONLINE, "created_at": now, "updated_at": now}
            for i in range(n_agents)])
        agents = db.session.query(User).filter(User.workspace_id == ws).order_by(User.id).all()
        interface = Interface(workspace_id=ws, name="Bench widget", allowed_origins=[ORIGIN],
                              request_timeout_s=plan["request_timeout_s"])
        interface.agents = agents
        db.session.add(interface)
        db.session.commit()
        make_component(interface, "live_chat", {"options": {"video_chat": {"enabled": True}}})
        component_id = db.session.execute(db.text(
            "select id from components where interface_id = :i"), {"i": interface.id}).scalar()

        n_active = n_agents * per_agent
        db.session.execute(insert(Visitor), [
            {"workspace_id": ws, "interface_id": interface.id, "name": f"Visitor {i}", "created_at": now,
             "last_seen_at": now} for i in range(n_active + n_idle)])
        visitor_rows = db.session.query(Visitor.id, Visitor.token_key).filter(Visitor.workspace_id == ws)
        visitor_keys = dict(visitor_rows.all())
        visitors = sorted(visitor_keys)
        rows = []
        for i, visitor_id in enumerate(visitors):
            active = i < n_active
            rows.append({"workspace_id": ws, "interface_id": interface.id, "visitor_id": visitor_id,
                         "status": ConversationStatus.ACTIVE if active else ConversationStatus.BOT,
                         "agent_id": agents[i // per_agent].id if active else None,
                         "component_id": None if active else component_id, "last_seq": 0,
                         "initiated_at": now if active else None, "created_at": now, "updated_at": now})
        db.session.execute(insert(Conversation), rows)
        conv_of = dict(db.session.query(Conversation.visitor_id, Conversation.id)
                       .filter(Conversation.workspace_id == ws))

        tickets, out = [], {"agents": [], "active": [], "idle": []}

        def ticket(kind, subject, key, version=None):
            token = f"bench-{kind}-{subject}-{secrets.token_urlsafe(12)}"
            tickets.append({"workspace_id": ws, "token_hash": hashlib.sha256(token.encode()).hexdigest(),
                            "kind": kind, "subject_id": subject, "subject_key": key, "token_version": version,
                            "expires_at": expires, "created_at": now})
            return token

        for i, agent in enumerate(agents):
            convs = [conv_of[visitors[j]] for j in range(i * per_agent, (i + 1) * per_agent)]
            out["agents"].append({"id": agent.id, "email": agent.email, "conversations": convs,
                                  "ticket": ticket("user", agent.id, agent.token_key, 1)})
        for i, visitor_id in enumerate(visitors):
            entry = {"id": visitor_id, "conversation": conv_of[visitor_id],
                     "ticket": ticket("visitor", visitor_id, visitor_keys[visitor_id])}
            out["active" if i < n_active else "idle"].append(entry)
        for start in range(0, len(tickets), 2000):
            db.session.execute(insert(SocketTicket), tickets[start:start + 2000])
        db.session.commit()
        if db.engine.dialect.name == "sqlite":
            db.session.execute(db.text("PRAGMA wal_checkpoint(TRUNCATE)"))
        out.update({"public_key": interface.public_key, "interface_id": interface.id, "workspace_id": ws,
                    "password": PASSWORD, "widget_origin": ORIGIN})
        return out


def seed_history(url, conversation_id, count):
    """Append `count` visitor messages to a conversation with one statement."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.begin() as conn:
        row = conn.execute(text("select workspace_id, last_seq from conversations where id = :c"),
                           {"c": conversation_id}).one()
        workspace_id, last = row
        if engine.dialect.name == "postgresql":
            conn.execute(text(
                "insert into messages (workspace_id, conversation_id, seq, sender_type, client_id, text, created_at) "
                "select :w, :c, :last + g, 'visitor', 'h' || g, 'history message ' || g, now() "
                "from generate_series(1, :n) as g"), {"w": workspace_id, "c": conversation_id, "last": last, "n": count})
        else:
            conn.execute(text(
                "with recursive g(n) as (select 1 union all select n + 1 from g where n < :n) "
                "insert into messages (workspace_id, conversation_id, seq, sender_type, client_id, text, created_at) "
                "select :w, :c, :last + n, 'visitor', 'h' || n, 'history message ' || n, datetime('now') from g"),
                {"w": workspace_id, "c": conversation_id, "last": last, "n": count})
        conn.execute(text("update conversations set last_seq = :s where id = :c"),
                     {"s": last + count, "c": conversation_id})
        if engine.dialect.name == "postgresql":
            conn.execute(text("analyze messages"))
    engine.dispose()
    return last + count


def main(argv):
    if argv[0] == "schema":
        url, plan_path, out_path = argv[1:4]
        with open(plan_path) as handle:
            plan = json.load(handle)
        out = seed_schema(url, plan)
        with open(out_path, "w") as handle:
            json.dump(out, handle)
    elif argv[0] == "history":
        print(seed_history(argv[1], int(argv[2]), int(argv[3])))
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
