"""What a visitor is shown for a component: pure functions over its configuration.

Messages are templates with a closed set of placeholders ({agent_name},
{visitor_name}, {interface_name}, and {position} where a place in the queue
is known); {{ and }} stand for literal braces.
Substitution is one pass of plain text replacement: nothing in a template is
evaluated (no attribute access, no format specs), substituted values are not
scanned again, and HTML stays as it is (whatever displays the text escapes it).
"""
from models.flow import Action, ButtonStyle, ComponentType, Stage
from models.texts import (
    AGENT_NAME, INTERFACE_NAME, PLACEHOLDER_TOKEN, PLACEHOLDERS, POSITION, REQUEUED_DEFAULT, VISITOR_NAME,
)

# What a placeholder shows when its value is not known.
FALLBACKS = {AGENT_NAME: "an agent", VISITOR_NAME: "", INTERFACE_NAME: "", POSITION: "?"}

STAGES = {
    ComponentType.MESSAGE: (Stage.START,),
    ComponentType.LIVE_CHAT: tuple(Stage),
}


def fill(template, values, fallbacks=None):
    """Substitute the placeholders of template with plain-text values (fallbacks when unknown).

    fallbacks: what an unknown value shows instead of FALLBACKS', placeholder by placeholder.
    """
    fallbacks = {**FALLBACKS, **fallbacks} if fallbacks else FALLBACKS

    def replace(match):
        token = match.group(0)
        if token in ("{{", "}}"):
            return token[0]
        name = match.group(1)
        if name not in fallbacks:
            return token
        value = values.get(name)
        return fallbacks[name] if value is None or value == "" else str(value)

    return PLACEHOLDER_TOKEN.sub(replace, template)


def render_component(component_type, config, context=None):
    """Return what a visitor is shown: {"texts": [...], "buttons": [...], "form": {...} or None}.

    context: {"stage": a Stage of the type (default start), the placeholder values, and for the
    outside_hours stage the interface's "outside_hours_message" (None: the offline message)}.
    """
    context = context or {}
    kind = ComponentType(str(component_type))
    stage = Stage(str(context.get("stage") or Stage.START))
    if stage not in STAGES[kind]:
        raise ValueError(f"a {kind} component shows nothing at stage {stage}")
    values = {name: context.get(name) for name in PLACEHOLDERS}
    if stage == Stage.OUTSIDE_HOURS:  # the offline stage with the interface's message, when it has one
        offline = context.get("outside_hours_message") or config["messages"]["offline"]
        messages = {**config["messages"], "offline": offline}
        return _RENDERERS[kind]({**config, "messages": messages}, Stage.OFFLINE, values)
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
