"""Run the side-by-side benchmark and write its report (Markdown and JSON).

    python -m bench.run [--quick | --smoke] [--out DIR] [--targets a,b,...]

Every target is started on its own, pinned to CPU 1 (when there are two or
more), and driven by the same load generator pinned to CPU 0. PostgreSQL and
Redis are the machine's (BENCH_DATABASE_URL, BENCH_REDIS_URL); without them the
product runs on SQLite with its in-process broker and the baselines that need
them are reported as not measured.
"""
import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
DASHBOARD_ORIGIN = "http://localhost:3000"

# The design point of the issue, and two smaller presets.
PRESETS = {
    "full": {
        "agents": 50, "chats_per_agent": 3, "max_chats": 4, "idle": 1000, "message_interval_s": 10.0,
        "request_interval_s": 1.0, "call_interval_s": 10.0, "request_timeout_s": 30, "hold_accepted_s": 5.0,
        "window_s": 60, "rest_alone_s": 10, "rest_rate": 20, "settle_s": 3, "grace_s": 10,
        "ramp_rates": [25, 50, 100, 150, 200, 300, 400, 600, 800, 1000, 1200, 1500, 1800, 2400, 3000, 3600, 4800],
        "ramp_step_s": 4, "ramp_drain_s": 5, "memory_window_s": 12,
        "scale_levels": [500, 1000, 2000, 5000], "scale_window_s": 20,
        "history_counts": [1000, 1000000], "history_reads": 100,
        "targets": ["a", "b", "c", "gevent1", "gevent2", "gthread1", "gthread2"],
        "memory_targets": ["a", "b", "c", "gevent1", "gevent2", "gthread1", "gthread2"],
        "scale_targets": ["a", "gevent1"], "hold": True, "deadline_s": 900,
    },
    "quick": {
        "agents": 10, "chats_per_agent": 3, "max_chats": 4, "idle": 150, "message_interval_s": 2.0,
        "request_interval_s": 1.0, "call_interval_s": 2.0, "request_timeout_s": 10, "hold_accepted_s": 2.0,
        "window_s": 3, "rest_alone_s": 1, "rest_rate": 10, "settle_s": 0.3, "grace_s": 2,
        "ramp_rates": [50, 150], "ramp_step_s": 1.5, "ramp_drain_s": 1.5, "memory_window_s": 1,
        "scale_levels": [100, 300], "scale_window_s": 2,
        "history_counts": [1000, 20000], "history_reads": 10,
        "targets": ["a", "b", "c", "gevent1", "gthread1"],
        "memory_targets": ["a", "gevent1"],
        "scale_targets": ["gevent1"], "hold": False, "deadline_s": 120,
    },
    "smoke": {
        "agents": 3, "chats_per_agent": 3, "max_chats": 4, "idle": 20, "message_interval_s": 1.0,
        "request_interval_s": 1.0, "call_interval_s": 1.0, "request_timeout_s": 10, "hold_accepted_s": 1.0,
        "window_s": 3, "rest_alone_s": 1, "rest_rate": 10, "settle_s": 0.5, "grace_s": 4,
        "ramp_rates": [25], "ramp_step_s": 1, "ramp_drain_s": 2, "memory_window_s": 1,
        "scale_levels": [], "scale_window_s": 2,
        "history_counts": [100, 1000], "history_reads": 5,
        "targets": ["a", "b", "c", "gevent1"],
        "memory_targets": [], "scale_targets": [], "hold": False, "deadline_s": 60,
    },
}

TARGETS = {
    "a": {"name": "(a) websockets relay", "kind": "ws", "needs": ()},
    "b": {"name": "(b) websockets + Redis + PostgreSQL", "kind": "ws", "needs": ("pg", "redis")},
    "c": {"name": "(c) Flask-SocketIO (gevent, Redis queue, PostgreSQL)", "kind": "socketio",
          "needs": ("pg", "redis")},
    "gevent1": {"name": "product, gunicorn gevent x1", "kind": "product", "worker": "gevent", "workers": 1},
    "gevent2": {"name": "product, gunicorn gevent x2", "kind": "product", "worker": "gevent", "workers": 2},
    "gthread1": {"name": "product, gunicorn gthread x1", "kind": "product", "worker": "gthread", "workers": 1},
    "gthread2": {"name": "product, gunicorn gthread x2", "kind": "product", "worker": "gthread", "workers": 2},
}

