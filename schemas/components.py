"""Components of a conversation flow, discriminated by `type`, and their previews.

`ComponentSchema` loads and dumps with the schema of the data's `type`; the
spec describes it as a oneOf with a discriminator, so generated clients get a
typed configuration for each component type.
"""
from collections.abc import Mapping

import marshmallow as ma
from apispec.ext.marshmallow.common import make_schema_key
from marshmallow import fields, post_load, validate, validates_schema

from models.base import ID_MAX
from models.flow import NAME_MAX_LEN, Action, ButtonStyle, ComponentType, Stage
from models.texts import BEFORE_AGENT
from schemas.common import ObjectId, SafeStr, Schema
from schemas.component_fields import Label, MessageText, Style, defaults_of, skip_when_partial
from schemas.live_chat import LiveChatConfigSchema, OfflineFormFieldSchema
from schemas.openapi import MAY_BE_ABSENT, declare_extra

MESSAGE_BUTTONS_MAX = 10


class ButtonTargetSchema(Schema):
    """Where a button goes: the next component, or a given component of the same flow.

    A button sent without a target goes to the next component ({"type": "next"}).
    """

    type = fields.String(load_default=Action.NEXT.value,
                         validate=validate.OneOf([Action.NEXT.value, Action.COMPONENT.value]))
    component_id = ObjectId(allow_none=True, load_default=None,
                            metadata={"description": "With type component: a component of the same flow",
                                      MAY_BE_ABSENT: "only a target of type component has one"})

    @validates_schema
    def _component_id_with_component(self, data, **kwargs):
        if skip_when_partial(kwargs):
            return
        if data["type"] == Action.COMPONENT and data["component_id"] is None:
            raise ma.ValidationError("Required when type is component.", "component_id")
        if data["type"] == Action.NEXT and data["component_id"] is not None:
            raise ma.ValidationError("Only a target of type component has a component_id.", "component_id")

    @post_load
    def _drop_empty_id(self, data, **kwargs):
        if data.get("component_id", 0) is None:
            del data["component_id"]
        return data


# _component_id_with_component in the spec: type component names a component; next (the default) names none.
declare_extra(ButtonTargetSchema, **{
    "if": {"required": ["type"], "properties": {"type": {"const": Action.COMPONENT.value}}},
    "then": {"required": ["component_id"], "properties": {"component_id": {"type": "integer"}}},
    "else": {"properties": {"component_id": {"type": "null"}}},
})


class MessageButtonSchema(Schema):
    """A button under a bot message."""

    label = Label(required=True)
    style = Style(load_default=ButtonStyle.PRIMARY.value)
    # No default in the spec: a $ref with an object default beside it trips client generators (the
    # default is told in ButtonTarget's description).
    target = fields.Nested(ButtonTargetSchema, load_default=lambda: {"type": Action.NEXT.value})


class MessageConfigSchema(Schema):
    """Configuration of a message component: bot text and optional buttons."""

    text = MessageText(placeholders=BEFORE_AGENT, load_default="Hello! How can we help you today?")
    buttons = fields.List(fields.Nested(MessageButtonSchema), load_default=list,
                          validate=validate.Length(max=MESSAGE_BUTTONS_MAX),
                          metadata={"description": "Without buttons the flow goes on with the next component",
                                    "default": []})


CONFIG_SCHEMAS = {
    ComponentType.MESSAGE.value: MessageConfigSchema,
    ComponentType.LIVE_CHAT.value: LiveChatConfigSchema,
}


def _type_field(kind):
    return fields.String(required=True, validate=validate.OneOf([kind.value]), metadata={"example": kind.value})


class _ComponentFieldsSchema(Schema):
    id = fields.Integer(dump_only=True)
    interface_id = fields.Integer(dump_only=True)
    position = fields.Integer(dump_only=True, metadata={"description": "0-based place in the flow"})
    name = SafeStr(max_length=NAME_MAX_LEN, allow_none=True, load_default=None,
                   metadata={"description": "Optional label, unique within the flow"})
    version = fields.Integer(dump_only=True, metadata={
        "description": "Bumped by every change of name or config (moves leave it); the ETag follows it"})
    created_at = fields.DateTime(dump_only=True)
    updated_at = fields.DateTime(dump_only=True)


class MessageComponentSchema(_ComponentFieldsSchema):
    """A bot message with optional buttons."""

    type = _type_field(ComponentType.MESSAGE)
    config = fields.Nested(MessageConfigSchema, load_default=defaults_of(MessageConfigSchema))


class LiveChatComponentSchema(_ComponentFieldsSchema):
    """The Live chat / Video chat / Human takeover component."""

    type = _type_field(ComponentType.LIVE_CHAT)
    config = fields.Nested(LiveChatConfigSchema, load_default=defaults_of(LiveChatConfigSchema))


_POSITION = {"validate": validate.Range(min=0, max=ID_MAX), "load_only": True,
             "metadata": {"description": "0-based place to insert at; the end when omitted"}}


class NewMessageComponentSchema(MessageComponentSchema):
    """A message component to add to a flow."""

    position = fields.Integer(**_POSITION)


