"""A real SMTP server on 127.0.0.1 for tests that deliver mail.

Import the fixture into a test module (`from tests.smtp import smtp_server`).
It points the app at the server through `app_config`; request it before
`app`/`client` (if the app already exists, it is re-pointed instead).
"""
import email
import email.policy
import socket
import threading
import time

import pytest
from aiosmtpd.controller import Controller

HOST = "127.0.0.1"
WAIT_S = 5.0


def free_port():
    """A port on the loopback interface that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


class _Capture:
    """aiosmtpd handler keeping every accepted message."""

    def __init__(self, server):
        self.server = server

    async def handle_DATA(self, smtp, session, envelope):
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.server._accept(envelope, message)
        return "250 Message accepted"


class SMTPServer:
    """An SMTP server that captures messages; it can stop and start again on the same port."""

    def __init__(self, host=HOST, port=None):
        self.host = host
        self.port = port or free_port()
        self.messages = []  # email.message.EmailMessage, in arrival order
        self.envelopes = []  # (mail_from, rcpt_tos)
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)
        self._controller = None

    @property
    def running(self):
        return self._controller is not None

    def start(self):
        if self._controller is None:
            controller = Controller(_Capture(self), hostname=self.host, port=self.port, ready_timeout=WAIT_S)
            controller.start()
            self._controller = controller
        return self

    def stop(self):
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def _accept(self, envelope, message):
        with self._arrived:
            self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
            self.messages.append(message)
            self._arrived.notify_all()

    def wait_for(self, count, timeout=WAIT_S):
        """Wait until at least count messages arrived (or timeout); return the messages."""
        deadline = time.monotonic() + timeout
        with self._arrived:
            while len(self.messages) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._arrived.wait(remaining)
            return list(self.messages)

    def to(self, address):
        """Messages whose envelope recipients include address."""
        with self._lock:
            return [m for m, (_, rcpts) in zip(self.messages, self.envelopes) if address in rcpts]


def mail_config(host, port):
    """The app settings that send mail to host:port in plain SMTP."""
    return {"MAIL_SERVER": host, "MAIL_PORT": port, "MAIL_SUPPRESS_SEND": False,
            "MAIL_USE_TLS": False, "MAIL_USE_SSL": False}


def body_parts(message):
    """(plain text, html) of a captured message; either may be None."""
    plain = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    return (plain.get_content() if plain else None, html.get_content() if html else None)


@pytest.fixture
def smtp_server(request, app_config):
    """A running SMTP server on a free loopback port; the app sends its mail there."""
    server = SMTPServer().start()
    app_config.update(mail_config(server.host, server.port))
    app = request.node.funcargs.get("app")
    if app is not None:  # the app was built first: re-point its mail state
        from extensions import mail

        app.config.update(mail_config(server.host, server.port))
        mail.init_app(app)
    try:
        yield server
    finally:
        server.stop()
