#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""The measuring half of tests/bench/vm; runs in the guest as root, vfiod.socket started.

    acquire-client.py --floor-tool PATH [--device ADDR] [--acquire N] [--bind N]
                      [--driverctl PATH] [--dpdk-devbind PATH] [--header TEXT]

1. Acquire: one untimed Acquire + Release first (the policy says restoreOnRelease false, so the
   device stays on vfio-pci), then N Acquire calls, each timed from send to the whole reply with
   its fds; the fds are closed and the lease is Released (untimed) before the next. One varlink
   connection for all calls. Against `vfiod-kernel-test bench N GROUP ADDR` (root doing the same
   container, group and device opens and ioctls directly).
2. Bind + restore (device -> vfio-pci -> its original driver), N rounds, one round of each method
   per round (order rotating), after one untimed warm-up round: vfiod Bind + Unbind (round trips
   on one connection), the raw sysfs writes done in this process, driverctl set-override +
   unset-override, dpdk-devbind.py -b vfio-pci + -b ORIGINAL. The state is verified (untimed)
   after each half.
3. One table. Prints numbers; asserts no timings; exits 1 only if something did not work.
"""
import argparse
import json
import os
import socket
import stat
import subprocess
import sys
import time

BROKER = "/run/vfiod/io.vfiod.Broker"
PCI = "/sys/bus/pci"


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


def fmt_ns(ns):
    if ns is None:
        return "-"
    if ns >= 1e9:
        return f"{ns / 1e9:.2f} s"
    if ns >= 1e6:
        return f"{ns / 1e6:.2f} ms"
    return f"{ns / 1e3:.0f} us"


class Varlink:
    """One connection; calls one at a time; a reply is one JSON object ended by NUL."""

    def __init__(self, path):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.connect(path)

    @staticmethod
    def encode(method, params):
        return json.dumps({"method": method, "parameters": params}).encode() + b"\0"

    def call_raw(self, msg):
        """Send one call; return (reply bytes without the NUL, fds that came with it).
        The fds arrive with the reply's first bytes (SCM_RIGHTS); keep collecting until the NUL."""
        self.s.sendall(msg)
        buf, fds = bytearray(), []
        while True:
            data, got, flags, _ = socket.recv_fds(self.s, 1 << 16, 32, socket.MSG_CMSG_CLOEXEC)
            fds += got
            if flags & socket.MSG_CTRUNC:
                for fd in fds:
                    os.close(fd)
                die("the fds of a reply were truncated (MSG_CTRUNC)")
            if not data:
                die("vfiod closed the connection")
            buf += data
            if buf.endswith(b"\0"):      # one call in flight: the NUL ends the only reply
                return bytes(buf[:-1]), fds
            if b"\0" in data:
                die("more than one reply arrived for one call")

    def call(self, method, params):
        raw, fds = self.call_raw(self.encode(method, params))
        for fd in fds:
            os.close(fd)
        reply = json.loads(raw)
        if "error" in reply:
            raise RuntimeError(f"{method} failed: {reply['error']} {json.dumps(reply.get('parameters', {}))}")
        return reply.get("parameters", {})

    def close(self):
        self.s.close()


# ---- sysfs

def dev_path(addr, attr=""):
    return f"{PCI}/devices/{addr}" + (f"/{attr}" if attr else "")


def driver_of(addr):
    try:
        return os.path.basename(os.readlink(dev_path(addr, "driver")))
    except FileNotFoundError:
        return ""


def override_of(addr):
    with open(dev_path(addr, "driver_override")) as f:
        v = f.read().strip()
    return "" if v == "(null)" else v


def group_of(addr):
    return int(os.path.basename(os.readlink(dev_path(addr, "iommu_group"))))


def write_attr(path, value):
    """One write(2) of the whole value, as the kernel wants it."""
    fd = os.open(path, os.O_WRONLY)
    try:
        os.write(fd, value.encode())
    finally:
        os.close(fd)


def wait_node(group, timeout_s=10.0):
    node = f"/dev/vfio/{group}"
    deadline = time.monotonic() + timeout_s
    while not os.path.exists(node):
        if time.monotonic() > deadline:
            raise RuntimeError(f"{node} did not appear within {timeout_s:.0f} s")
        time.sleep(0.0002)


def state(addr):
    return driver_of(addr), override_of(addr)


def recover(addr, driver):
    """Untimed: put the device back on `driver` with no override, whatever state it is in."""
    if override_of(addr):
        write_attr(dev_path(addr, "driver_override"), "\n")
    cur = driver_of(addr)
    if cur and cur != driver:
        write_attr(dev_path(addr, "driver/unbind"), addr)
    if driver_of(addr) != driver:
        write_attr(f"{PCI}/drivers/{driver}/bind", addr)


