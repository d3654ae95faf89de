"""The configuration of a `live_chat` component, one schema per section of the builder's wizard.

Every setting has a default, so `{}` loads as a complete, working component.
"""
import marshmallow as ma
from marshmallow import fields, post_load, validate, validates_schema

from models.flow import MESSAGE_MAX_LEN, ButtonStyle, FormFieldType
from models.texts import BEFORE_AGENT, REQUEUED_DEFAULT, REQUEUED_PLACEHOLDERS, WITH_AGENT
from schemas.common import ObjectId, SafeEmail, Schema
from schemas.component_fields import ButtonLabel, Label, MessageText, Style, defaults_of, skip_when_partial
from schemas.openapi import declare_extra

RECIPIENTS_MAX = 20
FORM_FIELDS_MAX = 20
SELECT_OPTIONS_MAX = 50
FIELD_KEY_PATTERN = r"^[a-z][a-z0-9_]{0,39}$"
# (default, largest) answer length by field type; select and checkbox answers have none.
FIELD_LENGTHS = {
    FormFieldType.TEXT.value: (200, MESSAGE_MAX_LEN),
    FormFieldType.EMAIL.value: (254, 254),
    FormFieldType.PHONE.value: (32, 32),
    FormFieldType.TEXTAREA.value: (MESSAGE_MAX_LEN, MESSAGE_MAX_LEN),
}
DEFAULT_FORM_FIELDS = (
    {"key": "name", "label": "Name", "type": "text", "required": True},
    {"key": "email", "label": "E-mail", "type": "email", "required": True},
    {"key": "phone", "label": "Phone", "type": "phone", "required": False},
    {"key": "message", "label": "Message", "type": "textarea", "required": True},
)


class LiveChatButtonSchema(Schema):
    """The Live chat button: the visitor asks for a text chat with an agent."""

    enabled = fields.Boolean(load_default=True)
    label = ButtonLabel(load_default="Live chat")
    style = Style(load_default=ButtonStyle.PRIMARY.value)


class VideoChatButtonSchema(Schema):
    """The Video chat button: the visitor asks for a video chat with an agent."""

    enabled = fields.Boolean(load_default=False)
    label = ButtonLabel(load_default="Video chat")
    style = Style(load_default=ButtonStyle.PRIMARY.value)


class LiveChatOptionsSchema(Schema):
    """Which chats a visitor may ask for (live chat, video chat or both) and their buttons."""

    live_chat = fields.Nested(LiveChatButtonSchema, load_default=defaults_of(LiveChatButtonSchema))
    video_chat = fields.Nested(VideoChatButtonSchema, load_default=defaults_of(VideoChatButtonSchema))

    @validates_schema
    def _one_at_least(self, data, **kwargs):
        if skip_when_partial(kwargs):
            return
        if not data["live_chat"]["enabled"] and not data["video_chat"]["enabled"]:
            message = ["Enable live chat, video chat or both."]
            raise ma.ValidationError({"live_chat": {"enabled": message}, "video_chat": {"enabled": message}})


# _one_at_least in the spec: live chat switched off means video chat switched on (if/then, which client
# generators pass over, where an anyOf with a `not` branch broke openapi-python-client). A PATCH of a
# component is checked once merged with the stored configuration; the spec states the rule for the whole object.
declare_extra(LiveChatOptionsSchema, **{
    "if": {"required": ["live_chat"],
           "properties": {"live_chat": {"required": ["enabled"], "properties": {"enabled": {"const": False}}}}},
    "then": {"required": ["video_chat"],
             "properties": {"video_chat": {"required": ["enabled"], "properties": {"enabled": {"const": True}}}}},
})


class LiveChatMessagesSchema(Schema):
    """What the visitor is told at each step of a live or video chat request."""

    welcome = MessageText(
        placeholders=BEFORE_AGENT, load_default="Please wait a moment while we connect you with one of our agents.",
        metadata={"description": "Shown once the visitor asks for a live or video chat"},
    )
    offline = MessageText(
        placeholders=BEFORE_AGENT, load_default="Sorry, none of our agents is available right now.",
        metadata={"description": "Shown when no agent is online or nobody answers in time"},
    )
    takeover = MessageText(
        placeholders=WITH_AGENT, load_default="You are now chatting with {agent_name} from our team.",
        metadata={"description": "Shown when an agent takes the conversation over from the bot"},
    )
    video_chat = MessageText(
        placeholders=WITH_AGENT, load_default="Your video chat with {agent_name} is starting.",
        metadata={"description": "Shown when an agent accepts the video chat request"},
    )
    assigned = MessageText(
        placeholders=WITH_AGENT, load_default="You are now chatting with {agent_name}.",
        metadata={"description": "Shown when an agent accepts the live chat request"},
    )
    requeued = MessageText(
        placeholders=REQUEUED_PLACEHOLDERS, load_default=REQUEUED_DEFAULT,
        metadata={"description": "Shown when the visitor's agent goes (offline past the grace period, deleted, "
                                 "deactivated) and the chat waits in the queue again"},
    )