class NewLiveChatComponentSchema(LiveChatComponentSchema):
    """A live_chat component to add to a flow; an omitted config takes every default."""

    position = fields.Integer(**_POSITION)


class TypedSchema(Schema):
    """Loads and dumps with the schema that `type_schemas` names for the data's `type`."""

    type_schemas: dict = {}

    def _schema_for(self, kind):
        schema_cls = self.type_schemas.get(str(kind)) if isinstance(kind, str) else None
        if schema_cls is None:
            raise ma.ValidationError({"type": [f"Must be one of: {', '.join(self.type_schemas)}."]})
        return schema_cls()

    def load(self, data, *, many=None, partial=None, unknown=None):
        if many or (many is None and self.many):
            raise NotImplementedError("a TypedSchema loads one object at a time")
        if not isinstance(data, Mapping):
            raise ma.ValidationError({"_schema": ["Invalid input type."]})
        partial = self.partial if partial is None else partial
        return self._schema_for(data.get("type")).load(data, partial=partial, unknown=unknown)

    def dump(self, obj, *, many=None):
        if many or (many is None and self.many):
            return [self.dump(item, many=False) for item in obj]
        kind = obj["type"] if isinstance(obj, Mapping) else obj.type
        return self._schema_for(kind).dump(obj)


class ComponentSchema(TypedSchema):
    """A component of a conversation flow; `type` says which configuration it has."""

    type_schemas = {
        ComponentType.MESSAGE.value: MessageComponentSchema,
        ComponentType.LIVE_CHAT.value: LiveChatComponentSchema,
    }


class NewComponentSchema(TypedSchema):
    """A component to add to a conversation flow; `type` says which configuration it has."""

    type_schemas = {
        ComponentType.MESSAGE.value: NewMessageComponentSchema,
        ComponentType.LIVE_CHAT.value: NewLiveChatComponentSchema,
    }


def document_typed_schemas(spec, converter):
    """Describe each TypedSchema as a oneOf of its type schemas with a discriminator on `type`."""
    for typed in (ComponentSchema, NewComponentSchema):
        mapping = {}
        for kind, schema_cls in typed.type_schemas.items():
            name = schema_cls.__name__.removesuffix("Schema")
            if name not in spec.components.schemas:
                spec.components.schema(name, schema=schema_cls)
            mapping[kind] = f"#/components/schemas/{name}"
        name = typed.__name__.removesuffix("Schema")
        spec.components.schema(name, {
            "description": typed.__doc__.strip(),
            "oneOf": [{"$ref": ref} for ref in mapping.values()],
            "discriminator": {"propertyName": "type", "mapping": mapping},
        })
        # Every use of the typed schema (body, response, list) now refers to the oneOf.
        for instance in (typed(), typed(partial=True)):
            converter.refs[make_schema_key(instance)] = name


class ComponentMoveSchema(Schema):
    position = fields.Integer(required=True, validate=validate.Range(min=0, max=ID_MAX),
                              metadata={"description": "The 0-based place the component moves to"})


class ComponentPreviewArgsSchema(Schema):
    stage = fields.String(load_default=Stage.START.value, validate=validate.OneOf(Stage.values()),
                          metadata={"description": "The moment to show; a message component has only start"})
    agent_name = SafeStr(max_length=NAME_MAX_LEN, metadata={"description": "Shown for {agent_name}"})
    visitor_name = SafeStr(max_length=NAME_MAX_LEN, metadata={"description": "Shown for {visitor_name}"})


class ButtonActionSchema(Schema):
    """What pressing a shown button does."""

    type = fields.String(required=True, validate=validate.OneOf(Action.values()))
    component_id = fields.Integer(metadata={"description": "With type component: where the flow goes",
                                            MAY_BE_ABSENT: "only an action of type component has one"})


class PreviewButtonSchema(Schema):
    id = fields.String(required=True, metadata={"description": "Sent back when the visitor presses it"})
    label = fields.String(required=True)
    style = fields.String(required=True, validate=validate.OneOf(ButtonStyle.values()))
    action = fields.Nested(ButtonActionSchema, required=True)


class PreviewFormSchema(Schema):
    """The offline form as the visitor sees it (recipients are never shown)."""

    form_fields = fields.List(fields.Nested(OfflineFormFieldSchema), data_key="fields", attribute="fields",
                              required=True)
    submit_label = fields.String(required=True)


class ComponentPreviewSchema(Schema):
    """Exactly what a visitor is shown for a component at one stage."""

    component_id = fields.Integer(required=True)
    type = fields.String(required=True, validate=validate.OneOf(ComponentType.values()))
    stage = fields.String(required=True, validate=validate.OneOf(Stage.values()))
    texts = fields.List(fields.String(), required=True, metadata={"description": "Plain text; escape it to display"})
    buttons = fields.List(fields.Nested(PreviewButtonSchema), required=True)
    form = fields.Nested(PreviewFormSchema, required=True, allow_none=True)
    continues_with = fields.Integer(required=True, allow_none=True, metadata={
        "description": "At the offline and outside_hours stages without a form: the component the flow goes on "
                       "with (its offline_form.branches); null: the next component, or the flow does not go on here"})
