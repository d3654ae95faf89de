"""Who a visitor is: details they give, identities a site signs, and the pre-chat form those details answer.

A site that knows its user signs the user's id with the interface's identity
secret (hex HMAC-SHA256, the scheme Intercom and Chatwoot use). A valid
signature makes the visitor *verified*: one visitor per (interface, user id),
decided by a unique index, so the same user opening the widget on another
device continues their own conversations. Nothing else ever joins two
visitors: an e-mail a visitor types is contact data (email_verified false),
never a key.
"""
import hashlib
import hmac

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from errors import Forbidden, ValidationFailed
from extensions import db
from models.conversation import ATTRIBUTES_MAX, Visitor
from services.core import transaction

PRECHAT_MISSING = "Required before a live or video chat."


class IdentityInvalid(Forbidden):
    # Says nothing about whether a visitor with that user id exists.
    code, message = "identity_invalid", "The identity's user_hash does not match its user_id"


class PrechatRequired(ValidationFailed):
    code, message = "prechat_required", "Fill in the pre-chat form first: the missing fields are in errors"


def identity_hash(secret, user_id):
    """hex(HMAC-SHA256(secret, user_id)): what the site sends as user_hash."""
    return hmac.new(secret.encode(), user_id.encode(), hashlib.sha256).hexdigest()


def check_identity(interface, identity):
    """Return the user id identity signs for interface; IdentityInvalid when its hash does not match."""
    secret = interface.identity_secret
    expected = identity_hash(secret or "", identity["user_id"])
    # Constant time, and an interface without a secret verifies nobody.
    if not hmac.compare_digest(expected, identity["user_hash"].lower()) or not secret:
        raise IdentityInvalid()
    return identity["user_id"]


def verified_visitor(interface, external_id, visitor=None):
    """The visitor of interface's user external_id: theirs when known, else visitor (when anonymous) or a new one.

    An anonymous visitor who logs in on the site becomes that user's visitor and
    keeps their conversation (their token proves the browser is theirs). Two
    first opens at once make one visitor: the unique index decides.
    """
    existing = _by_external_id(interface, external_id)
    if existing is not None:
        return existing
    if visitor is None or visitor.external_id is not None:
        visitor = Visitor(workspace_id=interface.workspace_id, interface_id=interface.id)
    try:
        with db.session.begin_nested():  # a lost race rolls back this visitor alone
            visitor.external_id = external_id
            db.session.add(visitor)
            db.session.flush()
    except IntegrityError:
        existing = _by_external_id(interface, external_id)
        if existing is None:
            raise
        return existing
    return visitor


def _by_external_id(interface, external_id):
    return db.session.scalar(select(Visitor).where(Visitor.interface_id == interface.id,
                                                   Visitor.external_id == external_id))


def apply_details(visitor, details, verified=False):
    """Store name, e-mail and attributes; an e-mail counts as verified only when the site signed it."""
    if "name" in details:
        visitor.name = details["name"].strip()
    if "email" in details:
        email = details["email"].strip()
        if verified:
            visitor.email_verified = True
        elif email.lower() != (visitor.email or "").lower():
            visitor.email_verified = False
        visitor.email = email
    if "attributes" in details:
        merged = {**(visitor.attributes or {}), **details["attributes"]}
        if len(merged) > ATTRIBUTES_MAX:
            raise ValidationFailed("Invalid input: see errors", errors={"json": {"attributes": [
                f"A visitor has at most {ATTRIBUTES_MAX} attributes; these would make {len(merged)}."]}})
        visitor.attributes = merged


@transaction
def do_update_visitor(visitor, details):
    """Store the details a visitor gives (the pre-chat form); a typed e-mail is not verified."""
    apply_details(visitor, details)
    return visitor


def missing_prechat_fields(interface, visitor):
    """The keys of the enabled pre-chat form's required fields the visitor has not given, in form order."""
    form = interface.prechat_form or {}
    if not form.get("enabled"):
        return []
    given = {"name": visitor.name, "email": visitor.email}
    attributes = visitor.attributes or {}
    return [field["key"] for field in form.get("fields", []) if field.get("required")
            and not (given[field["key"]] if field["key"] in given else attributes.get(field["key"]))]


def check_prechat(conversation):
    """Refuse a live or video request while the pre-chat form misses a required field (422 prechat_required)."""
    missing = missing_prechat_fields(conversation.interface, conversation.visitor)
    if missing:
        raise PrechatRequired(errors={"json": {key: [PRECHAT_MISSING] for key in missing}})
