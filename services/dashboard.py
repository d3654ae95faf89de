"""What an agent's dashboard reads: conversations and requests of the interfaces they serve."""
from sqlalchemy import column, exists, func, or_, select, table, text
from sqlalchemy.orm import joinedload, selectinload, with_expression

from extensions import db
from models import (
    Conversation, ConversationStatus, Interface, LiveRequest, Message, Rating, RequestStatus, Role, SenderType, User,
    Visitor,
)
from models.search import FTS_TABLE, PG_INDEX, TS_CONFIG
from services.core import access_conversation
from services.queue import request_view
from services.pagination import paginate

# Visitor messages past the agent's read position: a range of the (conversation_id, seq) unique index.
UNREAD_COUNT = (
    select(func.count()).where(Message.conversation_id == Conversation.id, Message.seq > Conversation.agent_read_seq,
                               Message.sender_type == SenderType.VISITOR)
    .correlate(Conversation).scalar_subquery()
)
# A search for a word in at least this share of the messages (PostgreSQL's statistics) walks the newest
# conversations instead of the word's postings, and counts its matches up to SEARCH_TOTAL_MAX.
COMMON_WORD_FREQUENCY = 0.01
SEARCH_TOTAL_MAX = 100
# How list_conversations counts: a count query of its own; a window count in the page's query; a count
# query that stops past SEARCH_TOTAL_MAX.
COUNT_APART, COUNT_WITH_PAGE, COUNT_CAPPED = "apart", "with_page", "capped"
# The FTS5 table: its rowid is the message id; a MATCH on the column named after it searches every column.
_FTS = table(FTS_TABLE, column("rowid"), column(FTS_TABLE))


def _interfaces_of(user):
    stmt = select(Interface.id).where(Interface.workspace_id == user.workspace_id)
    if user.role != Role.ADMIN:
        stmt = stmt.where(Interface.agents.any(User.id == user.id))
    return stmt


def _like_pattern(value):
    """A LIKE pattern matching value anywhere, its own % and _ (and the escape) taken literally."""
    return "%" + value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def fts5_query(value):
    """An FTS5 query that finds every word of value, whatever characters it holds: each whitespace-separated
    token becomes an FTS5 string (its double quotes doubled), so no token is ever read as query syntax
    (NEAR, AND, OR, NOT, -, *, ^, column filters, parentheses)."""
    return " ".join('"' + token.replace('"', '""') + '"' for token in value.split())


def _word_frequency(q):
    """PostgreSQL's estimate of the share of messages holding every word of q, from the statistics ANALYZE
    keeps on the search index: the product of the words' frequencies (as if independent), a word not among
    its most common ones (or any word before the first ANALYZE) counting 0."""
    return db.session.execute(text("""
        SELECT coalesce(exp(sum(ln(greatest(coalesce(common.frequency, 0), 1e-9)))), 0)
        FROM unnest(tsvector_to_array(to_tsvector(CAST(:config AS regconfig), :q))) AS word(lexeme)
        LEFT JOIN (SELECT unnest(most_common_elems::text::text[]) AS lexeme,
                          unnest(most_common_elem_freqs) AS frequency
                   FROM pg_stats WHERE schemaname = current_schema() AND tablename = :index) AS common
               USING (lexeme)"""), {"config": TS_CONFIG, "q": q, "index": PG_INDEX}).scalar()


def _text_match(q):
    """(a function of a message's id and text columns giving the clause that a message holding every word
    of q passes, whether the words are so common that walking the conversations beats reading postings)."""
    if db.session.get_bind().dialect.name != "postgresql":
        rowids = select(_FTS.c.rowid).where(_FTS.c[FTS_TABLE].op("MATCH")(fts5_query(q)))
        return (lambda id_, text_: id_.in_(rowids)), False
    # The plans here are short index reads: compiling them (jit_above_cost) would cost more than it saves.
    db.session.execute(text("SET LOCAL jit = off"))
    query = func.plainto_tsquery(TS_CONFIG, q)
    return (lambda id_, text_: func.to_tsvector(TS_CONFIG, text_).op("@@")(query)), \
        _word_frequency(q) >= COMMON_WORD_FREQUENCY


def _with_text(stmt, q):
    """stmt narrowed to conversations with a message holding every word of q; and how to count them.

    Usually the index gives the matching messages first (a materialised CTE on PostgreSQL, so the planner
    cannot turn it into a probe of every conversation), and the page counts them as it reads them (a
    window count: the matches are read once, not once for the page and again for the total). A word in
    COMMON_WORD_FREQUENCY of the messages or more would have it read a good part of the table: then the
    conversations passing the other filters are walked newest first (OFFSET 0 fences them, so every other
    filter runs before the probe) and each is probed through its messages, which finds such a word within
    a few; the count stops at SEARCH_TOTAL_MAX."""
    match, common = _text_match(q)
    if not common:
        matching = (select(Message.conversation_id).where(match(Message.id, Message.text))
                    .cte("matching").prefix_with("MATERIALIZED", dialect="postgresql"))
        return stmt.where(Conversation.id.in_(select(matching.c.conversation_id))), COUNT_WITH_PAGE
    candidates = stmt.with_only_columns(Conversation.id, Conversation.updated_at).offset(0).subquery("candidates")
    # The conversation's messages first, fenced (OFFSET 0), then the match on them: the planner may not use
    # the index inside the probe, which would read the common word's postings once per conversation.
    messages = (select(Message.id, Message.text).where(Message.conversation_id == candidates.c.id).offset(0)
                .correlate(candidates).subquery("conversation_messages"))
    probe = select(messages.c.id).where(match(messages.c.id, messages.c.text))
    walk = (select(Conversation).join(candidates, candidates.c.id == Conversation.id).where(exists(probe))
            .order_by(candidates.c.updated_at.desc(), candidates.c.id.desc()))
    return walk, COUNT_CAPPED


