"""The builder's flows over HTTP: order, ETags, validation, permissions, preview."""
import threading
from types import SimpleNamespace

import pytest

from errors import PreconditionFailed
from extensions import db
from models import Component
from services.flows import do_replace_component
from tests.factories import make_interface, make_user, make_workspace


class Flow:
    """One admin working on one interface's flow over HTTP."""

    def __init__(self, client, headers, interface_id):
        self.client, self.headers, self.interface_id = client, headers, interface_id

    def url(self, component_id=None, tail=""):
        base = f"/api/interfaces/{self.interface_id}/components"
        return base + (f"/{component_id}" if component_id is not None else "") + tail

    def add(self, expect=201, **body):
        response = self.client.post(self.url(), json=body, headers=self.headers)
        assert response.status_code == expect, response.get_json()
        return response.get_json()

    def get(self, component_id):
        return self.client.get(self.url(component_id), headers=self.headers)

    def etag(self, component_id):
        return self.get(component_id).headers["ETag"]

    def edit(self, method, component_id, body, tail="", etag=True):
        headers = dict(self.headers)
        if etag is True:
            etag = self.etag(component_id)
        if etag:
            headers["If-Match"] = etag
        return self.client.open(self.url(component_id, tail), method=method, json=body, headers=headers)

    def order(self):
        return [(c["id"], c["position"]) for c in self.client.get(self.url(), headers=self.headers).get_json()]

    def move(self, component_id, position):
        return self.client.post(self.url(component_id, "/move"), json={"position": position}, headers=self.headers)

    def preview(self, component_id, **args):
        return self.client.get(self.url(component_id, "/preview"), query_string=args, headers=self.headers)


def error_at(response, *path):
    """The messages at a path of a 422 body's errors."""
    assert response.status_code == 422, response.get_json()
    node = response.get_json()["errors"]
    for key in path:
        node = node[str(key)] if str(key) in node else node[key]
    return node


@pytest.fixture
def builder(client, auth):
    workspace, admin = make_workspace()
    interface = make_interface(workspace)
    return SimpleNamespace(workspace=workspace, admin=admin, interface=interface,
                           flow=Flow(client, auth.headers(admin), interface.id))


def test_new_flow_is_empty(builder):
    assert builder.flow.order() == []


def test_message_without_config_gets_default_text_and_no_buttons(builder):
    component = builder.flow.add(type="message")
    assert component["config"] == {"text": "Hello! How can we help you today?", "buttons": []}
    assert (component["type"], component["position"], component["name"], component["version"]) == \
        ("message", 0, None, 1)


def test_added_components_append_and_insert_at_position_keeping_positions_dense(builder):
    flow = builder.flow
    a = flow.add(type="message")["id"]
    b = flow.add(type="live_chat")["id"]
    c = flow.add(type="message", position=0)["id"]
    d = flow.add(type="message", position=2)["id"]
    assert flow.order() == [(c, 0), (a, 1), (d, 2), (b, 3)]


def test_add_beyond_the_end_is_422_on_position(builder):
    builder.flow.add(type="message")
    response = builder.flow.client.post(builder.flow.url(), json={"type": "message", "position": 2},
                                        headers=builder.flow.headers)
    assert error_at(response, "json", "position") == ["Must be between 0 and 1."]


@pytest.mark.parametrize("moves, expected", [
    ([(0, 3)], [1, 2, 3, 0]),
    ([(3, 0)], [3, 0, 1, 2]),
    ([(1, 2)], [0, 2, 1, 3]),
    ([(2, 2)], [0, 1, 2, 3]),
    ([(0, 3), (3, 1)], [1, 3, 2, 0]),
])
def test_move_reorders_and_keeps_positions_dense(builder, moves, expected):
    ids = [builder.flow.add(type="message")["id"] for _ in range(4)]
    for index, position in moves:
        response = builder.flow.move(ids[index], position)
        assert response.status_code == 200
    assert builder.flow.order() == [(ids[i], p) for p, i in enumerate(expected)]
    assert [c["id"] for c in response.get_json()] == [ids[i] for i in expected]


def test_move_beyond_the_last_position_is_422(builder):
    ids = [builder.flow.add(type="message")["id"] for _ in range(2)]
    assert error_at(builder.flow.move(ids[0], 2), "json", "position") == ["Must be between 0 and 1."]


def test_delete_closes_the_gap(builder):
    ids = [builder.flow.add(type="message")["id"] for _ in range(3)]
    response = builder.flow.client.delete(builder.flow.url(ids[1]), headers=builder.flow.headers)
    assert response.status_code == 204
    assert builder.flow.order() == [(ids[0], 0), (ids[2], 1)]
    assert builder.flow.get(ids[1]).status_code == 404


