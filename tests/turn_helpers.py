"""coturn on loopback for the tests: a private instance with the REST API's time-limited credentials
(`use-auth-secret`, the long-term credential mechanism coturn checks against TURN_SECRET), no TLS, loopback peers
allowed, stopped afterwards."""
import contextlib
import os
import secrets
import shutil
import socket
import struct
import subprocess
import time
from types import SimpleNamespace

TURNSERVER = shutil.which("turnserver")
REALM = "livechat.test"
START_S = 15
_MAGIC = 0x2112A442


def free_udp_port():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def stun_binding_answers(port, timeout=0.5):
    """Whether a STUN Binding request to 127.0.0.1:port gets a success response (RFC 5389, no attributes)."""
    transaction = os.urandom(12)
    request = struct.pack("!HHI", 0x0001, 0, _MAGIC) + transaction
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        sock.sendto(request, ("127.0.0.1", port))
        try:
            answer = sock.recv(2048)
        except (TimeoutError, ConnectionRefusedError):
            return False
    return len(answer) >= 20 and struct.unpack("!H", answer[:2])[0] == 0x0101 and answer[8:20] == transaction


@contextlib.contextmanager
def turnserver(home, port=None):
    """Run coturn on 127.0.0.1:port (a free one by default) with a random shared secret until the block ends.

    Yields port, secret, url (turn:127.0.0.1:port?transport=udp) and log (coturn's log file).
    """
    if TURNSERVER is None:
        raise RuntimeError("coturn is not installed: no turnserver on PATH")
    port, secret = port or free_udp_port(), secrets.token_urlsafe(24)
    log = home / "turn.log"
    proc = subprocess.Popen([
        TURNSERVER, "-n", "--listening-ip=127.0.0.1", "--relay-ip=127.0.0.1", f"--listening-port={port}",
        "--use-auth-secret", f"--static-auth-secret={secret}", f"--realm={REALM}", "--no-cli", "--no-tls",
        "--no-dtls", "--no-tcp", "--no-rfc5780", "--allow-loopback-peers", "--no-software-attribute", "--verbose",
        f"--log-file={log}", "--simple-log", "--no-stdout-log", f"--pidfile={home / 'turn.pid'}",
        f"--userdb={home / 'turndb'}",
    ], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=home)
    try:
        deadline = time.monotonic() + START_S
        while not stun_binding_answers(port):
            if proc.poll() is not None:
                raise RuntimeError(f"turnserver exited: {log.read_text()[-2000:] if log.exists() else ''}")
            if time.monotonic() > deadline:
                raise RuntimeError("turnserver did not answer in time")
        yield SimpleNamespace(port=port, secret=secret, url=f"turn:127.0.0.1:{port}?transport=udp", log=log)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
