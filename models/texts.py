"""What a component's messages may say: the placeholders each kind of message accepts.

Wire values shared by the schemas that validate a component and the service
that renders it. A message is a template with a closed set of placeholders;
{{ and }} stand for literal braces.
"""
import re

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
# Components stored before the message existed show this.
REQUEUED_DEFAULT = "{agent_name} left; you are back in the queue, position {position}."

# "{{", "}}", or a brace pair around anything without braces or spaces: "{agent.name}",
# "{0}" and "{agent_name:>9}" are placeholders too (unknown ones), so typos are caught.
PLACEHOLDER_TOKEN = re.compile(r"\{\{|\}\}|\{([^{}\s]*)\}")


def placeholders_in(template):
    """Return the placeholder names written in template, in order of appearance."""
    return [match.group(1) for match in PLACEHOLDER_TOKEN.finditer(template) if match.group(1) is not None]


def unknown_placeholders(template, allowed):
    """Return the placeholders of template outside allowed, each once."""
    return list(dict.fromkeys(name for name in placeholders_in(template) if name not in allowed))