def search_conversations(user, scope, status=None, agent_id=None, interface_id=None, created_from=None,
                         created_to=None, visitor=None, q=None, rating_min=None, rating_max=None):
    """The dashboard's query: conversations of the user's interfaces (the workspace's for admins) that pass
    every filter given, newest first; and how to count them (COUNT_*)."""
    # The user's interfaces as a list of ids (one small query): the planner then knows what it filters by.
    interfaces = db.session.scalars(_interfaces_of(user)).all()
    if interface_id is not None:
        interfaces = [i for i in interfaces if i == interface_id]
    stmt = select(Conversation).where(Conversation.workspace_id == user.workspace_id,
                                      Conversation.interface_id.in_(interfaces))
    if scope == "mine":
        stmt = stmt.where(Conversation.agent_id == user.id, Conversation.status == ConversationStatus.ACTIVE)
    elif scope != "all":
        stmt = stmt.where(Conversation.status == ConversationStatus(scope))
    if status is not None:
        stmt = stmt.where(Conversation.status == ConversationStatus(status))
    if agent_id is not None:
        stmt = stmt.where(Conversation.agent_id == agent_id)
    if created_from is not None:
        stmt = stmt.where(Conversation.created_at >= created_from)
    if created_to is not None:
        stmt = stmt.where(Conversation.created_at < created_to)
    if visitor is not None:
        pattern = _like_pattern(visitor.lower())  # lower() LIKE: on PostgreSQL twice as fast as ILIKE
        stmt = stmt.where(Conversation.visitor_id.in_(
            select(Visitor.id).where(Visitor.workspace_id == user.workspace_id,
                                     or_(func.lower(Visitor.email).like(pattern, escape="\\"),
                                         func.lower(Visitor.name).like(pattern, escape="\\")))))
    if rating_min is not None or rating_max is not None:
        rated = select(Rating.conversation_id).where(Rating.workspace_id == user.workspace_id)
        if rating_min is not None:
            rated = rated.where(Rating.score >= rating_min)
        if rating_max is not None:
            rated = rated.where(Rating.score <= rating_max)
        stmt = stmt.where(Conversation.id.in_(rated))
    stmt = stmt.order_by(Conversation.updated_at.desc(), Conversation.id.desc())
    if q is not None:
        return _with_text(stmt, q)
    return stmt, COUNT_APART


def list_conversations(user, scope, page, page_size, **filters):
    """Conversations by scope (mine: open with me; waiting, bot, active, closed or all) and filters, newest
    first, page-numbered."""
    stmt, counting = search_conversations(user, scope, **filters)
    offset = (page - 1) * page_size
    if counting == COUNT_WITH_PAGE:
        rows = db.session.execute(_with_unread_count(stmt.add_columns(func.count().over().label("total")))
                                  .limit(page_size).offset(offset)).all()
        items = [row[0] for row in rows]
        if rows or page == 1:
            total = rows[0].total if rows else 0
            return {"items": items, "page": page, "page_size": page_size, "total": total, "total_exact": True}
        counting = COUNT_APART  # past the last page: the window saw no row to count
    counted = stmt.order_by(None)
    if counting == COUNT_CAPPED:
        # A word in most conversations: counting them all would read the whole table, and "more than
        # SEARCH_TOTAL_MAX" is all a person needs to know.
        counted = counted.limit(SEARCH_TOTAL_MAX + 1)
    total = db.session.scalar(select(func.count()).select_from(counted.subquery()))
    items = db.session.scalars(_with_unread_count(stmt).limit(page_size).offset(offset)).all()
    if counting == COUNT_CAPPED and total > SEARCH_TOTAL_MAX:
        return {"items": items, "page": page, "page_size": page_size, "total": SEARCH_TOTAL_MAX,
                "total_exact": False}
    return {"items": items, "page": page, "page_size": page_size, "total": total, "total_exact": True}


def get_conversation(user, conversation_id):
    """A conversation the user may reach, with its unread count."""
    conversation = access_conversation(user, conversation_id)
    stmt = select(Conversation).where(Conversation.id == conversation.id)
    return db.session.scalars(_with_unread_count(stmt)).one()


def _with_unread_count(stmt):
    # populate_existing: a conversation already in the session (access_conversation) gets the count too.
    # Each row shows its visitor and agent: loaded by the same query, not one more per row; and its rating: one more
    # query for the whole page.
    return stmt.options(with_expression(Conversation.unread_count, UNREAD_COUNT),
                        joinedload(Conversation.visitor), joinedload(Conversation.agent),
                        selectinload(Conversation.rating)) \
        .execution_options(populate_existing=True)


def list_pending_requests(user, page, page_size):
    """Requests waiting for an agent on the user's interfaces, oldest first (queue order)."""
    stmt = select(LiveRequest).where(LiveRequest.interface_id.in_(_interfaces_of(user)),
                                     LiveRequest.status == RequestStatus.PENDING).order_by(LiveRequest.id)
    result = paginate(stmt, page, page_size)
    result["items"] = [{**request_view(r), "conversation_id": r.conversation_id, "interface_id": r.interface_id,
                        "created_at": r.created_at} for r in result["items"]]
    return result
