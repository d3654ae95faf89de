"""The widget's files and demo page: the loader matches its integrity hash, modules are importable cross-origin."""
import base64
import hashlib
import re
from html import unescape

import pytest

from blueprints.widget_assets import LOADER, embed_tag
from tests.factories import make_interface, make_workspace

CUSTOMER = "https://shop.example"


@pytest.fixture
def interface(app):
    workspace, _ = make_workspace()
    return make_interface(workspace, name="Shop <b>front</b>", allowed_origins=[CUSTOMER])


def sri(content):
    return "sha384-" + base64.b64encode(hashlib.sha384(content).digest()).decode()


def script_tags(html):
    return re.findall(r"<script\b[^>]*>", html)


def test_loader_is_javascript_open_to_every_origin(client):
    response = client.get("/widget/v1/loader.js", headers={"Origin": CUSTOMER})
    assert response.status_code == 200
    assert response.mimetype == "text/javascript"
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.data == LOADER.read_bytes()


def test_demo_page_embeds_the_loader_with_the_hash_of_what_is_served(client, interface):
    page = client.get(f"/demo/{interface.public_key}")
    assert page.status_code == 200 and page.mimetype == "text/html"
    served = client.get("/widget/v1/loader.js").data
    html = page.get_data(as_text=True)
    [tag] = [t for t in script_tags(html) if "loader.js" in t]
    assert f'integrity="{sri(served)}"' in tag
    assert f'data-key="{interface.public_key}"' in tag
    assert 'crossorigin="anonymous"' in tag and " async" in tag
    assert 'src="http://localhost/widget/v1/loader.js"' in tag
    # The page shows the same tag for copying (escaped as text), as embed_tag() makes it.
    shown = unescape(re.search(r'<code data-testid="embed-tag">(.*?)</code>', html, re.S).group(1))
    assert shown == embed_tag("http://localhost", interface.public_key)
    assert shown.replace(" async></script>", " async>") == tag
    assert "Shop &lt;b&gt;front&lt;/b&gt;" in html  # the interface's name is text


def test_demo_page_has_no_inline_script_or_style_and_a_strict_policy(client, interface):
    page = client.get(f"/demo/{interface.public_key}")
    html = page.get_data(as_text=True)
    assert all(" src=" in tag for tag in script_tags(html))
    assert "<style" not in html and "style=" not in html
    policy = page.headers["Content-Security-Policy"]
    assert "unsafe-inline" not in policy and "script-src 'self'" in policy


def test_unknown_key_is_a_json_404(client):
    response = client.get("/demo/no-such-key")
    assert response.status_code == 404
    assert response.is_json and response.get_json()["code"] == "not_found"


@pytest.mark.parametrize("path", ["widget/widget.js", "widget/realm.js", "lib/api.js", "lib/socket.js",
                                  "lib/dom.js", "vendor/openapi-fetch/index.js"])
def test_modules_are_served_with_cors_for_a_customer_page(client, path):
    response = client.get(f"/widget/v1/{path}", headers={"Origin": CUSTOMER})
    assert response.status_code == 200, path
    assert response.mimetype == "text/javascript"
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert response.headers["Cross-Origin-Resource-Policy"] == "cross-origin"


@pytest.mark.parametrize("path", ["widget/nope.js", "console/app.js", "docs/index.html", "widget/../../config.py",
                                  "widget/%2e%2e/%2e%2e/app.py", "lib/../../app.py", "types/openapi.d.ts",
                                  "widget/demo.html"])
def test_nothing_else_is_served_under_the_widget_prefix(client, path):
    response = client.get(f"/widget/v1/{path}")
    assert response.status_code == 404
    assert response.is_json
