#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""The measuring half of tests/bench/stress; runs in the guest as root, vfiod.socket started.

    stress-client.py [--clients N] [--monitors N] [--silent N] [--events N]
                     [--flood-uids N] [--flood-conns N] [--header TEXT] [--pid PID]

1. N concurrent clients (default 1,000), each its own connection with one ListDevices call, all
   connecting at once: once as root (limited only by the total), once spread over 100 uids (10
   each, within the per-user limit). Latency from connect to the whole reply: p50, p99, max;
   errors (connection refused or closed without a reply, error replies, no reply in 120 s).
2. Monitor: N subscribers (default 256, 8 per uid) of which S (default 64) never read; root then
   makes E events (default 500 Reload calls, each broadcast to every subscriber). Reload round
   trip p50/p99; events each reading subscriber got; silent subscribers the daemon dropped.
3. fd exhaustion: U uids (default 32) each open C connections (default 64) with one Acquire of a
   device it is denied (the connection then also holds a pidfd), plus 16 subordinate uids of one
   user in a user namespace doing the same; held while the daemon's fds are counted; then let go,
   and a new client calls GetInfo.
4. The daemon's RSS and fd count before, after each part, and at the end.
Prints one table; asserts no timings; exits 1 only if the daemon stopped answering.
"""
import argparse
import json
import os
import resource
import select
import socket
import subprocess
import sys
import time

BROKER = "/run/vfiod/io.vfiod.Broker"
DENIED = "0000:00:03.0"


def die(msg):
    print(f"stress: {msg}", file=sys.stderr)
    sys.exit(1)


def pct(xs, p):
    if not xs:
        return None
    s = sorted(xs)
    return s[max(0, -(-p * len(s) // 100) - 1)]


def fmt_ms(s):
    return "-" if s is None else f"{s * 1000:.1f} ms"


def msg(method, params=None, more=False):
    m = {"method": "io.vfiod.Broker." + method, "parameters": params or {}}
    if more:
        m["more"] = True
    return json.dumps(m).encode() + b"\0"


PID = None


def daemon_pid():
    if PID:
        return PID
    pid = subprocess.run(["systemctl", "show", "-P", "MainPID", "vfiod.service"],
                         capture_output=True, text=True).stdout.strip()
    return int(pid) if pid and pid != "0" else None


def daemon_usage():
    pid = daemon_pid()
    if not pid:
        return ("-", "-")
    rss = "-"
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = f"{int(line.split()[1]) / 1024:.1f} MiB"
    return (rss, str(len(os.listdir(f"/proc/{pid}/fd"))))


def become(uid):
    os.setgroups([])
    os.setgid(uid)
    os.setuid(uid)


def run_clients(n, payload, deadline_s, hold=False):
    """n connections at once, one call each; per connection the latency (s) to its first reply
    or an outcome. Returns (latencies, counts)."""
    t_end = time.monotonic() + deadline_s
    conns = {}
    counts = {"ok": 0, "error": 0, "refused": 0, "closed": 0, "timeout": 0}
    lat = []
    for _ in range(n):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.setblocking(False)
        t0 = time.monotonic()
        try:
            s.connect(BROKER)
            s.send(payload)
        except OSError:
            counts["refused"] += 1
            s.close()
            continue
        conns[s] = [t0, b""]
    held = []
    while conns and time.monotonic() < t_end:
        r, _, _ = select.select(list(conns), [], [], max(0.0, t_end - time.monotonic()))
        now = time.monotonic()
        for s in r:
            try:
                d = s.recv(1 << 20)
            except OSError:
                d = b""
            if not d:
                counts["closed"] += 1
                del conns[s]
                s.close()
                continue
            conns[s][1] += d
            if b"\0" in conns[s][1]:
                m = json.loads(conns[s][1].split(b"\0")[0])
                if "error" in m and m["error"] != "io.vfiod.Broker.Denied":
                    counts["error"] += 1
                else:
                    counts["ok"] += 1
                    lat.append(now - conns[s][0])
                del conns[s]
                if hold:
                    held.append(s)
                else:
                    s.close()
    counts["timeout"] += len(conns)
    for s in conns:
        s.close()
    return lat, counts, held


def forked(uids, fn):
    """Run fn() as each uid in a child; collect the JSON each prints to its pipe."""
    kids = []
    for uid in uids:
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(r)
            try:
                become(uid)
                out = fn()
            except Exception as e:  # noqa: BLE001 - reported, not raised, in the child
                out = {"exception": str(e)}
            os.write(w, json.dumps(out).encode())
            os._exit(0)
        os.close(w)
        kids.append((pid, r))
    res = []
    for pid, r in kids:
        data = b""
        while True:
            d = os.read(r, 1 << 20)
            if not d:
                break
            data += d
        os.close(r)
        os.waitpid(pid, 0)
        res.append(json.loads(data or b"{}"))
    return res


def merge(results):
    lat, counts = [], {}
    for x in results:
        lat += x.get("lat", [])
        for k, v in x.get("counts", {}).items():
            counts[k] = counts.get(k, 0) + v
    return lat, counts


def part_clients(n, rows):
    lat, counts, _ = run_clients(n, msg("ListDevices"), 120)
    rows.append((f"{n} clients at once, root, one ListDevices each", lat, counts))
    per = n // 100

    def one():
        la, c, _ = run_clients(per, msg("ListDevices"), 120)
        return {"lat": la, "counts": c}
    lat, counts = merge(forked(range(40000, 40100), one))
    rows.append((f"{per * 100} clients at once, 100 uids x {per}", lat, counts))


def part_monitors(n, silent, events, out):
    per_uid = 8
    n_uids = n // per_uid
    ready_r, ready_w = os.pipe()
    go_r, go_w = os.pipe()
    kids = []
    for i in range(n_uids):
        res_r, res_w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(ready_r); os.close(go_w); os.close(res_r)
            become(41000 + i)
            quiet = i < silent // per_uid
            socks = []
            for _ in range(per_uid):
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                s.connect(BROKER)
                s.sendall(msg("Monitor", more=True))
                socks.append(s)
            os.write(ready_w, b"x")
            got = {s: 0 for s in socks}
            buf = {s: b"" for s in socks}
            closed = 0
            if quiet:
                os.read(go_r, 1)          # never read until the end; then count what is left
                for s in socks:
                    s.setblocking(False)
                    try:
                        while True:
                            d = s.recv(1 << 20)
                            if not d:
                                closed += 1
                                break
                            got[s] += d.count(b"\0")
                    except BlockingIOError:
                        pass
            else:
                live = set(socks) | {go_r}
                done = False
                while not done:
                    r, _, _ = select.select(list(live), [], [], 600)
                    if not r:
                        break
                    for s in r:
                        if s == go_r:
                            done = True
                            continue
                        d = s.recv(1 << 20)
                        if not d:
                            closed += 1
                            live.discard(s)
                            continue
                        buf[s] += d
                        got[s] += d.count(b"\0")
            os.write(res_w, json.dumps({"quiet": quiet, "got": list(got.values()), "closed": closed}).encode())
            os._exit(0)
        os.close(res_w)
        kids.append((pid, res_r))
    os.close(ready_w); os.close(go_r)
    for _ in range(n_uids):
        os.read(ready_r, 1)
    time.sleep(1)
    usage_subscribed = daemon_usage()
    # Root makes the events: Reload broadcasts "policy-reloaded" to every subscriber.
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(BROKER)
    lat = []
    for _ in range(events):
        t0 = time.monotonic()
        s.sendall(msg("Reload"))
        b = b""
        while b"\0" not in b:
            d = s.recv(1 << 20)
            if not d:
                die("the daemon closed root's connection during Reload")
            b += d
        lat.append(time.monotonic() - t0)
    s.close()
    time.sleep(2)
    usage_events = daemon_usage()
    os.write(go_w, b"x" * n_uids)
    res = []
    for pid, r in kids:
        data = os.read(r, 1 << 16)
        os.close(r)
        os.waitpid(pid, 0)
        res.append(json.loads(data or b"{}"))
    os.close(go_w)
    readers = [g for x in res if not x.get("quiet") for g in x.get("got", [])]
    quiet_closed = sum(x.get("closed", 0) for x in res if x.get("quiet"))
    reader_closed = sum(x.get("closed", 0) for x in res if not x.get("quiet"))
    out.update({
        "subscribers": len(readers) + sum(len(x.get("got", [])) for x in res if x.get("quiet")),
        "readers": len(readers), "events": events, "reload": lat,
        "readers_min_events": min(readers) - 1 if readers else None,   # minus "ready"
        "readers_closed": reader_closed, "silent_dropped": quiet_closed,
        "usage_subscribed": usage_subscribed, "usage_events": usage_events,
    })


def part_flood(n_uids, conns, out):
    params = {"devices": [DENIED]}
    hold_r, hold_w = os.pipe()
    kids = []
    for i in range(n_uids):
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(r); os.close(hold_w)
            become(42000 + i)
            _, c, held = run_clients(conns, msg("Acquire", params), 60, hold=True)
            os.write(w, json.dumps(c).encode())
            os.read(hold_r, 1)
            os._exit(0)
        os.close(w)
        kids.append((pid, r))
    # One user's 16 subordinate uids (root writes the map, as newuidmap would).
    ns_r, ns_w = os.pipe()
    go_r, go_w = os.pipe()
    res_r, res_w = os.pipe()
    ns_pid = os.fork()
    if ns_pid == 0:
        os.close(ns_r); os.close(go_w); os.close(res_r); os.close(hold_w)
        become(42999)
        try:
            os.unshare(os.CLONE_NEWUSER)
        except OSError:
            os.write(ns_w, b"-")          # no user namespaces here (a chroot, or switched off)
            os._exit(0)
        os.write(ns_w, b"x")
        os.read(go_r, 1)
        sub = []
        for k in range(1, 17):
            r, w = os.pipe()
            p = os.fork()
            if p == 0:
                os.close(r)
                os.setuid(k)
                _, c, held = run_clients(conns, msg("Acquire", params), 60, hold=True)
                os.write(w, json.dumps(c).encode())
                os.read(hold_r, 1)
                os._exit(0)
            os.close(w)
            sub.append((p, r))
        tot = {}
        for p, r in sub:
            for k, v in json.loads(os.read(r, 4096) or b"{}").items():
                tot[k] = tot.get(k, 0) + v
        os.write(res_w, json.dumps(tot).encode())
        for p, r in sub:
            os.waitpid(p, 0)
        os._exit(0)
    os.close(ns_w); os.close(go_r); os.close(res_w)
    userns = os.read(ns_r, 1) == b"x"
    if userns:
        for f in ("uid_map", "gid_map"):
            with open(f"/proc/{ns_pid}/{f}", "w") as fh:
                fh.write("0 400000 65536\n")
        os.write(go_w, b"x")
    per_uid = []
    total = {}
    for pid, r in kids:
        c = json.loads(os.read(r, 4096) or b"{}")
        os.close(r)
        per_uid.append(c.get("ok", 0) + c.get("error", 0))
        for k, v in c.items():
            total[k] = total.get(k, 0) + v
    ns = json.loads(os.read(res_r, 4096) or b"{}") if userns else None
    held_usage = daemon_usage()
    # A new client while everything is held (root: only the total limits it).
    t0 = time.monotonic()
    lat, c, _ = run_clients(1, msg("GetInfo"), 30)
    during = (time.monotonic() - t0) if c["ok"] else None
    os.close(hold_w)
    for pid, _ in kids:
        os.waitpid(pid, 0)
    os.waitpid(ns_pid, 0)
    os.close(hold_r)
    time.sleep(1)
    t0 = time.monotonic()
    lat, c, _ = run_clients(1, msg("GetInfo"), 30)
    after = (time.monotonic() - t0) if c["ok"] else None
    # And an unprivileged one.
    r2 = forked([42000], lambda: {"counts": run_clients(1, msg("GetInfo"), 30)[1]})[0]
    out.update({"uids": n_uids, "conns": conns, "total": total, "max_per_uid": max(per_uid),
                "ns": ns, "held_usage": held_usage, "during": during, "after": after,
                "user_after": r2.get("counts", {}).get("ok", 0) == 1})


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--clients", type=int, default=1000)
    ap.add_argument("--monitors", type=int, default=256)
    ap.add_argument("--silent", type=int, default=64)
    ap.add_argument("--events", type=int, default=500)
    ap.add_argument("--flood-uids", type=int, default=32)
    ap.add_argument("--flood-conns", type=int, default=64)
    ap.add_argument("--header", default="vfiod stress")
    ap.add_argument("--pid", type=int, help="the daemon's pid, when it is not vfiod.service")
    a = ap.parse_args()
    global PID
    PID = a.pid
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

    usage = [("at rest", daemon_usage())]
    rows = []
    part_clients(a.clients, rows)
    usage.append(("after the clients", daemon_usage()))
    mon = {}
    part_monitors(a.monitors, a.silent, a.events, mon)
    usage.append((f"{mon['subscribers']} Monitor subscribers held", mon["usage_subscribed"]))
    usage.append((f"... after {a.events} events", mon["usage_events"]))
    usage.append(("after the subscribers left", daemon_usage()))
    fl = {}
    part_flood(a.flood_uids, a.flood_conns, fl)
    usage.append(("fd exhaustion attempt held", fl["held_usage"]))
    usage.append(("at the end", daemon_usage()))

    print(a.header)
    print()
    print(f"{'concurrent ListDevices':<46} {'p50':>10} {'p99':>10} {'max':>10}  answered / errors")
    for name, lat, c in rows:
        errs = c.get("error", 0) + c.get("refused", 0) + c.get("closed", 0) + c.get("timeout", 0)
        print(f"{name:<46} {fmt_ms(pct(lat, 50)):>10} {fmt_ms(pct(lat, 99)):>10} {fmt_ms(max(lat) if lat else None):>10}"
              f"  {c.get('ok', 0)} / {errs} {json.dumps({k: v for k, v in c.items() if k != 'ok' and v})}")
    print()
    print(f"Monitor: {mon['subscribers']} subscribers ({mon['readers']} reading, {a.silent} never reading), "
          f"{a.events} Reload events")
    print(f"  Reload round trip p50 {fmt_ms(pct(mon['reload'], 50))}, p99 {fmt_ms(pct(mon['reload'], 99))}")
    print(f"  every reading subscriber got >= {mon['readers_min_events']} of {a.events} events; "
          f"readers disconnected: {mon['readers_closed']}")
    print(f"  silent subscribers disconnected by the daemon: {mon['silent_dropped']} of {a.silent}")
    print()
    t, ns = fl["total"], fl["ns"]
    print(f"fd exhaustion: {fl['uids']} uids x {fl['conns']} connections, one denied Acquire each")
    print(f"  answered {t.get('ok', 0) + t.get('error', 0)}, closed at once (over the per-user limit) "
          f"{t.get('closed', 0)}, no answer {t.get('timeout', 0)}; most answered for one uid: {fl['max_per_uid']}")
    if ns is None:
        print("  16 subordinate uids of one user: not run, no user namespaces here")
    else:
        print(f"  16 subordinate uids of one user x {fl['conns']}: answered {ns.get('ok', 0) + ns.get('error', 0)}, "
              f"closed at once {ns.get('closed', 0)}, no answer {ns.get('timeout', 0)}")
    print(f"  a new client (root) while all that was held: {fmt_ms(fl['during'])}; "
          f"after it was let go: {fmt_ms(fl['after'])}; an unprivileged one after: "
          f"{'answered' if fl['user_after'] else 'NOT answered'}")
    print()
    print(f"{'daemon':<40} {'RSS':>10} {'fds':>6}")
    for name, (rss, fds) in usage:
        print(f"{name:<40} {rss:>10} {fds:>6}")
    if fl["after"] is None or not fl["user_after"]:
        die("the daemon did not answer a new client after the fd exhaustion attempt")


if __name__ == "__main__":
    main()
