"""Login, token pairs, refresh, logout and single-use password links."""
import hashlib
import hmac
import secrets
from datetime import datetime, timedelta, timezone

from flask import current_app
from flask_jwt_extended import create_access_token, create_refresh_token
from sqlalchemy import delete, exists, false, select, update

from errors import DomainError, Unauthorized
from extensions import db
from models import PasswordToken, PasswordTokenPurpose, RevokedToken, User
from models.base import utcnow
from services.core import transaction
from services.passwords import hash_password, needs_rehash, verify_password

TOKEN_KIND_USER = "user"


class InvalidCredentials(Unauthorized):
    code, message = "invalid_credentials", "E-mail or password is wrong"


class InvalidPasswordLink(DomainError):
    status, code, message = 400, "invalid_link", "This link is invalid, used or expired"


def normalise_email(email):
    return email.strip().lower()


def _user_claims(user):
    # "key" is what no later user can have; "ver" revokes on demotion and password changes.
    return {"kind": TOKEN_KIND_USER, "role": user.role.value, "ver": user.token_version, "key": user.token_key,
            "ws": user.workspace_id}


def _access_token(user, refresh_jti):
    """An access token that names its refresh token, as the API answers it."""
    claims = {**_user_claims(user), "rjti": refresh_jti}
    return {
        "access_token": create_access_token(identity=str(user.id), additional_claims=claims),
        "token_type": "Bearer",
        "expires_in": int(current_app.config["JWT_ACCESS_TOKEN_EXPIRES"].total_seconds()),
    }


def issue_tokens(user):
    """An access and a refresh token; the access token names its refresh token."""
    refresh_jti = secrets.token_hex(16)
    refresh = create_refresh_token(identity=str(user.id), additional_claims={**_user_claims(user), "jti": refresh_jti})
    return {**_access_token(user, refresh_jti), "refresh_token": refresh}


def do_login(email, password):
    """Check credentials; unknown e-mails and wrong passwords answer alike."""
    user = db.session.scalar(select(User).where(User.email == normalise_email(email)))
    ok = verify_password(user.password_hash if user else None, password)
    if not (ok and user and user.is_active):
        raise InvalidCredentials()
    if needs_rehash(user.password_hash):  # hashing parameters were raised since it was set
        user.password_hash = hash_password(password)
        db.session.commit()
    return {**issue_tokens(user), "user": user}


def do_refresh(user, refresh_claims):
    """A new access token tied to the same refresh token."""
    return _access_token(user, refresh_claims["jti"])


def _revoke(jti, expires_at):
    if jti and db.session.get(RevokedToken, jti) is None:
        db.session.add(RevokedToken(jti=jti, expires_at=expires_at))


def do_logout(access_claims):
    """Revoke the access token and the refresh token it was issued with."""
    expires = datetime.fromtimestamp(access_claims["exp"], timezone.utc)
    refresh_expires = utcnow() + current_app.config["JWT_REFRESH_TOKEN_EXPIRES"]
    _revoke(access_claims["jti"], expires)
    _revoke(access_claims.get("rjti"), refresh_expires)
    db.session.commit()


def keys_match(expected, given):
    return isinstance(given, str) and hmac.compare_digest(expected, given)


def is_revoked(jti):
    return db.session.get(RevokedToken, jti) is not None


def revoked_clause(jti):
    """SQL truth of "this jti is revoked" (false for no jti), to read beside a token's subject."""
    return exists().where(RevokedToken.jti == jti) if jti else false()


def subject_id(claims):
    """The id a token's subject claim names, or None."""
    try:
        return int(claims["sub"])
    except (KeyError, TypeError, ValueError):
        return None


