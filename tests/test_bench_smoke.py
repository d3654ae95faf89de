"""The benchmark's quick mode: the harness works, and no message is lost or delivered twice (no timing asserted).

On PostgreSQL and Redis (TEST_DATABASE_URL, TEST_REDIS_URL) it runs every
baseline beside the product; without them, the product on SQLite with its
in-process broker beside baseline (a). bench/requirements.txt comes with
requirements-dev.txt.
"""
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BASELINES = {"a", "b", "c"}  # bench/README.md: what each compares the product (gevent1) with
QUICK_DEADLINE_S = 300  # the quick mode takes under two minutes; this only bounds a hung run


def test_the_quick_run_writes_a_complete_report(tmp_path):
    database_url = os.environ.get("TEST_DATABASE_URL", "")
    redis_url = os.environ.get("TEST_REDIS_URL", "")
    full_shape = bool(database_url and redis_url)
    targets = ["a", "gevent1"]
    if full_shape:
        targets += ["b", "c"]
    out = tmp_path / "report"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TEST_")}
    env["PYTHONPATH"] = str(ROOT)
    proc = subprocess.run(
        [sys.executable, "-m", "bench.run", "--quick", "--out", str(out), "--targets", ",".join(targets),
         "--database-url", database_url if full_shape else "", "--redis-url", redis_url if full_shape else ""],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=QUICK_DEADLINE_S)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    report = json.loads((out / "report.json").read_text())
    markdown = (out / "report.md").read_text()
    assert not report["failures"], report["failures"]
    assert set(report["targets"]) == set(targets)
    for key, figures in report["targets"].items():
        window = figures["window"]
        assert window["messages_sent"] > 0 and window["messages_delivered"] > 0, key
        assert window["visitor_to_agent_ms"]["n"] > 0 and window["agent_to_visitor_ms"]["n"] > 0, key
        assert figures["mem_per_conn_idle_kib"] is not None, key
        assert figures["throughput"]["steps"], key
        audit = figures["audit"]
        # Every message the run sent carries its own tag; the audit counts each tag's deliveries at
        # the other side.
        assert audit["messages_sent"] > 0, (key, audit)
        if key in BASELINES:
            # A baseline is measured, not promised: (b) and (c) fan out through Redis publish/subscribe,
            # which drops what is published while a subscriber is not listening. Its audit must add up.
            assert audit["delivered_once"] + audit["lost"] + audit["refused_with_error"] \
                <= audit["messages_sent"] + audit["duplicated"], (key, audit)
            continue
        # The product: none may be missing, none may come twice (also not as a repeated position).
        assert audit["lost"] == 0 and audit["lost_after_ack"] == 0, (key, audit)
        assert audit["duplicated"] == 0 and audit["position_duplicates"] == 0, (key, audit)
        assert audit["delivered_once"] + audit["refused_with_error"] == audit["messages_sent"], (key, audit)
        assert audit["capacity_violations_seen_by_clients"] == 0, (key, audit)
    product = report["targets"]["gevent1"]
    assert product["rest_alone_ms"]["n"] > 0 and product["window"]["rest_with_sockets_ms"]["n"] > 0
    assert product["window"]["requests"]["made"] > 0
    assert product["db_checks"]["agents_over_max_chats"] == 0
    assert report["history"]["reads"]
    for heading in ("## Targets", "## Latency at the design point", "## Throughput", "## Audit", "## Not measured"):
        assert heading in markdown