class OfflineFormFieldSchema(Schema):
    """One field of the offline form."""

    key = fields.String(required=True, validate=validate.Regexp(
        FIELD_KEY_PATTERN, error="Use 1 to 40 lower-case letters, digits or _, starting with a letter."),
        metadata={"description": "Names the answer in submissions and e-mails", "example": "company"})
    label = Label(required=True)
    type = fields.String(load_default=FormFieldType.TEXT.value, validate=validate.OneOf(FormFieldType.values()))
    required = fields.Boolean(load_default=False)
    max_length = fields.Integer(
        load_default=None, allow_none=True, validate=validate.Range(min=1, max=MESSAGE_MAX_LEN),
        metadata={"description": "Longest answer accepted. Defaults by type: text 200 (at most 2000), "
                                 "email 254, phone 32, textarea 2000; none for select and checkbox"},
    )
    options = fields.List(Label(), load_default=list, validate=validate.Length(max=SELECT_OPTIONS_MAX),
                          metadata={"description": "The choices of a select field (only there)", "default": [],
                                    "uniqueItems": True})

    @validates_schema
    def _fits_type(self, data, **kwargs):
        if skip_when_partial(kwargs):
            return
        kind, options, max_length = data["type"], data["options"], data["max_length"]
        if kind == FormFieldType.SELECT and not options:
            raise ma.ValidationError("A select field needs at least one option.", "options")
        if kind != FormFieldType.SELECT and options:
            raise ma.ValidationError("Only select fields have options.", "options")
        if len(set(options)) != len(options):
            raise ma.ValidationError("Options must differ from each other.", "options")
        if kind in FIELD_LENGTHS:
            if max_length is not None and max_length > FIELD_LENGTHS[kind][1]:
                raise ma.ValidationError(f"A {kind} answer is at most {FIELD_LENGTHS[kind][1]} characters.",
                                         "max_length")
        elif max_length is not None:
            raise ma.ValidationError(f"A {kind} field has no length.", "max_length")

    @post_load
    def _default_length(self, data, **kwargs):
        if not skip_when_partial(kwargs) and data["max_length"] is None and data["type"] in FIELD_LENGTHS:
            data["max_length"] = FIELD_LENGTHS[data["type"]][0]
        return data


def _of_type(kind):
    """JSON Schema: a form field whose type is kind (an absent type is text, the default)."""
    if kind == FormFieldType.TEXT.value:
        return {"anyOf": [{"not": {"required": ["type"]}}, {"properties": {"type": {"const": kind}}}]}
    return {"required": ["type"], "properties": {"type": {"const": kind}}}


# _fits_type's rules, stated in the spec (a body that breaks one is a 422, so a client can check it first).
declare_extra(OfflineFormFieldSchema, allOf=[
    {"if": _of_type(FormFieldType.SELECT.value),
     "then": {"required": ["options"], "properties": {"options": {"minItems": 1}}},
     "else": {"properties": {"options": {"maxItems": 0}}}},
    *({"if": _of_type(kind), "then": {"properties": {"max_length": {"maximum": longest}}}}
      for kind, (_, longest) in FIELD_LENGTHS.items() if longest < MESSAGE_MAX_LEN),
    *({"if": _of_type(kind), "then": {"properties": {"max_length": {"type": "null"}}}}
      for kind in FormFieldType.values() if kind not in FIELD_LENGTHS),
])


class OutcomeBranchesSchema(Schema):
    """Where the flow goes after an outcome when the offline form is not active; null: the next component.

    Each is a component of the same flow other than this one; a target deleted
    later is dropped, and the flow goes on with the next component.
    """

    outside_hours = ObjectId(allow_none=True, load_default=None, metadata={
        "description": "After the outside-hours message (a request outside the interface's business hours)"})
    offline = ObjectId(allow_none=True, load_default=None, metadata={
        "description": "After the offline message (no agent online, or nobody answered in time)"})


