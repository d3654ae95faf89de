"""Attachments: upload, signed download links, messages that carry files, limits, reach, removal.

Every test that touches stored files runs twice: on the local directory and on an S3 bucket (moto's
server on loopback).
"""
import http.client
import io
import json
import os
import time
import uuid
from datetime import timedelta

import boto3
import pytest
from sqlalchemy import select
from moto.server import ThreadedMotoServer

from extensions import db
from models import Attachment, Conversation, Event, StoredFileDeletion
from models.base import utcnow
from blueprints.attachments import content_disposition
from blueprints.socket_protocol import SocketSession
from services import storage as storage_module
from services.assignments import do_takeover
from services.attachments import FileTooLarge, clean_filename, read_bounded, sign_link
from services.retention import prune_once
from tests.factories import go_online, make_interface, make_user, make_workspace
from tests.live import Client, free_port
from tests.test_hot_path import Statements
from tests.widget_helpers import Widget

ORIGIN = "https://shop.example"
BUCKET = "livechat-test-files"
# The smallest files of each kind that their detectors recognise.
PNG = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000"
                    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082")
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + b"\x00" * 64 + b"\xff\xd9"
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
TEXT = "Order #1234: the parcel never came. Ça arrive? 🙂\n".encode()
HTML = b"<!DOCTYPE html><html><body><script>alert(1)</script></body></html>"
SVG = b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><circle r="4"/></svg>'
EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"\x00" * 48 + b"PE\x00\x00" + b"\x01" * 64


@pytest.fixture(scope="module")
def moto_url():
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    saved = {name: os.environ.get(name) for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}
    os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing")
    yield f"http://127.0.0.1:{port}"
    server.stop()
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@pytest.fixture(params=["local", "s3"], autouse=True)
def backend(request, app_config, tmp_path):
    """The storage the app uses (set before the app is built: autouse), and a way to list what it holds."""
    if request.param == "local":
        root = tmp_path / "files"
        app_config.update(STORAGE_BACKEND="local", STORAGE_DIR=str(root))
        return lambda: sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())
    url = request.getfixturevalue("moto_url")
    client = boto3.client("s3", endpoint_url=url, region_name="us-east-1")
    # A bucket of its own per test: a port number is free again once released, so it cannot name one.
    bucket = f"{BUCKET}-{uuid.uuid4().hex[:16]}"
    client.create_bucket(Bucket=bucket)
    app_config.update(STORAGE_BACKEND="s3", S3_BUCKET=bucket, S3_ENDPOINT_URL=url, S3_REGION="us-east-1")
    return lambda: sorted(o["Key"] for o in client.list_objects_v2(Bucket=bucket).get("Contents", []))


@pytest.fixture
def world(backend, app, client, auth):
    workspace, admin = make_workspace()
    agent, stranger = make_user(workspace), make_user(workspace)
    interface = make_interface(workspace, allowed_origins=[ORIGIN], agents=[agent])
    other_interface = make_interface(workspace, allowed_origins=[ORIGIN], agents=[stranger])
    go_online(agent)
    widget = Widget(client, interface, origin=ORIGIN)
    widget.open()
    other = Widget(client, interface, origin=ORIGIN)
    other.open()
    return {"stored": backend, "agent": agent, "interface": interface, "other_interface": other_interface,
            "widget": widget, "other": other, "agent_headers": auth.headers(agent),
            "stranger_headers": auth.headers(stranger), "admin_headers": auth.headers(admin)}


def upload(client, url, data, filename="file.bin", content_type="application/octet-stream", headers=None):
    return client.post(url, data={"file": (io.BytesIO(data), filename, content_type)}, headers=headers or {},
                       content_type="multipart/form-data")


def visitor_upload(client, widget, data, filename="photo.png", content_type="image/png"):
    return upload(client, widget.url("/attachments"), data, filename, content_type, widget.headers())


def agent_upload(client, world, data, filename="photo.png", content_type="image/png", headers=None):
    url = f"/api/conversations/{world['widget'].conversation_id}/attachments"
    return upload(client, url, data, filename, content_type, headers or world["agent_headers"])


def download(client, url):
    assert url.startswith("http://testserver/api/files/")
    return client.get(url[len("http://testserver"):])


def send(client, widget, text, client_id, attachment_ids):
    return client.post(widget.url("/messages"), headers=widget.headers(),
                       json={"text": text, "client_id": client_id, "attachment_ids": attachment_ids})