# ---- 1. Acquire

def check_fds(reply, fds, group):
    """The warm-up reply: a container, the group and the device, each the fd it should be."""
    want = {reply["containers"][0]["fd"]: "/dev/vfio/vfio",
            reply["groups"][0]["fd"]: f"/dev/vfio/{group}",
            reply["devices"][0]["fd"]: "anon_inode:[vfio-device]"}
    if len(fds) != 3 or sorted(want) != [0, 1, 2]:
        die(f"Acquire passed {len(fds)} fds, indices {sorted(want)}; expected 3 (container, group, device)")
    for idx, target in want.items():
        got = os.readlink(f"/proc/self/fd/{fds[idx]}")
        if got != target:
            die(f"fd {idx} of the Acquire reply is {got}, expected {target}")


def bench_acquire(addr, group, n, floor_tool):
    vl = Varlink(BROKER)
    msg = Varlink.encode("io.vfiod.Broker.Acquire", {"devices": [addr]})

    def acquire_release(first=False):
        t0 = time.perf_counter_ns()
        raw, fds = vl.call_raw(msg)
        dt = time.perf_counter_ns() - t0
        reply = json.loads(raw)
        if "error" in reply:
            for fd in fds:
                os.close(fd)
            die(f"Acquire {addr} failed: {reply['error']} {json.dumps(reply.get('parameters', {}))}")
        params = reply["parameters"]
        if first:
            check_fds(params, fds, group)
        elif len(fds) != 3:
            die(f"Acquire passed {len(fds)} fds, expected 3")
        for fd in fds:
            os.close(fd)
        vl.call("io.vfiod.Broker.Release", {"leaseId": params["leaseId"]})
        return dt

    # Warm-up: this one binds the group (restoreOnRelease false: it stays on vfio-pci).
    acquire_release(first=True)
    if driver_of(addr) != "vfio-pci":
        die(f"after the first Acquire + Release {addr} is on '{driver_of(addr)}', not vfio-pci: "
            f"is restoreOnRelease false in the policy?")

    # The floor, right before: the same opens and ioctls by root, no daemon.
    r = subprocess.run([floor_tool, "bench", str(n), str(group), addr], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True)
    if r.returncode != 0:
        die(f"{floor_tool} bench failed ({r.returncode}): {r.stderr.strip()}")
    floor = json.loads(r.stdout.strip().splitlines()[-1])

    samples = [acquire_release() for _ in range(n)]
    leases = vl.call("io.vfiod.Broker.ListLeases", {})["leases"]
    vl.close()
    if leases:
        die(f"{len(leases)} lease(s) left after the Acquire loop")
    if driver_of(addr) != "vfio-pci":
        die(f"{addr} left vfio-pci during the Acquire loop (now '{driver_of(addr)}')")
    return samples, floor


# ---- 2. bind + restore

class Method:
    def __init__(self, name, label, binder, restorer, missing=None):
        self.name, self.label, self.bind, self.restore = name, label, binder, restorer
        self.missing = missing            # why it cannot run (not installed), or None
        self.bind_ns, self.restore_ns = [], []
        self.error = None
        self.late_nodes = 0               # /dev/vfio/N not there yet when it returned


def run_tool(argv):
    r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"`{' '.join(argv)}` exited {r.returncode}: {r.stderr.strip()[:300]}")


def make_methods(addr, group, orig, driverctl, devbind):
    vl = Varlink(BROKER)

    def vfiod_bind():
        vl.call("io.vfiod.Broker.Bind", {"devices": [addr]})

    def vfiod_restore():
        vl.call("io.vfiod.Broker.Unbind", {"devices": [addr]})

    def raw_bind():
        write_attr(dev_path(addr, "driver_override"), "vfio-pci")
        write_attr(dev_path(addr, "driver/unbind"), addr)
        write_attr(f"{PCI}/drivers_probe", addr)
        wait_node(group)

    def raw_restore():
        write_attr(dev_path(addr, "driver_override"), "\n")
        write_attr(dev_path(addr, "driver/unbind"), addr)
        write_attr(f"{PCI}/drivers/{orig}/bind", addr)

    ms = [Method("vfiod", "vfiod Bind + Unbind (varlink)", vfiod_bind, vfiod_restore),
          Method("raw", "raw sysfs writes", raw_bind, raw_restore),
          Method("driverctl", "driverctl set-override + unset-override",
                 lambda: run_tool([driverctl, "set-override", addr, "vfio-pci"]),
                 lambda: run_tool([driverctl, "unset-override", addr]),
                 None if driverctl else "not installed"),
          Method("dpdk", f"dpdk-devbind.py -b vfio-pci + -b {orig}",
                 lambda: run_tool([devbind, "-b", "vfio-pci", addr]),
                 lambda: run_tool([devbind, "-b", orig, addr]),
                 None if devbind else "not installed")]
    return ms, vl


