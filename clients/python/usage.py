"""What a Python program written against openapi/openapi.json looks like (tests/test_clients.py).

The test generates a client with openapi-python-client (the package `livechat_client`), checks this file and
the client with `mypy --strict`, then runs it against a live server:

    python clients/python/usage.py BASE_URL ADMIN_EMAIL PASSWORD

The story: log in as admin, create an interface, add a live_chat component, open the widget as a visitor,
list conversations and read their messages. Every value it reads is typed: no casts, no `Any`, no
`isinstance(..., Unset)` for what the API always returns.

The generated modules are named after the operations' operationIds (logIn: api.auth.log_in); every import
of an operation is in the one block below. Each error response is its own model (Error404,
ErrorEmailTaken, AcceptRequestError409...: one per set of codes, `code` an enum of them), and the
`default` response, for a status the operation does not document, is the generic Error.
"""
import sys
from enum import Enum
from typing import Protocol, TypeVar, runtime_checkable

from livechat_client import AuthenticatedClient, Client
from livechat_client.api.auth import log_in
from livechat_client.api.components import create_component
from livechat_client.api.conversations import list_conversations, list_messages
from livechat_client.api.interfaces import create_interface
from livechat_client.api.widget import list_visitor_messages, open_widget
from livechat_client.models import (
    Error404,
    Error404Code,
    InterfaceInput,
    ListConversationsScope,
    LiveChatComponent,
    Login,
    NewLiveChatComponent,
    NewLiveChatComponentType,
)

T = TypeVar("T")


@runtime_checkable
class ErrorBody(Protocol):
    """What every error model has: Error (code a string) and the per-code-set ones (code an enum).

    No success model has code, status and message together, so isinstance tells an error from an answer.
    """

    @property
    def code(self) -> Enum | str: ...
    @property
    def status(self) -> int: ...
    @property
    def message(self) -> str: ...


class ApiError(Exception):
    def __init__(self, error: ErrorBody) -> None:
        super().__init__(f"{error.status} {error.code}: {error.message}")
        self.error = error


def ok(result: T | ErrorBody | None) -> T:
    """The answer, or the API's error raised (None: a status the spec does not document)."""
    if isinstance(result, ErrorBody):
        raise ApiError(result)
    if result is None:
        raise AssertionError("an answer the spec does not document")
    return result


def story(base_url: str, email: str, password: str) -> dict[str, int]:
    anonymous = Client(base_url=base_url, raise_on_unexpected_status=True)
    tokens = ok(log_in.sync(client=anonymous, body=Login(email=email, password=password)))
    admin = AuthenticatedClient(base_url=base_url, token=tokens.access_token, raise_on_unexpected_status=True)
    workspace_id: int = tokens.user.workspace_id

    interface = ok(create_interface.sync(client=admin, body=InterfaceInput(name="Website", allowed_origins=[])))
    interface_id: int = interface.id
    public_key: str = interface.public_key

    component = ok(create_component.sync(
        interface_id, client=admin,
        body=NewLiveChatComponent(type_=NewLiveChatComponentType.LIVE_CHAT, name="Talk to us")))
    assert isinstance(component, LiveChatComponent), component
    component_id: int = component.id
    live_chat_on: bool = component.config.options.live_chat.enabled

    # openWidget takes the visitor token optionally (security: none, or visitorToken), which
    # openapi-python-client types as AuthenticatedClient only; an empty token sends no credential (an empty
    # Authorization header, which the server reads as none): a new visitor.
    newcomer = AuthenticatedClient(base_url=base_url, token="", prefix="", raise_on_unexpected_status=True)
    opened = ok(open_widget.sync(public_key, client=newcomer))
    visitor = AuthenticatedClient(base_url=base_url, token=opened.visitor_token, raise_on_unexpected_status=True)
    visitor_conversation_id: int = opened.conversation.id
    seen_by_visitor = ok(list_visitor_messages.sync(public_key, visitor_conversation_id, client=visitor))

    page = ok(list_conversations.sync(client=admin, scope=ListConversationsScope.ALL, interface_id=interface_id))
    conversation_ids: list[int] = [conversation.id for conversation in page.items]
    assert visitor_conversation_id in conversation_ids, (visitor_conversation_id, conversation_ids)

    messages = ok(list_messages.sync(visitor_conversation_id, client=admin))
    seqs: list[int] = [message.seq for message in messages.items]
    texts: list[str] = [message.text for message in messages.items]
    assert seqs == sorted(seqs), seqs
    assert [m.seq for m in seen_by_visitor.items] == seqs

    # An expected error: the 404's own model, its code an enum.
    missing = list_messages.sync(2_147_483_647, client=admin)
    assert isinstance(missing, Error404) and missing.code is Error404Code.NOT_FOUND, missing
    return {"workspace_id": workspace_id, "interface_id": interface_id, "component_id": component_id,
            "conversation_id": visitor_conversation_id, "messages": len(texts), "live_chat": int(live_chat_on)}


if __name__ == "__main__":
    print(story(*sys.argv[1:4]))