# -- upload and download ---------------------------------------------------------------------------------


def test_an_upload_is_stored_under_a_generated_key_and_served_by_its_signed_link(client, world):
    response = visitor_upload(client, world["widget"], PNG, "holiday photo.png")
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["filename"] == "holiday photo.png" and body["content_type"] == "image/png"
    assert body["size"] == len(PNG) and body["message_id"] is None and body["uploader_type"] == "visitor"
    stored = world["stored"]()
    assert len(stored) == 1 and "holiday" not in stored[0]

    served = download(client, body["url"])
    assert served.status_code == 200 and served.data == PNG
    assert served.headers["Content-Type"] == "image/png"
    assert served.headers["X-Content-Type-Options"] == "nosniff"
    assert served.headers["Cache-Control"].startswith("private")
    assert served.headers["Content-Disposition"] == \
        "inline; filename=\"holiday photo.png\"; filename*=UTF-8''holiday%20photo.png"


def test_text_is_downloaded_not_shown_and_odd_names_are_made_harmless(client, world):
    body = visitor_upload(client, world["widget"], TEXT, "../../etc/pass\x01wd\x7f\t", "text/plain").get_json()
    assert body["filename"] == "passwd" and body["content_type"] == "text/plain"
    assert ".." not in world["stored"]()[0]
    served = download(client, body["url"])
    assert served.data == TEXT and served.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert served.headers["Content-Disposition"].startswith('attachment; filename="passwd"')

    accented = visitor_upload(client, world["widget"], TEXT, "résumé 2.txt", "text/plain").get_json()
    disposition = download(client, accented["url"]).headers["Content-Disposition"]
    assert disposition == "attachment; filename=\"r_sum_ 2.txt\"; filename*=UTF-8''r%C3%A9sum%C3%A9%202.txt"


def test_a_filename_cannot_break_out_of_its_header(app):
    tricky = Attachment(filename='a";b\\c%.txt', content_type="text/plain")
    assert content_disposition(tricky) == "attachment; filename=\"a__b_c_.txt\"; filename*=UTF-8''a%22%3Bb%5Cc%25.txt"


def test_clean_filename_keeps_the_extension_of_a_long_name(app):
    assert clean_filename("a" * 300 + ".pdf") == "a" * 251 + ".pdf"
    assert clean_filename("C:\\Users\\me\\report.pdf") == "report.pdf"
    assert clean_filename("...") == "file" and clean_filename("\u202eevil.exe") == "evil.exe"
    assert clean_filename("a\ud800b.txt") == "a?b.txt" and clean_filename(None) == "file"


@pytest.mark.parametrize("data, name, claimed, kind", [
    (JPEG, "scan.jpg", "image/jpeg", "image/jpeg"),
    (PDF, "invoice.pdf", "application/pdf", "application/pdf"),
    (PNG, "no-extension", "application/octet-stream", "image/png"),
])
def test_the_type_comes_from_the_content(client, world, data, name, claimed, kind):
    response = visitor_upload(client, world["widget"], data, name, claimed)
    assert response.status_code == 201 and response.get_json()["content_type"] == kind


def test_an_altered_or_expired_link_is_refused(client, world):
    body = visitor_upload(client, world["widget"], PNG).get_json()
    token = body["url"].rsplit("/", 1)[1]
    attachment_id, expires, signature = token.split(".")
    altered = [f"{int(attachment_id) + 1}.{expires}.{signature}", f"{attachment_id}.{int(expires) + 60}.{signature}",
               f"{attachment_id}.{expires}.{signature[:-1]}{'A' if signature[-1] != 'A' else 'B'}", "x" * 80]
    for bad in altered:
        response = client.get(f"/api/files/{bad}")
        assert response.status_code == 403 and response.get_json()["code"] == "link_invalid", bad
    expired, _ = sign_link(body["id"], now=time.time() - 3600)
    response = client.get(f"/api/files/{expired}")
    assert response.status_code == 403 and response.get_json()["code"] == "link_expired"


