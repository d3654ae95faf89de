"""What admins read about their workspace's chats: ratings, and reports by day."""
from flask.views import MethodView
from flask_jwt_extended import current_user

from blueprints.common import Blueprint, errors, login_required
from schemas.common import page_of
from schemas.ratings import RatingQueryArgsSchema, RatingSchema
from services.ratings import list_ratings

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
