"""The console's admin view in a real browser: an admin adds a chat interface and an agent serving it, edits the
agent, adds the Live chat component to the interface's flow with the API's defaults through the wizard, changes
an option and sees the preview follow; the API's 422 errors show next to their field; names render as text;
axe finds nothing serious; an agent never sees the view (and the API refuses them anyway).
"""
import json
import re
import urllib.request
from urllib.parse import parse_qs, urlsplit

from playwright.sync_api import expect

from services.mailer import do_send_due
from tests.browser.conftest import Person
from tests.browser.test_console import XSS, console, http  # noqa: F401 - console is a fixture
from tests.smtp import body_parts, smtp_server  # noqa: F401 - fixture

PASSWORD = "Zoë's own passphrase"
LINK = re.compile(r"https?://\S+/set-password\?token=[\w-]+")


def login(demo, person):
    status, body = http(demo.url, "POST", "/api/auth/login", {"email": person.email, "password": person.password})
    assert status == 200, body
    return body["access_token"]


def change_behind_the_page(demo, token, path, body):
    """A PUT with the component's current ETag, as another admin's tab would make it."""
    request = urllib.request.Request(demo.url + path.rsplit("/live-chat/", 1)[0], method="GET")
    request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=15) as response:
        etag = response.headers["ETag"]
    request = urllib.request.Request(demo.url + path, method="PUT", data=json.dumps(body).encode())
    for name, value in (("Authorization", f"Bearer {token}"), ("If-Match", etag), ("Content-Type", "application/json")):
        request.add_header(name, value)
    with urllib.request.urlopen(request, timeout=15) as response:
        assert response.status == 200


def field_error(form, key):
    return form.locator(f"[data-testid=field-error][data-field='{key}']")


