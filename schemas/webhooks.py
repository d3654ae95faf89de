"""Webhook endpoints, their delivery log, and the payloads they receive (the spec's top-level `webhooks`)."""
from marshmallow import fields, validate

from models.webhook import (
    WEBHOOK_DESCRIPTION_MAX_LEN, WEBHOOK_URL_MAX_LEN, DeliveryStatus, WebhookEventType,
)
from schemas.calls import CallSchema
from schemas.common import PageArgsSchema, PatchSchema, Schema
from schemas.conversations import ConversationSchema, MessageSchema
from schemas.openapi import declare_components, declare_webhooks, ref
from schemas.ratings import RatingSchema
from schemas.requests import SubmissionSchema

_URL = ("Where deliveries are POSTed: http or https, no credentials; its host must not be a private, loopback, "
        "link-local, multicast or reserved address, nor a cloud metadata address (checked again at each delivery)")
_EVENT_TYPES = "What the endpoint receives"


class EventTypeList(fields.List):
    """Event types (one given twice counts once)."""

    def __init__(self, **kwargs):
        super().__init__(fields.String(validate=validate.OneOf(WebhookEventType.values())),
                         validate=validate.Length(min=1, max=len(WebhookEventType)),
                         metadata={"description": _EVENT_TYPES}, **kwargs)


class WebhookEndpointSchema(Schema):
    id = fields.Integer(dump_only=True)
    url = fields.String(required=True, validate=validate.Length(min=1, max=WEBHOOK_URL_MAX_LEN),
                        metadata={"description": _URL, "format": "uri"})
    event_types = EventTypeList(required=True)
    description = fields.String(load_default="", validate=validate.Length(max=WEBHOOK_DESCRIPTION_MAX_LEN))
    enabled = fields.Boolean(load_default=True, metadata={
        "description": "Disabled endpoints receive nothing; their undelivered events wait until enabled again"})
    disabled_reason = fields.String(dump_only=True, allow_none=True, metadata={
        "description": "failing: the server turned it off after a run of failed deliveries (admins were told); "
                       "null otherwise"})
    consecutive_failures = fields.Integer(dump_only=True, metadata={"description": "Failed attempts in a row"})
    previous_secret_until = fields.DateTime(dump_only=True, allow_none=True, metadata={
        "description": "After a rotation, until when the previous secret still signs beside the new one"})
    created_at = fields.DateTime(dump_only=True)
    updated_at = fields.DateTime(dump_only=True)


class WebhookEndpointWithSecretSchema(WebhookEndpointSchema):
    secret = fields.String(dump_only=True, metadata={
        "description": "whsec_ + base64: verify signatures with it (Standard Webhooks). Shown only here: when the "
                       "endpoint is created and when the secret is rotated"})


class WebhookEndpointUpdateSchema(PatchSchema):
    url = fields.String(validate=validate.Length(min=1, max=WEBHOOK_URL_MAX_LEN),
                        metadata={"description": _URL, "format": "uri"})
    event_types = EventTypeList()
    description = fields.String(validate=validate.Length(max=WEBHOOK_DESCRIPTION_MAX_LEN))
    enabled = fields.Boolean(metadata={"description": "Enabling again resets the failure count"})


class WebhookDeliverySchema(Schema):
    id = fields.Integer(dump_only=True)
    endpoint_id = fields.Integer(dump_only=True)
    event_type = fields.String(dump_only=True, validate=validate.OneOf(WebhookEventType.values()))
    webhook_id = fields.String(dump_only=True, metadata={
        "description": "The webhook-id header: the same on every attempt and redelivery"})
    status = fields.String(dump_only=True, validate=validate.OneOf(DeliveryStatus.values()))
    attempts = fields.Integer(dump_only=True)
    last_status_code = fields.Integer(dump_only=True, allow_none=True)
    last_error = fields.String(dump_only=True, allow_none=True, metadata={
        "description": "Why the last attempt failed: a time-out, a refused connection, redirect_not_followed, "
                       "HTTP <status>, address_refused (the host resolved to an address a webhook may not reach)"})
    latency_ms = fields.Integer(dump_only=True, allow_none=True)
    response_excerpt = fields.String(dump_only=True, allow_none=True,
                                     metadata={"description": "The start of the last answer's body, at most 1 KiB"})
    next_attempt_at = fields.DateTime(dump_only=True, allow_none=True)
    created_at = fields.DateTime(dump_only=True)
    last_attempt_at = fields.DateTime(dump_only=True, allow_none=True)
    delivered_at = fields.DateTime(dump_only=True, allow_none=True)


class DeliveryQueryArgsSchema(PageArgsSchema):
    status = fields.String(validate=validate.OneOf(DeliveryStatus.values()))


