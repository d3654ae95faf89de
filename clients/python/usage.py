"""What a Python program written against openapi/openapi.json looks like (tests/test_clients.py).

The test generates a client with openapi-python-client (the package `livechat_client`), checks this file and
the client with `mypy --strict`, then runs it against a live server:

    python clients/python/usage.py BASE_URL ADMIN_EMAIL PASSWORD

The story: log in as admin, create an interface, add a live_chat component, open the widget as a visitor,
list conversations and read their messages. Every value it reads is typed: no casts, no `Any`, no
`isinstance(..., Unset)` for what the API always returns.

The generated modules are named after the operations (their operationIds, or method and path while the spec
has none): every import of an operation is in the one block below.
"""
import sys
from typing import TypeVar

from livechat_client import AuthenticatedClient, Client
from livechat_client.api.auth import post_api_auth_login as login
from livechat_client.api.components import post_api_interfaces_interface_id_components as create_component
from livechat_client.api.conversations import get_api_conversations as list_conversations
from livechat_client.api.conversations import get_api_conversations_conversation_id_messages as list_messages
from livechat_client.api.interfaces import post_api_interfaces as create_interface
from livechat_client.api.widget import get_api_widget_public_key_conversations_conversation_id_messages as widget_messages
from livechat_client.api.widget import post_api_widget_public_key_sessions as open_widget
from livechat_client.models import (
    Error,
    GetApiConversationsScope,
    Interface,
    LiveChatComponent,
    Login,
    NewLiveChatComponent,
    NewLiveChatComponentType,
)

T = TypeVar("T")


class ApiError(Exception):
    def __init__(self, error: Error) -> None:
        super().__init__(f"{error.status} {error.code}: {error.message}")
        self.error = error


def ok(result: T | Error | None) -> T:
    """The answer, or the API's error raised (None: a status the spec does not document)."""
    if isinstance(result, Error):
        raise ApiError(result)
    if result is None:
        raise AssertionError("an answer the spec does not document")
    return result


def story(base_url: str, email: str, password: str) -> dict[str, int]:
    anonymous = Client(base_url=base_url, raise_on_unexpected_status=True)
    tokens = ok(login.sync(client=anonymous, body=Login(email=email, password=password)))
    admin = AuthenticatedClient(base_url=base_url, token=tokens.access_token, raise_on_unexpected_status=True)
    workspace_id: int = tokens.user.workspace_id

    interface = ok(create_interface.sync(client=admin, body=Interface(name="Website", allowed_origins=[])))
    interface_id: int = interface.id
    public_key: str = interface.public_key

    component = ok(create_component.sync(
        interface_id, client=admin,
        body=NewLiveChatComponent(type_=NewLiveChatComponentType.LIVE_CHAT, name="Talk to us")))
    assert isinstance(component, LiveChatComponent), component
    component_id: int = component.id
    live_chat_on: bool = component.config.options.live_chat.enabled

    opened = ok(open_widget.sync(public_key, client=anonymous))
    visitor = AuthenticatedClient(base_url=base_url, token=opened.visitor_token, raise_on_unexpected_status=True)
    visitor_conversation_id: int = opened.conversation.id
    seen_by_visitor = ok(widget_messages.sync(public_key, visitor_conversation_id, client=visitor))

    page = ok(list_conversations.sync(client=admin, scope=GetApiConversationsScope.ALL, interface_id=interface_id))
    conversation_ids: list[int] = [conversation.id for conversation in page.items]
    assert visitor_conversation_id in conversation_ids, (visitor_conversation_id, conversation_ids)

    messages = ok(list_messages.sync(visitor_conversation_id, client=admin))
    seqs: list[int] = [message.seq for message in messages.items]
    texts: list[str] = [message.text for message in messages.items]
    assert seqs == sorted(seqs), seqs
    assert [m.seq for m in seen_by_visitor.items] == seqs
    return {"workspace_id": workspace_id, "interface_id": interface_id, "component_id": component_id,
            "conversation_id": visitor_conversation_id, "messages": len(texts), "live_chat": int(live_chat_on)}


if __name__ == "__main__":
    print(story(*sys.argv[1:4]))
