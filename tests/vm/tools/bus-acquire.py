#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""A D-Bus client of io.vfiod.Broker1, as a program in another language would be one (dbus-python).

    bus-acquire.py DEVICE... [--min-aperture-bits N] -- CMD [ARG...]
        Acquire over the system bus, then exec CMD in this same process with the fds at 3, 4, ...
        in the sd_listen_fds_with_names() convention (names as vfiodctl gives them) and
        VFIOD_LEASE_ID set. The lease is this process's: it ends when CMD exits.
    bus-acquire.py --hangup DEVICE
        Send Acquire and close the connection without waiting for the reply; then stay alive
        for 3 s (the lease's process) and exit.

Errors: the D-Bus error name on the first line of stderr, the message after it; exit 1.
"""
import fcntl
import os
import sys
import time

import dbus

NAME = "io.vfiod.Broker1"
PATH = "/io/vfiod/Broker1"


def broker(bus):
    return dbus.Interface(bus.get_object(NAME, PATH), NAME)


def hangup(device):
    bus = dbus.SystemBus()
    broker(bus).Acquire([device], dbus.UInt32(0), dbus.Array([], signature="(tt)"),
                        reply_handler=lambda *a: None, error_handler=lambda *a: None)
    bus.flush()
    bus.close()
    time.sleep(3)
    return 0


def main(argv):
    if argv[:1] == ["--hangup"]:
        return hangup(argv[1])
    if "--" not in argv:
        print(__doc__, file=sys.stderr)
        return 2
    split = argv.index("--")
    opts, cmd = argv[:split], argv[split + 1:]
    bits = 0
    if "--min-aperture-bits" in opts:
        i = opts.index("--min-aperture-bits")
        bits = int(opts[i + 1])
        del opts[i:i + 2]
    try:
        lease, containers, groups, devices = broker(dbus.SystemBus()).Acquire(
            opts, dbus.UInt32(bits), dbus.Array([], signature="(tt)"))
    except dbus.exceptions.DBusException as e:
        print(e.get_dbus_name(), file=sys.stderr)
        print(e.get_dbus_message(), file=sys.stderr)
        return 1

    fds, names = [], []
    for i, (fd, group_ids, ranges, page_sizes, dma_avail, bits) in enumerate(containers):
        fds.append(fd.take())
        # As vfiodctl names them: several containers are told apart by their lowest group.
        names.append("vfio-container" if len(containers) == 1 else "vfio-container.%d" % min(group_ids))
        print("container: groups=%s ranges=%d pageSizes=0x%x dmaAvail=%d apertureBits=%d"
              % (list(map(int, group_ids)), len(ranges), page_sizes, dma_avail, bits), file=sys.stderr)
    for group, fd in groups:
        fds.append(fd.take())
        names.append("vfio-group.%d" % group)
    for device, fd in devices:
        fds.append(fd.take())
        # ':' separates names in $LISTEN_FDNAMES: 0000:01:00.0 becomes 0000-01-00.0, as in vfiodctl.
        names.append("vfio-device.%s" % str(device).replace(":", "-"))

    # Place them at 3, 4, ...: first out of the way, then down (no dup2 overwrites one not placed).
    high = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 3 + len(fds)) for fd in fds]
    for fd in fds:
        os.close(fd)
    for i, fd in enumerate(high):
        os.dup2(fd, 3 + i, inheritable=True)
        os.close(fd)
    os.environ.update(LISTEN_FDS=str(len(fds)), LISTEN_FDNAMES=":".join(names),
                      LISTEN_PID=str(os.getpid()), VFIOD_LEASE_ID=str(lease))
    os.execvp(cmd[0], cmd)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
