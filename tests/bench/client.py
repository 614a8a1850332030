#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""The measuring half of tests/bench/run; runs inside the umockdev testbed, a private /run and a
private network namespace.

    client.py --vfiod PATH --tree TREE --start-floor PATH --list-floor PATH [--iterations K]
              [--starts S] [--tool-runs T] [--storm] [--summary FILE]

Starts vfiod S times (NOTIFY_SOCKET: time from exec to READY=1; each start scans the tree), keeps
the last one, times K ListDevices and K Explain calls on one varlink connection, reads its RSS,
stops it with SIGTERM; runs the start floor S times (exec to exit) and times K ListDevices calls
to the ListDevices floor serving vfiod's own reply; with --storm, starts vfiod without the VFs and
makes them all appear and go again by uevents (see run_storm); then times `driverctl
list-devices` and `dpdk-devbind.py --status` T times on the same testbed, and prints one table,
each figure with its ratio and goal. Prints numbers; fails only if something does not work.
"""
import argparse
import glob
import json
import os
import re
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

BROKER = "/run/vfiod/io.vfiod.Broker"
SO_SNDBUFFORCE = getattr(socket, "SO_SNDBUFFORCE", 32)
PCI_LINE = re.compile(rb"^[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]\b", re.M)


def die(msg):
    print(f"bench: {msg}", file=sys.stderr)
    sys.exit(1)


def median(xs):
    s = sorted(xs)
    n = len(s)
    return s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2


def p99(xs):
    s = sorted(xs)                       # nearest rank: with fewer than 100 samples, the maximum
    return s[max(0, -(-99 * len(s) // 100) - 1)]


class Varlink:
    def __init__(self, path):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.connect(path)
        self.buf = bytearray()

    def call_raw(self, msg):
        """Send one call, return the raw reply (without the NUL)."""
        self.s.sendall(msg)
        i = self.buf.find(b"\0")
        while i < 0:
            chunk = self.s.recv(1 << 20)
            if not chunk:
                die("vfiod closed the connection")
            j = chunk.find(b"\0")          # look only at what just arrived
            if j >= 0:
                i = len(self.buf) + j
            self.buf += chunk
        reply = bytes(self.buf[:i])
        del self.buf[:i + 1]
        return reply

    @staticmethod
    def encode(method, params):
        return json.dumps({"method": method, "parameters": params}).encode() + b"\0"

    def call(self, method, params):
        reply = json.loads(self.call_raw(self.encode(method, params)))
        if "error" in reply:
            die(f"{method} failed: {reply['error']} {reply.get('parameters', '')}")
        return reply["parameters"]

    def close(self):
        self.s.close()


def start_daemon(vfiod, notify_path, log):
    """Start vfiod, return (Popen, ns from exec to READY=1)."""
    try:
        os.unlink(notify_path)
    except FileNotFoundError:
        pass
    ns = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    ns.bind(notify_path)
    env = dict(os.environ, NOTIFY_SOCKET=notify_path)
    t0 = time.perf_counter_ns()
    p = subprocess.Popen([vfiod], env=env, stdout=log, stderr=log)
    try:
        while True:
            r, _, _ = select.select([ns], [], [], 0.2)
            if r:
                msg = ns.recv(4096)
                if b"READY=1" in msg.split(b"\n"):
                    return p, time.perf_counter_ns() - t0
            elif p.poll() is not None:
                die(f"vfiod exited with status {p.returncode} before READY=1 (log: {log.name})")
            elif time.perf_counter_ns() - t0 > 120e9:
                p.kill()
                die("vfiod did not report READY=1 within 120 s")
    finally:
        ns.close()


def stop_daemon(p, log):
    p.send_signal(signal.SIGTERM)
    try:
        rc = p.wait(30)
    except subprocess.TimeoutExpired:
        p.kill()
        die("vfiod did not exit within 30 s of SIGTERM")
    if rc != 0:
        die(f"vfiod exited with status {rc} after SIGTERM (log: {log.name})")


def time_calls(vl, msg, k):
    out = []
    for _ in range(k):
        t0 = time.perf_counter_ns()
        reply = vl.call_raw(msg)
        out.append(time.perf_counter_ns() - t0)
        if reply.startswith(b'{"error"'):
            die(f"call failed: {reply[:200]!r}")
    return out


def time_tool(argv, runs):
    """Run argv `runs` times; return (ns samples, PCI-address lines of the last run, error)."""
    if not shutil.which(argv[0]):
        return [], 0, f"{argv[0]} is not installed"
    samples, lines = [], 0
    for _ in range(runs):
        t0 = time.perf_counter_ns()
        r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        samples.append(time.perf_counter_ns() - t0)
        if r.returncode != 0:
            return samples, 0, f"exit status {r.returncode}: {r.stderr.decode(errors='replace').strip()[:200]}"
        lines = len(PCI_LINE.findall(r.stdout))
    return samples, lines, None


def fmt_ns(ns):
    if ns is None:
        return "-"
    if ns >= 1e9:
        return f"{ns / 1e9:.2f} s"
    if ns >= 1e6:
        return f"{ns / 1e6:.1f} ms"
    return f"{ns / 1e6:.3f} ms"


def time_start_floor(floor, runs, expect):
    """Run the start floor `runs` times, each timed from exec to exit as the daemon is to READY=1."""
    out = []
    for _ in range(runs):
        t0 = time.perf_counter_ns()
        r = subprocess.run([floor], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        out.append(time.perf_counter_ns() - t0)
        if r.returncode != 0:
            die(f"{floor} failed ({r.returncode}): {r.stderr.decode(errors='replace').strip()[:200]}")
    seen = json.loads(r.stdout)
    if seen["functions"] != expect:
        die(f"{floor} saw {seen['functions']} PCI devices, the tree has {expect}")
    return out, seen


def time_list_floor(floor, reply, work, k):
    """Serve vfiod's ListDevices reply from memory (tests/bench/list-floor.c) and time k calls
    the same way; return (ns samples, reply bytes the floor sent)."""
    path = os.path.join(work, "list-reply.json")
    with open(path, "wb") as f:
        f.write(reply)
    sock = os.path.join(work, "list-floor.sock")
    p = subprocess.Popen([floor, sock, path])
    try:
        t0 = time.monotonic()
        while not os.path.exists(sock):
            if p.poll() is not None:
                die(f"{floor} exited with status {p.returncode}")
            if time.monotonic() - t0 > 60:
                die(f"{floor} did not listen within 60 s")
            time.sleep(0.01)
        vl = Varlink(sock)
        msg = Varlink.encode("io.vfiod.Broker.ListDevices", {})
        size = len(vl.call_raw(msg))
        samples = time_calls(vl, msg, k)
        vl.close()
    finally:
        p.terminate()
        p.wait(30)
    return samples, size


# ---- the uevent storm

def murmur2(s):
    """systemd's string_hash32() (MurmurHash2), as libudev's monitor filter expects it."""
    m, h, data = 0x5bd1e995, len(s), s.encode()
    n = len(data) // 4 * 4
    for i in range(0, n, 4):
        k = int.from_bytes(data[i:i + 4], "little")
        k = (k * m) & 0xffffffff
        k ^= k >> 24
        k = (k * m) & 0xffffffff
        h = (h * m) & 0xffffffff
        h ^= k
    rest = data[n:]
    if len(rest) == 3:
        h ^= rest[2] << 16
    if len(rest) >= 2:
        h ^= rest[1] << 8
    if len(rest) >= 1:
        h ^= rest[0]
        h = (h * m) & 0xffffffff
    h ^= h >> 13
    h = (h * m) & 0xffffffff
    h ^= h >> 15
    return h


def uevent_message(action, devpath, seqnum, props):
    """A udev monitor message as udevd sends it (what umockdev's uevent_sender builds): the
    "libudev" header, then NUL-separated properties."""
    body = [f"ACTION={action}", f"DEVPATH={devpath}", "SUBSYSTEM=pci", f"SEQNUM={seqnum}"]
    body += [p for p in props if p.split("=", 1)[0] not in ("ACTION", "DEVPATH", "SUBSYSTEM", "SEQNUM")]
    payload = b"".join(p.encode() + b"\0" for p in body)
    hdr = b"libudev\0" + struct.pack("!I", 0xfeedcafe) + struct.pack("=III", 40, 40, len(payload)) + \
        struct.pack("!IIII", murmur2("pci"), 0, 0, 0)
    return hdr + payload


class Stash:
    """What the kernel adds and removes with a VF, moved between the testbed's sysfs and a stash
    directory: its device directory, its bus, driver and class/net links, its IOMMU group, the
    PF's virtfn link and the IOMMU unit's devices/ link."""

    def __init__(self, sysd, stash, vfs):
        self.moves = []                     # (path in sysfs, path in the stash)
        self.uevents = []                   # (devpath, properties)
        self.pfs = {}
        os.makedirs(stash)
        unit_links = os.path.join(sysd, "devices", "virtual", "iommu", "dmar0", "devices")
        for i, (addr, pf) in enumerate(vfs):
            bus = os.path.join(sysd, "bus", "pci", "devices", addr)
            dev = os.path.realpath(bus)
            props = open(os.path.join(dev, "uevent")).read().splitlines()
            self.uevents.append((dev[len(sysd):], props))
            group = os.path.basename(os.readlink(os.path.join(dev, "iommu_group")))
            paths = [dev, bus, os.path.join(sysd, "kernel", "iommu_groups", group),
                     os.path.join(unit_links, addr)]
            try:
                drv = os.path.basename(os.readlink(os.path.join(dev, "driver")))
                paths.append(os.path.join(sysd, "bus", "pci", "drivers", drv, addr))
            except FileNotFoundError:
                pass
            if os.path.isdir(os.path.join(dev, "net")):
                paths += [os.path.join(sysd, "class", "net", n) for n in os.listdir(os.path.join(dev, "net"))]
            pfdir = os.path.realpath(os.path.join(sysd, "bus", "pci", "devices", pf))
            if pfdir not in self.pfs:
                self.pfs[pfdir] = {os.readlink(os.path.join(pfdir, e)).split("/")[-1]: os.path.join(pfdir, e)
                                   for e in os.listdir(pfdir) if e.startswith("virtfn")}
            if addr in self.pfs[pfdir]:
                paths.append(self.pfs[pfdir][addr])
            self.moves += [(p, os.path.join(stash, f"{i}.{j}")) for j, p in enumerate(paths)
                           if os.path.lexists(p)]
        self.numvfs = {p: open(os.path.join(p, "sriov_numvfs")).read() for p in self.pfs}

    def remove(self):
        for src, dst in self.moves:
            os.rename(src, dst)
        for p in self.pfs:
            with open(os.path.join(p, "sriov_numvfs"), "w") as f:
                f.write("0\n")

    def restore(self):
        for p, v in self.numvfs.items():
            with open(os.path.join(p, "sriov_numvfs"), "w") as f:
                f.write(v)
        for src, dst in reversed(self.moves):
            os.rename(dst, src)


class MonitorReader(threading.Thread):
    """A Monitor subscriber that reads all along, noting when each added/removed event came."""

    def __init__(self):
        super().__init__(daemon=True)
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
        self.s.connect(BROKER)
        self.s.sendall(json.dumps({"method": "io.vfiod.Broker.Monitor", "parameters": {},
                                   "more": True}).encode() + b"\0")
        self.events = []                    # (ns, event, device)
        self.other = []
        self.closed = False
        self.cond = threading.Condition()
        buf = b""
        while b"\0" not in buf:             # the "ready" notification
            d = self.s.recv(1 << 16)
            if not d:
                die("vfiod closed the Monitor connection before it was ready")
            buf += d
        self.buf = buf[buf.index(b"\0") + 1:]

    def run(self):
        buf = self.buf
        while True:
            while b"\0" in buf:
                i = buf.index(b"\0")
                m = json.loads(buf[:i])
                buf = buf[i + 1:]
                p = m.get("parameters", {})
                with self.cond:
                    if p.get("event") in ("added", "removed"):
                        self.events.append((time.perf_counter_ns(), p["event"], p.get("device")))
                    else:
                        self.other.append(m)
                    self.cond.notify_all()
            d = self.s.recv(1 << 20)
            if not d:
                with self.cond:
                    self.closed = True
                    self.cond.notify_all()
                return
            buf += d

    def wait_for(self, event, n, timeout_s):
        deadline = time.monotonic() + timeout_s
        with self.cond:
            while sum(1 for e in self.events if e[1] == event) < n and not self.closed:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self.cond.wait(min(left, 1.0))
            got = [e for e in self.events if e[1] == event]
        return got


def storm_phase(vl, sockets, mon, action, stash, seq0, expect_total, expect_set, timeout_s):
    """Move the VFs' files (in or out), then send one uevent per VF as fast as the sockets take
    them; wait for the Monitor events, then call ListDevices until it shows the expected set."""
    if action == "add":
        stash.restore()
    else:
        stash.remove()
    msgs = [uevent_message(action, dp, seq0 + i, props) for i, (dp, props) in enumerate(stash.uevents)]
    event = "added" if action == "add" else "removed"
    t0 = time.perf_counter_ns()
    for m in msgs:
        for s in sockets:
            s.send(m)
    t_sent = time.perf_counter_ns()
    got = mon.wait_for(event, len(msgs), timeout_s)
    t_events = got[-1][0] if got else None
    # ListDevices until consistent (the daemon may still be catching up if the Monitor was dropped).
    polls, consistent = 0, False
    deadline = time.monotonic() + timeout_s
    while True:
        devs = vl.call("io.vfiod.Broker.ListDevices", {})["devices"]
        polls += 1
        seen = {d["address"] for d in devs}
        if len(devs) == expect_total and seen == expect_set:
            consistent = True
            break
        if time.monotonic() > deadline:
            break
        time.sleep(0.05)
    t_consistent = time.perf_counter_ns()
    distinct = len({e[2] for e in got})
    return dict(action=action, events=len(msgs), sent_ns=t_sent - t0,
                last_event_ns=(t_events - t0) if t_events else None,
                consistent_ns=(t_consistent - t0) if consistent else None, consistent=consistent,
                monitor_events=len(got), monitor_distinct=distinct, monitor_closed=mon.closed,
                polls=polls, listed=len(devs))


def run_storm(a, man, devs, log):
    """The uevent storm: every VF of the tree goes away and comes back at once (4,032 with the
    default tree), each as one uevent from a fake udevd, as umockdev delivers them."""
    udir = os.environ.get("UMOCKDEV_DIR")
    if not udir:
        die("the storm needs the umockdev testbed ($UMOCKDEV_DIR)")
    sysd = os.path.join(udir, "sys")
    vfs = [(d["address"], d["physfn"]) for d in devs if d.get("physfn")]
    all_set = {d["address"] for d in devs}
    base_set = all_set - {v for v, _ in vfs}
    # umockdev hands uevents to the daemon over an AF_UNIX datagram socket standing in for the
    # netlink one; such a socket makes the sender wait when the receiver's queue is full instead
    # of dropping (no ENOBUFS, so no overflow can be made here). The queue length is the network
    # namespace's max_dgram_qlen: tests/bench/run gives us a private one, raised so every event
    # of the storm can be queued at once, as in the kernel's 8 MiB netlink buffer vfiod asks for.
    qlen = None
    try:
        with open("/proc/sys/net/unix/max_dgram_qlen", "w") as f:
            f.write(f"{4 * len(vfs) + 64}\n")
    except OSError:
        pass
    with open("/proc/sys/net/unix/max_dgram_qlen") as f:
        qlen = int(f.read())

    stash = Stash(sysd, tempfile.mkdtemp(prefix="vfiod-storm-", dir=udir) + "/s", vfs)
    stash.remove()
    for e in glob.glob(os.path.join(udir, "event[0-9]*")):
        os.unlink(e)
    log.flush()
    log_start = log.tell()
    p, ready_ns = start_daemon(a.vfiod, a.notify, log)
    try:
        vl = Varlink(BROKER)
        n0 = len(vl.call("io.vfiod.Broker.ListDevices", {})["devices"])
        if n0 != len(base_set):
            die(f"storm: with the VFs taken away vfiod lists {n0} devices, expected {len(base_set)}")
        paths = glob.glob(os.path.join(udir, "event[0-9]*"))
        if not paths:
            die("storm: vfiod has no udev monitor socket in the testbed")
        sockets = []
        for path in paths:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            s.setsockopt(socket.SOL_SOCKET, SO_SNDBUFFORCE, 64 << 20)
            s.connect(path)
            sockets.append(s)
        mon = MonitorReader()
        mon.start()
        add = storm_phase(vl, sockets, mon, "add", stash, 1, len(all_set), all_set, a.storm_timeout)
        rem = storm_phase(vl, sockets, mon, "remove", stash, 1 + len(vfs), len(base_set), base_set,
                          a.storm_timeout)
        stash.restore()                     # leave the tree as it was
        vl.close()
        rss = read_mem(p.pid)
    finally:
        stop_daemon(p, log)
    log.flush()
    with open(log.name, errors="replace") as f:
        f.seek(log_start)
        text = f.read()
    rescans = text.count("Device events were lost")
    failures = text.count("Failed to update")
    return dict(vfs=len(vfs), phases=[add, rem], rescans=rescans, failures=failures, qlen=qlen,
                sockets=len(paths), ready_ns=ready_ns, rss=rss)


def read_mem(pid):
    status = open(f"/proc/{pid}/status").read()
    return {k: int(re.search(rf"^{k}:\s+(\d+) kB", status, re.M).group(1)) for k in ("VmRSS", "VmHWM")}


RSS_GOAL_KB = 16 * 1024


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--vfiod", required=True)
    ap.add_argument("--tree", required=True)
    ap.add_argument("--iterations", type=int, default=200)
    ap.add_argument("--starts", type=int, default=10)
    ap.add_argument("--tool-runs", type=int, default=3)
    ap.add_argument("--start-floor", required=True)
    ap.add_argument("--list-floor", required=True)
    ap.add_argument("--storm", action="store_true")
    ap.add_argument("--storm-timeout", type=float, default=300)
    ap.add_argument("--summary", help="also write the figures as JSON here (for --curve)")
    ap.add_argument("--header", default="")
    ap.add_argument("--launched", type=float, help="time.time() before umockdev-run started")
    a = ap.parse_args()
    testbed_s = time.time() - a.launched if a.launched else None
    for n in ("iterations", "starts"):
        if getattr(a, n) < 1:
            die(f"--{n.replace('_', '-')} must be >= 1")
    if a.tool_runs < 0:
        die("--tool-runs must be >= 0")

    man = json.load(open(os.path.join(a.tree, "manifest.json")))
    work = tempfile.mkdtemp(prefix="vfiod-bench-")
    log = open(os.path.join(work, "vfiod.log"), "w")
    a.notify = os.path.join(work, "notify")

    # Start to ready: each start scans the whole tree; the last daemon stays for the calls. The
    # floor runs right after, timed the same way (exec to exit), on the same testbed.
    ready = []
    for i in range(a.starts):
        p, ns = start_daemon(a.vfiod, a.notify, log)
        ready.append(ns)
        if i < a.starts - 1:
            stop_daemon(p, log)

    vl = Varlink(BROKER)
    # One untimed call of each, checked: the daemon must really see the whole tree.
    devs = vl.call("io.vfiod.Broker.ListDevices", {})["devices"]
    if len(devs) != man["devices"]:
        p.kill()
        die(f"ListDevices returned {len(devs)} devices, the tree has {man['devices']}")
    vfs_seen = sum(1 for d in devs if d.get("physfn"))
    if vfs_seen != man["vfs"]:
        p.kill()
        die(f"ListDevices shows {vfs_seen} VFs with a physfn, the tree has {man['vfs']}")
    dev = man["explainDevice"]
    ex = vl.call("io.vfiod.Broker.Explain", {"device": dev})
    if not ex.get("checks"):
        p.kill()
        die(f"Explain {dev} returned no checks")
    list_msg = Varlink.encode("io.vfiod.Broker.ListDevices", {})
    list_reply = vl.call_raw(list_msg)
    list_bytes = len(list_reply)

    t_list = time_calls(vl, list_msg, a.iterations)
    t_explain = time_calls(vl, Varlink.encode("io.vfiod.Broker.Explain", {"device": dev}), a.iterations)
    vl.close()

    mem = read_mem(p.pid)
    stop_daemon(p, log)

    t_sfloor, sfloor_seen = time_start_floor(a.start_floor, a.starts, man["devices"])
    t_lfloor, lfloor_bytes = time_list_floor(a.list_floor, list_reply, work, a.iterations)

    # The daemon's own account of its scan (the rest of start-up is policy, sockets, exec).
    log.flush()
    with open(os.path.join(work, "vfiod.log"), errors="replace") as f:
        found = [l.strip() for l in f if "Found " in l]
    storm = run_storm(a, man, devs, log) if a.storm else None

    # The same listing by the usual tools, on the same testbed.
    expect_dc = man["devices"]                 # every PCI function has driver_override
    expect_dpdk = man["pfs"] + man["vfs"]      # --status lists network-class functions only
    tools = [("driverctl list-devices", ["driverctl", "list-devices"], expect_dc),
             ("dpdk-devbind.py --status", ["dpdk-devbind.py", "--status"], expect_dpdk)]
    tool_rows = [(name, expect) + time_tool(argv, a.tool_runs) for name, argv, expect in tools] \
        if a.tool_runs else []

    # The table: what, n, median, p99, ratio, goal, met?
    rm, sfm = median(ready), median(t_sfloor)
    lm, lfm = median(t_list), median(t_lfloor)
    em = median(t_explain)
    ndev = man["devices"]
    per_k = lambda ns: f"{ns / 1e6 / ndev * 1000:.2f} ms"
    mib = lambda kb: f"{kb / 1024:.1f} MiB"
    yes = lambda ok: "yes" if ok else "NO"
    rows = [("daemon start to READY=1", len(ready), fmt_ns(rm), fmt_ns(p99(ready)),
             f"{rm / sfm:.2f}x floor", "<= 1.5x floor", yes(rm <= 1.5 * sfm)),
            ("  start floor (start-floor, exec to exit)", len(t_sfloor), fmt_ns(sfm), fmt_ns(p99(t_sfloor)),
             "1.00", "-", "-"),
            ("ListDevices round trip", len(t_list), fmt_ns(lm), fmt_ns(p99(t_list)),
             f"{lm / lfm:.2f}x floor", "<= 2x floor", yes(lm <= 2 * lfm)),
            ("  ListDevices floor (list-floor)", len(t_lfloor), fmt_ns(lfm), fmt_ns(p99(t_lfloor)),
             "1.00", "-", "-"),
            ("  ListDevices per 1,000 devices", "-", per_k(lm), "-", f"floor {per_k(lfm)}",
             "flat (see --curve)", "-"),
            (f"Explain {dev} round trip", len(t_explain), fmt_ns(em), fmt_ns(p99(t_explain)),
             f"{em / 1e6:.2f}x goal", "< 1 ms", yes(em < 1e6)),
            ("vfiod VmRSS after the calls", "-", mib(mem["VmRSS"]), "-",
             f"{mem['VmRSS'] / RSS_GOAL_KB:.2f}x goal", "< 16 MiB", yes(mem["VmRSS"] < RSS_GOAL_KB)),
            ("vfiod VmHWM (peak RSS)", "-", mib(mem["VmHWM"]), "-",
             f"{mem['VmHWM'] / RSS_GOAL_KB:.2f}x goal", "< 16 MiB", yes(mem["VmHWM"] < RSS_GOAL_KB))]
    notes = []
    if lfloor_bytes != list_bytes:
        notes.append(f"the floor's reply is {lfloor_bytes} bytes, vfiod's {list_bytes}")
    for name, expect, samples, lines, err in tool_rows:
        if err:
            rows.append((name, len(samples), "-", "-", "-", "-", "FAILED"))
            notes.append(f"{name}: {err}; no number")
        elif lines != expect:
            rows.append((name, len(samples), fmt_ns(median(samples)), fmt_ns(p99(samples)), "not comparable",
                         "-", "-"))
            notes.append(f"{name} printed {lines} of the {expect} devices it should list: it does not "
                         f"see the umockdev tree, so no ratio")
        else:
            rows.append((name, len(samples), fmt_ns(median(samples)), fmt_ns(p99(samples)),
                         f"{median(samples) / lm:.0f}x ListDevices", "-", "-"))
    if storm:
        for ph in storm["phases"]:
            verb = "appear" if ph["action"] == "add" else "go"
            t = ph["consistent_ns"]
            rows.append((f"storm: {ph['events']} VFs {verb}, until ListDevices shows it", 1, fmt_ns(t), "-",
                         f"{t / rm:.2f}x a start" if t else "-", "<= 1x a start (a rescan)",
                         yes(t is not None and t <= rm)))
            rate = ph["events"] / (ph["last_event_ns"] / 1e9) if ph["last_event_ns"] else None
            rows.append(("  events handled per second", "-", f"{rate:.0f}/s" if rate else "-", "-", "-", "-", "-"))
            lost = ph["events"] - ph["monitor_distinct"] if not ph["monitor_closed"] else None
            rows.append(("  events lost (Monitor saw / ListDevices)", "-",
                         f"{lost if lost is not None else '?'} / {'0' if ph['consistent'] else 'some'}", "-", "-",
                         "0", yes(lost == 0 and ph["consistent"])))
        rows.append(("storm: full rescans (log)", "-", str(storm["rescans"]), "-", "-",
                     "0 (1 per overflow)", yes(storm["rescans"] == 0)))

    if a.header:
        print(a.header + (f"; umockdev testbed loaded in {testbed_s:.1f} s" if testbed_s else ""))
    print(f"tree: {man['pfs']} PFs x {man['vfs'] // man['pfs'] if man['pfs'] else 0} VFs = "
          f"{man['pfs'] + man['vfs']} functions + {man['rootPorts']} root ports = {man['devices']} PCI "
          f"devices, {man['groups']} IOMMU groups ({man['sharedGroups']} shared by two PFs), one Intel "
          f"unit; {man['vfio']} VFs on vfio-pci, {man['unbound']} unbound")
    print(f"vfiod sees {len(devs)} devices ({vfs_seen} VFs); ListDevices reply {list_bytes / 1e6:.2f} MB, "
          f"one connection, strict default policy, caller root; host facts from "
          + ("the recorded /proc (VFIOD_TEST_PROC: never notifies, so read again for every call)"
             if os.environ.get("VFIOD_TEST_PROC") else "the real /proc (watched, as on a host)"))
    hdr = ("", "n", "median", "p99", "ratio", "goal", "met?")
    w = [max(len(str(r[i])) for r in rows + [hdr]) for i in range(len(hdr))]
    for r in [hdr] + rows:
        print("  ".join(str(c).ljust(w[i]) if i in (0, 4, 5) else str(c).rjust(w[i])
                        for i, c in enumerate(r)).rstrip())
    print("p99 is the nearest rank (the maximum when n < 100). All processes run under umockdev's "
          "LD_PRELOAD, which redirects every /sys access.")
    print(f"Start floor: tests/bench/start-floor, plain libc reads of the files the topology rests on "
          f"(saw {sfloor_seen['functions']} functions, {sfloor_seen['groups']} groups), timed from exec to "
          f"exit as vfiod is from exec to READY=1. ListDevices floor: tests/bench/list-floor, sd-varlink "
          f"answering with vfiod's reply ({lfloor_bytes / 1e6:.2f} MB) held in memory, formatted by "
          f"sd-json for each call, over the same kind of AF_UNIX socket.")
    if storm:
        add, rem = storm["phases"]
        print(f"Storm: vfiod started without the {storm['vfs']} VFs (their sysfs files moved aside; "
              f"READY=1 in {fmt_ns(storm['ready_ns'])}), a Monitor subscriber reading all along; the files "
              f"put back, then one 'add' uevent per VF sent as fast as the socket takes them (sent in "
              f"{fmt_ns(add['sent_ns'])}; last 'added' event after {fmt_ns(add['last_event_ns'])}); then "
              f"the same with 'remove' (sent in {fmt_ns(rem['sent_ns'])}, last 'removed' after "
              f"{fmt_ns(rem['last_event_ns'])}). The time ends when a ListDevices reply shows exactly the "
              f"expected devices. umockdev delivers uevents over an AF_UNIX datagram socket (queue "
              f"{storm['qlen']} datagrams in a private network namespace), which blocks the sender instead "
              f"of dropping: no monitor overflow can be made here, so the one-rescan-per-overflow path is "
              f"not exercised. 'Failed to update' warnings: {storm['failures']}; VmHWM after the storm "
              f"{mib(storm['rss']['VmHWM'])}.")
        for ph in storm["phases"]:
            if ph["monitor_closed"]:
                notes.append(f"storm {ph['action']}: vfiod closed the Monitor subscriber; counted by "
                             f"ListDevices only")
            if not ph["consistent"]:
                notes.append(f"storm {ph['action']}: ListDevices still showed {ph['listed']} devices after "
                             f"{a.storm_timeout:.0f} s")
    for n in notes:
        print(f"NOTE: {n}")
    if found:
        print(f"vfiod says (last start): {found[-1].lstrip('<0123456789>')}")
    if a.summary:
        with open(a.summary, "w") as f:
            json.dump(dict(devices=ndev, functions=man["pfs"] + man["vfs"], starts=len(ready),
                           iterations=a.iterations, start_ns=rm, start_floor_ns=sfm, list_ns=lm,
                           list_floor_ns=lfm, list_bytes=list_bytes, explain_ns=em, rss_kb=mem["VmRSS"],
                           hwm_kb=mem["VmHWM"]), f)
    shutil.rmtree(work, ignore_errors=True)
    if storm and any(not ph["consistent"] for ph in storm["phases"]):
        sys.exit(1)


if __name__ == "__main__":
    main()
