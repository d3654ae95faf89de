"""Transcripts: a chat's messages mailed to its visitor once it ended.

A visitor asks for one (to the address they give), or the interface sends one
by itself when the chat ends, to the visitor's e-mail only when the site
verified it. The mail is queued in the outbox in the transaction that caused
it. It holds the conversation's messages (visitor, agent, bot, system; never
a private note, which lives in a table of its own), every text escaped in the
HTML part, and the files as signed links that expire after
TRANSCRIPT_LINK_TTL_S.
"""
import textwrap
import time
from html import escape

from flask import current_app
from sqlalchemy import select

from extensions import db
from models import Message, SenderType
from models.base import utcnow
from services.attachments import attachments_by_message, link
from services.mailer import queue_mail
from services.core import transaction
from services.ratings import ended_conversation

MAIL_KIND = "transcript"
_SENDER_LABELS = {SenderType.VISITOR: "You", SenderType.BOT: "Bot", SenderType.SYSTEM: "System"}
# SMTP takes lines of at most 998 characters (RFC 5321): longer ones are folded, at a space where one is.
# In HTML a fold is only white space, made before escaping (which makes a character at most 6 long).
LINE_MAX, HTML_LINE_MAX = 900, 150


def _fold_line(line, width):
    if len(line) <= width:
        return [line]
    return textwrap.wrap(line, width, break_on_hyphens=False, drop_whitespace=False)


def _fold(text):
    return "\n".join(piece for line in text.split("\n") for piece in _fold_line(line, LINE_MAX))


def _html_text(text):
    """A message's text as HTML: escaped, its line breaks kept (<br>), its long lines folded."""
    return "<br>\n".join("\n".join(escape(piece) for piece in _fold_line(line, HTML_LINE_MAX))
                         for line in text.split("\n"))


def _sender(message):
    if message.sender_type == SenderType.AGENT:
        return message.sender_name or "Agent"
    return _SENDER_LABELS[message.sender_type]


def render_transcript(conversation):
    """(subject, plain text, HTML) of the conversation's transcript; its file links signed now."""
    messages = db.session.scalars(select(Message).where(Message.conversation_id == conversation.id)
                                  .order_by(Message.seq)).all()
    files = attachments_by_message([m.id for m in messages])
    now, ttl_s = time.time(), current_app.config["TRANSCRIPT_LINK_TTL_S"]
    name = conversation.interface.name
    text_lines = [f"Your chat with {name}", ""]
    rows = []
    for message in messages:
        at = message.created_at.strftime("%Y-%m-%d %H:%M UTC")
        sender = _sender(message)
        text_lines.append(_fold(f"[{at}] {sender}: {message.text}"))
        links = []
        for attachment in files.get(message.id, ()):
            url, expires_at = link(attachment.id, now, ttl_s)
            text_lines.append(f"    {attachment.filename}: {url}")
            links.append(f"<br>\n<a href=\"{escape(url)}\">{escape(attachment.filename)}</a>")
        body = _html_text(message.text)
        rows.append(f"<tr><td valign='top'>{escape(at)}</td><th align='left' valign='top'>{escape(sender)}</th>"
                    f"<td>{body}{''.join(links)}</td></tr>")
    days = max(1, round(ttl_s / 86400))
    footer = f"Links to files work for {days} day{'s' if days != 1 else ''}."
    text_lines += ["", footer]
    html = "\n".join([f"<p>Your chat with {escape(name)}</p>", "<table>", *rows, "</table>",
                      f"<p>{escape(footer)}</p>"])
    return f"Transcript of your chat with {name}", "\n".join(text_lines), html


def queue_transcript(conversation, address):
    """Queue the conversation's transcript to address in the caller's transaction (the caller commits)."""
    subject, text, html = render_transcript(conversation)
    return queue_mail(MAIL_KIND, [address], subject, text, html, workspace_id=conversation.workspace_id,
                      conversation_id=conversation.id)


def send_on_close(conversation):
    """Queue the transcript when the chat ends, if the interface sends them and the visitor's e-mail is
    verified (a typed address is never mailed unasked)."""
    visitor = conversation.visitor
    if conversation.interface.transcript_auto_send and visitor.email_verified and visitor.email:
        queue_transcript(conversation, visitor.email)


@transaction
def do_send_transcript(visitor, conversation_id, address):
    """Mail the visitor's ended chat to the address they give."""
    conversation = ended_conversation(visitor, conversation_id)
    queue_transcript(conversation, address)
    return {"email": address, "queued_at": utcnow()}
