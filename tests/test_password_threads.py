"""Under gevent, argon2 runs in a pool thread so a login does not hold the worker's other sockets."""
import json
import subprocess
import sys

from tests.live import ROOT

# A gevent-patched process, as gunicorn's gevent worker is: logs in through the app and reports which
# native thread each argon2 call ran in.
_UNDER_GEVENT = r"""
from gevent import monkey
monkey.patch_all()
import json
import sys
from argon2 import PasswordHasher

main = monkey.get_original("_thread", "get_ident")
calls = []
for name in ("hash", "verify"):
    def wrap(original, name=name):
        def recorded(self, *args, **kwargs):
            calls.append((name, main() != MAIN))
            return original(self, *args, **kwargs)
        return recorded
    setattr(PasswordHasher, name, wrap(getattr(PasswordHasher, name)))
MAIN = main()

from app import create_app
from config import TestConfig
from extensions import db
from tests.factories import PASSWORD, make_workspace

app = create_app(TestConfig, PASSWORD_HASH_PROFILE="fast", PASSWORD_HASH_THREADS=int(sys.argv[1]))
with app.app_context():
    db.create_all()
    _, admin = make_workspace()
    client = app.test_client()
    ok = client.post("/api/auth/login", json={"email": admin.email, "password": PASSWORD}).status_code
    wrong = client.post("/api/auth/login", json={"email": admin.email, "password": "not the password"}).status_code
    unknown = client.post("/api/auth/login", json={"email": "nobody@example.com", "password": PASSWORD}).status_code
print(json.dumps({"statuses": [ok, wrong, unknown], "calls": calls}))
"""


def _run_under_gevent(threads):
    result = subprocess.run([sys.executable, "-c", _UNDER_GEVENT, str(threads)], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_under_gevent_logins_work_and_argon2_runs_in_the_pool():
    report = _run_under_gevent(2)
    assert report["statuses"] == [200, 401, 401]
    names = {name for name, _ in report["calls"]}
    assert names == {"hash", "verify"}
    assert all(off_main for _, off_main in report["calls"]), report["calls"]


def test_under_gevent_no_threads_hashes_in_the_calling_greenlet():
    report = _run_under_gevent(0)
    assert report["statuses"] == [200, 401, 401]
    assert report["calls"] and not any(off_main for _, off_main in report["calls"])


def test_without_gevent_hashing_is_a_plain_call(app, monkeypatch):
    import threading

    from services import passwords

    seen = []
    hasher = passwords._hasher()
    monkeypatch.setattr(type(hasher), "hash", lambda self, password: seen.append(threading.get_ident()) or "h")
    assert passwords.hash_password("a long enough password") == "h"
    assert seen == [threading.get_ident()]