def test_admin_adds_an_interface_and_an_agent_and_the_live_chat_component(smtp_server, demo, console, shots,  # noqa: F811
                                                                        axe_violations):
    page = console(demo.admin)
    token = login(demo, demo.admin)
    page.get_by_role("button", name="Admin").click()
    expect(page.locator("#admin-view")).to_be_visible()
    expect(page.get_by_test_id("agent-row")).to_have_count(3)

    # A chat interface: a bad origin is refused by the API, shown next to the origins field.
    page.get_by_role("button", name="Add a chat interface").click()
    form = page.get_by_test_id("interface-form")
    name = form.get_by_label("Name")
    assert name.get_attribute("maxlength") == "120"
    timeout = form.get_by_label("Request timeout (seconds)")
    assert (timeout.get_attribute("min"), timeout.get_attribute("max")) == ("10", "3600")
    name.fill(f"Shop {XSS}")
    form.get_by_label("Allowed origins").fill("https://shop.example\nftp://nope")
    timeout.fill("90")
    form.get_by_label(demo.agents[0].name, exact=False).check()
    form.get_by_role("button", name="Save").click()
    expect(field_error(form, "allowed_origins")).to_contain_text("Line 2")
    expect(form.get_by_label("Allowed origins")).to_have_attribute("aria-invalid", "true")
    shots(page, "origin refused")
    assert axe_violations(page, "#admin-view") == []
    form.get_by_label("Allowed origins").fill("https://shop.example")
    form.get_by_role("button", name="Save").click()
    expect(form).to_have_count(0)
    row = page.get_by_test_id("interface-row").filter(has_text=f"Shop {XSS}")
    expect(row).to_contain_text(demo.agents[0].name)
    shop_id = int(row.get_attribute("data-interface-id"))
    status, shop = http(demo.url, "GET", f"/api/interfaces/{shop_id}", token=token)
    assert (shop["allowed_origins"], shop["request_timeout_s"], shop["agent_ids"]) == (
        ["https://shop.example"], 90, [demo.agents[0].id])

    # An agent serving it; the form shows who already serves each interface.
    page.get_by_role("button", name="Add an agent").click()
    form = page.get_by_test_id("agent-form")
    expect(form).to_contain_text(f"served by {demo.agents[0].name}")
    assert form.get_by_label("E-mail").get_attribute("maxlength") == "254"
    max_chats = form.get_by_label("Max chats at once")
    assert (max_chats.get_attribute("min"), max_chats.get_attribute("max")) == ("1", "50")
    email = f"zoe.{demo.workspace_id}@example.com"
    form.get_by_label("Name").fill(f"Zoë {XSS}")
    form.get_by_label("E-mail").fill(email)
    max_chats.fill("4")
    form.get_by_label(f"Shop {XSS}").check()
    form.get_by_role("button", name="Save").click()
    expect(form).to_have_count(0)
    agent_row = page.get_by_test_id("agent-row").filter(has_text=email)
    expect(agent_row).to_contain_text(f"Zoë {XSS}")
    expect(agent_row).to_contain_text("invited")
    agent_id = int(agent_row.get_attribute("data-agent-id"))
    status, agent = http(demo.url, "GET", f"/api/agents/{agent_id}", token=token)
    assert (agent["max_chats"], agent["interface_ids"], agent["role"], agent["has_password"]) == (
        4, [shop_id], "agent", False)

    # The same address again: the conflict shows next to the e-mail.
    page.get_by_role("button", name="Add an agent").click()
    form = page.get_by_test_id("agent-form")
    form.get_by_label("Name").fill("Twin")
    form.get_by_label("E-mail").fill(email.upper())
    form.get_by_role("button", name="Save").click()
    expect(field_error(form, "email")).to_contain_text("already exists")
    form.get_by_role("button", name="Cancel").click()

    # Edit: max chats.
    agent_row.get_by_role("button", name="Edit").click()
    form = page.get_by_test_id("agent-form")
    expect(form.get_by_label("Name")).to_have_value(f"Zoë {XSS}")
    form.get_by_label("Max chats at once").fill("7")
    form.get_by_role("button", name="Save").click()
    expect(agent_row.get_by_test_id("agent-max-chats")).to_have_text("7")
    assert http(demo.url, "GET", f"/api/agents/{agent_id}", token=token)[1]["max_chats"] == 7
    agent_row.get_by_role("button", name="Resend invitation").click()
    expect(page.locator("#admin-status")).to_contain_text(f"The invitation went to {email} again.")

    # The invitation arrives by mail (the outbox sends it): the agent sets a password with its link and logs in;
    # the console shows them no admin view.
    sent, failed = do_send_due()
    assert sent >= 1 and failed == 0
    mail = smtp_server.wait_for(sent)[-1]
    assert mail["To"] == email
    (link,) = LINK.findall(body_parts(mail)[0])
    status, answer = http(demo.url, "POST", "/api/auth/set-password", {
        "token": parse_qs(urlsplit(link).query)["token"][0], "password": PASSWORD})
    assert status == 204, answer
    newcomer = console(Person(id=agent_id, email=email, name="Zoë", password=PASSWORD), form=True)
    expect(newcomer.locator("#me-name")).to_have_text(f"Zoë {XSS}")
    expect(newcomer.get_by_role("button", name="Admin")).to_be_hidden()

    # The flow of the new interface is empty: add the Live chat component, with the API's defaults.
    row.get_by_role("button", name="Flow").click()
    flow = page.get_by_test_id("flow-section")
    expect(flow).to_contain_text("The flow is empty.")
    flow.get_by_role("button", name="Add the Live chat component").click()
    wizard = flow.get_by_test_id("wizard")
    options = wizard.get_by_test_id("wizard-options")
    expect(options.get_by_label("Offer live chat")).to_be_checked()
    expect(options.get_by_label("Offer video chat")).not_to_be_checked()
    messages = wizard.get_by_test_id("wizard-messages")
    expect(messages.get_by_label("Welcome (while the visitor waits)")).to_have_value(
        "Please wait a moment while we connect you with one of our agents.")
    assert messages.get_by_label("Welcome (while the visitor waits)").get_attribute("maxlength") == "2000"
    expect(wizard.get_by_test_id("wizard-offline-form").get_by_label(
        "Offer the offline form when nobody is available")).to_be_checked()
    expect(wizard.get_by_test_id("wizard-agents-list")).to_contain_text(demo.agents[0].name)
    preview = wizard.get_by_test_id("preview")
    expect(preview.get_by_test_id("preview-text")).to_have_text(["Would you like to chat with one of our agents?"])
    expect(preview.get_by_test_id("preview-button")).to_have_text(["Live chat", "Skip"])
    status, components = http(demo.url, "GET", f"/api/interfaces/{shop_id}/components", token=token)
    assert [c["type"] for c in components] == ["live_chat"]
    shots(page, "wizard with the defaults")

    # An option changed: the preview follows.
    options.get_by_label("Offer video chat").check()
    options.get_by_role("button", name="Save").click()
    expect(preview.get_by_test_id("preview-button")).to_have_text(["Live chat", "Video chat", "Skip"])
    chat_message = wizard.get_by_test_id("wizard-chat-message")
    chat_message.get_by_label("Text shown with the buttons").fill(f"Talk to us, {{visitor_name}} {XSS}")
    chat_message.get_by_label("Show Skip (goes on with the next component)").uncheck()
    chat_message.get_by_role("button", name="Save").click()
    expect(preview.get_by_test_id("preview-text")).to_have_text([f"Talk to us, Ann {XSS}"])
    expect(preview.get_by_test_id("preview-button")).to_have_text(["Live chat", "Video chat"])

    # Another admin changed the component meanwhile: the save is refused (412), the step shows what is stored now.
    component_path = f"/api/interfaces/{shop_id}/components/{components[0]['id']}"
    change_behind_the_page(demo, token, f"{component_path}/live-chat/chat-message", {"text": "Changed elsewhere", "show_skip": False})
    options.get_by_label("Offer live chat").uncheck()
    options.get_by_role("button", name="Save").click()
    expect(chat_message.get_by_label("Text shown with the buttons")).to_have_value("Changed elsewhere")
    expect(flow.get_by_test_id("wizard-status")).to_contain_text("Someone changed this component meanwhile")
    expect(wizard.get_by_test_id("wizard-options").get_by_label("Offer live chat")).to_be_checked()
    expect(preview.get_by_test_id("preview-text")).to_have_text(["Changed elsewhere"])

    # A message the API refuses (a placeholder it cannot fill there): the error sits next to that message.
    welcome = messages.get_by_label("Welcome (while the visitor waits)")
    welcome.fill("Hi {agent_name}")
    messages.get_by_role("button", name="Save").click()
    expect(field_error(messages, "welcome")).to_contain_text("Unknown placeholder {agent_name}")
    expect(welcome).to_have_attribute("aria-invalid", "true")
    expect(field_error(messages, "offline")).to_have_text("")
    shots(page, "placeholder refused")
    welcome.fill("One moment, {visitor_name}.")
    messages.get_by_role("button", name="Save").click()
    expect(field_error(messages, "welcome")).to_have_text("")
    wizard.get_by_label("Stage").select_option("welcome")
    expect(preview.get_by_test_id("preview-text")).to_have_text(["One moment, Ann."])
    offline = wizard.get_by_test_id("wizard-offline-form")
    offline.get_by_label("Offer the offline form when nobody is available").uncheck()
    offline.get_by_role("button", name="Save").click()
    expect(offline.get_by_test_id("form-status")).to_have_text("Saved.")
    timeout_step = wizard.get_by_test_id("wizard-timeout")
    expect(timeout_step.get_by_label("Seconds a request waits for an agent")).to_have_value("90")
    timeout_step.get_by_label("Seconds a request waits for an agent").fill("120")
    timeout_step.get_by_role("button", name="Save").click()
    expect(timeout_step.get_by_test_id("form-status")).to_have_text("Saved.")
    assert http(demo.url, "GET", f"/api/interfaces/{shop_id}", token=token)[1]["request_timeout_s"] == 120
    wizard.get_by_label("Stage").select_option("offline")
    expect(preview.get_by_test_id("preview-form")).to_have_count(0)
    status, component = http(demo.url, "GET", f"/api/interfaces/{shop_id}/components/{components[0]['id']}",
                             token=token)
    config = component["config"]
    assert config["options"]["video_chat"]["enabled"] is True and config["chat_message"]["show_skip"] is False
    assert config["messages"]["welcome"] == "One moment, {visitor_name}." and config["offline_form"]["active"] is False
    shots(page, "wizard saved")

    assert axe_violations(page, "#admin-view") == []
    # Nothing anyone typed became markup.
    assert page.locator("#app-view img, #app-view script").count() == 0
    assert page.evaluate("window.__xss") is None

    # Deactivate, then delete the agent.
    agent_row.get_by_role("button", name="Deactivate").click()
    expect(agent_row).to_contain_text("(deactivated)")
    agent_row.get_by_role("button", name="Delete").click()
    agent_row.get_by_role("button", name="Yes, delete").click()
    expect(agent_row).to_have_count(0)
    assert http(demo.url, "GET", f"/api/agents/{agent_id}", token=token)[0] == 404


def test_an_agent_never_sees_the_admin_view(demo, console):
    page = console(demo.agents[0])
    expect(page.get_by_role("button", name="Admin")).to_be_hidden()
    page.evaluate("location.hash = '#/admin'")
    expect(page.locator("#chats-view")).to_be_visible()
    expect(page.locator("#admin-view")).to_be_hidden()
    assert page.get_by_test_id("agent-row").count() == 0
    # And the API refuses them whatever a page does.
    token = login(demo, demo.agents[0])
    assert http(demo.url, "GET", "/api/agents", token=token)[0] == 403
    assert http(demo.url, "POST", "/api/interfaces", {"name": "Mine"}, token=token)[0] == 403
