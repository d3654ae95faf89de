"""Offline form submissions: validated, stored first, then e-mailed through the outbox."""
import re
from html import escape

from marshmallow import ValidationError
from marshmallow.validate import Email
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from errors import Conflict, NotFound, ValidationFailed
from extensions import db
from models import Component, FormFieldType, LiveRequest, OfflineSubmission, RequestStatus
from models.flow import Stage
from services.core import access_conversation, transaction
from services.flow_runtime import show_stage
from services.flows import admin_emails
from services.mailer import queue_mail
from services.pagination import paginate
from services.webhooks import offline_form_submitted

PHONE = re.compile(r"^[0-9+()\-. ]{3,32}$")
_email = Email()


class FormNotOffered(Conflict):
    code, message = "form_not_offered", "No offline form is offered for this request"


class FormInactive(Conflict):
    code, message = "form_inactive", "The offline form is not active"


class AlreadySubmitted(Conflict):
    code, message = "already_submitted", "The offline form of this request was sent already"


def _check_answer(field, value):
    """The cleaned answer, or raise ValueError with what is wrong."""
    kind = field["type"]
    if kind == FormFieldType.CHECKBOX:
        if not isinstance(value, bool):
            raise ValueError("Must be true or false.")
        if field["required"] and not value:
            raise ValueError("Must be checked.")
        return value
    if not isinstance(value, str):
        raise ValueError("Must be text.")
    value = value.strip()
    if kind in (FormFieldType.EMAIL, FormFieldType.PHONE, FormFieldType.SELECT, FormFieldType.TEXT) \
            and any(ch in value for ch in "\r\n\0"):
        raise ValueError("Must be one line.")
    if "\0" in value:
        raise ValueError("Must not contain NUL characters.")
    if field.get("max_length") and len(value) > field["max_length"]:
        raise ValueError(f"At most {field['max_length']} characters.")
    if not value:
        if field["required"]:
            raise ValueError("Required.")
        return value
    if kind == FormFieldType.EMAIL:
        try:
            _email(value)
        except ValidationError:
            raise ValueError("Not a valid e-mail address.") from None
    elif kind == FormFieldType.PHONE and not PHONE.match(value):
        raise ValueError("Not a valid phone number.")
    elif kind == FormFieldType.SELECT and value not in field["options"]:
        raise ValueError("Not one of the options.")
    return value


def check_answers(form_fields, answers):
    """Answers checked against the form's fields; 422 naming every wrong field."""
    errors, cleaned = {}, {}
    by_key = {field["key"]: field for field in form_fields}
    for key in answers:
        if key not in by_key:
            errors[key] = ["Unknown field."]
    for key, field in by_key.items():
        if key not in answers:
            if field["required"]:
                errors[key] = ["Required."]
            continue
        try:
            cleaned[key] = _check_answer(field, answers[key])
        except ValueError as error:
            errors[key] = [str(error)]
    if errors:
        raise ValidationFailed("Invalid input: see errors", errors={"json": {"answers": errors}})
    return cleaned


def _mail(interface, form_fields, answers, reply_to):
    lines = [f"{field['label']}: {answers.get(field['key'], '')}" for field in form_fields]
    text = f"A visitor of {interface.name} left a message while no agent was available.\n\n" + "\n".join(lines)
    rows = "".join(f"<tr><th align='left'>{escape(field['label'])}</th><td>{escape(str(answers.get(field['key'], '')))}</td></tr>"
                   for field in form_fields)
    html = (f"<p>A visitor of {escape(interface.name)} left a message while no agent was available.</p>"
            f"<table>{rows}</table>")
    return text, html


@transaction
def do_submit_offline_form(visitor, conversation_id, request_id, answers):
    """Store the visitor's form, queue its e-mail and thank them; once per request."""
    conversation = access_conversation(visitor, conversation_id)
    request = db.session.get(LiveRequest, request_id)
    if request is None or request.conversation_id != conversation.id:
        raise NotFound("Request not found")
    if request.status not in (RequestStatus.OFFLINE, RequestStatus.EXPIRED, RequestStatus.OUTSIDE_HOURS):
        raise FormNotOffered()
    component = db.session.get(Component, request.component_id) if request.component_id else None
    if component is None:
        raise FormNotOffered()
    form = component.config["offline_form"]
    if not form["active"]:
        raise FormInactive()
    cleaned = check_answers(form["fields"], answers)
    recipients = list(form["recipients"]) or admin_emails(conversation.workspace_id)
    submission = OfflineSubmission(workspace_id=conversation.workspace_id, interface_id=conversation.interface_id,
                                   conversation_id=conversation.id, request_id=request.id,
                                   component_id=component.id, data=cleaned, recipients=recipients)
    try:
        with db.session.begin_nested():
            db.session.add(submission)
    except IntegrityError:
        raise AlreadySubmitted() from None
    offline_form_submitted(submission)
    reply_to = next((cleaned[f["key"]] for f in form["fields"]
                     if f["type"] == FormFieldType.EMAIL and cleaned.get(f["key"])), None)
    if recipients:
        text, html = _mail(conversation.interface, form["fields"], cleaned, reply_to)
        queue_mail("offline_form", recipients, f"Offline message from {conversation.interface.name}", text, html,
                   reply_to=reply_to, workspace_id=conversation.workspace_id, conversation_id=conversation.id)
    show_stage(conversation, component, Stage.THANK_YOU)
    return submission


def list_submissions(actor, interface, page, page_size):
    """Offline form submissions of an interface, newest first."""
    stmt = select(OfflineSubmission).where(OfflineSubmission.interface_id == interface.id) \
        .order_by(OfflineSubmission.id.desc())
    return paginate(stmt, page, page_size)


def access_submission(actor, submission_id):
    submission = db.session.get(OfflineSubmission, submission_id)
    if submission is None or submission.workspace_id != actor.workspace_id:
        raise NotFound("Submission not found")
    return submission
