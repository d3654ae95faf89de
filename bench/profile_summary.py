"""Summarise py-spy's collapsed stacks: where the server's time goes, by function and by our own code.

    python -m bench.profile_summary profiles/gevent1-main.txt
"""
import sys
from collections import Counter

IDLE = ("select (selectors.py", "poll (selectors.py", "wait (gevent", "_wait (", "get (queue.py", "sleep (",
        "switch (gevent", "run (gevent/hub.py")


OURS = ("services/", "blueprints/", "models/", "schemas/", "app.py", "errors.py", "extensions.py", "config.py",
        "bench/")


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
    lines += ["", "## Deepest frame in the project's own code"]
    lines += [f"{100 * n / total:6.1f}%  {frame}" for frame, n in ours.most_common(top)]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(summarise(sys.argv[1]))
