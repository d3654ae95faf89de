"""The report: every figure side by side (report.md) and all of them raw (report.json)."""
import json

from bench.run import TARGETS

NM = "not measured"


def fmt(value, digits=1):
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def get(data, *path):
    for key in path:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


def table(headers, rows):
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join(" --- " for _ in headers) + "|"]
    lines += ["| " + " | ".join(fmt(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def pick_production(results):
    """The product configuration that holds every connection, loses nothing, and moves the most messages."""
    candidates = []
    for key, fig in results["targets"].items():
        if TARGETS[key]["kind"] != "product":
            continue
        audit = fig.get("audit", {})
        tried = get(fig, "connect_active", "tried") or 0
        tried += get(fig, "connect_idle", "tried") or 0
        held_all = fig.get("connections_open") == tried
        clean = audit.get("lost") == 0 and audit.get("duplicated") == 0 and \
            not audit.get("capacity_violations_seen_by_clients") and \
            not get(fig, "db_checks", "agents_over_max_chats")
        sustained = get(fig, "throughput", "sustained_per_s") or 0
        p99 = get(fig, "window", "visitor_to_agent_ms", "p99") or 1e9
        candidates.append(((held_all, clean, sustained, -p99), key))
    if not candidates:
        return None
    return max(candidates)[1]


def ratio(numerator, denominator):
    if numerator is None or denominator in (None, 0):
        return None
    return numerator / denominator


def verdict(ok, goal=None):
    if ok is None:
        return "–"
    if not ok:
        return "**missed**"
    return "met, and the goal" if goal else "met" if goal is None else "met (not the goal)"


def thr(fig):
    return get(fig, "throughput", "sustained_per_s")


def limit_note(fig, who):
    """Why a sustained rate may be below the target's real limit."""
    if get(fig, "throughput", "capped"):
        return f" ({who} kept up to the generator's cap: its limit is higher)"
    if get(fig, "throughput", "generator_bound"):
        return f" ({who}'s first failed step had the generator's core full: its limit may be higher)"
    return ""


def targets_section(results, winner):
    """Issue 18's table: each measure, its target, what this run measured, and the verdict."""
    t = results["targets"]
    w = t.get(winner, {})
    b, c = t.get("b"), t.get("c")
    rows = []

    def thr_text(fig):
        value = thr(fig)
        if value is None and get(fig, "throughput", "steps"):
            return f"< {fmt(fig['throughput']['steps'][0]['offered_per_s'])} (not even the lowest step)"
        return fmt(value, 0)

    low = thr(w) is None and get(w, "throughput", "steps")
    r = ratio(thr(w), thr(b))
    rows.append(["throughput vs baseline (b)", "at least 0.5x (the goal is 0.7x)",
                 f"{thr_text(w)} vs {thr_text(b)} msg/s = {fmt(r, 2)}x{limit_note(b, 'b')}{limit_note(w, 'product')}",
                 verdict(False if low and thr(b) else None if r is None else r >= 0.5, r is not None and r >= 0.7)])
    r = ratio(thr(w), thr(c))
    rows.append(["throughput vs Flask-SocketIO (c)", "at least 2x (the goal is 3x)",
                 f"{thr_text(w)} vs {thr_text(c)} msg/s = {fmt(r, 2)}x{limit_note(c, 'c')}",
                 verdict(False if low and thr(c) else None if r is None else r >= 2, r is not None and r >= 3)])
    wp99 = get(w, "window", "visitor_to_agent_ms", "p99")
    bp99 = get(b, "window", "visitor_to_agent_ms", "p99")
    r = ratio(wp99, bp99)
    rows.append(["visitor-to-agent p99 at the design point", "at most 3x baseline (b), and under 25 ms",
                 f"{fmt(wp99)} vs {fmt(bp99)} ms = {fmt(r, 2)}x",
                 verdict(None if wp99 is None else wp99 < 25 and (r is None or r <= 3))])
    notified = get(w, "window", "requests", "last_agent_notified_ms", "p99")
    rows.append(["last agent notified p99", "under 50 ms", f"{fmt(notified)} ms",
                 verdict(None if notified is None else notified < 50)])
    accept = get(w, "window", "requests", "accept_ms", "p99")
    rows.append(["accept p99", "under 50 ms", f"{fmt(accept)} ms", verdict(None if accept is None else accept < 50)])
    audit = w.get("audit", {}) if w else {}
    problems = None
    if w:
        problems = {"lost": audit.get("lost", 0) or 0, "duplicated": (audit.get("duplicated", 0) or 0)
                    + (audit.get("position_duplicates", 0) or 0)
                    + (get(w, "db_checks", "duplicate_client_ids") or 0),
                    "capacity violations": (audit.get("capacity_violations_seen_by_clients", 0) or 0)
                    + (get(w, "db_checks", "agents_over_max_chats") or 0)}
    rows.append(["lost, duplicated, capacity violations", "zero, as today",
                 ", ".join(f"{n} {k}" for k, n in problems.items()) if problems else NM,
                 verdict(None if problems is None else not any(problems.values()))])
    # Kept from earlier issues: these must not regress.
    for label, source in (("compression on", t), ("compression off", results["memory_plain"])):
        mw = get(source.get(winner), "mem_per_conn_idle_kib")
        ma = get(source.get("a"), "mem_per_conn_idle_kib")
        r = ratio(mw, ma)
        rows.append([f"memory per idle connection, {label}", "at most 3x (a) (must not regress)",
                     f"{fmt(mw)} vs {fmt(ma)} KiB = {fmt(r, 2)}x", verdict(None if r is None else r <= 3)])
    scale = results["scale"].get(winner) or results["scale"].get("gevent1")
    held = None
    if scale:
        held = max((lv.get("connections_open") or 0 for lv in scale.get("levels", [])), default=None)
    top = max(results["parameters"]["scale_levels"] or [0])
    rows.append(["connections held by one worker", "at least 5,000 (must not regress)",
                 f"{fmt(held)} held (largest level tried: {fmt(top)} idle + active)" if held is not None else NM,
                 verdict(None if held is None else held >= 5000)])
    history = get(results, "history", "reads") or {}
    newest = [get(reads, "newest_page", "p99") for reads in history.values()]
    newest = [v for v in newest if v is not None]
    rows.append(["history: newest page p99, every table size", "measured (must not regress)",
                 " / ".join(f"{fmt(v)} ms" for v in newest) if newest else NM, "–"])
    return table(["measure", "target", "measured (same run)", "verdict"], rows)


def common_rate_section(results):
    """CPU per message for every target at the highest ramp step all of them kept up with."""
    t = results["targets"]
    order = [k for k in TARGETS if k in t and get(t[k], "throughput", "steps")]
    if not order:
        return None, "No throughput ramp ran."
    kept = [{s["offered_per_s"] for s in t[k]["throughput"]["steps"] if s["kept_up"]} for k in order]
    common = set.intersection(*kept) if kept else set()
    rate = max(common) if common else None
    base = {k: thr(t[k]) for k in order}
    rows = []
    b_cpu = None
    if rate is not None and "b" in order:
        b_cpu = next(s["server_cpu_ms_per_delivered"] for s in t["b"]["throughput"]["steps"]
                     if s["offered_per_s"] == rate)
    for k in order:
        step = next((s for s in t[k]["throughput"]["steps"] if s["offered_per_s"] == rate), None)
        cpu = get(step, "server_cpu_ms_per_delivered")
        rows.append([TARGETS[k]["name"], get(step, "server_cpu_pct"), cpu,
                     f"{fmt(ratio(cpu, b_cpu), 2)}x" if b_cpu else "–", fmt(base[k], 0),
                     f"{fmt(ratio(base[k], base.get('b')), 2)}x" if base.get("b") else "–",
                     limit_note(t[k], "it").strip(" ()") or "–"])
    text = table(["target", f"server CPU % at {fmt(rate)} msg/s", "server CPU ms per message there",
                  "vs (b)", "sustained msg/s (limit)", "limit vs (b)", "note"], rows)
    return rate, text


def split_section(results):
    """The server's CPU per message by part, from py-spy's samples (--profile)."""
    t = results["targets"]
    rows, parts = [], None
    for k in [k for k in TARGETS if k in t]:
        profile = t[k].get("profile")
        per_message = get(t[k], "run_totals", "server_cpu_ms_per_delivered")
        if not profile or not profile.get("samples"):
            continue
        shares = profile["shares"]
        parts = list(shares)
        cells = [f"{fmt(per_message * shares[p], 3) if per_message else '–'} ({fmt(100 * shares[p], 0)}%)"
                 for p in parts]
        rows.append([TARGETS[k]["name"], profile["samples"], per_message, *cells])
    if not rows:
        return None
    return table(["target", "samples", "server CPU ms per message (whole run)", *parts], rows)


def write_report(results, out):
    (out / "report.json").write_text(json.dumps(results, indent=1, default=str))
    t = results["targets"]
    params = results["parameters"]
    env = results.get("environment", {})
    winner = pick_production(results)
    results["production_choice"] = winner
    (out / "report.json").write_text(json.dumps(results, indent=1, default=str))
    order = [k for k in TARGETS if k in t]
    names = {k: TARGETS[k]["name"] for k in TARGETS}
    md = [f"# Benchmark report ({results['preset']})", ""]
    md.append(f"Run {env.get('run_id')}: {env.get('cpus')} CPUs, {env.get('memory_gib')} GiB; server pinned to CPU "
              f"{env.get('server_cpus') or '(not pinned)'}, load generator to CPU {env.get('generator_cpus') or '(not pinned)'}; "
              f"database {env.get('database')}, broker {env.get('broker')}. Wall time {results.get('wall_s')} s.")
    md.append("")
    idle = params["idle"]
    md.append(f"Workload: {params['agents']} agents, {params['agents'] * params['chats_per_agent']} visitors in live chats "
              f"({params['chats_per_agent']} per agent, max chats {params['max_chats']}), {idle:,} idle widget connections; "
              f"each active visitor sends a 200-byte message every {params['message_interval_s']} s and its agent answers "
              f"each one; a new live request every {params['request_interval_s']} s (product: a new visitor opens the "
              f"widget and presses Live chat, every agent is notified, 3 agents race to accept, the winner ends the "
              f"chat {params['hold_accepted_s']} s later; baselines: one command fanned out to every agent); a REST probe "
              f"of the dashboard's reads at {params['rest_rate']}/s. Window {params['window_s']} s, open-loop schedule, "
              f"latency measured from each message's scheduled time. Compression (permessage-deflate) on unless said.")
    if results["preset"] != "full":
        md.append("")
        md.append(f"**{results['preset']} mode: a scaled-down workload (see parameters); the figures check the harness "
                  f"and show the shape, not the design point.**")
    md.append("")
    if winner:
        fig = t[winner]
        audit = fig.get("audit", {})
        tried = (get(fig, "connect_active", "tried") or 0) + (get(fig, "connect_idle", "tried") or 0)
        held = fig.get("connections_open") == tried
        clean = not audit.get("lost") and not audit.get("duplicated")
        met = [m for m, ok in (("held every connection", held), ("lost nothing", clean)) if ok]
        missed = [m for m, ok in (("held every connection", held), ("lost nothing", clean)) if not ok]
        md.append(f"Best product configuration in this run: **{names[winner]}**, by the rule: holds every connection, "
                  f"then loses nothing, then highest sustained throughput, then lowest visitor-to-agent p99. It "
                  + (f"{' and '.join(met)}" if met else "met neither of the first two")
                  + (f"; it did not: {', '.join(missed)} (no configuration that held every connection did)." if missed else "."))
        md.append("")
    md.append("## Targets")
    md.append("")
    md.append(targets_section(results, winner) if winner else "No product configuration ran.")
    md.append("")
    rate, text = common_rate_section(results)
    md.append("## CPU per message at a rate every target sustains")
    md.append("")
    md.append(text)
    md.append("")
    md.append(f"The throughput ramp's step at {fmt(rate)} msg/s, the highest that every target kept up with: server "
              "CPU seconds in the step divided by the messages delivered in it, beside each target's own limit "
              "(the highest step it kept up with) and that limit's ratio to (b). Targets without a per-socket rate "
              "limit (the baselines) are offered up to "
              f"{fmt(get(results, 'targets', 'b', 'throughput', 'client_cap_per_s') or get(results, 'targets', 'a', 'throughput', 'client_cap_per_s'))}"
              " msg/s (more frames in flight per socket); the product up to 9 frames/s per socket.")
    md.append("")
    split = split_section(results)
    md.append("## Where the server's CPU per message goes (--profile)")
    md.append("")
    if split:
        md.append(split)
        md.append("")
        md.append("py-spy's samples of each server over its whole run (connections, the design-point window and the "
                  "ramp), each counted for the first frame from the leaf that belongs to a part (a standard-library "
                  "frame counts for its caller's part; waiting leaves are left out), times the run's server CPU per "
                  "delivered message. Framework: Flask, Werkzeug, gunicorn, gevent, the WebSocket stack, JWT, rate "
                  "limits, metrics; compression: permessage-deflate; broker: redis-py and services/broker.py; our "
                  "code: services/, blueprints/, models/, schemas/ and the like (python -m bench.profile_summary "
                  "profiles/<run>.txt for the functions).")
        one = next((k for k in ("gevent1", "gthread1") if get(t.get(k), "profile", "samples")), None)
        if one:
            per = get(t[one], "run_totals", "server_cpu_ms_per_delivered")
            shares = t[one]["profile"]["shares"]
            shared = sum(shares.get(p) or 0 for p in ("driver", "broker"))
            if per:
                md.append("")
                md.append(f"A second worker on a core of its own ({TARGETS[one]['name']}): each message costs it "
                          f"{fmt(per, 3)} ms of its own core, so the pair would carry about twice the messages, as long "
                          f"as PostgreSQL and Redis keep up: their client side is {fmt(100 * shared, 0)}% of that "
                          f"({fmt(per * shared, 3)} ms per message), and their server side runs on the cores left "
                          f"(PostgreSQL+Redis CPU in the table below). A projection from these figures: this machine "
                          f"cannot give the generator and two workers a core each.")
    else:
        md.append(NM + " (run with --profile).")
    md.append("")

    md.append("## Latency at the design point (ms)")
    md.append("")
    rows = []
    for k in order:
        w = t[k].get("window", {})
        v, a, req = w.get("visitor_to_agent_ms", {}), w.get("agent_to_visitor_ms", {}), w.get("requests", {})
        acc = req.get("accept_ms")
        rows.append([names[k], v.get("p50"), v.get("p95"), v.get("p99"), v.get("max"), a.get("p50"), a.get("p95"),
                     a.get("p99"), a.get("max"), get(req, "last_agent_notified_ms", "p50"),
                     get(req, "last_agent_notified_ms", "p99"), req.get("not_all_agents_notified"),
                     get(acc, "p50") if acc else "n/a", get(acc, "p99") if acc else "n/a"])
    md.append(table(["target", "v→a p50", "v→a p95", "v→a p99", "v→a max", "a→v p50", "a→v p95", "a→v p99", "a→v max",
                     "last agent notified p50", "p99", "requests not reaching every agent", "accept p50", "accept p99"],
                    rows))
    md.append("")
    md.append("v→a: a visitor's message until the agent's socket has it; a→v: the agent's answer until the visitor's "
              "socket has it. Notified: from the visitor's Live chat press (product) or request command (baselines) "
              "until the last of the agents has the live_chat_request. Accept: the winner's request.accept until its ack.")
    md.append("")
    video_rows, db_rows = [], []
    for k in order:
        w = t[k].get("window", {})
        v = w.get("video")
        if v:
            video_rows.append([names[k], v["started"], v["completed"], get(v, "setup_ms", "p50"), get(v, "setup_ms", "p95"),
                               get(v, "setup_ms", "p99"), get(v, "setup_ms", "max"), get(v, "signal_relay_ms", "p50"),
                               get(v, "signal_relay_ms", "p99"), v.get("unexpected_signals"),
                               "; ".join(f"{n}x {e}" for e, n in v["errors"].items()) or "–"])
        d = w.get("database_sessions")
        if d:
            waits = ", ".join(f"{k2} {v2}" for k2, v2 in d["mean_sessions_waiting"].items()) or "–"
            blocked = "; ".join(f"{q} ({n})" for q, n in (d.get("statements_waiting_on_locks") or {}).items()) or "–"
            db_rows.append([names[k], d["mean_sessions_by_state"].get("active"),
                            d["mean_sessions_by_state"].get("idle in transaction"), d["peak_sessions_waiting_on_locks"],
                            waits, blocked])
    md.append("## Video call set-up (ms)")
    md.append("")
    if video_rows:
        md.append(table(["target", "calls started", "completed", "set-up p50", "p95", "p99", "max", "signal relay p50",
                         "p99", "unexpected signals", "errors"], video_rows))
        md.append("")
        md.append("An agent offers video in one of its chats (call.offer_video), the visitor accepts, the agent sends "
                  "the offer, the visitor answers on receipt, then 9 ICE candidates each way; set-up runs from the "
                  "offer_video command until the 20th signal reached the other side; relay is each signal's send to "
                  "receipt. The call is hung up a second later. Baselines: not implemented there.")
    else:
        md.append(NM + " (the product had no call signalling commands when this ran).")
    md.append("")
    if db_rows:
        md.append("## The database during the window")
        md.append("")
        md.append(table(["target", "mean sessions active", "mean idle in transaction", "peak waiting on locks",
                         "mean sessions waiting (by wait event)", "statements waiting on locks (mean sessions)"],
                        db_rows))
        md.append("")
        md.append("pg_stat_activity of the run's database, sampled every 0.5 s.")
        md.append("")
    md.append("## REST, connections, memory, CPU")
    md.append("")
    rows = []
    for k in order:
        f = t[k]
        w = f.get("window", {})
        plain = results["memory_plain"].get(k, {})
        rows.append([names[k], get(f, "rest_alone_ms", "p99") if TARGETS[k]["kind"] == "product" else "n/a",
                     get(w, "rest_with_sockets_ms", "p99") if TARGETS[k]["kind"] == "product" else "n/a",
                     f"{fmt(f.get('connections_open'))} / {fmt(f.get('connections_held_server_side'))}",
                     f.get("mem_per_conn_idle_kib"), f.get("mem_per_conn_after_traffic_kib"),
                     plain.get("mem_per_conn_idle_kib", NM), plain.get("mem_per_conn_after_traffic_kib", NM),
                     w.get("server_cpu_ms_per_delivered"), w.get("server_cpu_pct"), w.get("services_cpu_s"),
                     w.get("generator_cpu_pct"), w.get("other_cpu_pct")])
    md.append(table(["target", "REST p99 alone (ms)", "REST p99 with sockets (ms)", "connections open / held by server",
                     "KiB per conn idle (deflate)", "after traffic (deflate)", "idle (no compression)",
                     "after traffic (no compression)", "server CPU ms per delivered message", "server CPU %",
                     "PostgreSQL+Redis CPU s", "generator CPU %", "other processes CPU %"], rows))
    md.append("")
    md.append("REST: GET /api/auth/me, /api/availability, /api/notifications in turn, open loop, with every agent's token; "
              "'alone' before any socket connects. Memory: growth of the server's worker RSS from before the first "
              "connection, divided by the connections open (all workers summed). CPU per delivered message: server "
              "CPU seconds in the window divided by the chat messages that reached the other side. CPU % is of one "
              "core; 'other processes' is whatever else ran on the machine meanwhile (noise the run could not "
              "exclude).")
    md.append("")
    md.append("## Throughput (open-loop ramp)")
    md.append("")
    rows = []
    for k in order:
        th = t[k].get("throughput") or {}
        steps = th.get("steps", [])
        kept = [s for s in steps if s["kept_up"]]
        top = kept[-1] if kept else None
        fail = steps[-1] if steps and not steps[-1]["kept_up"] else None
        rows.append([names[k], th.get("sustained_per_s"), th.get("client_cap_per_s"),
                     "yes" if th.get("capped") else "generator's core full" if th.get("generator_bound") else "no",
                     get(top, "latency_ms", "p99"), get(top, "server_cpu_ms_per_delivered"),
                     get(top, "server_cpu_pct"), get(top, "generator_cpu_pct"),
                     f"{fmt(fail['offered_per_s'])}/s: {fmt(fail['delivered_per_s'])}/s delivered, p99 "
                     f"{fmt(get(fail, 'latency_ms', 'p99'))} ms" if fail else "–"])
    md.append(table(["target", "sustained msg/s", "generator cap msg/s", "limit not the server's", "p99 at sustained (ms)",
                     "server CPU ms/msg there", "server CPU %", "generator CPU %", "first step not kept up"], rows))
    md.append("")
    crit = next((th.get("criterion") for th in (t[k].get("throughput") for k in order) if th), "")
    md.append(f"Every active socket (visitors and agents) sends in its own conversations at a shared offered rate, "
              f"stepped up; a step is kept up when {crit}. The generator stays under the product's 10 frames/s per "
              f"socket, which caps the product's offered rate; the baselines have no such limit and get more frames "
              f"in flight per socket. 'Generator's core full': the first step not kept up had the generator at 90% "
              f"of its core or more, so the server's limit may be higher.")
    md.append("")
    md.append("## Audit (sequence, duplicates, capacity)")
    md.append("")
    rows = []
    for k in order:
        a = t[k].get("audit", {})
        d = t[k].get("db_checks", {})
        rows.append([names[k], a.get("messages_sent"), a.get("lost"), a.get("lost_after_ack"),
                     a.get("refused_with_error"), a.get("duplicated"), a.get("not_acknowledged"),
                     a.get("position_gaps"), a.get("position_duplicates"),
                     a.get("capacity_violations_seen_by_clients"), d.get("agents_over_max_chats", "n/a"),
                     d.get("duplicate_client_ids", "n/a"), d.get("conversations_with_seq_holes", "n/a"),
                     d.get("deadlocks", "n/a"),
                     a.get("requests_with_two_winners"), t[k].get("connections_open_at_end")])
    md.append(table(["target", "messages sent", "lost", "of which acked", "refused with an error", "duplicated",
                     "not acked", "stream position gaps",
                     "position repeats", "capacity violations (clients)", "agents over max chats (DB)",
                     "duplicate client ids (DB)", "conversations with seq holes (DB)", "deadlocks (DB)",
                     "requests won twice",
                     "sockets open at end"], rows))
    md.append("")
    md.append(f"Lost: sent, not refused, yet not at the other side's socket {2 * params['grace_s']:g} s after the "
              f"last send (the audit waits that long for stragglers); 'of which "
              "acked': the server had acknowledged it. Refused: the server answered the send with an error frame "
              "(the client knows and may retry; codes in report.json). Duplicated: reached it more than once. Position gaps count frames whose stream position skipped (the product then replays from the "
              "log, so a gap is not a loss by itself). Baselines (b) and (c) publish after "
              "commit with nothing ordering two messages of one conversation: one overtaken by the next arrives with "
              "a lower position, and the generator, applying positions as the product's clients do, drops it (a "
              "position repeat, and lost). Deadlocks: PostgreSQL's count for the run's database "
              "(pg_stat_database), each one a transaction the product saw fail.")
    md.append("")

    if results["scale"]:
        md.append("## Scale curve (idle connections)")
        md.append("")
        rows = []
        for k, fig in results["scale"].items():
            for lv in fig.get("levels", []):
                w = lv.get("window", {})
                rows.append([names[k], lv["idle_target"], lv.get("connections_open"), lv.get("connections_held_server_side"),
                             get(lv, "connect", "seconds"), get(w, "visitor_to_agent_ms", "p50"),
                             get(w, "visitor_to_agent_ms", "p99"), get(w, "agent_to_visitor_ms", "p99"),
                             get(w, "requests", "last_agent_notified_ms", "p99"), get(w, "rest_with_sockets_ms", "p99")
                             if TARGETS[k]["kind"] == "product" else "n/a",
                             lv.get("mem_per_conn_idle_kib"), lv.get("mem_per_conn_after_traffic_kib"),
                             w.get("server_cpu_ms_per_delivered"), w.get("server_cpu_pct")])
        md.append(table(["target", "idle", "open", "held by server", "connect s", "v→a p50", "v→a p99", "a→v p99",
                         "last notified p99", "REST p99", "KiB/conn idle", "KiB/conn after", "CPU ms/msg",
                         "server CPU %"], rows))
        md.append("")
        md.append(f"Each level adds idle connections to the same server, then runs the design-point workload for "
                  f"{params['scale_window_s']} s. gunicorn's gevent worker is started with --worker-connections above "
                  f"the level.")
        md.append("")
    if results["hold"]:
        md.append("## Connections held by the shipped gunicorn.conf.py")
        md.append("")
        rows = [[names[k], v.get("tried"), v.get("open"), v.get("error") or ""] for k, v in results["hold"].items()]
        md.append(table(["configuration (as shipped)", "connections tried", "open (hello received)", "error"], rows))
        md.append("")
    if results.get("history"):
        h = results["history"]
        md.append("## Message history reads (cursor), ms")
        md.append("")
        rows = []
        for case, reads in h["reads"].items():
            rows.append([case, get(reads, "newest_page", "p50"), get(reads, "newest_page", "p99"),
                         get(reads, "after_cursor_near_end", "p50"), get(reads, "after_cursor_near_end", "p99"),
                         get(reads, "middle_cursor", "p50"), get(reads, "middle_cursor", "p99"),
                         get(reads, "oldest_page", "p50"), get(reads, "oldest_page", "p99")])
        md.append(table(["messages in the conversation", "newest page p50", "p99", "after a cursor near the end p50",
                         "p99", "after a cursor in the middle p50", "p99", "oldest page p50", "p99"], rows))
        md.append("")
        md.append(f"GET /api/widget/<key>/conversations/<id>/messages (50 per page) on {h['server']}, one request at a "
                  f"time, {params['history_reads']} reads each.")
        md.append("")
    md.append("## Not measured")
    md.append("")
    items = []
    if not any(get(t[k], "window", "video") for k in order):
        items.append("Video call set-up (offer, answer, 18 candidates every 10 s): the product has no signalling "
                     "commands yet.")
    items.append("Baselines do no video signalling (not implemented there).")
    for k, why in results["skipped"].items():
        items.append(f"{names[k]}: {why}.")
    for k, why in results["failures"].items():
        items.append(f"{k}: failed: {why}.")
    if not t.get("b") or not t.get("c"):
        items.append("Baseline ratios that need (b) or (c) are not computed where those did not run.")
    for k in order:
        if TARGETS[k]["kind"] != "product":
            items.append(f"{names[k]}: REST and accept do not exist there (no REST API, no accept).")
    if not results["hold"]:
        items.append("Connections held by the shipped gunicorn.conf.py (full mode only).")
    md.extend(f"- {item}" for item in items)
    md.append("")
    md.append("## Parameters")
    md.append("")
    md.append("```json")
    md.append(json.dumps(params, indent=1))
    md.append("```")
    md.append("")
    md.append("Versions: " + ", ".join(f"{k} {v}" for k, v in env.get("versions", {}).items() if v))
    (out / "report.md").write_text("\n".join(md) + "\n")
