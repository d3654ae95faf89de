"""Percentiles, and CPU and memory of processes read from /proc (through psutil)."""
import math
import resource
import time

import psutil


def percentile(sorted_values, q):
    """Nearest-rank percentile of an already sorted list (None when empty)."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(q / 100.0 * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def summary_ms(seconds):
    """p50/p95/p99/max in milliseconds of a list of durations in seconds."""
    values = sorted(seconds)
    out = {"n": len(values)}
    for name, q in (("p50", 50), ("p95", 95), ("p99", 99)):
        value = percentile(values, q)
        out[name] = None if value is None else round(value * 1000, 2)
    out["max"] = round(values[-1] * 1000, 2) if values else None
    return out


class ProcessGroup:
    """A server: its master process and every child (gunicorn workers)."""

    def __init__(self, pid):
        self.root = psutil.Process(pid)

    def processes(self):
        try:
            return [self.root, *self.root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def workers(self):
        try:
            children = self.root.children(recursive=True)
        except psutil.NoSuchProcess:
            return []
        return children or [self.root]

    def sample(self, port=None):
        """CPU seconds (all processes), RSS of the serving processes, connections they hold."""
        cpu = 0.0
        for proc in self.processes():
            try:
                times = proc.cpu_times()
                cpu += times.user + times.system
            except psutil.NoSuchProcess:
                pass
        rss = []
        held = 0
        for proc in self.workers():
            try:
                rss.append(proc.memory_info().rss)
                if port is not None:
                    held += sum(1 for c in proc.net_connections(kind="tcp")
                                if c.status == psutil.CONN_ESTABLISHED and c.laddr and c.laddr.port == port)
            except psutil.NoSuchProcess:
                pass
        return {"t": time.monotonic(), "cpu_s": cpu, "rss": sum(rss), "rss_each": rss, "held": held}


def services_cpu():
    """CPU seconds of the local PostgreSQL and Redis processes, with those of their exited children.

    A backend that exits between two readings takes its CPU out of the sum of
    the live processes, and the difference went negative; its parent (the
    postmaster) has reaped it, so its children times carry that CPU on.
    """
    total = 0.0
    for proc in psutil.process_iter(["name"]):
        name = proc.info.get("name") or ""
        if name.startswith("postgres") or name.startswith("redis-server"):
            try:
                times = proc.cpu_times()
                total += times.user + times.system + times.children_user + times.children_system
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                pass
    return total


def machine_cpu():
    """Busy CPU seconds of the whole machine, all cores."""
    times = psutil.cpu_times()
    return sum(getattr(times, name, 0.0) for name in ("user", "nice", "system", "irq", "softirq", "steal"))


def self_cpu():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def raise_fd_limit():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]
