"""Summarise py-spy's collapsed stacks: where the server's time goes, by function and by our own code.

    python -m bench.profile_summary profiles/gevent1-main.txt
"""
import sys
from collections import Counter

IDLE = ("select (selectors.py", "poll (selectors.py", "wait (gevent", "_wait (", "get (queue.py", "sleep (",
        "switch (gevent", "run (gevent/hub.py")


OURS = ("services/", "blueprints/", "models/", "schemas/", "app.py", "errors.py", "extensions.py", "config.py",
        "bench/")


# Where a sample's CPU goes, by the first frame from the leaf that belongs to one of these (a stdlib
# frame counts for the library or code that called it). Checked in this order for each frame.
PARTS = (
    ("compression", ("permessage_deflate", "wsproto/extensions.py", "zlib")),
    ("JSON", ("json/", "orjson", "simplejson")),
    ("validation", ("marshmallow/",)),
    ("driver", ("psycopg/", "psycopg_pool/", "psycopg2/", "sqlite3/", "asyncpg/")),
    ("ORM", ("sqlalchemy/", "flask_sqlalchemy/")),
    ("broker", ("redis/", "services/broker.py", "socketio/", "engineio/")),
    ("our code", OURS),
    ("framework", ("flask/", "werkzeug/", "gunicorn/", "gevent/", "simple_websocket/", "wsproto/", "flask_sock/",
                   "flask_jwt_extended/", "jwt/", "flask_smorest/", "flask_limiter/", "limits/", "prometheus_client/",
                   "websockets/", "asyncio/", "flask_socketio/", "greenlet", "h11/", "jinja2/")),
)
PART_NAMES = [name for name, _ in PARTS] + ["other (stdlib, interpreter)"]


def part_of(frames):
    """The part a sample counts for: the first frame from the leaf that a part claims."""
    for frame in reversed(frames):
        where = frame.split("(", 1)[-1]
        for name, prefixes in PARTS:
            # The project's files are named from the source root (as summarise reads them); libraries anywhere.
            if name == "our code" and where.startswith(prefixes) or name != "our code" and any(
                    prefix in where for prefix in prefixes):
                return name
    return PART_NAMES[-1]


def split(path):
    """{"samples": n, "shares": {part: fraction of the samples}}: what the CPU-per-message split multiplies."""
    parts, total = Counter(), 0
    for line in open(path, encoding="utf-8", errors="replace"):
        stack, _, count = line.rstrip("\n").rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = stack.split(";")
        if any(marker in frames[-1] for marker in IDLE):
            continue  # waiting, not working
        parts[part_of(frames)] += int(count)
        total += int(count)
    return {"samples": total, "shares": {name: round(parts[name] / total, 4) if total else None
                                          for name in PART_NAMES}}


def summarise(path, top=40):
    inclusive, own, ours = Counter(), Counter(), Counter()
    total = 0
    for line in open(path, encoding="utf-8", errors="replace"):
        stack, _, count = line.rstrip("\n").rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        frames = stack.split(";")
        total += n
        own[frames[-1]] += n
        for frame in set(frames):
            inclusive[frame] += n
        # the deepest frame of the product's own code
        mine = [f for f in frames if f.split("(", 1)[-1].startswith(OURS)]
        if mine:
            ours[mine[-1]] += n
    lines = [f"{total} samples", "", "## Most time, inclusive (share of samples)"]
    lines += [f"{100 * n / total:6.1f}%  {frame}" for frame, n in inclusive.most_common(top)]
    lines += ["", "## Most time, own (leaf frames)"]
    lines += [f"{100 * n / total:6.1f}%  {frame}" for frame, n in own.most_common(top)]
    lines += ["", "## The project's own functions, inclusive"]
    lines += [f"{100 * n / total:6.1f}%  {frame}" for frame, n in inclusive.most_common()
              if frame.split("(", 1)[-1].startswith(OURS)][:top]
    lines += ["", "## Parts (first frame from the leaf a part claims; waiting leaves left out)"]
    lines += [f"{100 * (share or 0):6.1f}%  {name}" for name, share in split(path)["shares"].items()]
    lines += ["", "## Deepest frame in the project's own code"]
    lines += [f"{100 * n / total:6.1f}%  {frame}" for frame, n in ours.most_common(top)]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(summarise(sys.argv[1]))