# The product allows 10 frames/s per socket (blueprints/socket_protocol.py): the generator stays at 9 there.
# The baselines have no such limit, so their sockets carry more frames at once, and the generator's
# ceiling (rate cap x sockets) is well above what (b) sustains.
PER_SOCKET_RATE_CAP = 9
BASELINE_PER_SOCKET_RATE_CAP = 36
SNAPSHOT_SKIP = {".venv", ".git", "__pycache__", "instance", "reports", ".pytest_cache", "node_modules"}
SRC = ROOT  # the source the run's processes use: a snapshot taken when the run starts


def snapshot(out):
    """Copy the working tree's source into the report folder so that edits made meanwhile do not mix in."""
    global SRC
    target = out / "src"
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(ROOT, target, ignore=lambda folder, names: [n for n in names if n in SNAPSHOT_SKIP
                                                                 or n.endswith(".pyc")])
    (target / "instance").mkdir(exist_ok=True)
    SRC = target
    return target  # the product allows 10 frames/s per socket; the generator stays under it


def log(*parts):
    print(time.strftime("%H:%M:%S"), *parts, flush=True)


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def pinning():
    """(server cpus, generator cpus) or (None, None) on one CPU."""
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2 or not shutil.which("taskset"):
        return None, None
    return str(cpus[1]), str(cpus[0])


def pinned(cmd, cpus):
    return ["taskset", "-c", cpus, *cmd] if cpus else cmd


# -- services ---------------------------------------------------------------------


class Services:
    """PostgreSQL and Redis when reachable; otherwise SQLite and the in-process broker."""

    def __init__(self, out, database_url, redis_url, run_id):
        self.out = out
        self.run_id = run_id
        self.pg_admin = database_url
        self.redis_url = redis_url
        self.pg = self._pg_ok()
        self.redis = self._redis_ok()

    def _pg_ok(self):
        if not self.pg_admin:
            return False
        try:
            import psycopg

            with psycopg.connect(self._plain(self.pg_admin), connect_timeout=3, autocommit=True) as conn:
                conn.execute("select 1")
            return True
        except Exception as error:  # noqa: BLE001
            log("PostgreSQL not reachable:", error)
            return False

    def _redis_ok(self):
        if not self.redis_url:
            return False
        try:
            import redis

            redis.Redis.from_url(self.redis_url, socket_connect_timeout=2).ping()
            return True
        except Exception as error:  # noqa: BLE001
            log("Redis not reachable:", error)
            return False

    @staticmethod
    def _plain(url):
        return url.replace("postgresql+psycopg://", "postgresql://")

    def db_url(self, name):
        if self.pg:
            base = self._plain(self.pg_admin).split("?", 1)[0].rsplit("/", 1)[0]
            return "postgresql+psycopg://" + base.split("://", 1)[1] + "/" + name
        return f"sqlite:///{self.out / (name + '.db')}"

    def _admin(self, *statements):
        import psycopg

        with psycopg.connect(self._plain(self.pg_admin), autocommit=True) as conn:
            for statement in statements:
                conn.execute(statement)

    def create(self, name, template=None):
        if self.pg:
            self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)',
                        f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
        else:
            path = self.out / (name + ".db")
            for suffix in ("", "-wal", "-shm"):
                Path(str(path) + suffix).unlink(missing_ok=True)
            if template:  # the write-ahead log holds what is not checkpointed yet
                for suffix in ("", "-wal"):
                    source = Path(str(self.out / (template + ".db")) + suffix)
                    if source.exists():
                        shutil.copy(source, str(path) + suffix)
        return self.db_url(name)

    def drop(self, name):
        if self.pg:
            try:
                self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            except Exception as error:  # noqa: BLE001
                log("could not drop", name, error)


