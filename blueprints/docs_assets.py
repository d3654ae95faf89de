"""The files of Swagger UI (/api/docs) and ReDoc (/api/redoc), served by the app so the docs need no CDN.

Swagger UI comes from the swagger-ui-bundle package, ReDoc's standalone bundle from static/docs/redoc/
(pinned, with its hash, by tools/fetch_redoc.sh). Config.OPENAPI_SWAGGER_UI_URL and OPENAPI_REDOC_URL
point flask-smorest's pages here.
"""
from flask import Blueprint, abort, send_from_directory
from swagger_ui_bundle import swagger_ui_path

from config import BASE_DIR

bp = Blueprint("docs_assets", __name__, url_prefix="/api/docs/assets")

REDOC_DIR = BASE_DIR / "static" / "docs" / "redoc"
# Only what the pages load (and the licenses): the package also ships source maps and sample pages.
SWAGGER_UI_FILES = frozenset({"swagger-ui.css", "swagger-ui-bundle.js", "swagger-ui-standalone-preset.js",
                              "favicon-16x16.png", "favicon-32x32.png"})
REDOC_FILES = frozenset({"redoc.standalone.js", "redoc.standalone.js.LICENSE.txt", "LICENSE"})


@bp.get("/swagger-ui/<filename>")
def swagger_ui(filename):
    if filename not in SWAGGER_UI_FILES:
        abort(404)
    return send_from_directory(str(swagger_ui_path), filename)


@bp.get("/redoc/<filename>")
def redoc(filename):
    if filename not in REDOC_FILES:
        abort(404)
    return send_from_directory(REDOC_DIR, filename)
