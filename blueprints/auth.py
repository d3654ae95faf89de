"""Login, refresh, logout, me, and setting a password from an e-mailed link."""
from flask import current_app, request
from flask.views import MethodView
from flask_jwt_extended import current_user, get_jwt

from blueprints.common import Blueprint, errors, login_required
from extensions import limiter
from schemas.auth import AccessTokenSchema, LoginSchema, MeSchema, SetPasswordSchema, TokenPairSchema
from schemas.inbound import is_bad_text
from services.auth import (
    InvalidCredentials, InvalidPasswordLink, do_login, do_logout, do_refresh, do_set_password, normalise_email,
)

blp = Blueprint("auth", __name__, url_prefix="/api/auth", description="Authentication")


def _login_account_key():
    body = request.get_json(silent=True)
    email = body.get("email") if isinstance(body, dict) else None
    # The key goes to the rate-limit storage (Redis) before the body is validated: it must encode, and stay
    # as short as the longest address.
    if not isinstance(email, str) or is_bad_text(email):
        return "login-account:-"
    return "login-account:" + normalise_email(email)[:254]


_per_address = limiter.limit(lambda: current_app.config["LOGIN_LIMIT_PER_ADDRESS"], scope="login-address")
# Only failed attempts count against an account, so its owner is not locked
# out by their own successful logins.
_per_account = limiter.limit(lambda: current_app.config["LOGIN_LIMIT_PER_ACCOUNT"], key_func=_login_account_key,
                             scope="login-account", deduct_when=lambda response: response.status_code == 401)


@blp.route("/login")
class Login(MethodView):
    decorators = [_per_address, _per_account]

    @blp.doc(operationId="logIn")
    @blp.arguments(LoginSchema)
    @blp.response(200, TokenPairSchema)
    @errors(blp, 401, 422, 429, codes={401: [InvalidCredentials]})
    def post(self, data):
        """Log in with e-mail and password

        Returns an access token and a refresh token. Failed attempts are limited per address and per account.
        """
        return do_login(data["email"], data["password"])


@blp.route("/refresh")
class Refresh(MethodView):
    @blp.doc(operationId="refreshAccessToken")
    @login_required(blp, refresh=True)
    @blp.response(200, AccessTokenSchema)
    def post(self):
        """Get a new access token with the refresh token

        Send the refresh token (not the access token) as the bearer token.
        """
        return do_refresh(current_user, get_jwt())


@blp.route("/logout")
class Logout(MethodView):
    @blp.doc(operationId="logOut")
    @login_required(blp)
    @blp.response(204)
    def post(self):
        """Log out: revoke this access token and its refresh token

        Both tokens stop working at once.
        """
        do_logout(get_jwt())


@blp.route("/me")
class Me(MethodView):
    @blp.doc(operationId="getCurrentUser")
    @login_required(blp)
    @blp.response(200, MeSchema)
    def get(self):
        """Show the logged-in user

        The user the access token belongs to.
        """
        return current_user


@blp.route("/set-password")
class SetPassword(MethodView):
    decorators = [limiter.limit(lambda: current_app.config["SET_PASSWORD_LIMIT_PER_ADDRESS"], scope="set-password")]

    @blp.doc(operationId="setPassword")
    @blp.arguments(SetPasswordSchema)
    @blp.response(204)
    @errors(blp, 400, 422, 429, codes={400: [InvalidPasswordLink, "bad_request"]})
    def post(self, data):
        """Set a password with the single-use link from an invitation

        The token comes from the e-mailed link; a used, expired or voided link is answered 400 invalid_link.
        """
        do_set_password(data["token"], data["password"])
