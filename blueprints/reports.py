"""What admins read about their workspace's chats (ratings, reports by day and by agent) and its time zone."""
from flask.views import MethodView
from flask_jwt_extended import current_user

from blueprints.common import Blueprint, errors, login_required
from schemas.common import page_of
from schemas.ratings import RatingQueryArgsSchema, RatingSchema
from schemas.reports import (
    AgentsReportSchema, InterfacesReportSchema, ReportArgsSchema,
)
from services.ratings import list_ratings
from services.reports import agents_report, interfaces_report
from schemas.workspaces import WorkspaceSchema, WorkspaceUpdateSchema
from services.workspaces import do_update_workspace, get_workspace

blp = Blueprint("reports", __name__, url_prefix="/api",
                description="Ratings of ended chats and reports by day, for admins")


@blp.route("/ratings")
class Ratings(MethodView):
    @blp.doc(operationId="listRatings")
    @login_required(blp, role="admin")
    @blp.arguments(RatingQueryArgsSchema, location="query")
    @blp.response(200, page_of(RatingSchema))
    @errors(blp, 422)
    def get(self, args):
        """List the ratings visitors gave their ended chats, newest first

        Filter by interface, agent (who had the chat when it ended) and score; page-numbered.
        """
        return list_ratings(current_user, **args)


@blp.route("/reports/interfaces")
class InterfacesReport(MethodView):
    @blp.doc(operationId="getInterfacesReport")
    @login_required(blp, role="admin")
    @blp.arguments(ReportArgsSchema, location="query")
    @blp.response(200, InterfacesReportSchema)
    @errors(blp, 404, 422)
    def get(self, args):
        """Chats by day: requests accepted and missed, how fast, how long, ratings, offline forms

        Days are the workspace's (its time zone: updateWorkspace), from `from` to `to` included, at most 366
        (422); each day and the whole range: chats (requests accepted and takeovers), missed requests
        (expired, offline, outside business hours), the median and 90th percentile of the time to accept,
        the median chat length, ratings (count, average, share of 4 and 5) and offline forms. A request
        counts on the day it was made; a rating and a form on the day they were given. interface_id narrows
        it to one interface (404 for one not of the workspace).
        """
        return interfaces_report(current_user, **args)


@blp.route("/reports/agents")
class AgentsReport(MethodView):
    @blp.doc(operationId="getAgentsReport")
    @login_required(blp, role="admin")
    @blp.arguments(ReportArgsSchema, location="query")
    @blp.response(200, AgentsReportSchema)
    @errors(blp, 404, 422)
    def get(self, args):
        """Each agent's chats over a range of days: accepted, taken over, how fast, how long, rated

        The same range as getInterfacesReport (the workspace's days, at most 366); ratings count for the
        agent who had the chat when it ended.
        """
        return agents_report(current_user, **args)


@blp.route("/workspace")
class WorkspaceSettings(MethodView):
    @blp.doc(operationId="getWorkspace")
    @login_required(blp, role="admin")
    @blp.response(200, WorkspaceSchema)
    def get(self):
        """Show your workspace: its name, time zone and retention"""
        return get_workspace(current_user)

    @blp.doc(operationId="updateWorkspace")
    @login_required(blp, role="admin")
    @blp.arguments(WorkspaceUpdateSchema)
    @blp.response(200, WorkspaceSchema)
    @errors(blp, 422)
    def patch(self, data):
        """Rename the workspace, change its time zone or how long it keeps conversations

        timezone: an IANA name; the reports' days follow it. retention_days 1 to 3650, or null to keep
        conversations forever; the retention worker erases closed conversations older than that (as
        eraseVisitor does) and then visitors left with none. A retention change is audited as retention_changed.
        """
        return do_update_workspace(current_user, data)