def read_token(model, claims, *also):
    """A token's subject (a row of model, or None) and its revocation in one read: (row, revoked, *also).

    `also` are more truths read in the same statement (revoked_clause of
    another jti); a token naming no row has its revocation read alone.
    """
    subject = subject_id(claims)
    row = None
    if subject is not None:
        row = db.session.execute(select(model, revoked_clause(claims["jti"]), *also)
                                 .where(model.id == subject)).first()
    if row is None:
        return (None, is_revoked(claims["jti"]), *(False for _ in also))
    return (row[0], *(bool(value) for value in row[1:]))


def _holds(user, claims, refresh_revoked):
    """Whether the token still speaks for user (False when it names nobody)."""
    if user is None or not user.is_active or user.token_version != claims.get("ver"):
        return False
    # The id alone could name a later user; the key cannot.
    if not keys_match(user.token_key, claims.get("key")):
        return False
    # An access token ends with the refresh token it was obtained with (logout).
    return not refresh_revoked


def read_user_token(claims):
    """A user token's checks in one read: (whether its jti is revoked, the user it speaks for or None).

    Every authenticated request asks both: the token's own revocation, then its
    user, then the revocation of the refresh token it came with. One statement
    answers all three, where three round trips did.
    """
    if claims.get("kind") != TOKEN_KIND_USER:
        return is_revoked(claims["jti"]), None
    user, revoked, refresh_revoked = read_token(User, claims, revoked_clause(claims.get("rjti")))
    return revoked, user if _holds(user, claims, refresh_revoked) else None


def load_token_user(claims):
    """The user a token speaks for, or None when the token no longer holds."""
    if claims.get("kind") != TOKEN_KIND_USER:
        return None
    user_id = subject_id(claims)
    user = db.session.get(User, user_id) if user_id is not None else None
    if user is None:
        return None
    return user if _holds(user, claims, bool(claims.get("rjti")) and is_revoked(claims["rjti"])) else None


def do_purge_expired():
    """Forget revocations of expired tokens and password links past use; return both counts."""
    now = utcnow()
    revoked = db.session.execute(delete(RevokedToken).where(RevokedToken.expires_at < now)).rowcount
    links = db.session.execute(
        delete(PasswordToken).where((PasswordToken.expires_at < now) | PasswordToken.used_at.is_not(None))
    ).rowcount
    db.session.commit()
    return revoked, links


def token_hash(token):
    """How a single-use token (password link, socket ticket) is stored: never the token itself."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_password_link(user, purpose=PasswordTokenPurpose.INVITATION):
    """Invalidate earlier links of the user and make a new one (the caller commits)."""
    now = utcnow()
    db.session.execute(
        update(PasswordToken)
        .where(PasswordToken.user_id == user.id, PasswordToken.used_at.is_(None))
        .values(used_at=now)
    )
    token = secrets.token_urlsafe(32)
    ttl = timedelta(seconds=current_app.config["INVITATION_TTL_S"])
    db.session.add(PasswordToken(user_id=user.id, user_key=user.token_key, token_hash=token_hash(token),
                                 purpose=purpose.value, expires_at=now + ttl))
    link = f"{current_app.config['PUBLIC_URL']}/set-password?token={token}"
    return link, now + ttl


@transaction
def do_set_password(token, password):
    """Consume a password link once and set the user's password."""
    now = utcnow()
    row = db.session.scalar(select(PasswordToken).where(PasswordToken.token_hash == token_hash(token)))
    if row is None or row.used_at is not None or row.expires_at < now:
        raise InvalidPasswordLink()
    # The conditional update decides between two concurrent uses of one link.
    claimed = db.session.execute(
        update(PasswordToken).where(PasswordToken.id == row.id, PasswordToken.used_at.is_(None))
        .values(used_at=now)
    ).rowcount
    if claimed != 1:
        raise InvalidPasswordLink()
    user = row.user
    if user is None or not user.is_active or not keys_match(user.token_key, row.user_key):
        raise InvalidPasswordLink()
    user.password_hash = hash_password(password)
    user.token_version += 1  # sessions opened with an older password end
    return user
