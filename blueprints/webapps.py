"""The reference agent console at /console: one static page and its ES modules, under a strict CSP.

The console is plain files (static/console/, static/lib/), so serving it needs no build step and no Node.
Its page may run only scripts and styles from this server: no inline script, no inline style, no eval. The
socket is the same host, over ws: or wss: as the page was loaded.
"""
from flask import Blueprint, redirect, request, send_from_directory

from config import BASE_DIR

bp = Blueprint("webapps", __name__)

CONSOLE_DIR = BASE_DIR / "static" / "console"


def strict_csp(frame_ancestors="'none'"):
    """A Content-Security-Policy without 'unsafe-inline' or 'unsafe-eval' for a page of this server."""
    socket = ("wss://" if request.is_secure else "ws://") + request.host
    connect = f"'self' {socket}"
    return ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; "
            f"media-src 'self' blob:; connect-src {connect}; font-src 'self'; manifest-src 'self'; "
            "frame-src 'self'; worker-src 'self'; base-uri 'none'; form-action 'none'; "
            f"frame-ancestors {frame_ancestors}; object-src 'none'")


def secure_page(response, frame_ancestors="'none'"):
    """The headers of a page of this server: the strict CSP, no referrer, no sniffing, always revalidated."""
    response.headers["Content-Security-Policy"] = strict_csp(frame_ancestors)
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "no-cache"
    # Camera and microphone only for this page itself (video calls), nothing for frames.
    response.headers["Permissions-Policy"] = "camera=(self), microphone=(self), geolocation=()"
    return response


@bp.get("/console")
def console():
    """The agent console (a single page: its state lives in the URL's hash)."""
    return secure_page(send_from_directory(CONSOLE_DIR, "index.html", max_age=0))


@bp.get("/console/")
def console_slash():
    return redirect("/console", code=308)
