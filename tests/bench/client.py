#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""The measuring half of tests/bench/run; runs inside the umockdev testbed and a private /run.

    client.py --vfiod PATH --tree TREE [--iterations K] [--starts S] [--tool-runs T]

Starts vfiod S times (NOTIFY_SOCKET: time from exec to READY=1; each start scans the tree), keeps
the last one, times K ListDevices and K Explain calls on one varlink connection, reads its RSS,
stops it with SIGTERM, then times `driverctl list-devices` and `dpdk-devbind.py --status` T times
on the same testbed, and prints one table. Prints numbers; fails only if something does not work.
"""
import argparse
import json
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

BROKER = "/run/vfiod/io.vfiod.Broker"
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
    if ns >= 1e9:
        return f"{ns / 1e9:.2f} s"
    if ns >= 1e6:
        return f"{ns / 1e6:.1f} ms"
    return f"{ns / 1e6:.3f} ms"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--vfiod", required=True)
    ap.add_argument("--tree", required=True)
    ap.add_argument("--iterations", type=int, default=200)
    ap.add_argument("--starts", type=int, default=10)
    ap.add_argument("--tool-runs", type=int, default=3)
    ap.add_argument("--header", default="")
    ap.add_argument("--launched", type=float, help="time.time() before umockdev-run started")
    a = ap.parse_args()
    testbed_s = time.time() - a.launched if a.launched else None
    for n in ("iterations", "starts", "tool_runs"):
        if getattr(a, n) < 1:
            die(f"--{n.replace('_', '-')} must be >= 1")

    man = json.load(open(os.path.join(a.tree, "manifest.json")))
    work = tempfile.mkdtemp(prefix="vfiod-bench-")
    log = open(os.path.join(work, "vfiod.log"), "w")
    notify = os.path.join(work, "notify")

    # Start to ready: each start scans the whole tree; the last daemon stays for the calls.
    ready = []
    for i in range(a.starts):
        p, ns = start_daemon(a.vfiod, notify, log)
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
    list_bytes = len(vl.call_raw(list_msg))

    t_list = time_calls(vl, list_msg, a.iterations)
    t_explain = time_calls(vl, Varlink.encode("io.vfiod.Broker.Explain", {"device": dev}), a.iterations)
    vl.close()

    status = open(f"/proc/{p.pid}/status").read()
    mem = {k: int(re.search(rf"^{k}:\s+(\d+) kB", status, re.M).group(1)) for k in ("VmRSS", "VmHWM")}
    stop_daemon(p, log)

    # The same listing by the usual tools, on the same testbed.
    expect_dc = man["devices"]                 # every PCI function has driver_override
    expect_dpdk = man["pfs"] + man["vfs"]      # --status lists network-class functions only
    tools = [("driverctl list-devices", ["driverctl", "list-devices"], expect_dc),
             ("dpdk-devbind.py --status", ["dpdk-devbind.py", "--status"], expect_dpdk)]
    tool_rows = [(name, expect) + time_tool(argv, a.tool_runs) for name, argv, expect in tools]

    # The table.
    lm = median(t_list)
    mib = lambda kb: f"{kb / 1024:.1f} MiB"
    rows = [("daemon start to READY=1", len(ready), fmt_ns(median(ready)), fmt_ns(p99(ready)),
             "< 1 s", "yes" if median(ready) < 1e9 else "NO"),
            ("ListDevices round trip", a.iterations, fmt_ns(lm), fmt_ns(p99(t_list)),
             "< 50 ms", "yes" if lm < 50e6 else "NO"),
            (f"Explain {dev} round trip", a.iterations, fmt_ns(median(t_explain)), fmt_ns(p99(t_explain)),
             "< 1 ms", "yes" if median(t_explain) < 1e6 else "NO"),
            ("vfiod VmRSS after the calls", "-", mib(mem["VmRSS"]), "-",
             "< 32 MiB", "yes" if mem["VmRSS"] < 32 * 1024 else "NO"),
            ("vfiod VmHWM (peak RSS)", "-", mib(mem["VmHWM"]), "-",
             "< 32 MiB", "yes" if mem["VmHWM"] < 32 * 1024 else "NO")]
    notes = []
    for name, expect, samples, lines, err in tool_rows:
        if err:
            rows.append((name, len(samples), "-", "-", "-", "FAILED"))
            notes.append(f"{name}: {err}; no number")
        elif lines != expect:
            rows.append((name, len(samples), fmt_ns(median(samples)), fmt_ns(p99(samples)), "-",
                         "not comparable"))
            notes.append(f"{name} printed {lines} of the {expect} devices it should list: it does not "
                         f"see the umockdev tree, so no ratio")
        else:
            rows.append((name, len(samples), fmt_ns(median(samples)), fmt_ns(p99(samples)), "-",
                         f"{median(samples) / lm:.0f}x ListDevices ({lines} devices listed)"))

    if a.header:
        print(a.header + (f"; umockdev testbed loaded in {testbed_s:.1f} s" if testbed_s else ""))
    print(f"tree: {man['pfs']} PFs x {man['vfs'] // man['pfs'] if man['pfs'] else 0} VFs = "
          f"{man['pfs'] + man['vfs']} functions + {man['rootPorts']} root ports = {man['devices']} PCI "
          f"devices, {man['groups']} IOMMU groups ({man['sharedGroups']} shared by two PFs), one Intel "
          f"unit; {man['vfio']} VFs on vfio-pci, {man['unbound']} unbound")
    print(f"vfiod sees {len(devs)} devices ({vfs_seen} VFs); ListDevices reply {list_bytes / 1e6:.2f} MB, "
          f"one connection, strict default policy, caller root")
    hdr = ("", "n", "median", "p99", "goal", "met / ratio (theirs / ours)")
    w = [max(len(str(r[i])) for r in rows + [hdr]) for i in range(len(hdr))]
    for r in [hdr] + rows:
        print("  ".join(str(c).ljust(w[i]) if i in (0, 5) else str(c).rjust(w[i]) for i, c in enumerate(r)).rstrip())
    print("p99 is the nearest rank (the maximum when n < 100). All processes run under umockdev's "
          "LD_PRELOAD, which redirects every /sys access.")
    for n in notes:
        print(f"NOTE: {n}")
    # The daemon's own account of its scan (the rest of start-up is policy, sockets, exec).
    log.flush()
    with open(os.path.join(work, "vfiod.log"), errors="replace") as f:
        found = [l.strip() for l in f if "Found " in l]
    if found:
        print(f"vfiod says (last start): {found[-1].lstrip('<0123456789>')}")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
