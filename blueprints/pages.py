"""The one page the backend serves: setting a password from an e-mailed link."""
import secrets

from flask import Blueprint, render_template

from models.user import PASSWORD_MIN_LEN

bp = Blueprint("pages", __name__)


@bp.get("/set-password")
def set_password():
    """Show the set-password form; the token stays in the URL and is posted by the page."""
    nonce = secrets.token_urlsafe(16)
    response = render_template("set_password.html", min_length=PASSWORD_MIN_LEN, api_path="/api/auth/set-password",
                               nonce=nonce)
    headers = {
        "Content-Security-Policy": f"default-src 'none'; script-src 'nonce-{nonce}'; style-src 'unsafe-inline'; "
                                   "connect-src 'self'; form-action 'none'; base-uri 'none'; frame-ancestors 'none'",
        "Referrer-Policy": "no-referrer",  # the token must not leak to other sites
        "Cache-Control": "no-store",
    }
    return response, 200, headers
