"""Private notes in a conversation: agents and admins only, never shown to the visitor."""
from flask.views import MethodView
from flask_jwt_extended import current_user

from blueprints.common import Blueprint, errors, login_required
from schemas.common import PageArgsSchema, page_of
from schemas.notes import NoteSchema
from services.notes import do_create_note, list_notes

blp = Blueprint("notes", __name__, url_prefix="/api",
                description="Private notes in conversations, for agents and admins")


@blp.route("/conversations/<id:conversation_id>/notes")
class ConversationNotes(MethodView):
    @blp.doc(operationId="listNotes")
    @login_required(blp, hidden_from_visitors=True)
    @blp.arguments(PageArgsSchema, location="query")
    @blp.response(200, page_of(NoteSchema))
    @errors(blp, 404, 422)
    def get(self, args, conversation_id):
        """Read a conversation's private notes

        Oldest first; page-numbered. Notes are never part of the visitor's history.
        """
        return list_notes(current_user, conversation_id, **args)

    @blp.doc(operationId="createNote")
    @login_required(blp, hidden_from_visitors=True)
    @blp.arguments(NoteSchema)
    @blp.response(201, NoteSchema)
    @errors(blp, 404, 422)
    def post(self, data, conversation_id):
        """Write a private note in a conversation you may see

        Your colleagues following notes:{conversation_id} get note.created; each user in mentions (active, of
        the workspace, able to see the conversation; 422 naming the others) gets note.mentioned on their user
        stream. The visitor never sees a note.
        """
        return do_create_note(current_user, conversation_id, data["text"], data["mentions"])