# -- bad input -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("data, name, claimed, code", [
    (HTML, "page.html", "text/html", "file_type_not_allowed"),
    (HTML, "notes.txt", "text/plain", "file_type_mismatch"),
    (SVG, "logo.svg", "image/svg+xml", "file_type_not_allowed"),
    (SVG, "logo", "application/octet-stream", "file_type_not_allowed"),
    (EXE, "setup.exe", "application/octet-stream", "file_type_not_allowed"),
    (EXE, "cat.png", "application/octet-stream", "file_type_mismatch"),
    (PNG, "report.pdf", "application/pdf", "file_type_mismatch"),
    (PDF, "photo", "image/png", "file_type_mismatch"),
    (b"", "empty.txt", "text/plain", "empty_file"),
    (b"\x00\x01\x02binary", "data.txt", "text/plain", "file_type_mismatch"),
])
def test_refused_files_leave_nothing_behind(client, world, data, name, claimed, code):
    response = visitor_upload(client, world["widget"], data, name, claimed)
    assert response.status_code == 422 and response.get_json()["code"] == code, response.get_json()
    assert world["stored"]() == [] and db.session.query(Attachment).count() == 0


def test_a_request_without_a_file_part_is_422(client, world):
    response = client.post(world["widget"].url("/attachments"), data={"other": "x"}, headers=world["widget"].headers(),
                           content_type="multipart/form-data")
    assert response.status_code == 422 and response.get_json()["code"] == "validation_error"
    response = client.post(world["widget"].url("/attachments"), json={"file": "x"}, headers=world["widget"].headers())
    assert response.status_code == 422


@pytest.fixture
def small_limits(app_config):
    app_config.update(ATTACHMENT_MAX_BYTES=len(PNG) + 10, ATTACHMENT_CONVERSATION_MAX_BYTES=4 * len(PNG),
                      ATTACHMENT_UPLOAD_LIMIT_PER_VISITOR="5/minute")


def test_a_file_over_the_limit_is_413_and_not_read_past_it(small_limits, client, world):
    too_big = PNG + b"\x00" * 11
    response = visitor_upload(client, world["widget"], too_big)
    assert response.status_code == 413 and response.get_json()["code"] == "payload_too_large"
    # a body far over the limit is refused by its length before the form is read
    response = visitor_upload(client, world["widget"], PNG + b"\x00" * 200_000)
    assert response.status_code == 413 and response.get_json()["code"] == "payload_too_large"
    assert world["stored"]() == [] and db.session.query(Attachment).count() == 0


def test_an_upload_is_read_no_further_than_the_limit():
    """What werkzeug hands over (a body without a length too) is read up to the limit and one byte more."""
    class Endless:
        def __init__(self):
            self.given = 0

        def read(self, size):
            self.given += size
            return b"\x00" * size

    stream = Endless()
    with pytest.raises(FileTooLarge):
        read_bounded(stream, 100_000)
    assert stream.given == 100_001
    assert read_bounded(io.BytesIO(b"x" * 100_000), 100_000) == b"x" * 100_000


def test_a_chunked_body_without_a_length_is_refused_past_the_limit(small_limits, client, world, server):
    widget, boundary = world["widget"], "b0undary"
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.png\"\r\n"
            f"Content-Type: image/png\r\n\r\n").encode()
    pieces = [head, PNG] + [b"\x00" * 65536] * 16 + [f"\r\n--{boundary}--\r\n".encode()]
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        connection.request("POST", widget.url("/attachments"), body=iter(pieces), encode_chunked=True,
                           headers={**widget.headers(), "Content-Type": f"multipart/form-data; boundary={boundary}"})
    except (BrokenPipeError, ConnectionResetError):
        pass  # the server may answer and close before the whole body is sent
    response = connection.getresponse()
    assert response.status == 413 and json.loads(response.read())["code"] == "payload_too_large"
    connection.close()
    assert world["stored"]() == [] and db.session.query(Attachment).count() == 0


def test_a_conversation_holds_files_up_to_its_quota(small_limits, client, world):
    for _ in range(4):
        assert visitor_upload(client, world["widget"], PNG).status_code == 201
    response = visitor_upload(client, world["widget"], PNG)
    assert response.status_code == 413 and response.get_json()["code"] == "conversation_storage_full"
    assert len(world["stored"]()) == 4 and db.session.query(Attachment).count() == 4


def test_uploads_are_limited_per_visitor(small_limits, client, world):
    codes = [visitor_upload(client, world["widget"], b"note\n", "a.txt", "text/plain").status_code for _ in range(6)]
    assert codes == [201, 201, 201, 201, 201, 429]
    # another visitor is not held by the first one's uploads
    assert visitor_upload(client, world["other"], TEXT, "a.txt", "text/plain").status_code == 201


# -- reach -----------------------------------------------------------------------------------------------


