"""The API docs pages load every script and stylesheet from this server: they work offline."""
import hashlib
import re
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import pytest

from tests.live import ROOT

BASE = "http://localhost"


class _Assets(HTMLParser):
    def __init__(self):
        super().__init__()
        self.urls = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "script" and attrs.get("src"):
            self.urls.append(attrs["src"])
        elif tag == "link" and attrs.get("href"):
            self.urls.append(attrs["href"])


@pytest.mark.parametrize("page, expected", [
    ("/api/docs", {"swagger-ui.css", "swagger-ui-bundle.js", "swagger-ui-standalone-preset.js"}),
    ("/api/redoc", {"redoc.standalone.js"}),
])
def test_every_asset_of_a_docs_page_is_served_here(client, page, expected):
    response = client.get(page, base_url=BASE)
    assert response.status_code == 200
    parser = _Assets()
    parser.feed(response.get_data(as_text=True))
    assert {url.rsplit("/", 1)[-1] for url in parser.urls} == expected
    for url in parser.urls:
        absolute = urlsplit(urljoin(BASE + page, url))
        assert (absolute.scheme, absolute.netloc) == ("http", "localhost"), url
        asset = client.get(absolute.path, base_url=BASE)
        assert asset.status_code == 200, url
        assert len(asset.data) > 1000, url
        assert asset.mimetype in ("text/css", "text/javascript", "application/javascript"), url


def test_swagger_ui_sends_the_spec_to_no_validator(client):
    page = client.get("/api/docs").get_data(as_text=True)
    assert '"validatorUrl": null' in page


@pytest.mark.parametrize("path", [
    "/api/docs/assets/swagger-ui/index.html",
    "/api/docs/assets/swagger-ui/swagger-ui-bundle.js.map",
    "/api/docs/assets/redoc/VERSION",
    "/api/docs/assets/redoc/..%2F..%2F..%2Fconfig.py",
])
def test_only_the_pages_files_are_served(client, path):
    assert client.get(path).status_code == 404


def test_the_committed_redoc_bundle_is_the_pinned_one():
    script = (ROOT / "tools" / "fetch_redoc.sh").read_text()
    version = re.search(r'REDOC_VERSION="\$\{REDOC_VERSION:-([^}]+)\}"', script).group(1)
    digest = re.search(r'REDOC_SHA256="\$\{REDOC_SHA256-([0-9a-f]{64})\}"', script).group(1)
    bundle = ROOT / "static" / "docs" / "redoc" / "redoc.standalone.js"
    assert hashlib.sha256(bundle.read_bytes()).hexdigest() == digest
    assert (ROOT / "static" / "docs" / "redoc" / "VERSION").read_text().strip() == version
    assert (ROOT / "static" / "docs" / "redoc" / "LICENSE").is_file()


def test_both_pages_show_the_extensions_so_x_roles_is_visible(client):
    assert '"showExtensions": true' in client.get("/api/docs").get_data(as_text=True)
    assert 'show-extensions="true"' in client.get("/api/redoc").get_data(as_text=True)
