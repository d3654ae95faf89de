"""The flow engine: a small, pure interpreter over the flow data.

Given the flow (its components in order), where the conversation stands and
what the visitor did, it says what the bot shows and where the flow goes. It
touches no database; services/flow_runtime.py applies its answers.

A component *waits* when it offers buttons (a message with buttons, the live
chat component); a message without buttons is shown and the flow moves on.
"""
from dataclasses import dataclass, field

MAX_AUTO_STEPS = 50  # components shown in a row without waiting: guards against odd flows


class InvalidInput(ValueError):
    """The visitor's input does not fit where the flow stands (an old button, say)."""


@dataclass
class Step:
    shows: list = field(default_factory=list)  # rendered components, in order
    component_id: int | None = None            # the component where the flow waits; None: ended
    effect: dict | None = None                 # {"type": "request", "kind": "text"|"video"}


def _index(flow, component_id):
    for index, component in enumerate(flow):
        if component["id"] == component_id:
            return index
    return None


def enter(flow, index, render):
    """Show the component at index and those after it until one waits."""
    step = Step()
    for _ in range(MAX_AUTO_STEPS):
        if index is None or index >= len(flow) or index < 0:
            step.component_id = None
            return step
        component = flow[index]
        shown = render(component)
        step.shows.append(shown)
        if shown.get("buttons"):
            step.component_id = component["id"]
            return step
        index += 1
    step.component_id = None
    return step


def start(flow, render):
    """The flow from its first component."""
    return enter(flow, 0, render)


def advance(flow, component_id, user_input, render):
    """What follows the visitor's input at the component `component_id` (None: the flow has ended)."""
    kind = user_input.get("type")
    index = _index(flow, component_id) if component_id is not None else None
    if index is None:
        if kind == "text":
            return Step(component_id=None)  # the flow has ended; text is just chat
        raise InvalidInput("The flow has ended")
    if kind == "text":
        return Step(component_id=component_id)
    if kind == "skip":
        return enter(flow, index + 1, render)
    if kind == "back":
        return enter(flow, max(index - 1, 0), render)
    if kind == "continue":  # the flow goes on by itself: with a given component, or the next one
        return _go_to(flow, index, user_input.get("component_id"), render)
    if kind != "button":
        raise InvalidInput(f"Unknown input {kind!r}")
    shown = render(flow[index])
    button = next((b for b in shown.get("buttons", []) if b["id"] == user_input.get("button_id")), None)
    if button is None:
        raise InvalidInput("That button is not offered here")
    return _press(flow, index, button["action"], render)


def _go_to(flow, index, component_id, render):
    """Enter the component component_id, or the one after index when there is none or it was deleted."""
    target = _index(flow, component_id) if component_id is not None else None
    if target is None:
        return enter(flow, index + 1, render)  # no target, or it was deleted: carry on
    return enter(flow, target, render)


def _press(flow, index, action, render):
    action_type = action["type"]
    if action_type in ("next", "skip"):
        return enter(flow, index + 1, render)
    if action_type == "back":
        return enter(flow, max(index - 1, 0), render)
    if action_type == "component":
        return _go_to(flow, index, action["component_id"], render)
    if action_type in ("live_chat", "video_chat"):
        return Step(component_id=flow[index]["id"],
                    effect={"type": "request", "kind": "text" if action_type == "live_chat" else "video"})
    raise InvalidInput(f"Unknown button action {action_type!r}")
