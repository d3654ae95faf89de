"""Real servers for socket tests: in a thread (werkzeug) or as gunicorn processes."""
import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import websocket
from werkzeug.serving import make_server

ROOT = Path(__file__).resolve().parent.parent


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ThreadServer:
    """The app served by werkzeug in a background thread on 127.0.0.1."""

    def __init__(self, app):
        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.port = self.server.server_port
        # shutdown() waits for the loop to look again: every 50 ms, not the default half second per test.
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self):
        from tests.frame_contract import in_process_ports

        in_process_ports.add(self.port)  # its frames also pass the server-side contract hook
        self.thread.start()
        return self

    def __exit__(self, *exc):
        from tests.frame_contract import in_process_ports

        self.server.shutdown()
        self.thread.join(5)
        in_process_ports.discard(self.port)


class GunicornServer:
    """The app served by a gunicorn process with the given environment."""

    def __init__(self, env, worker_class="gthread", log_path=None):
        self.port = free_port()
        # A test server: links point at it, and it may use the cheap password hashes of the test data.
        self.env = {**os.environ, "OUTBOX_SENDER_THREAD": "0", "SWEEPER_THREAD": "0", "TEST_SERVER": "1",
                    "PUBLIC_URL": self.url, **env}
        self.worker_class = worker_class
        self.proc = None
        # A server that logs a lot (an outage) writes to a file: an unread pipe would fill and stop it.
        self.log_path = log_path
        self._log = None

    def log(self):
        """What the server logged so far, stdout (JSON lines) and stderr (with log_path only)."""
        return Path(self.log_path).read_text(errors="replace") if self.log_path else ""

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self):
        cmd = [sys.executable, "-m", "gunicorn", "-c", str(ROOT / "gunicorn.conf.py"), "--bind",
               f"127.0.0.1:{self.port}", "--worker-class", self.worker_class, "--workers", "1",
               "--access-logfile", "/dev/null", "wsgi:app"]
        if self.log_path:
            self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(cmd, cwd=ROOT, env=self.env, stdout=self._log or subprocess.DEVNULL,
                                     stderr=self._log or subprocess.PIPE)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                output = self.log() if self._log else self.proc.stderr.read().decode()
                raise RuntimeError("gunicorn exited: " + output[-2000:])
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return self
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("gunicorn did not start in time")

    def __exit__(self, *exc):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
        if self._log is not None:
            self._log.close()


class Client:
    """A WebSocket client that collects frames, with bounded waits.

    Every text frame it reads is checked against openapi/asyncapi.json (tests/frame_contract.py,
    installed on websocket-client by tests/conftest.py).
    """

    def __init__(self, base_url, ticket, origin=None, timeout=10):
        url = base_url.replace("http://", "ws://") + f"/ws?ticket={ticket}"
        options = {"origin": origin} if origin else {"suppress_origin": True}
        self.ws = websocket.create_connection(url, timeout=timeout, **options)
        self.frames = []

    def send(self, frame):
        self.ws.send(json.dumps(frame))

    def recv(self):
        frame = json.loads(self.ws.recv())
        self.frames.append(frame)
        return frame

    def recv_until(self, predicate, limit=200):
        for _ in range(limit):
            frame = self.recv()
            if predicate(frame):
                return frame
        raise AssertionError(f"no matching frame in {limit} frames")

    def close_code(self, limit=200):
        """Read until the server closes the socket; return its close code."""
        for _ in range(limit):
            opcode, data = self.ws.recv_data(control_frame=True)
            if opcode == websocket.ABNF.OPCODE_CLOSE:
                return int.from_bytes(data[:2], "big")
        raise AssertionError("the socket was not closed")

    def close(self):
        self.ws.close()
