"""What a visitor is shown for a component: pure functions over its configuration.

Messages are templates with a closed set of placeholders ({agent_name},
{visitor_name}, {interface_name}, and {position} where a place in the queue
is known); {{ and }} stand for literal braces.
Substitution is one pass of plain text replacement: nothing in a template is
evaluated (no attribute access, no format specs), substituted values are not
scanned again, and HTML stays as it is (whatever displays the text escapes it).
"""
import re

from models.base import StrEnum
from models.flow import ButtonStyle, ComponentType

AGENT_NAME = "agent_name"
VISITOR_NAME = "visitor_name"
INTERFACE_NAME = "interface_name"
POSITION = "position"
PLACEHOLDERS = (AGENT_NAME, VISITOR_NAME, INTERFACE_NAME, POSITION)
# Messages shown before an agent is with the visitor cannot name one.
BEFORE_AGENT = (VISITOR_NAME, INTERFACE_NAME)
WITH_AGENT = (AGENT_NAME, VISITOR_NAME, INTERFACE_NAME)
# The agent who left, and the visitor's new place in the queue.
REQUEUED_PLACEHOLDERS = (*WITH_AGENT, POSITION)
# What a placeholder shows when its value is not known.
FALLBACKS = {AGENT_NAME: "an agent", VISITOR_NAME: "", INTERFACE_NAME: "", POSITION: "?"}
# Components stored before the message existed show this.
REQUEUED_DEFAULT = "{agent_name} left; you are back in the queue, position {position}."

# "{{", "}}", or a brace pair around anything without braces or spaces: "{agent.name}",
# "{0}" and "{agent_name:>9}" are placeholders too (unknown ones), so typos are caught.
_TOKEN = re.compile(r"\{\{|\}\}|\{([^{}\s]*)\}")


class Stage(StrEnum):
    """The moments at which a component shows something."""

    START = "start"            # the flow reaches the component
    WELCOME = "welcome"        # the visitor asked for a live or video chat
    ASSIGNED = "assigned"      # an agent accepted the live chat request
    VIDEO_CHAT = "video_chat"  # an agent accepted the video chat request
    TAKEOVER = "takeover"      # an agent took the conversation over
    OFFLINE = "offline"        # no agent online, or nobody answered in time
    THANK_YOU = "thank_you"    # the visitor sent the offline form
    REQUEUED = "requeued"      # the agent left (offline, deleted): the chat waits in the queue again


class Action(StrEnum):
    """What pressing a button does."""

    NEXT = "next"
    COMPONENT = "component"
    LIVE_CHAT = "live_chat"
    VIDEO_CHAT = "video_chat"
    SKIP = "skip"
    BACK = "back"


STAGES = {
    ComponentType.MESSAGE: (Stage.START,),
    ComponentType.LIVE_CHAT: tuple(Stage),
}


def placeholders_in(template):
    """Return the placeholder names written in template, in order of appearance."""
    return [match.group(1) for match in _TOKEN.finditer(template) if match.group(1) is not None]


def unknown_placeholders(template, allowed):
    """Return the placeholders of template outside allowed, each once."""
    return list(dict.fromkeys(name for name in placeholders_in(template) if name not in allowed))


def fill(template, values):
    """Substitute the placeholders of template with plain-text values (fallbacks when unknown)."""

    def replace(match):
        token = match.group(0)
        if token in ("{{", "}}"):
            return token[0]
        name = match.group(1)
        if name not in FALLBACKS:
            return token
        value = values.get(name)
        return FALLBACKS[name] if value is None or value == "" else str(value)

    return _TOKEN.sub(replace, template)


def render_component(component_type, config, context=None):
    """Return what a visitor is shown: {"texts": [...], "buttons": [...], "form": {...} or None}.

    context: {"stage": a Stage of the type (default start), and the placeholder values}.
    """
    context = context or {}
    kind = ComponentType(str(component_type))
    stage = Stage(str(context.get("stage") or Stage.START))
    if stage not in STAGES[kind]:
        raise ValueError(f"a {kind} component shows nothing at stage {stage}")
    values = {name: context.get(name) for name in PLACEHOLDERS}
    return _RENDERERS[kind](config, stage, values)


def _shown(texts, buttons=(), form=None):
    return {"texts": list(texts), "buttons": list(buttons), "form": form}


def _button(button_id, label, style, action):
    return {"id": button_id, "label": label, "style": str(style), "action": action}


def _render_message(config, stage, values):
    buttons = [
        _button(f"button_{index}", button["label"], button["style"], dict(button["target"]))
        for index, button in enumerate(config["buttons"])
    ]
    return _shown([fill(config["text"], values)], buttons)


def _form(offline_form):
    return {
        "fields": [dict(field) for field in offline_form["fields"]],
        "submit_label": offline_form["submit_label"],
    }


def _start_buttons(config):
    options, chat = config["options"], config["chat_message"]
    buttons = [
        _button(kind, options[kind]["label"], options[kind]["style"], {"type": kind})
        for kind in (Action.LIVE_CHAT.value, Action.VIDEO_CHAT.value) if options[kind]["enabled"]
    ]
    for action, shown, label in ((Action.SKIP, "show_skip", "skip_label"), (Action.BACK, "show_back", "back_label")):
        if chat[shown]:
            buttons.append(_button(action.value, chat[label], ButtonStyle.SECONDARY, {"type": action.value}))
    return buttons


def _render_live_chat(config, stage, values):
    if stage == Stage.START:
        return _shown([fill(config["chat_message"]["text"], values)], _start_buttons(config))
    form = config["offline_form"]
    if stage == Stage.OFFLINE:
        # Without an active form the flow simply goes on with the next component.
        return _shown([fill(config["messages"]["offline"], values)], form=_form(form) if form["active"] else None)
    if stage == Stage.THANK_YOU:
        return _shown([fill(form["thank_you"], values)])
    if stage == Stage.REQUEUED:
        return _shown([fill(config["messages"].get(stage.value, REQUEUED_DEFAULT), values)])
    return _shown([fill(config["messages"][stage.value], values)])


_RENDERERS = {
    ComponentType.MESSAGE: _render_message,
    ComponentType.LIVE_CHAT: _render_live_chat,
}
