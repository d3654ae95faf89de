"""Fields shared by the component configurations: labels, messages, button styles, defaults."""
import marshmallow as ma
from marshmallow import fields, validate

from models.flow import LABEL_MAX_LEN, MESSAGE_MAX_LEN, ButtonStyle
from models.texts import unknown_placeholders
from schemas.common import NOT_BLANK_PATTERN, SafeStr, not_blank


def no_nul(value):
    if "\0" in value:
        raise ma.ValidationError("Must not contain NUL characters.")


def defaults_of(schema_cls):
    """A load_default that is the schema's own defaults (a nested default is not loaded otherwise)."""
    return lambda: schema_cls().load({})


def skip_when_partial(kwargs):
    """Cross-field rules wait for the full configuration (a PATCH is checked again once merged)."""
    return bool(kwargs.get("partial"))


class Label(SafeStr):
    """A button or field label: one line, not blank, at most LABEL_MAX_LEN characters."""

    def __init__(self, **kwargs):
        super().__init__(max_length=LABEL_MAX_LEN, **kwargs)


class ButtonLabel(Label):
    """A button label with a default: left empty (or blank), the button keeps its default label."""

    def __init__(self, *, load_default, **kwargs):
        metadata = {"description": f"Empty or blank means the default, {load_default!r}",
                    "pattern": r"^[^\r\n\x00]*$", **kwargs.pop("metadata", {})}
        super().__init__(load_default=load_default, metadata=metadata, **kwargs)
        self.metadata.pop("minLength", None)  # blank is welcome here: it means the default

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, str) and not value.strip():
            value = self.load_default
        return super()._deserialize(value, attr, data, **kwargs)


class Style(fields.String):
    """How a button looks."""

    def __init__(self, **kwargs):
        kwargs.setdefault("load_default", ButtonStyle.PRIMARY.value)
        super().__init__(validate=validate.OneOf(ButtonStyle.values()), **kwargs)


class MessageText(fields.String):
    """A text shown to visitors: line breaks allowed, at most MESSAGE_MAX_LEN characters, known placeholders only."""

    def __init__(self, *, placeholders, metadata=None, max_length=MESSAGE_MAX_LEN, **kwargs):
        self.placeholders = tuple(placeholders)
        listed = ", ".join("{" + name + "}" for name in self.placeholders)
        metadata = dict(metadata or {})
        tail = f"Placeholders: {listed}; write {{{{ and }}}} for literal braces."
        metadata["description"] = f"{metadata['description']}. {tail}" if metadata.get("description") else tail
        metadata.setdefault("minLength", 1)
        metadata.setdefault("pattern", NOT_BLANK_PATTERN)
        super().__init__(validate=[not_blank, no_nul, validate.Length(max=max_length), self._known],
                         metadata=metadata, **kwargs)

    def _known(self, value):
        unknown = unknown_placeholders(value, self.placeholders)
        if unknown:
            listed = ", ".join("{" + name + "}" for name in self.placeholders)
            raise ma.ValidationError(
                f"Unknown placeholder {', '.join('{' + name + '}' for name in unknown)}: use {listed}, "
                "or write {{ and }} for literal braces."
            )