def one_round(m, addr, group, orig, record):
    """Bind and restore once with method m; verify each half untimed. False if m failed."""
    try:
        t0 = time.perf_counter_ns()
        m.bind()
        t1 = time.perf_counter_ns()
        if not os.path.exists(f"/dev/vfio/{group}"):
            m.late_nodes += record
            wait_node(group)
        if driver_of(addr) != "vfio-pci":
            raise RuntimeError(f"after the bind {addr} is on '{driver_of(addr) or 'no driver'}', not vfio-pci")
        t2 = time.perf_counter_ns()
        m.restore()
        t3 = time.perf_counter_ns()
        drv, ovr = state(addr)
        if (drv, ovr) != (orig, ""):
            raise RuntimeError(f"after the restore {addr} is on '{drv or 'no driver'}' with driver_override "
                               f"'{ovr or '(null)'}', not on {orig} with none")
        if not os.listdir(dev_path(addr, "net")):
            raise RuntimeError(f"after the restore {addr} has no network interface")
    except (RuntimeError, OSError) as e:
        m.error = str(e)
        try:
            recover(addr, orig)
        except OSError as e2:
            die(f"{m.name} failed ({m.error}) and {addr} could not be put back on {orig}: {e2}")
        if state(addr) != (orig, ""):
            die(f"{m.name} failed ({m.error}) and {addr} is not back on {orig}")
        return False
    if record:
        m.bind_ns.append(t1 - t0)
        m.restore_ns.append(t3 - t2)
    return True


def bench_bind(addr, group, orig, n, driverctl, devbind):
    ms, vl = make_methods(addr, group, orig, driverctl, devbind)
    live = [m for m in ms if not m.missing]
    for rnd in range(n + 1):                 # round 0 is the untimed warm-up
        k = rnd % len(live)
        for m in live[k:] + live[:k]:
            if m.error is None:
                one_round(m, addr, group, orig, record=rnd > 0)
    leases = vl.call("io.vfiod.Broker.ListLeases", {})["leases"]
    vl.close()
    if leases:
        die(f"{len(leases)} lease(s) left after the bind rounds")
    return ms