def test_delete_of_a_button_target_is_409_until_the_button_goes_elsewhere(builder):
    flow = builder.flow
    target = flow.add(type="live_chat")["id"]
    source = flow.add(type="message", config={"buttons": [
        {"label": "Talk", "target": {"type": "component", "component_id": target}}]})["id"]
    response = flow.client.delete(flow.url(target), headers=flow.headers)
    assert response.status_code == 409
    assert response.get_json()["code"] == "component_in_use"
    assert str(source) in response.get_json()["message"]
    assert flow.edit("PATCH", source, {"type": "message", "config": {"buttons": []}}).status_code == 200
    assert flow.client.delete(flow.url(target), headers=flow.headers).status_code == 204


def test_get_answers_an_etag_that_changes_with_each_edit_and_not_with_moves(builder):
    flow = builder.flow
    cid = flow.add(type="message")["id"]
    flow.add(type="message")
    first = flow.etag(cid)
    assert flow.move(cid, 1).status_code == 200
    assert flow.etag(cid) == first
    response = flow.edit("PATCH", cid, {"type": "message", "name": "Greeting"}, etag=first)
    assert response.status_code == 200
    assert response.headers["ETag"] != first
    assert response.headers["ETag"] == flow.etag(cid)
    assert response.get_json()["version"] == 2


@pytest.mark.parametrize("method, tail, body", [
    ("PUT", "", {"type": "live_chat"}),
    ("PATCH", "", {"type": "live_chat", "name": "x"}),
    ("PUT", "/live-chat/messages", {"welcome": "Hello"}),
    ("PUT", "/live-chat/options", {}),
    ("PUT", "/live-chat/offline-form", {}),
    ("PUT", "/live-chat/chat-message", {}),
])
def test_edit_with_a_stale_etag_is_412_and_changes_nothing(builder, method, tail, body):
    flow = builder.flow
    cid = flow.add(type="live_chat")["id"]
    stale = flow.etag(cid)
    assert flow.edit("PATCH", cid, {"type": "live_chat", "name": "Other admin"}, etag=stale).status_code == 200
    before = flow.get(cid).get_json()
    response = flow.edit(method, cid, body, tail=tail, etag=stale)
    assert response.status_code == 412
    assert response.get_json()["code"] == "precondition_failed"
    assert flow.get(cid).get_json() == before


@pytest.mark.parametrize("method, tail, body", [
    ("PUT", "", {"type": "live_chat"}),
    ("PATCH", "", {"type": "live_chat", "name": "x"}),
    ("PUT", "/live-chat/options", {}),
])
def test_edit_without_if_match_is_428(builder, method, tail, body):
    cid = builder.flow.add(type="live_chat")["id"]
    response = builder.flow.edit(method, cid, body, tail=tail, etag=None)
    assert response.status_code == 428
    assert response.get_json()["code"] == "precondition_required"


def test_put_replaces_name_and_config_and_fills_defaults(builder):
    flow = builder.flow
    cid = flow.add(type="message", name="Hello", config={"text": "Hi", "buttons": [{"label": "Go"}]})["id"]
    response = flow.edit("PUT", cid, {"type": "message", "config": {"text": "Bye"}})
    assert response.status_code == 200
    assert response.get_json()["name"] is None
    assert response.get_json()["config"] == {"text": "Bye", "buttons": []}


def test_patch_keeps_what_is_not_sent(builder):
    flow = builder.flow
    buttons = [{"label": "Go", "style": "outline", "target": {"type": "next"}}]
    cid = flow.add(type="message", name="Hello", config={"text": "Hi", "buttons": buttons})["id"]
    renamed = flow.edit("PATCH", cid, {"type": "message", "name": "Greeting"}).get_json()
    assert (renamed["name"], renamed["config"]) == ("Greeting", {"text": "Hi", "buttons": buttons})
    retexted = flow.edit("PATCH", cid, {"type": "message", "config": {"text": "Yo"}}).get_json()
    assert (retexted["name"], retexted["config"]) == ("Greeting", {"text": "Yo", "buttons": buttons})


def test_patch_checks_the_merged_config_as_a_whole(builder):
    cid = builder.flow.add(type="message")["id"]
    response = builder.flow.edit("PATCH", cid, {"type": "message", "config": {"buttons": [{"style": "outline"}]}})
    assert error_at(response, "json", "config", "buttons", 0, "label") == ["Missing data for required field."]


def test_type_of_a_component_cannot_change(builder):
    cid = builder.flow.add(type="message")["id"]
    response = builder.flow.edit("PUT", cid, {"type": "live_chat"})
    assert error_at(response, "json", "type")