def test_only_the_conversations_people_reach_them(client, world):
    widget, other = world["widget"], world["other"]
    mine = visitor_upload(client, widget, PNG).get_json()
    # another visitor: neither my conversation's uploads nor my attachment
    response = upload(client, widget.url("/attachments"), PNG, "x.png", "image/png", other.headers())
    assert response.status_code == 404
    response = client.get(other.url(f"/attachments/{mine['id']}"), headers=other.headers())
    assert response.status_code == 404
    # an agent of another interface
    response = agent_upload(client, world, PNG, headers=world["stranger_headers"])
    assert response.status_code == 404
    url = f"/api/conversations/{widget.conversation_id}/attachments/{mine['id']}"
    assert client.get(url, headers=world["stranger_headers"]).status_code == 404
    # the interface's agent does not see an upload the visitor has not sent yet; the visitor does
    assert client.get(url, headers=world["agent_headers"]).status_code == 404
    fresh = client.get(widget.url(f"/attachments/{mine['id']}"), headers=widget.headers())
    assert fresh.status_code == 200 and download(client, fresh.get_json()["url"]).data == PNG
    assert send(client, widget, "", "c1", [mine["id"]]).status_code == 201
    shown = client.get(url, headers=world["agent_headers"])
    assert shown.status_code == 200 and shown.get_json()["message_id"] is not None
    assert client.get(url, headers=world["admin_headers"]).status_code == 200


def test_admin_of_another_workspace_gets_404_on_every_attachment_route(client, world, auth):
    widget = world["widget"]
    sent = visitor_upload(client, widget, PNG).get_json()
    assert send(client, widget, "", "c1", [sent["id"]]).status_code == 201
    _, outsider = make_workspace(name="Elsewhere")
    theirs = auth.headers(outsider)
    assert agent_upload(client, world, PNG, headers=theirs).status_code == 404
    url = f"/api/conversations/{widget.conversation_id}/attachments/{sent['id']}"
    assert client.get(url, headers=theirs).status_code == 404
    assert client.get(url, headers=world["admin_headers"]).status_code == 200  # the owner's admin does see it


# -- messages carry them ---------------------------------------------------------------------------------


def test_a_message_carries_the_senders_uploads(client, world):
    widget = world["widget"]
    photo = visitor_upload(client, widget, PNG, "a.png").get_json()
    notes = visitor_upload(client, widget, TEXT, "b.txt", "text/plain").get_json()
    response = send(client, widget, "", "m1", [notes["id"], photo["id"]])
    assert response.status_code == 201, response.get_json()
    message = response.get_json()
    assert message["text"] == ""
    # in the order they were uploaded
    assert [(a["id"], a["filename"], a["content_type"], a["size"]) for a in message["attachments"]] == [
        (photo["id"], "a.png", "image/png", len(PNG)), (notes["id"], "b.txt", "text/plain", len(TEXT))]
    assert download(client, message["attachments"][0]["url"]).data == PNG
    history = widget.messages().get_json()["items"]
    assert [a["id"] for a in history[-1]["attachments"]] == [photo["id"], notes["id"]]
    assert all(m["attachments"] == [] for m in history[:-1])
    assert download(client, history[-1]["attachments"][1]["url"]).data == TEXT
    # the event the agent's sockets get carries them too
    event = db.session.scalars(select(Event).where(Event.type == "message.created").order_by(Event.id.desc())).first()
    event = event.payload
    assert [a["filename"] for a in event["message"]["attachments"]] == ["a.png", "b.txt"]
    # a retry with the same client id answers with the first message and its files
    again = send(client, widget, "", "m1", [notes["id"], photo["id"]])
    assert again.status_code == 201 and again.get_json()["id"] == message["id"]
    assert [a["id"] for a in again.get_json()["attachments"]] == [photo["id"], notes["id"]]


def test_a_message_cannot_carry_what_is_not_the_senders_unsent_upload(client, world):
    widget, other = world["widget"], world["other"]
    mine = visitor_upload(client, widget, PNG).get_json()
    theirs = visitor_upload(client, other, PNG).get_json()
    response = send(client, widget, "hi", "m1", [theirs["id"]])
    assert response.status_code == 404 and response.get_json()["code"] == "attachment_not_found"
    response = send(client, widget, "hi", "m2", [mine["id"], 2**31 - 1])
    assert response.status_code == 404 and response.get_json()["code"] == "attachment_not_found"
    assert send(client, widget, "hi", "m3", [mine["id"]]).status_code == 201
    response = send(client, widget, "again", "m4", [mine["id"]])
    assert response.status_code == 422 and response.get_json()["code"] == "attachment_already_sent"
    # nothing of the refused sends was kept
    assert [m["client_id"] for m in widget.messages().get_json()["items"]] == ["m3"]
    for bad in ([], list(range(1, 12)), ["x"], [0], [None], "1"):
        response = send(client, widget, "" if bad == [] else "x", "m5", bad)
        assert response.status_code == 422, bad
    response = client.post(widget.url("/messages"), headers=widget.headers(), json={"text": "", "client_id": "m6"})
    assert response.status_code == 422


