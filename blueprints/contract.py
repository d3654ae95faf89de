"""What the OpenAPI document promises a client generator, derived from the code so it cannot drift.

The decorators of blueprints/common.py record, on each view, who may call it (`x-roles`, from
login_required / visitor_required) and which error codes each error status can carry
(`x-error-codes`, from errors(..., codes=...)). ContractPlugin, an apispec plugin run after
flask-smorest has built each operation, turns those into the document:

- every error response's body is a component with Error's properties and `code` narrowed to an enum, one
  per set of codes (error_component_name), closed (additionalProperties: false) so generators type it whole;
- the operation's description says who may call it, and whether it is rate limited;
- rate-limited operations (a 429 among their responses) declare Retry-After on the 429 and
  X-RateLimit-* on every answer (Flask-Limiter sends them: RATELIMIT_HEADERS_ENABLED);
- the examples recorded from real test traffic (openapi/examples.json, written by
  tests/contract_recorder.py) are attached to the request body and the responses.
"""
import copy
import json
from http import HTTPStatus
from pathlib import Path

from apispec import BasePlugin

from errors import DomainError

EXAMPLES_PATH = Path(__file__).resolve().parent.parent / "openapi" / "examples.json"

# The codes flask-jwt-extended's errors carry (errors.register_jwt_errors), and the plain one.
TOKEN_CODES = ("unauthorized", "invalid_token", "token_expired", "token_revoked")

# The code of an error status when the route names none: the one errors.HTTP_CODES gives plain HTTP errors.
DEFAULT_CODES = {
    400: ("bad_request",), 401: TOKEN_CODES, 403: ("forbidden",), 404: ("not_found",), 405: ("method_not_allowed",),
    409: ("conflict",), 412: ("precondition_failed",), 413: ("payload_too_large",), 422: ("validation_error",),
    428: ("precondition_required",), 429: ("rate_limited",), 503: ("unavailable",),
}

ERROR_DESCRIPTIONS = {
    400: "Bad request", 401: "Not logged in, or the token is invalid, expired or revoked",
    403: "Your role does not allow this", 404: "Not found (or outside your reach)",
    409: "Conflict with the current state (see `code`)", 412: "The ETag in If-Match is stale",
    413: "Body too large",
    422: ("Invalid input (per-field errors in `errors`); besides the schema's rules, no string in the request "
          "(a key too) may hold a NUL character or a lone surrogate (an unpaired \\ud800-\\udfff escape)"),
    428: "If-Match header required", 429: "Too many requests (see Retry-After)",
}

ROLE_ORDER = ("admin", "agent", "visitor")

PAGINATION = """

## Lists

Lists come in one of two envelopes; each list operation names its envelope's schema.

- **Page-numbered** (`*Page` schemas built by one helper: `AgentPage`, `InterfacePage`, `ConversationPage`,
  `PendingRequestPage`, `NotificationPage`, `SubmissionPage`, `AuditEntryPage`, `CannedResponsePage`, `NotePage`,
  `WebhookEndpointPage`, `WebhookDeliveryPage`, `VisitorRecordPage`, `RatingPage`):
  `{items, page, page_size, total}`; ask with `?page=` (from 1) and `?page_size=` (1 to 100, default 20).
  `ConversationPage` adds `total_exact`: false when a search for words found in most conversations
  stopped counting (`total` is then a lower bound).
  Used by listAgents, listInterfaces, listConversations, listPendingRequests, listNotifications,
  listOfflineSubmissions, listAuditEntries, listCannedResponses, listNotes, listWebhooks, listWebhookDeliveries,
  listVisitors, listRatings.
- **Cursor** (`MessagePage`, `CallPage`): `{items, next_before}` (messages also `next_after`); pass a cursor
  back as `?before=` (older) or `?after=` (newer) with `?limit=`; a null cursor means there is nothing more.
  Used by listMessages, listVisitorMessages (by message `seq`) and listCalls, listVisitorCalls (newest first).

## Errors

Every error body is `{code, status, message, errors}` (`Error`). Each error response of an operation is a
component of that shape whose `code` is an enum of the values it can carry: `Error<status>` for a status's
plain codes (`Error401`: the token codes), `Error<Code>` for one other code (`ErrorEmailTaken`), and
`<OperationId>Error<status>` for an operation's own set (`AcceptRequestError409`). `errors` (`FieldErrorMap`)
holds per-field messages keyed by location then field.

## Roles

`x-roles` on each operation names who may call it: `admin` and `agent` with a user token (bearerAuth),
`visitor` with the visitor token from openWidget (visitorToken); `[]` means public. Anyone else is answered
401 (no token, or a token of the wrong kind) or 403 (an agent on an admin-only operation). An operation with
`x-visitor-token: not_found` answers a visitor's token 404 instead of 401, as for a conversation the visitor
cannot reach: it does not tell them that there is anything there (private notes).
"""


def codes_of(items):
    """The wire codes of DomainError subclasses (or of codes given as strings)."""
    codes = []
    for item in items:
        code = item.code if isinstance(item, type) and issubclass(item, DomainError) else item
        if not isinstance(code, str):
            raise TypeError(f"not an error code: {item!r}")
        codes.append(code)
    return codes


def _camel(text):
    return "".join(part.capitalize() for part in text.split("_"))


def error_component_name(status, codes, operation_id):
    """The component of an error body whose `code` is one of codes (sorted), answered with status.

    Names are stable, whatever other operations declare: a status's plain codes (DEFAULT_CODES) are
    `Error<status>` (Error401: the token codes), one other code alone is `Error<Code>` (ErrorEmailTaken),
    and a set of several is the operation's own, `<OperationId>Error<status>` (AcceptRequestError409).
    """
    if codes == sorted(DEFAULT_CODES.get(status, ())):
        return f"Error{status}"
    if len(codes) == 1:
        return f"Error{_camel(codes[0])}"
    if not operation_id:
        raise ValueError(f"an operation without operationId declares the codes {codes} for {status}")
    return f"{operation_id[0].upper()}{operation_id[1:]}Error{status}"