class OfflineFormSchema(Schema):
    """The form shown when no agent answers; its submissions are stored and e-mailed.

    An active form must be deliverable: at least one field, and recipients (or
    an admin in the workspace when recipients is empty).
    """

    active = fields.Boolean(load_default=True,
                            metadata={"description": "When false, the flow goes on with the next component, or with "
                                                   "the outcome's component in branches"})
    form_fields = fields.List(
        fields.Nested(OfflineFormFieldSchema), data_key="fields", attribute="fields",
        load_default=lambda: OfflineFormFieldSchema(many=True).load(DEFAULT_FORM_FIELDS),
        validate=validate.Length(max=FORM_FIELDS_MAX),
        metadata={"description": "Name, e-mail, phone and message by default. Each field's key differs from the "
                                 "others' (a repeated key is a 422); an active form has at least one field",
                  "default": OfflineFormFieldSchema(many=True).load(DEFAULT_FORM_FIELDS)},
    )
    recipients = fields.List(
        SafeEmail(), load_default=list, validate=validate.Length(max=RECIPIENTS_MAX),
        metadata={"description": "Where submissions are e-mailed; empty means the workspace's admins",
                  "default": []},
    )
    effective_recipients = fields.List(
        fields.String(), dump_only=True,
        metadata={"description": "Who receives submissions now: recipients, or the workspace's active admins"},
    )
    thank_you = MessageText(placeholders=BEFORE_AGENT,
                            load_default="Thank you! We will get back to you as soon as possible.",
                            metadata={"description": "Shown after the visitor sends the form"})
    submit_label = Label(load_default="Send")
    branches = fields.Nested(OutcomeBranchesSchema, load_default=defaults_of(OutcomeBranchesSchema))

    @validates_schema
    def _deliverable(self, data, **kwargs):
        if skip_when_partial(kwargs):
            return
        form_fields = data["fields"]
        if data["active"] and not form_fields:
            raise ma.ValidationError("An active offline form needs at least one field.", "fields")
        seen = {}
        for index, field in enumerate(form_fields):
            if field["key"] in seen:
                raise ma.ValidationError({index: {"key": [f"Used by field {seen[field['key']]} already."]}},
                                         "fields")
            seen[field["key"]] = index

    @post_load
    def _normalise_recipients(self, data, **kwargs):
        if "recipients" in data:
            data["recipients"] = list(dict.fromkeys(address.strip().lower() for address in data["recipients"]))
        return data


# _deliverable's first rule in the spec: a form that is not switched off (active is true by default) has a
# field. Distinct keys (its second) JSON Schema cannot say; the fields' description does.
declare_extra(OfflineFormSchema, **{
    "if": {"required": ["active"], "properties": {"active": {"const": False}}},
    "else": {"properties": {"fields": {"minItems": 1}}},
})


class LiveChatChatMessageSchema(Schema):
    """The message shown with the buttons when the flow reaches the component, and Skip and Back."""

    text = MessageText(placeholders=BEFORE_AGENT, load_default="Would you like to chat with one of our agents?")
    show_skip = fields.Boolean(load_default=True, metadata={"description": "Skip goes on with the next component"})
    skip_label = Label(load_default="Skip")
    show_back = fields.Boolean(load_default=False, metadata={"description": "Back returns to the previous component"})
    back_label = Label(load_default="Back")


# The wizard's sections, each saved on its own; the key is the config key.
SECTION_SCHEMAS = {
    "options": LiveChatOptionsSchema,
    "messages": LiveChatMessagesSchema,
    "offline_form": OfflineFormSchema,
    "chat_message": LiveChatChatMessageSchema,
}


class LiveChatConfigSchema(Schema):
    """Configuration of a live_chat component; every setting has a default."""

    options = fields.Nested(LiveChatOptionsSchema, load_default=defaults_of(LiveChatOptionsSchema))
    messages = fields.Nested(LiveChatMessagesSchema, load_default=defaults_of(LiveChatMessagesSchema))
    offline_form = fields.Nested(OfflineFormSchema, load_default=defaults_of(OfflineFormSchema))
    chat_message = fields.Nested(LiveChatChatMessageSchema, load_default=defaults_of(LiveChatChatMessageSchema))