def test_the_agent_sends_files_and_the_visitor_reads_them(client, world):
    widget = world["widget"]
    do_takeover(world["agent"], widget.conversation_id)
    attachment = agent_upload(client, world, PDF, "terms.pdf", "application/pdf").get_json()
    # the visitor does not see the agent's upload before it is sent
    assert client.get(widget.url(f"/attachments/{attachment['id']}"), headers=widget.headers()).status_code == 404
    response = client.post(f"/api/conversations/{widget.conversation_id}/messages", headers=world["agent_headers"],
                           json={"text": "Our terms", "client_id": "a1", "attachment_ids": [attachment["id"]]})
    assert response.status_code == 201 and response.get_json()["attachments"][0]["filename"] == "terms.pdf"
    seen = client.get(widget.url(f"/attachments/{attachment['id']}"), headers=widget.headers())
    assert seen.status_code == 200
    served = download(client, seen.get_json()["url"])
    assert served.data == PDF and served.headers["Content-Disposition"].startswith("inline;")
    # a visitor cannot send the agent's file as theirs
    other_upload = agent_upload(client, world, PNG).get_json()
    response = send(client, widget, "mine", "v1", [other_upload["id"]])
    assert response.status_code == 404


def _socket_send(session, conversation_id, client_id, attachment_ids=None, text=""):
    frame = {"type": "message.send", "ref": client_id, "conversation_id": conversation_id, "text": text,
             "client_id": client_id}
    if attachment_ids is not None:
        frame["attachment_ids"] = attachment_ids
    return session.handle_text(json.dumps(frame))


def test_the_socket_sends_files_and_the_event_carries_them(client, world, server):
    widget = world["widget"]
    do_takeover(world["agent"], widget.conversation_id)
    attachment = visitor_upload(client, widget, PNG, "shot.png").get_json()
    agent_sock = Client(server.url, _agent_ticket(client, world), origin="http://localhost:3000")
    agent_sock.recv()
    agent_sock.send({"type": "resume", "positions": {}})
    agent_sock.recv_until(lambda f: f["type"] == "ack")
    sock = Client(server.url, widget.ticket(), origin=ORIGIN)
    sock.recv()
    sock.send({"type": "message.send", "conversation_id": widget.conversation_id, "client_id": "s1", "text": "",
               "attachment_ids": [attachment["id"]], "ref": "r1"})
    ack = sock.recv_until(lambda f: f["type"] in ("ack", "error"))
    assert ack["type"] == "ack" and ack["data"]["created"] is True, ack
    sock.send({"type": "message.send", "conversation_id": widget.conversation_id, "client_id": "s2", "text": "",
               "attachment_ids": [attachment["id"]], "ref": "r2"})
    error = sock.recv_until(lambda f: f["type"] == "error")
    assert error["code"] == "attachment_already_sent" and error["ref"] == "r2"
    sock.close()
    event = agent_sock.recv_until(lambda f: f["type"] == "message.created" and f["data"]["message"]["client_id"] == "s1")
    agent_sock.close()
    carried = event["data"]["message"]["attachments"]
    assert [(a["id"], a["filename"]) for a in carried] == [(attachment["id"], "shot.png")]
    assert download(client, carried[0]["url"]).data == PNG


def _agent_ticket(client, world):
    response = client.post("/api/sockets/ticket", headers=world["agent_headers"])
    assert response.status_code == 201, response.get_json()
    return response.get_json()["ticket"]