def test_names_are_unique_within_a_flow_only(builder, client, auth):
    builder.flow.add(type="message", name="Start")
    response = builder.flow.client.post(builder.flow.url(), json={"type": "live_chat", "name": "Start"},
                                        headers=builder.flow.headers)
    assert error_at(response, "json", "name") == ["Another component of this flow has this name."]
    other = Flow(client, builder.flow.headers, make_interface(builder.workspace).id)
    assert other.add(type="message", name="Start")["name"] == "Start"


@pytest.mark.parametrize("body, path", [
    ({"type": "carousel"}, ("type",)),
    ({}, ("type",)),
    ({"type": "message", "config": {"text": "Hi", "colour": "red"}}, ("config", "colour")),
    ({"type": "message", "extra": 1}, ("extra",)),
    ({"type": "message", "id": 5}, ("id",)),
    ({"type": "message", "config": {"text": "x" * 2001}}, ("config", "text")),
    ({"type": "message", "config": {"text": "   "}}, ("config", "text")),
    ({"type": "message", "config": {"text": "Hi {agent_name}"}}, ("config", "text")),
    ({"type": "message", "config": {"buttons": [{"label": "x" * 41}]}}, ("config", "buttons", 0, "label")),
    ({"type": "message", "config": {"buttons": [{"label": "a\nb"}]}}, ("config", "buttons", 0, "label")),
    ({"type": "message", "config": {"buttons": [{"label": "Go", "style": "blink"}]}},
     ("config", "buttons", 0, "style")),
    ({"type": "message", "config": {"buttons": [{"label": "Go", "target": {"type": "component"}}]}},
     ("config", "buttons", 0, "target", "component_id")),
    ({"type": "message", "config": {"buttons": [{"label": "Go", "target": {"type": "next", "component_id": 1}}]}},
     ("config", "buttons", 0, "target", "component_id")),
    ({"type": "message", "config": {"buttons": [{"label": "Go", "target": {"type": "url"}}]}},
     ("config", "buttons", 0, "target", "type")),
    ({"type": "message", "config": {"buttons": [{"label": "Go"}] * 11}}, ("config", "buttons")),
    ({"type": "message", "name": "x" * 121}, ("name",)),
    ({"type": "message", "position": -1}, ("position",)),
])
def test_bad_component_is_422_on_the_wrong_field(builder, body, path):
    response = builder.flow.client.post(builder.flow.url(), json=body, headers=builder.flow.headers)
    assert error_at(response, "json", *path)
    assert response.get_json()["code"] == "validation_error"
    assert builder.flow.order() == []


def test_button_may_go_to_a_component_of_the_same_flow(builder):
    target = builder.flow.add(type="live_chat")["id"]
    component = builder.flow.add(type="message", config={"buttons": [
        {"label": "Talk", "target": {"type": "component", "component_id": target}}]})
    assert component["config"]["buttons"][0]["target"] == {"type": "component", "component_id": target}


@pytest.mark.parametrize("where", ["other interface", "other workspace", "nowhere"])
def test_button_going_to_a_component_of_another_flow_is_422(builder, client, auth, where):
    if where == "other interface":
        interface = make_interface(builder.workspace)
        foreign = Flow(client, builder.flow.headers, interface.id).add(type="message")["id"]
    elif where == "other workspace":
        workspace, admin = make_workspace()
        foreign = Flow(client, auth.headers(admin), make_interface(workspace).id).add(type="message")["id"]
    else:
        foreign = 999999
    ok = builder.flow.add(type="message")["id"]
    buttons = [{"label": "Fine", "target": {"type": "component", "component_id": ok}},
               {"label": "Bad", "target": {"type": "component", "component_id": foreign}}]
    response = builder.flow.client.post(builder.flow.url(), json={"type": "message", "config": {"buttons": buttons}},
                                        headers=builder.flow.headers)
    assert error_at(response, "json", "config", "buttons", 1, "target", "component_id") == \
        [f"No component {foreign} in this flow."]
    assert "0" not in response.get_json()["errors"]["json"]["config"]["buttons"]


def _routes(interface_id, component_id):
    base = f"/api/interfaces/{interface_id}/components"
    item = f"{base}/{component_id}"
    # Valid bodies: the answer must come from who asks and where, not from the body.
    return [
        ("GET", base, None), ("POST", base, {"type": "live_chat"}), ("GET", item, None),
        ("PUT", item, {"type": "live_chat"}), ("PATCH", item, {"type": "live_chat", "name": "x"}),
        ("DELETE", item, None), ("POST", f"{item}/move", {"position": 0}), ("GET", f"{item}/preview", None),
        ("PUT", f"{item}/live-chat/options", {}), ("PUT", f"{item}/live-chat/messages", {}),
        ("PUT", f"{item}/live-chat/offline-form", {}), ("PUT", f"{item}/live-chat/chat-message", {}),
        ("GET", f"{item}/live-chat/agents", None),
    ]


