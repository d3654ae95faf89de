"""The committed API documents equal what the code generates, and are valid."""
import json
from pathlib import Path

import pytest
from openapi_spec_validator import validate

from cli import dump_document, spec_documents

ROOT = Path(__file__).resolve().parent.parent


def test_committed_documents_match_the_code(app):
    for rel, document in spec_documents().items():
        committed = (ROOT / rel).read_text()
        assert committed == dump_document(document), f"{rel} is stale: run `make spec` and commit it"


def test_openapi_document_is_valid():
    validate(json.loads((ROOT / "openapi/openapi.json").read_text()))


def test_every_operation_documents_its_errors_and_auth():
    spec = json.loads((ROOT / "openapi/openapi.json").read_text())
    public = {("/api/auth/login", "post"), ("/api/auth/set-password", "post"), ("/healthz", "get"),
              ("/readyz", "get"), ("/api/files/{token}", "get")}
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method not in {"get", "post", "put", "patch", "delete"}:
                continue
            assert operation.get("summary"), f"{method} {path} has no summary"
            if (path, method) in public or path.startswith("/api/widget"):
                continue
            assert operation.get("security") == [{"bearerAuth": []}], f"{method} {path} lacks bearer auth"
            assert "401" in operation["responses"], f"{method} {path} does not document 401"


@pytest.mark.parametrize("path", ["/api/openapi.json", "/api/docs", "/api/redoc"])
def test_docs_are_served(client, path):
    assert client.get(path).status_code == 200