def test_files_cost_one_statement_more_and_a_plain_message_none(app, client, world):
    # Messages with files are always sent alone, the way group commit's leftovers are: compare with a plain
    # message sent that way (tests/test_hot_path.py counts the plain message's own path).
    app.config["MESSAGE_GROUP_COMMIT"] = False
    app.extensions.pop("group_committer", None)
    widget = world["widget"]
    visitor = db.session.get(Conversation, widget.conversation_id).visitor
    session = SocketSession(visitor, push=lambda *a: None)
    session.hello()
    assert _socket_send(session, widget.conversation_id, "warm", text="hi")[0]["type"] == "ack"
    with Statements(db.engine) as plain:
        assert _socket_send(session, widget.conversation_id, "p1", text="hi")[0]["type"] == "ack"
    attachment = visitor_upload(client, widget, PNG).get_json()
    with Statements(db.engine) as carrying:
        frames = _socket_send(session, widget.conversation_id, "f1", [attachment["id"]])
    assert frames[0]["type"] == "ack", frames
    # One statement claims the files; whatever else the message costs, a plain one costs as much (the interface,
    # which the check of the files reads, is not read again in that transaction).
    claims = [t for t in carrying.texts if t.lstrip().upper().startswith("UPDATE ATTACHMENTS")]
    assert len(claims) == 1, carrying.texts
    assert len(carrying.statements) - 1 <= len(plain.statements), (plain.statements, carrying.statements)


# -- removal ---------------------------------------------------------------------------------------------


def test_deleting_an_interface_removes_its_files(client, world):
    visitor_upload(client, world["widget"], PNG)
    attachment = visitor_upload(client, world["other"], TEXT, "t.txt", "text/plain").get_json()
    assert send(client, world["other"], "", "m1", [attachment["id"]]).status_code == 201
    assert len(world["stored"]()) == 2
    response = client.delete(f"/api/interfaces/{world['interface'].id}", headers=world["admin_headers"])
    assert response.status_code == 204
    assert world["stored"]() == []
    assert db.session.query(Attachment).count() == 0 and db.session.query(StoredFileDeletion).count() == 0


def test_retention_prunes_old_unsent_uploads_and_retries_failed_removals(client, world, monkeypatch):
    widget = world["widget"]
    old = visitor_upload(client, widget, PNG).get_json()
    sent = visitor_upload(client, widget, TEXT, "t.txt", "text/plain").get_json()
    assert send(client, widget, "", "m1", [sent["id"]]).status_code == 201
    fresh = visitor_upload(client, widget, PNG).get_json()
    for attachment_id in (old["id"], sent["id"]):
        db.session.get(Attachment, attachment_id).created_at = utcnow() - timedelta(hours=25)
    db.session.commit()

    real = storage_module.storage()
    calls = []

    class Failing:
        def delete(self, key):
            calls.append(key)
            raise OSError("storage away")

    monkeypatch.setattr("services.attachments.storage", lambda: Failing())
    done = prune_once()
    assert done["unsent attachments"] == 1 and done["stored files"] == 0 and len(calls) == 1
    assert sorted(a.id for a in db.session.query(Attachment)) == sorted([sent["id"], fresh["id"]])
    assert len(world["stored"]()) == 3  # the old file outlived its row

    monkeypatch.setattr("services.attachments.storage", lambda: real)
    done = prune_once()
    assert done["stored files"] == 1 and len(world["stored"]()) == 2
    assert db.session.query(StoredFileDeletion).count() == 0


def test_a_replayed_message_hands_out_fresh_links(client, world):
    widget = world["widget"]
    attachment = visitor_upload(client, widget, PNG).get_json()
    assert send(client, widget, "", "m1", [attachment["id"]]).status_code == 201
    event = db.session.scalars(select(Event).where(Event.type == "message.created").order_by(Event.id.desc())).first()
    expired, _ = sign_link(attachment["id"], now=time.time() - 3600)
    stale = json.loads(json.dumps(event.payload))
    stale["message"]["attachments"][0]["url"] = f"http://testserver/api/files/{expired}"
    event.payload = stale
    db.session.commit()
    assert download(client, stale["message"]["attachments"][0]["url"]).status_code == 403

    visitor = db.session.get(Conversation, widget.conversation_id).visitor
    session = SocketSession(visitor, push=lambda *a: None)
    session.hello()
    frames = session.handle_text(json.dumps({"type": "subscribe", "stream": f"conversation:{widget.conversation_id}",
                                             "after": 0}))
    replayed = [f for f in frames if f["type"] == "message.created" and f["data"]["message"]["attachments"]]
    assert len(replayed) == 1
    carried = replayed[0]["data"]["message"]["attachments"][0]
    assert carried["url"] != stale["message"]["attachments"][0]["url"]
    assert download(client, carried["url"]).data == PNG