# ---- the table

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="0000:00:03.0")
    ap.add_argument("--acquire", type=int, default=100)
    ap.add_argument("--bind", type=int, default=20)
    ap.add_argument("--floor-tool", required=True)
    ap.add_argument("--driverctl", default="")
    ap.add_argument("--dpdk-devbind", default="")
    ap.add_argument("--header", default="")
    a = ap.parse_args()
    if a.acquire < 1 or a.bind < 1:
        die("--acquire and --bind must be >= 1")
    addr = a.device
    if not os.path.isdir(dev_path(addr)):
        die(f"no PCI device {addr}")
    group = group_of(addr)
    orig = driver_of(addr)
    if not orig or orig == "vfio-pci":
        die(f"{addr} should start on its host driver, it is on '{orig or 'no driver'}'")
    if override_of(addr):
        die(f"{addr} has driver_override '{override_of(addr)}' at the start")
    members = os.listdir(f"/sys/kernel/iommu_groups/{group}/devices")
    if members != [addr]:
        die(f"group {group} of {addr} is not a single-device group: {members}")

    try:
        acq, floor = bench_acquire(addr, group, a.acquire, a.floor_tool)
        recover(addr, orig)                 # the Acquire part left it on vfio-pci
        if state(addr) != (orig, ""):
            die(f"{addr} is not back on {orig} after the Acquire part")
        methods = bench_bind(addr, group, orig, a.bind, a.driverctl, a.dpdk_devbind)
    except (RuntimeError, OSError) as e:
        die(str(e))
    if state(addr) != (orig, ""):
        die(f"{addr} is not back on {orig} at the end")

    # Rows: what, n, median, p99, ratio, goal, met?
    failed = False
    floor_open = floor["openMedianUsec"] * 1000
    floor_all = floor["medianUsec"] * 1000
    am = median(acq)
    rows = [(f"Acquire {addr} round trip (vfiod)", len(acq), fmt_ns(am), fmt_ns(p99(acq)),
             f"{am / floor_open:.2f}x floor", "<= 1.10x floor", "yes" if am <= 1.10 * floor_open else "NO"),
            ("  floor: root opens it directly", floor["iterations"], fmt_ns(floor_open), "-", "1.00",
             "-", "-"),
            ("  floor incl. closing the fds", floor["iterations"], fmt_ns(floor_all), "-", "-", "-", "-")]
    by = {m.name: m for m in methods}
    raw = by["raw"]
    raw_total = [b + r for b, r in zip(raw.bind_ns, raw.restore_ns)] if raw.error is None else []
    rm = median(raw_total) if raw_total else None
    for m in methods:
        what = f"bind+restore: {m.label}"
        if m.missing:
            rows.append((what, "-", m.missing, "-", "-", "-", "-"))
            continue
        if m.error:
            failed = True
            rows.append((what, len(m.bind_ns), "FAILED", "-", "-", "-", "-"))
            continue
        total = [b + r for b, r in zip(m.bind_ns, m.restore_ns)]
        mm = median(total)
        ratio = f"{mm / rm:.2f}x raw" if rm else "-"
        if m.name == "vfiod":
            goal, met = "<= 1.05x raw", ("yes" if rm and mm <= 1.05 * rm else "NO" if rm else "-")
        else:
            goal, met = "-", "-"
        rows.append((what, len(total), fmt_ns(mm), fmt_ns(p99(total)), "1.00" if m is raw else ratio, goal, met))

    if a.header:
        print(a.header)
    print(f"device {addr} (IOMMU group {group}, alone), host driver {orig}; caller root; policy: a rule for "
          f"{addr} with restoreOnRelease false")
    hdr = ("what", "n", "median", "p99", "ratio", "goal", "met?")
    w = [max(len(str(r[i])) for r in rows + [hdr]) for i in range(len(hdr))]
    for r in [hdr] + rows:
        print("  ".join(str(c).ljust(w[i]) if i in (0, 4, 5) else str(c).rjust(w[i])
                        for i, c in enumerate(r)).rstrip())
    splits = [f"{m.name} {fmt_ns(median(m.bind_ns))} + {fmt_ns(median(m.restore_ns))}"
              for m in methods if not m.missing and not m.error]
    print("bind + restore medians: " + "; ".join(splits))
    if by["vfiod"].error is None and by["vfiod"].bind_ns and raw.error is None and raw.bind_ns:
        v = by["vfiod"]
        print(f"vfiod against raw: bind {median(v.bind_ns) / median(raw.bind_ns):.2f}x, restore "
              f"{median(v.restore_ns) / median(raw.restore_ns):.2f}x (the goal, <= 1.05x, is for the sum)")
    print(f"Acquire: one varlink connection for all calls; timed from send to the whole reply with its 3 fds "
          f"(container, group, device); the fds are closed and the lease Released (untimed) before the next; "
          f"one untimed Acquire + Release first binds the group. Floor: vfiod-kernel-test bench "
          f"{floor['iterations']} {group} {addr}: container + group + TYPE1v2 + GET_INFO + device fd, "
          f"openMedianUsec (no close: the timed Acquire excludes teardown too); its medianUsec includes "
          f"closing them (the container teardown); min {floor['minUsec']} us, max {floor['maxUsec']} us "
          f"(open + close), the tool gives no p99.")
    print(f"Bind + restore: {a.bind} rounds after one "
          f"untimed warm-up round, each round every method once (order rotating); each sample = bind + restore "
          f"back to {orig}, state verified (untimed) between them: vfio-pci with /dev/vfio/{group}, then {orig} "
          f"with no driver_override and a network interface. vfiod: round trips on one connection; raw: "
          f"writes from this process (driver_override, unbind, drivers_probe, wait for /dev/vfio/{group}; "
          f"driver_override clear, unbind, {orig}/bind); driverctl and dpdk-devbind.py: their processes "
          f"started from python, fork + exec included.")
    print("p99 is the nearest rank (the maximum when n < 100). Under TCG, with other VMs on the host, "
          "the numbers compare methods in one run; they are not a real host's.")
    for m in methods:
        if m.error:
            print(f"NOTE: {m.label}: {m.error}; no number")
        if m.late_nodes:
            print(f"NOTE: {m.label}: /dev/vfio/{group} was not there yet when it returned, "
                  f"{m.late_nodes} of {len(m.bind_ns)} times (waited for untimed)")
    if failed:
        sys.exit(1)


if __name__ == "__main__":
    main()
