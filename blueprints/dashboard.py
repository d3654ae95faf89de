"""The agent's dashboard: availability, pending notifications, offline form submissions."""
from flask.views import MethodView
from flask_jwt_extended import current_user

from blueprints.common import Blueprint, errors, login_required
from schemas.common import PageArgsSchema, page_of
from schemas.requests import AvailabilitySchema, NotificationSchema, SubmissionSchema
from services.interfaces import access_interface
from services.notifications import pending_for
from services.offline_forms import access_submission, list_submissions
from services.presence import do_set_availability

blp = Blueprint("dashboard", __name__, url_prefix="/api", description="The agent dashboard")


@blp.route("/availability")
class MyAvailability(MethodView):
    @blp.doc(operationId="getAvailability")
    @login_required(blp)
    @blp.response(200, AvailabilitySchema)
    def get(self):
        """Show whether you are online, away or offline

        Your own availability.
        """
        return current_user

    @blp.doc(operationId="setAvailability")
    @login_required(blp)
    @blp.arguments(AvailabilitySchema)
    @blp.response(200, AvailabilitySchema)
    @errors(blp, 422)
    def put(self, data):
        """Go online, away or offline; only online agents with room are offered requests

        Going online offers you waiting requests that fit your max chats.
        """
        return do_set_availability(current_user, data["availability"])


@blp.route("/notifications")
class MyNotifications(MethodView):
    @blp.doc(operationId="listNotifications")
    @login_required(blp)
    @blp.arguments(PageArgsSchema, location="query")
    @blp.response(200, page_of(NotificationSchema))
    @errors(blp, 422)
    def get(self, args):
        """List your pending notifications, newest first

        Notifications of requests still waiting for an agent; page-numbered.
        """
        return pending_for(current_user, **args)


@blp.route("/interfaces/<id:interface_id>/offline-submissions")
class OfflineSubmissions(MethodView):
    @blp.doc(operationId="listOfflineSubmissions")
    @login_required(blp, role="admin")
    @blp.arguments(PageArgsSchema, location="query")
    @blp.response(200, page_of(SubmissionSchema))
    @errors(blp, 404, 422)
    def get(self, args, interface_id):
        """List the offline form submissions of an interface, newest first

        What visitors sent through the offline form; page-numbered.
        """
        return list_submissions(current_user, access_interface(current_user, interface_id), **args)


@blp.route("/offline-submissions/<id:submission_id>")
class OfflineSubmissionById(MethodView):
    @blp.doc(operationId="getOfflineSubmission")
    @login_required(blp, role="admin")
    @blp.response(200, SubmissionSchema)
    @errors(blp, 404)
    def get(self, submission_id):
        """Show an offline form submission

        One submission with its answers.
        """
        return access_submission(current_user, submission_id)
