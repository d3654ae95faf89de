"""How long a burst of logins holds the other sockets of a gevent worker.

    python -m bench.login_stall [--logins 20] [--threads 0,1]

For each PASSWORD_HASH_THREADS value it starts gunicorn (gevent, one worker, the embedded SQLite default,
the default argon2 profile) in a scratch instance directory, opens an agent's WebSocket that pings
every 0.11 s and a keep-alive connection that asks /healthz every 5 ms, then fires the logins at once.
It prints the slowest pong and /healthz answer while the logins run (a probe waiting on a stalled worker
answers as late as the stall lasts), beside the same before them.
0 threads hashes on the event loop (every socket waits); the default, 1, hashes in a pool thread.
"""
import argparse
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import websocket

ROOT = Path(__file__).resolve().parent.parent
EMAIL, PASSWORD = "admin@example.com", "a long enough password 1"

_SEED = f"""
from app import create_app
from extensions import db
from services.passwords import hash_password
from services.workspaces import do_create_workspace

app = create_app()
with app.app_context():
    _, admin, _ = do_create_workspace("Stall", {EMAIL!r}, "Admin")
    admin.password_hash = hash_password({PASSWORD!r})
    db.session.commit()
"""


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _post(port, path, body=None, token=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    conn.request("POST", path, body=json.dumps(body or {}), headers=headers)
    response = conn.getresponse()
    data = json.loads(response.read() or b"{}")
    conn.close()
    return response.status, data


class _Prober(threading.Thread):
    """Calls probe() every interval_s (or as soon as the previous answer is in), recording (start, latency)."""

    def __init__(self, probe, interval_s):
        super().__init__(daemon=True)
        self.probe, self.interval_s, self.samples, self.stopped = probe, interval_s, [], threading.Event()

    def run(self):
        while not self.stopped.is_set():
            start = time.monotonic()
            self.probe()
            self.samples.append((start, time.monotonic() - start))
            time.sleep(max(0.0, start + self.interval_s - time.monotonic()))

    def window(self, start, end, within=False):
        """Latencies of the probes waiting at any moment of [start, end] (within: from start to end only)."""
        if within:
            return [latency for begun, latency in self.samples if begun >= start and begun + latency <= end]
        return [latency for begun, latency in self.samples if begun <= end and begun + latency >= start]


def measure(threads, logins, settle_s=1.0):
    port = _free_port()
    with tempfile.TemporaryDirectory(prefix="login-stall-") as instance:
        env = {**os.environ, "INSTANCE_PATH": instance, "PASSWORD_HASH_PROFILE": "default",
               "PASSWORD_HASH_THREADS": str(threads), "RATELIMIT_ENABLED": "0", "OUTBOX_SENDER_THREAD": "0",
               "SWEEPER_THREAD": "0", "LOG_FORMAT": "text", "LOG_LEVEL": "WARNING", "FLASK_APP": "wsgi:app",
               "PUBLIC_URL": f"http://127.0.0.1:{port}"}
        env.pop("DATABASE_URL", None)
        env.pop("REDIS_URL", None)
        subprocess.run([sys.executable, "-m", "flask", "db", "upgrade"], cwd=ROOT, env=env, check=True,
                       capture_output=True)
        subprocess.run([sys.executable, "-c", _SEED], cwd=ROOT, env=env, check=True, capture_output=True)
        server = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", str(ROOT / "gunicorn.conf.py"),
                                   "--bind", f"127.0.0.1:{port}", "--worker-class", "gevent", "--workers", "1",
                                   "--access-logfile", "/dev/null", "wsgi:app"],
                                  cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            _wait_for(port)
            status, body = _post(port, "/api/auth/login", {"email": EMAIL, "password": PASSWORD})
            assert status == 200, body
            status, ticket = _post(port, "/api/sockets/ticket", token=body["access_token"])
            assert status == 201, ticket
            ws = websocket.create_connection(f"ws://127.0.0.1:{port}/ws?ticket={ticket['ticket']}", timeout=120,
                                             suppress_origin=True)
            json.loads(ws.recv())  # hello
            refs = iter(range(1, 10**9))

            def ping():
                ref = str(next(refs))
                ws.send(json.dumps({"type": "ping", "ref": ref}))
                while json.loads(ws.recv()).get("ref") != ref:
                    pass

            health = http.client.HTTPConnection("127.0.0.1", port, timeout=120)

            def healthz():
                health.request("GET", "/healthz")
                health.getresponse().read()

            # A socket may send 10 frames a second (blueprints/socket_protocol.py): a ping every 0.11 s stays under it.
            probers = [_Prober(ping, 0.11), _Prober(healthz, 0.005)]
            for prober in probers:
                prober.start()
            time.sleep(settle_s)
            quiet = (time.monotonic() - settle_s * 0.8, time.monotonic())  # the probes answered before the burst
            results = [None] * logins

            def login(i):
                begun = time.monotonic()
                results[i] = (_post(port, "/api/auth/login", {"email": EMAIL, "password": PASSWORD})[0],
                              time.monotonic() - begun)

            workers = [threading.Thread(target=login, args=(i,)) for i in range(logins)]
            burst_start = time.monotonic()
            for worker in workers:
                worker.start()
            for worker in workers:
                worker.join()
            burst = (burst_start, time.monotonic())
            time.sleep(0.3)
            for prober in probers:
                prober.stopped.set()
            for prober in probers:
                prober.join(120)
            ws.close()
            health.close()
        finally:
            server.terminate()
            server.wait(20)
    statuses = sorted({status for status, _ in results})
    times = [seconds for _, seconds in results]
    report = {"threads": threads, "logins": logins, "login_statuses": statuses,
              "burst_s": round(burst[1] - burst[0], 3),
              "login_p50_ms": round(statistics.median(times) * 1000, 1), "login_max_ms": round(max(times) * 1000, 1)}
    for name, prober in zip(("ping", "healthz"), probers):
        for label, (start, end) in (("quiet", quiet), ("burst", burst)):
            latencies = prober.window(start, end, within=label == "quiet")
            report[f"{name}_{label}_n"] = len(latencies)
            report[f"{name}_{label}_max_ms"] = round(max(latencies) * 1000, 1) if latencies else None
            report[f"{name}_{label}_p50_ms"] = round(statistics.median(latencies) * 1000, 1) if latencies else None
    return report


def _wait_for(port, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("gunicorn did not start in time")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--logins", type=int, default=20)
    parser.add_argument("--threads", default="0,1", help="PASSWORD_HASH_THREADS values to compare")
    args = parser.parse_args()
    for threads in (int(value) for value in args.threads.split(",")):
        print(json.dumps(measure(threads, args.logins)), flush=True)


if __name__ == "__main__":
    main()
