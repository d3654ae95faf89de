"""Data protection: admins find a visitor, export everything about them and erase it (retention: updateWorkspace)."""
from flask.views import MethodView
from flask_jwt_extended import current_user

from blueprints.common import Blueprint, errors, login_required
from schemas.common import page_of
from schemas.data_protection import (
    VisitorExportSchema,
    VisitorQueryArgsSchema,
    VisitorRecordSchema,
)
from services.data_protection import (
    VisitorInChat,
    access_visitor,
    do_erase_visitor,
    do_export_visitor,
    find_visitors,
)

blp = Blueprint("data_protection", __name__, url_prefix="/api",
                description="Data protection: visitors' data exported and erased")

VISITOR = "/visitors/<id:visitor_id>"


@blp.route("/visitors")
class Visitors(MethodView):
    @blp.doc(operationId="listVisitors")
    @login_required(blp, role="admin")
    @blp.arguments(VisitorQueryArgsSchema, location="query")
    @blp.response(200, page_of(VisitorRecordSchema))
    @errors(blp, 422)
    def get(self, args):
        """Find the workspace's visitors, newest first

        By exact e-mail (ignoring case) or the site's user id (external_id), for a data subject's request;
        page-numbered. Erased visitors have no details left, so no search finds them.
        """
        return find_visitors(current_user, **args)


@blp.route(VISITOR)
class VisitorById(MethodView):
    @blp.doc(operationId="getVisitor")
    @login_required(blp, role="admin")
    @blp.response(200, VisitorRecordSchema)
    @errors(blp, 404)
    def get(self, visitor_id):
        """Show a visitor of your workspace

        Erased visitors show erased_at and no details.
        """
        return access_visitor(current_user, visitor_id)


@blp.route(VISITOR + "/export")
class VisitorExport(MethodView):
    @blp.doc(operationId="exportVisitor")
    @login_required(blp, role="admin")
    @blp.response(200, VisitorExportSchema)
    @errors(blp, 404)
    def get(self, visitor_id):
        """Export everything kept about a visitor

        Their details, and for each of their conversations (newest first) every message by seq (bot, agent
        and system ones too), attachments' metadata with fresh links (never the bytes), live requests, calls,
        offline form submissions and staff's private notes. Bounded: at most EXPORT_CONVERSATIONS_MAX
        conversations and EXPORT_MESSAGES_MAX messages in all; truncated (and messages_truncated on a
        conversation) says when a cap left something out. Audited as visitor_exported.
        """
        return do_export_visitor(current_user, access_visitor(current_user, visitor_id))


@blp.route(VISITOR + "/erase")
class VisitorErase(MethodView):
    @blp.doc(operationId="eraseVisitor")
    @login_required(blp, role="admin")
    @blp.response(200, VisitorRecordSchema)
    @errors(blp, 404, 409, codes={409: [VisitorInChat]})
    def post(self, visitor_id):
        """Erase a visitor's personal data

        The visitor stays as a shell with no details (erased_at set) and their tokens stop working; their
        messages keep seq, sender and times but lose text and data; files are deleted, offline form answers,
        notes, their e-mails in the outbox and the events that carried any of it are removed. A conversation
        with the bot is closed; one waiting for or with an agent is 409 visitor_in_chat (end it first).
        Erasing again answers the same. Audited as visitor_erased, naming the visitor only as visitor#<id>.
        """
        return do_erase_visitor(current_user, access_visitor(current_user, visitor_id))