# -- servers ----------------------------------------------------------------------


class Server:
    """One target's server process (group), stopped on exit whatever happens."""

    def __init__(self, cmd, env, port, log_path, cpus):
        self.cmd, self.env, self.port, self.log_path, self.cpus = cmd, env, port, log_path, cpus
        self.proc = None

    def __enter__(self):
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(pinned(self.cmd, self.cpus), cwd=SRC, env=self.env, stdout=self.log,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited early; see {self.log_path}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    time.sleep(0.5)  # let every worker finish booting
                    return self
            except OSError:
                time.sleep(0.1)
        self.__exit__()
        raise RuntimeError(f"server did not start in 40 s; see {self.log_path}")

    @property
    def pid(self):
        return self.proc.pid

    def __exit__(self, *exc):
        if self.proc and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(25)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
            except ProcessLookupError:
                pass
        self.log.close()


def server_for(key, services, db_url, port, out, cpus, run_id, threads=None, worker_connections=None,
               shipped=False):
    target = TARGETS[key]
    env = {k: v for k, v in os.environ.items() if not k.startswith("TEST_")}
    env["PYTHONPATH"] = str(SRC)
    logs = out / "logs"
    logs.mkdir(exist_ok=True)
    log_path = logs / f"{key}-{port}.log"
    if target["kind"] == "ws":
        mode = "relay" if key == "a" else "store"
        cmd = [PY, "-m", "bench.baseline_ws", "--mode", mode, "--port", str(port), "--max-seconds", "3000",
               "--prefix", f"bench-{run_id}-{port}"]
        if mode == "store":
            cmd += ["--database-url", services._plain(db_url), "--redis-url", services.redis_url]
        return Server(cmd, env, port, log_path, cpus)
    if target["kind"] == "socketio":
        env.update({"BENCH_DATABASE_URL": db_url, "BENCH_REDIS_URL": services.redis_url,
                    "BENCH_SIO_CHANNEL": f"bench-sio-{run_id}-{port}"})
        # The product's gunicorn.conf.py (gunicorn would read it from SRC anyway): the same garbage collector
        # settings and JSON logs, so the comparison is of the code, not of the process's tuning.
        cmd = [PY, "-m", "gunicorn", "-c", str(SRC / "gunicorn.conf.py"), "-k", "gevent", "-w", "1",
               "--worker-connections", "20000",
               "--bind", f"127.0.0.1:{port}", "--access-logfile", "-", "--graceful-timeout", "5",
               "bench.baseline_socketio:app"]
        return Server(cmd, env, port, log_path, cpus)
    env.update({
        "DATABASE_URL": db_url, "JWT_SECRET_KEY": "bench-" + run_id + "-" + "k" * 32,
        "INSTANCE_PATH": str(out / "instance"), "PASSWORD_HASH_PROFILE": "fast", "TEST_SERVER": "1",
        "PUBLIC_URL": f"http://127.0.0.1:{port}",
        "CORS_ORIGINS": DASHBOARD_ORIGIN, "OUTBOX_SENDER_THREAD": "0", "SWEEPER_THREAD": "1",
        # Every simulated visitor comes from 127.0.0.1: per-address limits would see one visitor.
        "WIDGET_LIMIT_PER_ADDRESS": "1000000/minute", "WIDGET_LIMIT_PER_VISITOR": "1000000/minute",
        "SOCKET_LIMIT_PER_ADDRESS": "0",
        "LOGIN_LIMIT_PER_ADDRESS": "100000/minute", "LOGIN_LIMIT_PER_ACCOUNT": "100000/minute",
        "ACCESS_TOKEN_TTL_S": "7200", "GUNICORN_WORKER_CLASS": target["worker"],
        "WEB_CONCURRENCY": str(target["workers"]), "GUNICORN_ACCESSLOG": str(logs / f"{key}-{port}.access.log"),
        "BROKER_PREFIX": f"bench-{run_id}-{port}",
    })
    if services.redis:
        env["REDIS_URL"] = services.redis_url
        env["RATELIMIT_STORAGE_URI"] = services.redis_url
    else:
        env.pop("REDIS_URL", None)
        env["RATELIMIT_STORAGE_URI"] = "memory://"
    if threads and not shipped:
        env["GUNICORN_THREADS"] = str(threads)
    cmd = [PY, "-m", "gunicorn", "-c", str(SRC / "gunicorn.conf.py"), "--bind", f"127.0.0.1:{port}"]
    if worker_connections and not shipped:
        cmd += ["--worker-connections", str(worker_connections)]
    cmd.append("wsgi:app")
    return Server(cmd, env, port, log_path, cpus)


# -- one run of the load generator --------------------------------------------------


def run_generator(plan, out, name, gen_cpus, timeout):
    plan_path = out / "plans" / f"{name}.json"
    plan_path.parent.mkdir(exist_ok=True)
    result_path = out / "raw" / f"{name}.json"
    result_path.parent.mkdir(exist_ok=True)
    plan_path.write_text(json.dumps(plan))
    cmd = pinned([PY, "-m", "bench.loadgen", str(plan_path), str(result_path)], gen_cpus)
    with open(out / "logs" / f"gen-{name}.log", "ab") as handle:
        proc = subprocess.run(cmd, cwd=SRC, stdout=handle, stderr=subprocess.STDOUT, timeout=timeout,
                              env={**os.environ, "PYTHONPATH": str(SRC)})
    if proc.returncode != 0 or not result_path.exists():
        raise RuntimeError(f"load generator failed ({proc.returncode}); see logs/gen-{name}.log")
    return json.loads(result_path.read_text())


def base_plan(preset, seed, key, port, server_pid, mode, compression):
    target = TARGETS[key]
    product = target["kind"] == "product"
    return {
        "target": key, "mode": mode, "compression": compression, "kind": target["kind"],
        "framing": "socketio" if target["kind"] == "socketio" else "json",
        "host": "127.0.0.1", "port": port, "server_pid": server_pid,
        "agents": seed["agents"], "active": seed["active"], "idle": seed["idle"][:preset["idle"]],
        "public_key": seed["public_key"], "password": seed["password"], "widget_origin": seed["widget_origin"],
        "dashboard_origin": DASHBOARD_ORIGIN, "max_chats": preset["max_chats"],
        "message_interval_s": preset["message_interval_s"], "request_interval_s": preset["request_interval_s"],
        "call_interval_s": preset["call_interval_s"] if product else 0,
        "hold_accepted_s": preset["hold_accepted_s"], "accept": product,
        "window_s": preset["window_s"], "rest_alone_s": preset["rest_alone_s"],
        "rest_rate": preset["rest_rate"] if product else 0,
        "rest_paths": ["/api/auth/me", "/api/availability", "/api/notifications?page=1&page_size=20"],
        "settle_s": preset["settle_s"], "grace_s": preset["grace_s"], "ramp_rates": preset["ramp_rates"],
        "ramp_step_s": preset["ramp_step_s"], "ramp_drain_s": preset["ramp_drain_s"],
        "ramp_delivered_fraction": 0.99, "ramp_p99_ms": 1000,
        "per_socket_rate_cap": PER_SOCKET_RATE_CAP if product else BASELINE_PER_SOCKET_RATE_CAP,
        "memory_window_s": preset["memory_window_s"], "scale_levels": preset["scale_levels"],
        "scale_window_s": preset["scale_window_s"], "connect_concurrency": 100, "connect_timeout_s": 30, "deadline_s": preset["deadline_s"],
    }


def db_checks(url):
    """What the database says after a product run: capacity, duplicates, holes in sequence numbers."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            over = conn.execute(text(
                "select count(*) from (select u.id from users u join conversations c on c.agent_id = u.id "
                "and c.status = 'active' group by u.id, u.max_chats having count(c.id) > u.max_chats) x")).scalar()
            dups = conn.execute(text(
                "select count(*) from (select conversation_id, sender_type, client_id from messages "
                "where client_id is not null group by 1, 2, 3 having count(*) > 1) x")).scalar()
            holes = conn.execute(text(
                "select count(*) from (select conversation_id from messages group by conversation_id "
                "having max(seq) <> count(*)) x")).scalar()
            stored = conn.execute(text("select count(*) from messages")).scalar()
            deadlocks = conn.execute(text(
                "select deadlocks from pg_stat_database where datname = current_database()")).scalar() \
                if engine.dialect.name == "postgresql" else None
            accepted = conn.execute(text("select count(*) from live_requests where status = 'accepted'")).scalar()
            per_request = conn.execute(text(
                "select count(*) from (select id from live_requests where status = 'accepted' "
                "and agent_id is null) x")).scalar()
    finally:
        engine.dispose()
    return {"agents_over_max_chats": over, "duplicate_client_ids": dups, "conversations_with_seq_holes": holes,
            "messages_stored": stored, "deadlocks": deadlocks, "requests_accepted": accepted,
            "accepted_without_agent": per_request}


# -- the benchmark ------------------------------------------------------------------


class Bench:
    def __init__(self, args):
        self.args = args
        self.preset_name = "smoke" if args.smoke else "quick" if args.quick else "full"
        self.preset = dict(PRESETS[self.preset_name])
        for item in args.set or ():
            key, _, value = item.partition("=")
            if key not in self.preset:
                raise SystemExit(f"--set: unknown parameter {key!r}; known: {', '.join(self.preset)}")
            self.preset[key] = json.loads(value)
        if args.targets:
            self.preset["targets"] = args.targets.split(",")
        self.run_id = uuid.uuid4().hex[:8]
        stamp = time.strftime("%Y%m%d-%H%M%S")
        self.out = Path(args.out or ROOT / "bench" / "reports" / f"{self.preset_name}-{stamp}").resolve()
        self.out.mkdir(parents=True, exist_ok=True)
        (self.out / "logs").mkdir(exist_ok=True)
        snapshot(self.out)
        self.server_cpus, self.gen_cpus = pinning()
        self.services = Services(self.out, args.database_url, args.redis_url, self.run_id)
        self.results = {"preset": self.preset_name, "parameters": self.preset, "targets": {}, "memory_plain": {},
                        "scale": {}, "history": None, "hold": {}, "db_checks": {}, "skipped": {}, "failures": {}}
        self.dbs = []

    def db(self, suffix):
        return f"bench_{self.run_id}_{suffix}"

    def seed(self):
        preset = self.preset
        idle_max = max([preset["idle"], *preset["scale_levels"], self.hold_count()])
        plan = {"agents": preset["agents"], "chats_per_agent": preset["chats_per_agent"], "idle_max": idle_max,
                "max_chats": preset["max_chats"], "request_timeout_s": preset["request_timeout_s"]}
        name = self.db("seed")
        url = self.services.create(name)
        self.dbs.append(name)
        (self.out / "seed-plan.json").write_text(json.dumps(plan))
        started = time.monotonic()
        subprocess.run([PY, "-m", "bench.seed", "schema", url, str(self.out / "seed-plan.json"),
                        str(self.out / "seed.json")], cwd=SRC, check=True, timeout=600,
                       env={**os.environ, "PYTHONPATH": str(SRC)})
        self.seed_data = json.loads((self.out / "seed.json").read_text())
        self.template = name
        log(f"seeded {name} in {time.monotonic() - started:.1f} s ({idle_max} idle visitors)")

    HOLD = {"gevent1": 1200, "gthread1": 100}  # above gunicorn's default worker_connections / the default threads

    def hold_count(self, key=None):
        if not self.preset["hold"]:
            return 0
        return self.HOLD[key] if key else max(self.HOLD.values())

    def fresh_db(self, suffix):
        name = self.db(suffix)
        url = self.services.create(name, template=self.template)
        self.dbs.append(name)
        return name, url

    def available(self, key):
        needs = TARGETS[key].get("needs", ())
        missing = [n for n in needs if not getattr(self.services, n)]
        if missing:
            self.results["skipped"][key] = "not measured: needs " + " and ".join(
                {"pg": "PostgreSQL", "redis": "Redis"}[m] for m in missing)
            return False
        return True

    def conns_total(self, idle):
        return self.preset["agents"] * (1 + self.preset["chats_per_agent"]) + idle

    def one(self, key, mode, compression=True, label=None, idle=None, worker_connections=None, shipped=False,
            extra=None):
        label = label or f"{key}-{mode}"
        preset = self.preset
        idle = preset["idle"] if idle is None else idle
        name, url = self.fresh_db(label)
        port = free_port()
        conns = self.conns_total(idle)
        threads = conns + 64
        wc = worker_connections or max(2000, conns + 500)
        log(f"{label}: {TARGETS[key]['name']} ({mode}, compression {'on' if compression else 'off'})")
        with server_for(key, self.services, url, port, self.out, self.server_cpus, self.run_id, threads=threads,
                        worker_connections=wc, shipped=shipped) as server:
            plan = base_plan(preset, self.seed_data, key, port, server.pid, mode, compression)
            plan["idle"] = self.seed_data["idle"][:idle]
            if self.services.pg and key != "a":
                plan["pg_dsn"] = self.services._plain(url)
            plan.update(extra or {})
            profiler = self.start_profiler(key, label, server.pid) if mode == "main" else None
            try:
                figures = run_generator(plan, self.out, label, self.gen_cpus, preset["deadline_s"] + 60)
            finally:
                profile = self.stop_profiler(profiler)
        opened = figures.get("connect_active") or {}
        if opened.get("tried") and not opened.get("opened"):
            # A worker that failed to boot leaves gunicorn's master listening: every figure would read zero.
            raise RuntimeError(f"no socket opened ({opened.get('failures')}); see {server.log_path}")
        if opened.get("opened", 0) < opened.get("tried", 0):
            self.results["failures"][label + "-connect"] = f"{opened['opened']} of {opened['tried']} sockets opened"
        if profile is not None:
            from bench.profile_summary import split

            figures["profile"] = {"file": str(profile.relative_to(self.out)), **split(profile)}
        figures["server"] = {"worker_connections": None if shipped else wc,
                             "threads": None if shipped else threads, "shipped_config": shipped}
        if TARGETS[key]["kind"] == "product" and mode in ("main", "scale"):
            figures["db_checks"] = db_checks(url)
        self.services.drop(name)
        self.dbs.remove(name)
        return figures

    def start_profiler(self, key, label, pid):
        """py-spy on the server for the whole generator run (--profile); collapsed stacks in profiles/."""
        if not self.args.profile or TARGETS[key]["kind"] == "ws" and key != "b":
            return None
        spy = shutil.which("py-spy") or str(Path(PY).parent / "py-spy")
        if not Path(spy).exists():
            log("py-spy not installed; no profile")
            return None
        folder = self.out / "profiles"
        folder.mkdir(exist_ok=True)
        path = folder / f"{label}.txt"
        # On the generator's core: a sampler on the server's own core would take the time it measures.
        command = [spy, "record", "-p", str(pid), "--subprocesses", "--nonblocking", "-r", "50", "-f", "raw",
                   "-o", str(path)]
        proc = subprocess.Popen(pinned(command, self.gen_cpus), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                start_new_session=True)
        return proc, path

    def stop_profiler(self, profiler):
        """Stop py-spy; the profile's path when it wrote one."""
        if profiler is None:
            return None
        proc, path = profiler
        try:
            proc.send_signal(signal.SIGINT)
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        if path.exists():
            from bench.profile_summary import summarise

            (path.parent / (path.stem + ".summary.txt")).write_text(summarise(path))
            return path
        return None

    def run(self):
        try:
            return self._run()
        finally:
            for name in list(self.dbs):
                self.services.drop(name)

    def _run(self):
        started = time.monotonic()
        preset = self.preset
        self.seed()
        for key in preset["targets"]:
            if not self.available(key):
                continue
            try:
                self.results["targets"][key] = self.one(key, "main")
            except Exception as error:  # noqa: BLE001 - one broken target must not lose the others
                self.results["failures"][key] = str(error)
                log("FAILED", key, error)
        for key in preset["memory_targets"]:
            if key in self.results["targets"]:
                try:
                    self.results["memory_plain"][key] = self.one(key, "memory", compression=False,
                                                                 label=f"{key}-memory-plain")
                except Exception as error:  # noqa: BLE001
                    self.results["failures"][key + "-memory"] = str(error)
                    log("FAILED", key, "memory", error)
        for key in preset["scale_targets"]:
            if key in self.results["targets"]:
                try:
                    top = max(preset["scale_levels"])
                    self.results["scale"][key] = self.one(
                        key, "scale", label=f"{key}-scale", idle=top,
                        worker_connections=max(2000, self.conns_total(top) + 1000))
                except Exception as error:  # noqa: BLE001
                    self.results["failures"][key + "-scale"] = str(error)
                    log("FAILED", key, "scale", error)
        if preset["hold"]:
            self.hold()
        if preset["history_counts"] and ("gevent1" in self.results["targets"]
                                         or "gthread1" in self.results["targets"]):
            try:
                self.history("gevent1" if "gevent1" in self.results["targets"] else "gthread1")
            except Exception as error:  # noqa: BLE001
                self.results["failures"]["history"] = str(error)
                log("FAILED history", error)
        self.results["environment"] = self.environment()
        self.results["wall_s"] = round(time.monotonic() - started, 1)
        for name in list(self.dbs):
            self.services.drop(name)
        from bench.report import write_report

        write_report(self.results, self.out)
        log(f"report: {self.out / 'report.md'}")
        return self.results

    def hold(self):
        """Connections gunicorn.conf.py holds as it is, without the benchmark's worker_connections or threads."""
        for key in ("gevent1", "gthread1"):
            if key not in self.results["targets"]:
                continue
            try:
                count = self.hold_count(key)
                figures = self.one(key, "memory", label=f"{key}-shipped-hold", idle=max(0, count - self.conns_total(0)),
                                   shipped=True, extra={"memory_window_s": 2, "connect_concurrency": 300,
                                                        "connect_timeout_s": 8})
                count = self.conns_total(max(0, count - self.conns_total(0)))
                self.results["hold"][key] = {"tried": count, "open": figures.get("connections_open"),
                                             "connect": figures.get("connect_idle")}
            except Exception as error:  # noqa: BLE001
                self.results["hold"][key] = {"error": str(error)}

    def history(self, key):
        """Cursor reads at a small and a large history, through the widget API."""
        import urllib.request

        preset = self.preset
        name, url = self.fresh_db("history")
        port = free_port()
        counts = preset["history_counts"]
        out = {"server": TARGETS[key]["name"], "reads": {}}
        with server_for(key, self.services, url, port, self.out, self.server_cpus, self.run_id, threads=64,
                        worker_connections=2000) as server:
            def open_widget():
                request = urllib.request.Request(
                    f"http://127.0.0.1:{port}/api/widget/{self.seed_data['public_key']}/sessions", data=b"{}",
                    method="POST", headers={"Content-Type": "application/json",
                                            "Origin": self.seed_data["widget_origin"]})
                with urllib.request.urlopen(request, timeout=30) as response:
                    body = json.loads(response.read())
                return {"conversation": body["conversation"]["id"], "token": body["visitor_token"]}

            small, large = open_widget(), open_widget()
            seeded = {}

            def add(conversation, count):
                started = time.monotonic()
                subprocess.run([PY, "-m", "bench.seed", "history", url, str(conversation["conversation"]),
                                str(count)], cwd=SRC, check=True, timeout=900, capture_output=True,
                               env={**os.environ, "PYTHONPATH": str(SRC)})
                seeded[count] = round(time.monotonic() - started, 1)

            add(small, counts[0])
            plan = base_plan(preset, self.seed_data, key, port, server.pid, "history", True)
            plan["history"] = [{**small, "count": counts[0]}]
            plan["history_reads"] = preset["history_reads"]
            first = run_generator(plan, self.out, "history-small", self.gen_cpus, 600)
            out["reads"][f"{counts[0]} (table holds {counts[0]})"] = first["history"][str(counts[0])]
            add(large, counts[1])
            plan["history"] = [{**small, "count": counts[0]}, {**large, "count": counts[1]}]
            second = run_generator(plan, self.out, "history-large", self.gen_cpus, 600)
            out["reads"][f"{counts[0]} (table holds {counts[0] + counts[1]})"] = second["history"][str(counts[0])]
            out["reads"][f"{counts[1]} (table holds {counts[0] + counts[1]})"] = second["history"][str(counts[1])]
            out["seed_seconds"] = seeded
        self.results["history"] = out

    def environment(self):
        import platform

        import psutil

        versions = {}
        for module in ("flask", "flask_sock", "simple_websocket", "gunicorn", "gevent", "websockets", "flask_socketio",
                       "socketio", "engineio", "sqlalchemy", "psycopg", "redis"):
            try:
                mod = __import__(module)
                versions[module] = getattr(mod, "__version__", None)
            except Exception:  # noqa: BLE001
                versions[module] = None
        try:
            from importlib.metadata import version

            for dist in ("flask-sock", "simple-websocket", "gunicorn", "Flask-SocketIO"):
                versions[dist] = version(dist)
        except Exception:  # noqa: BLE001
            pass
        try:
            commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                                    timeout=10).stdout.strip()
            dirty = subprocess.run(["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True,
                                   timeout=10).stdout.count("\n")
        except Exception:  # noqa: BLE001
            commit, dirty = None, None
        return {"python": platform.python_version(), "cpus": os.cpu_count(), "git_commit": commit,
                "uncommitted_paths_at_end": dirty, "source": "snapshot of the working tree at the start (src/)",
                "memory_gib": round(psutil.virtual_memory().total / 2 ** 30, 1),
                "server_cpus": self.server_cpus, "generator_cpus": self.gen_cpus,
                "database": "PostgreSQL" if self.services.pg else "SQLite (no PostgreSQL reachable)",
                "broker": "Redis" if self.services.redis else "in-process (no Redis reachable)",
                "versions": versions, "run_id": self.run_id}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a reduced run that finishes in under two minutes")
    parser.add_argument("--smoke", action="store_true", help="the smallest run: a check of the harness")
    parser.add_argument("--out", help="report folder (default bench/reports/<preset>-<time>)")
    parser.add_argument("--targets", help="comma-separated subset of " + ",".join(TARGETS))
    parser.add_argument("--set", action="append", metavar="KEY=JSON",
                        help="override a preset parameter, e.g. --set window_s=30 --set 'ramp_rates=[50,100]'")
    parser.add_argument("--profile", action="store_true", help="record the servers with py-spy (profiles/)")
    parser.add_argument("--database-url", default=os.environ.get(
        "BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"),
        help="a PostgreSQL database to connect to for creating scratch databases; '' for SQLite")
    parser.add_argument("--redis-url", default=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14"),
                        help="Redis for the broker and rate limits; '' for the in-process broker")
    args = parser.parse_args(argv)
    from bench.measure import raise_fd_limit

    raise_fd_limit()

    def _stop(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, _stop)
    bench = Bench(args)
    log(f"benchmark {bench.preset_name} -> {bench.out}")
    bench.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