# -- what endpoints receive -------------------------------------------------------


class ConversationWebhookDataSchema(Schema):
    conversation = fields.Nested(ConversationSchema, required=True)


class MessageWebhookDataSchema(Schema):
    message = fields.Nested(MessageSchema, required=True)


class CallWebhookDataSchema(Schema):
    call = fields.Nested(CallSchema, required=True)


class OfflineFormWebhookDataSchema(Schema):
    submission = fields.Nested(SubmissionSchema, required=True)


class RatingWebhookDataSchema(Schema):
    rating = fields.Nested(RatingSchema, required=True)


def _payload_schema(name, event_types, data_schema, description):
    """{type, timestamp, data}: the Standard Webhooks payload of some event types."""
    return type(name, (Schema,), {
        "type": fields.String(required=True, validate=validate.OneOf(event_types)),
        "timestamp": fields.DateTime(required=True, metadata={"description": "When the event happened"}),
        "data": fields.Nested(data_schema, required=True),
        "__doc__": description,
    })


ConversationWebhookSchema = _payload_schema(
    "ConversationWebhookSchema",
    [WebhookEventType.CONVERSATION_STARTED.value, WebhookEventType.CONVERSATION_ASSIGNED.value,
     WebhookEventType.CONVERSATION_ENDED.value], ConversationWebhookDataSchema, "A conversation started, was "
    "given to an agent (accepted, auto-assigned, taken over, transferred) or ended.")
MessageWebhookSchema = _payload_schema("MessageWebhookSchema", [WebhookEventType.MESSAGE_CREATED.value],
                                       MessageWebhookDataSchema, "A message was added to a conversation.")
CallWebhookSchema = _payload_schema(
    "CallWebhookSchema", [WebhookEventType.CALL_STARTED.value, WebhookEventType.CALL_ENDED.value],
    CallWebhookDataSchema, "A video call was created (ringing) or ended.")
OfflineFormWebhookSchema = _payload_schema(
    "OfflineFormWebhookSchema", [WebhookEventType.OFFLINE_FORM_SUBMITTED.value], OfflineFormWebhookDataSchema,
    "A visitor sent the offline form.")
RatingWebhookSchema = _payload_schema(
    "RatingWebhookSchema", [WebhookEventType.RATING_CREATED.value], RatingWebhookDataSchema,
    "Reserved: a visitor rated a chat. Nothing sends it yet.")

PAYLOADS = {
    WebhookEventType.CONVERSATION_STARTED: ConversationWebhookSchema,
    WebhookEventType.CONVERSATION_ASSIGNED: ConversationWebhookSchema,
    WebhookEventType.CONVERSATION_ENDED: ConversationWebhookSchema,
    WebhookEventType.MESSAGE_CREATED: MessageWebhookSchema,
    WebhookEventType.OFFLINE_FORM_SUBMITTED: OfflineFormWebhookSchema,
    WebhookEventType.RATING_CREATED: RatingWebhookSchema,
    WebhookEventType.CALL_STARTED: CallWebhookSchema,
    WebhookEventType.CALL_ENDED: CallWebhookSchema,
}

_HEADERS = {
    "webhook-id": ("msg_ + random: the same on every retry and redelivery of this delivery; drop a duplicate", {}),
    "webhook-timestamp": ("Unix seconds when this attempt was signed; refuse one far from your clock",
                          {"pattern": "^[0-9]{1,12}$"}),
    "webhook-signature": ("Space-separated `v1,<base64 HMAC-SHA256 of id.timestamp.body>`, one per secret in use "
                          "(two during a secret rotation's overlap): accept the delivery if any matches",
                          {"pattern": "^v1,[A-Za-z0-9+/=]+( v1,[A-Za-z0-9+/=]+)*$"}),
}


def _webhook(event_type, schema):
    name = "".join(part.capitalize() for part in event_type.value.replace(".", "_").split("_"))
    return {"post": {
        "operationId": f"on{name}",
        "summary": f"{event_type.value}: {schema.__doc__}",
        "description": "Signed per Standard Webhooks (standardwebhooks.com). Answer 2xx within the time-out; "
                       "anything else (a redirect too) is a failure, retried with exponential backoff.",
        "parameters": [{"name": header, "in": "header", "required": True, "description": description,
                        "schema": {"type": "string", "maxLength": 200, **extra}}
                       for header, (description, extra) in _HEADERS.items()],
        "requestBody": {"required": True, "content": {"application/json": {"schema": ref(schema)}}},
        "responses": {"200": {"description": "Received (any 2xx)"}},
    }}


declare_components(*dict.fromkeys(PAYLOADS.values()))
declare_webhooks({event_type.value: _webhook(event_type, schema) for event_type, schema in PAYLOADS.items()})
