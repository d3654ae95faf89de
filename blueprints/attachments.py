"""Files in conversations, for agents and admins; the signed download links everyone's files are served by."""
from flask import Response
from flask.views import MethodView
from flask_jwt_extended import current_user

from blueprints.common import Blueprint, errors, login_required, roles, upload_body
from schemas.attachments import AttachmentSchema, AttachmentUploadSchema
from services.attachments import (
    INLINE_TYPES, AttachmentNotFound, ConversationStorageFull, EmptyFile, FileTooLarge, FileTypeMismatch,
    FileTypeNotAllowed, LinkExpired, LinkInvalid, UploadClosed, do_upload, get_attachment, open_download,
)
from services.storage import iter_chunks

blp = Blueprint("attachments", __name__, url_prefix="/api",
                description="Files in conversations: uploads, and the signed links that serve them")

CONVERSATION = "/conversations/<id:conversation_id>"

# The answers of every upload, agent's and visitor's.
UPLOAD_ERRORS = {409: [UploadClosed], 413: [ConversationStorageFull, FileTooLarge],
                 422: ["validation_error", EmptyFile, FileTypeMismatch, FileTypeNotAllowed]}


def upload(principal, conversation_id, data):
    part = data["file"]
    return do_upload(principal, conversation_id, part.stream, part.filename, part.mimetype)


@blp.route(CONVERSATION + "/attachments")
class ConversationAttachments(MethodView):
    @upload_body("ATTACHMENT_MAX_BYTES")
    @blp.doc(operationId="uploadAttachment")
    @login_required(blp)
    @blp.arguments(AttachmentUploadSchema, location="files")
    @blp.response(201, AttachmentSchema)
    @errors(blp, 404, 409, 413, 422, codes=UPLOAD_ERRORS)
    def post(self, data, conversation_id):
        """Upload a file into a conversation; send it with a message's attachment_ids

        Multipart form with one `file` part, at most ATTACHMENT_MAX_BYTES (10 MiB by default; 413); the
        conversation's files together at most ATTACHMENT_CONVERSATION_MAX_BYTES (413
        conversation_storage_full). The type is decided from the content (422 file_type_not_allowed, or
        file_type_mismatch when the filename or the part's type claims another). Unsent uploads are deleted
        after a day.
        """
        return upload(current_user, conversation_id, data)


@blp.route(CONVERSATION + "/attachments/<id:attachment_id>")
class ConversationAttachment(MethodView):
    @blp.doc(operationId="getAttachment")
    @login_required(blp)
    @blp.response(200, AttachmentSchema)
    @errors(blp, 404, codes={404: ["not_found", AttachmentNotFound]})
    def get(self, conversation_id, attachment_id):
        """Show an attachment with a fresh download link

        A file a message of the conversation carries, or your own unsent upload.
        """
        return get_attachment(current_user, conversation_id, attachment_id)


def content_disposition(attachment):
    """attachment (inline only for images and PDF), with an ASCII filename and the exact one (RFC 6266, 5987)."""
    kind = "inline" if attachment.content_type in INLINE_TYPES else "attachment"
    fallback = "".join(c if 32 <= ord(c) < 127 and c not in '"\\%;' else "_" for c in attachment.filename)
    encoded = "".join(c if c.isascii() and (c.isalnum() or c in "!#$&+-.^_`|~") else
                      "".join(f"%{b:02X}" for b in c.encode()) for c in attachment.filename)
    return f"{kind}; filename=\"{fallback}\"; filename*=UTF-8''{encoded}"


FILE_RESPONSE = {"description": "The file's bytes, with its stored content type", "content": {
    "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}


@blp.route("/files/<string(maxlength=80):token>")
class File(MethodView):
    @blp.doc(operationId="downloadFile", responses={"200": FILE_RESPONSE})
    @roles(blp)
    @errors(blp, 403, 404, codes={403: [LinkExpired, LinkInvalid], 404: [AttachmentNotFound]})
    def get(self, token):
        """Download a file by the signed link an attachment carries (no token needed)

        Links expire after ATTACHMENT_URL_TTL_S (5 minutes by default; 403 link_expired): ask for the
        attachment or the messages again for a fresh one. Served with nosniff; HTML and SVG are never
        accepted, and only images and PDF are shown inline.
        """
        attachment, handle = open_download(token)
        response = Response(iter_chunks(handle), mimetype=attachment.content_type, direct_passthrough=True)
        if attachment.content_type.startswith("text/"):
            response.headers["Content-Type"] = f"{attachment.content_type}; charset=utf-8"
        response.content_length = attachment.size
        response.headers["Content-Disposition"] = content_disposition(attachment)
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Cache-Control"] = "private, max-age=60"
        response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
        response.headers["Cross-Origin-Resource-Policy"] = "cross-origin"
        return response