def role_sentence(roles):
    if not roles:
        return "**Roles:** public: no token needed."
    if roles == ["visitor"]:
        return ("**Roles:** visitor: the visitor token from openWidget, for this interface "
                "(anything else is answered 401, or 404 like a conversation of someone else's).")
    text = ", ".join(roles)
    if "agent" not in roles:
        return f"**Roles:** {text}: a user token; agents are answered 403."
    return f"**Roles:** {text}: a user token."


def _load_examples():
    try:
        return json.loads(EXAMPLES_PATH.read_text())
    except FileNotFoundError:
        return {}


def _json_content(response):
    content = response.get("content") or {}
    return content.get("application/json")


class ContractPlugin(BasePlugin):
    """Finishes each operation: error code enums, roles, rate-limit headers, recorded examples."""

    RATE_HEADERS = {
        "X-RateLimit-Limit": "Requests allowed in the limit's window (the limit nearest to being reached)",
        "X-RateLimit-Remaining": "Requests left in that window",
        "X-RateLimit-Reset": "When that window resets, in Unix seconds",
    }

    def __init__(self, examples=None):
        super().__init__()
        self.examples = _load_examples() if examples is None else examples

    def init_spec(self, spec):
        super().init_spec(spec)
        self.spec = spec
        spec.components.header("Retry-After", {
            "description": "Seconds to wait before trying again", "schema": {"type": "integer", "minimum": 1}})
        for name, description in self.RATE_HEADERS.items():
            spec.components.header(name, {"description": description, "schema": {"type": "integer"}})
        info = dict(spec.options.get("info") or {})  # options may be the app config's own dict: copy, never edit
        if PAGINATION not in info.get("description", ""):
            info["description"] = info.get("description", "") + PAGINATION
        spec.options["info"] = info

    def operation_helper(self, path=None, operations=None, **kwargs):
        for method, operation in (operations or {}).items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            roles = operation.setdefault("x-roles", [])
            roles.sort(key=ROLE_ORDER.index)
            declared = operation.pop("x-error-codes", {})
            responses = operation["responses"]
            limited = "429" in {str(status) for status in responses}
            for status, response in responses.items():
                if str(status) == "default":
                    continue
                status = int(status)
                if status >= 400 and (not isinstance(response, dict) or "$ref" in response):
                    # A shared response (flask-smorest's ETag ones): inline it, to give its code an enum here.
                    response = responses[str(status) if str(status) in responses else status] = {
                        "description": ERROR_DESCRIPTIONS.get(status) or HTTPStatus(status).phrase,
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
                elif not isinstance(response, dict) or "$ref" in response:
                    continue
                if status >= 400:
                    self._error_enum(response, status, declared.get(str(status)), operation.get("operationId"))
                if limited:
                    headers = response.setdefault("headers", {})
                    for name in self.RATE_HEADERS:
                        headers[name] = {"$ref": f"#/components/headers/{name}"}
                if status in (429, 503):
                    response.setdefault("headers", {})["Retry-After"] = {"$ref": "#/components/headers/Retry-After"}
            parts = [operation.get("description", "").strip(), role_sentence(roles)]
            if limited:
                parts.append("**Rate limited:** past the limit the answer is 429 with Retry-After; every answer "
                             "carries X-RateLimit-Limit, X-RateLimit-Remaining and X-RateLimit-Reset.")
            operation["description"] = "\n\n".join(part for part in parts if part)
            self._examples(operation)

    def _error_enum(self, response, status, declared, operation_id):
        content = _json_content(response)
        if content is None:
            return
        codes = sorted(declared) if declared else list(DEFAULT_CODES.get(status, ()))
        if not codes:
            return
        name = error_component_name(status, codes, operation_id)
        schemas = self.spec.components.schemas
        if name not in schemas:
            self.spec.components.schema(name, self._error_component(codes))
        elif schemas[name]["properties"]["code"]["enum"] != codes:
            raise ValueError(f"{name} names two code sets: {schemas[name]['properties']['code']['enum']} and {codes}")
        content["schema"] = {"$ref": f"#/components/schemas/{name}"}

    def _error_component(self, codes):
        """The Error schema whole, with `code` one of codes: a closed object a generator types fully."""
        error = self.spec.components.schemas["Error"]
        properties = copy.deepcopy(error["properties"])
        properties["code"] = {**properties["code"], "enum": codes}
        properties["code"].pop("example", None)
        properties["status"].pop("example", None)  # Error's example (404) would mislead on another status
        return {"type": "object", "description": f"An error body whose `code` is one of: {', '.join(codes)}.",
                "properties": properties, "required": list(error.get("required", [])),
                "additionalProperties": False}

    def _examples(self, operation):
        recorded = self.examples.get(operation.get("operationId"))
        if not recorded:
            return
        body = operation.get("requestBody")
        if body and "request" in recorded:
            content = body.get("content", {}).get("application/json")
            if content is not None:
                content["example"] = recorded["request"]
        for status, example in (recorded.get("responses") or {}).items():
            response = operation["responses"].get(status) or operation["responses"].get(int(status))
            if isinstance(response, dict) and "$ref" not in response:
                content = _json_content(response)
                if content is not None:
                    content["example"] = example


def install(api):
    """Add the plugin to api's spec (before the blueprints register their operations)."""
    plugin = ContractPlugin()
    api.spec.plugins = (*api.spec.plugins, plugin)
    plugin.init_spec(api.spec)
    return plugin
