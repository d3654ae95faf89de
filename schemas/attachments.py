"""Files in a conversation: the upload form, what readers are shown, the attachments of a message."""
from flask_smorest.fields import Upload
from marshmallow import fields, validate

from models.attachment import FILENAME_MAX_LEN, UploaderType
from schemas.common import Schema


class AttachmentUploadSchema(Schema):
    file = Upload(required=True, metadata={"description": (
        "The file (multipart/form-data). Its type is decided from its content: by default PNG, JPEG, GIF, WEBP, "
        "PDF or plain text (UTF-8); never HTML or SVG. The part's Content-Type and the filename's extension "
        "must not claim another accepted type than the content's")})


class MessageAttachmentSchema(Schema):
    """A file a message carries, with a download link that works without a token until url_expires_at."""

    id = fields.Integer(dump_only=True)
    filename = fields.String(dump_only=True, validate=validate.Length(max=FILENAME_MAX_LEN),
                             metadata={"description": "The uploader's name for it, without path parts"})
    content_type = fields.String(dump_only=True, metadata={"description": "Decided from the content"})
    size = fields.Integer(dump_only=True, metadata={"description": "Bytes"})
    url = fields.String(dump_only=True, metadata={"description": (
        "Signed download link (GET, no token); ask for the attachment or the messages again for a fresh one")})
    url_expires_at = fields.DateTime(dump_only=True)


class AttachmentSchema(MessageAttachmentSchema):
    """An uploaded file: unsent (message_id null) until a message of its uploader carries it."""

    conversation_id = fields.Integer(dump_only=True)
    message_id = fields.Integer(dump_only=True, allow_none=True,
                                metadata={"description": "The message carrying it; null until one is sent"})
    uploader_type = fields.String(dump_only=True, validate=validate.OneOf(UploaderType.values()))
    sha256 = fields.String(dump_only=True, metadata={"description": "Hex SHA-256 of the content"})
    created_at = fields.DateTime(dump_only=True)
