"""Browser tests: Debian's chromium, driven by Playwright's sync API, against the app served on loopback.

Playwright cannot download a browser here, so it starts the system's (`CHROMIUM_PATH`, default
/usr/bin/chromium; `.ci/run` installs Debian's `chromium` package). Chromium's fake camera and microphone
stand in for real devices, and their permission prompts are answered yes. Without chromium or Playwright the
tests skip on a developer's machine and fail under CI, like the other tools the suite installs.

Fixtures:
- `browser`: one headless Chromium for the package's tests (closed after the last one, so the asyncio loops of
  later tests never meet Playwright's).
- `new_context(**options)`: a fresh browser context (its own storage: one person), closed after the test.
  Camera, microphone, notifications and local network access are granted unless `permissions` says otherwise.
- `demo`: the app served on loopback (`demo.url`) with a workspace seeded like `make run`'s demo site: an admin,
  two agents and the demo interface (a welcome with a button, the Live chat component with live and video
  chat, a goodbye), served by all three. Nobody is online yet.
- `shots(page, name)`: a screenshot under build/artifacts/screens/<test>/NN-<name>.png (kept by CI as artefacts).
- `axe_violations(page, selector=None)`: axe-core's serious and critical violations in the page (all frames).
"""
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from extensions import db
from services.demo import do_ensure_demo
from tests.factories import PASSWORD, make_user, make_workspace

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path(os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"))
AXE = ROOT / "node_modules/axe-core/axe.min.js"
SCREENS = ROOT / "build/artifacts/screens"
# What the probe of this machine found Chromium needs headless as root with no network beyond loopback, plus the
# fake media devices. WebRTC's host candidates stay plain loopback addresses (no mDNS names to resolve).
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-default-apps", "--disable-extensions",
    "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
    "--autoplay-policy=no-user-gesture-required", "--disable-features=WebRtcHideLocalIpsWithMdns",
]
TIMEOUT_MS = 10_000


def _missing(what):
    if os.environ.get("CI"):
        pytest.fail(f"{what} is missing; `.ci/run` and `make test` install it", pytrace=False)
    pytest.skip(f"{what} is missing; `.ci/run` and `make test` install it")


@pytest.fixture(scope="package")
def browser():
    try:
        from playwright.sync_api import sync_playwright  # only this package needs it: a skip, not an import error
    except ImportError:
        _missing("playwright (requirements-dev.txt)")
    if not CHROMIUM.exists():
        _missing(f"chromium ({CHROMIUM}; Debian's package `chromium`)")
    playwright = sync_playwright().start()
    try:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()
    finally:
        playwright.stop()


@pytest.fixture
def new_context(browser, request):
    """Make a browser context: one person's browser with its own storage; camera, microphone and notifications allowed."""
    contexts = []

    def make(**options):
        # local-network-access: a page that a test fulfils itself (page.route) counts as another network, and
        # Chromium then refuses its requests and socket to the loopback server unless this is granted.
        options.setdefault("permissions", ["camera", "microphone", "notifications", "local-network-access"])
        options.setdefault("viewport", {"width": 1280, "height": 800})
        context = browser.new_context(**options)
        context.set_default_timeout(TIMEOUT_MS)
        contexts.append(context)
        return context

    yield make
    for context in contexts:
        context.close()


@dataclass
class Person:
    id: int
    email: str
    name: str
    password: str = PASSWORD


@dataclass
class Demo:
    url: str
    public_key: str
    interface_id: int
    workspace_id: int
    admin: Person
    agents: list = field(default_factory=list)

    @property
    def demo_url(self):
        return f"{self.url}/demo/{self.public_key}"

    @property
    def console_url(self):
        return f"{self.url}/console"


def _person(user):
    return Person(id=user.id, email=user.email, name=user.name)


@pytest.fixture
def demo(app, server):
    # Links the app signs (files, e-mails) point at this server, as PUBLIC_URL does under `make run`.
    app.config["PUBLIC_URL"] = server.url
    workspace, admin = make_workspace("Demo workspace")
    agents = [make_user(workspace, name=f"Agent {n}", email=f"agent{n}.{workspace.id}@example.com", max_chats=3)
              for n in (1, 2)]
    interface = do_ensure_demo(workspace.id, server.url)
    interface.agents = [admin, *agents]
    db.session.commit()
    return Demo(url=server.url, public_key=interface.public_key, interface_id=interface.id,
                workspace_id=workspace.id, admin=_person(admin), agents=[_person(agent) for agent in agents])


@pytest.fixture
def shots(request):
    """shots(page, name): save a screenshot of the page as the test's next step."""
    folder = SCREENS / re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.nodeid.split("::", 1)[-1])[:120]
    count = iter(range(1, 1000))

    def shot(page, name, **options):
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{next(count):02d}-{re.sub(r'[^A-Za-z0-9_.-]+', '_', name)[:60]}.png"
        page.screenshot(path=str(path), **options)
        return path

    return shot


_AXE_RUN = """async (selector) => {
  const context = selector ? document.querySelector(selector) : document;
  const result = await window.axe.run(context, {resultTypes: ['violations']});
  return result.violations.filter(v => v.impact === 'serious' || v.impact === 'critical')
    .map(v => ({id: v.id, impact: v.impact, help: v.help, targets: v.nodes.map(n => n.target)}));
}"""


@pytest.fixture
def axe_violations():
    """axe_violations(page, selector=None): serious and critical violations (list of dicts; empty is clean)."""
    if not AXE.exists():
        _missing("axe-core (package.json; `make node`)")
    source = AXE.read_text()

    def run(page, selector=None):
        for frame in page.frames:  # axe must be in every frame it is to look into (the page's CSP does not apply)
            frame.evaluate(source)
        return page.evaluate(_AXE_RUN, selector)

    return run