ROUTE_COUNT = len(_routes(0, 0))


@pytest.mark.parametrize("index", range(ROUTE_COUNT))
def test_agent_gets_403_on_every_builder_route_even_for_an_interface_they_serve(builder, client, auth, index):
    cid = builder.flow.add(type="live_chat")["id"]
    agent = make_user(builder.workspace, interfaces=[builder.interface])
    method, url, body = _routes(builder.interface.id, cid)[index]
    response = client.open(url, method=method, json=body,
                           headers={**auth.headers(agent), "If-Match": builder.flow.etag(cid)})
    assert response.status_code == 403
    assert response.get_json()["code"] == "forbidden"
    assert builder.flow.get(cid).get_json()["version"] == 1


@pytest.mark.parametrize("index", range(ROUTE_COUNT))
def test_admin_of_another_workspace_gets_404_on_every_builder_route(builder, client, auth, index):
    cid = builder.flow.add(type="live_chat")["id"]
    _, stranger = make_workspace()
    method, url, body = _routes(builder.interface.id, cid)[index]
    response = client.open(url, method=method, json=body,
                           headers={**auth.headers(stranger), "If-Match": builder.flow.etag(cid)})
    assert response.status_code == 404
    assert builder.flow.get(cid).get_json()["version"] == 1


@pytest.mark.parametrize("index", range(2, ROUTE_COUNT))
def test_component_of_another_interface_is_404_under_this_one(builder, client, index):
    cid = builder.flow.add(type="live_chat")["id"]
    other = make_interface(builder.workspace)
    method, url, body = _routes(other.id, cid)[index]
    response = client.open(url, method=method, json=body,
                           headers={**builder.flow.headers, "If-Match": builder.flow.etag(cid)})
    assert response.status_code == 404


def test_builder_routes_need_a_login(builder, client):
    assert client.get(builder.flow.url()).status_code == 401


def test_preview_of_a_message_shows_its_text_and_buttons(builder):
    flow = builder.flow
    target = flow.add(type="live_chat")["id"]
    cid = flow.add(type="message", config={"text": "Hi {visitor_name}, welcome to {interface_name}", "buttons": [
        {"label": "More", "target": {"type": "next"}},
        {"label": "Talk", "style": "secondary", "target": {"type": "component", "component_id": target}}]})["id"]
    response = flow.preview(cid, visitor_name="Ann")
    assert response.status_code == 200
    assert response.get_json() == {
        "component_id": cid, "type": "message", "stage": "start",
        "texts": [f"Hi Ann, welcome to {builder.interface.name}"],
        "buttons": [
            {"id": "button_0", "label": "More", "style": "primary", "action": {"type": "next"}},
            {"id": "button_1", "label": "Talk", "style": "secondary",
             "action": {"type": "component", "component_id": target}},
        ],
        "form": None,
        "continues_with": None,
    }


@pytest.mark.parametrize("stage", ["welcome", "offline", "bogus"])
def test_preview_at_a_stage_the_type_does_not_have_is_422(builder, stage):
    cid = builder.flow.add(type="message")["id"]
    assert error_at(builder.flow.preview(cid, stage=stage), "query", "stage")


def test_edit_racing_another_commit_is_412_not_a_lost_update(builder):
    cid = builder.flow.add(type="message", name="Mine")["id"]
    component = db.session.get(Component, cid)
    assert component.version == 1
    table = Component.__table__
    with db.engine.begin() as conn:  # another admin's edit commits after ours was read
        conn.execute(table.update().where(table.c.id == cid).values(name="Theirs", version=2))
    with pytest.raises(PreconditionFailed):
        do_replace_component(builder.admin, component, {"type": "message", "name": "Ours", "config": {}})
    db.session.expire_all()
    assert (db.session.get(Component, cid).name, db.session.get(Component, cid).version) == ("Theirs", 2)


def test_concurrent_adds_and_deletes_keep_positions_dense(app, builder):
    ids = [builder.flow.add(type="message")["id"] for _ in range(4)]
    barrier = threading.Barrier(4)
    statuses = []

    def run(method, url, body):
        client = app.test_client()
        barrier.wait()
        statuses.append(client.open(url, method=method, json=body, headers=builder.flow.headers).status_code)

    jobs = [("DELETE", builder.flow.url(ids[0]), None), ("DELETE", builder.flow.url(ids[2]), None),
            ("POST", builder.flow.url(), {"type": "message"}), ("POST", builder.flow.url(), {"type": "message"})]
    threads = [threading.Thread(target=run, args=job) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [201, 201, 204, 204]
    db.session.expire_all()
    order = builder.flow.order()
    assert [position for _, position in order] == [0, 1, 2, 3]
    assert {ids[1], ids[3]} <= {cid for cid, _ in order}
