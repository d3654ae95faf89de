"""The embeddable widget's files and the demo page that hosts it.

A customer's page adds the widget with one tag (the demo page at /demo/<public key> shows it with this
server's address and the current hash):

    <script src="https://chat.example.com/widget/v1/loader.js" data-key="PUBLIC_KEY"
            integrity="sha384-..." crossorigin="anonymous" async></script>

- `data-key`: the interface's public key (required).
- `data-identity` (optional): the signed visitor identity, `USER_ID:USER_HASH` where USER_HASH is
  hex(HMAC-SHA256(identity secret, USER_ID)), computed by the site's server for its logged-in user.
- `integrity`: the loader's SHA-384, computed when the app starts (`loader_integrity()`); it changes when
  loader.js changes, so copy the tag again after an upgrade.
- `v1` is the widget's version: the loader and the ES modules it imports are served under /widget/v1/ with
  CORS open to every origin (they are public files; the API checks the interface's allowed origins).

The page's origin must be one of the interface's allowed origins. A Content-Security-Policy on the
customer's page needs this server in script-src and connect-src (https: and wss:); the widget's styles are
constructed stylesheets and element styles, so style-src needs nothing.
"""
import base64
import hashlib
from pathlib import PurePosixPath

from flask import Blueprint, current_app, make_response, render_template, request, send_from_directory

from blueprints.webapps import secure_page
from config import BASE_DIR
from errors import NotFound
from services.visitors import interface_by_key

bp = Blueprint("widget_assets", __name__)

STATIC = BASE_DIR / "static"
LOADER = STATIC / "widget" / "loader.js"
VERSION = "v1"
PREFIX = f"/widget/{VERSION}"
# What a page may import under /widget/v1/: the widget and the shared modules it imports, with their
# relative layout kept (static/widget/x.js imports ../lib/api.js).
MODULE_FOLDERS = ("widget", "lib", "vendor")
MODULE_TYPES = {".js": "text/javascript; charset=utf-8", ".mjs": "text/javascript; charset=utf-8",
                ".css": "text/css; charset=utf-8"}
EXTENSION_KEY = "widget_loader"


def integrity_of(content):
    """The Subresource Integrity value of some bytes (sha384)."""
    return "sha384-" + base64.b64encode(hashlib.sha384(content).digest()).decode("ascii")


@bp.record_once
def _load_loader(state):
    """Read the loader once at startup: what is served is exactly what the integrity hash covers."""
    content = LOADER.read_bytes()
    state.app.extensions[EXTENSION_KEY] = {"content": content, "integrity": integrity_of(content)}


def loader_integrity(app=None):
    """The loader's integrity value as the running app serves it."""
    return (app or current_app).extensions[EXTENSION_KEY]["integrity"]


def embed_tag(base_url, public_key, app=None):
    """The exact <script> tag a customer's page uses to add the widget."""
    return (f'<script src="{base_url.rstrip("/")}{PREFIX}/loader.js" data-key="{public_key}" '
            f'integrity="{loader_integrity(app)}" crossorigin="anonymous" async></script>')


def _public(response, cache_seconds):
    response.headers["Access-Control-Allow-Origin"] = "*"
    response.headers["Cross-Origin-Resource-Policy"] = "cross-origin"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = f"public, max-age={cache_seconds}"
    return response


@bp.get(f"{PREFIX}/loader.js")
def loader():
    """The classic script of the embed tag: it imports the widget's modules and mounts the launcher."""
    asset = current_app.extensions[EXTENSION_KEY]
    response = make_response(asset["content"])
    response.headers["Content-Type"] = "text/javascript; charset=utf-8"
    return _public(response, 300)


@bp.get(f"{PREFIX}/<path:path>")
def module(path):
    """One of the widget's ES modules (or the shared modules and styles it imports)."""
    parts = PurePosixPath(path).parts
    suffix = PurePosixPath(path).suffix
    if (len(parts) < 2 or parts[0] not in MODULE_FOLDERS or suffix not in MODULE_TYPES
            or any(part in ("..", ".") or part.startswith(".") for part in parts)
            or not (STATIC / path).is_file()):
        raise NotFound("No such widget file")
    response = send_from_directory(STATIC, path, max_age=0)
    response.headers["Content-Type"] = MODULE_TYPES[suffix]
    return _public(response, 300)


@bp.get("/demo/<public_key>")
def demo(public_key):
    """A page that hosts the widget the way a customer's site does: the embed tag and nothing inline."""
    interface = interface_by_key(public_key)
    if interface is None:
        raise NotFound("Chat interface not found")
    base_url = request.host_url.rstrip("/")
    html = render_template("demo.html", interface_name=interface.name, public_key=public_key,
                           loader_url=f"{base_url}{PREFIX}/loader.js", integrity=loader_integrity(),
                           embed_tag=embed_tag(base_url, public_key), console_url=f"{base_url}/console")
    return secure_page(make_response(html), frame_ancestors="'self'")
