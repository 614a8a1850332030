#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Write a fake sysfs fixture of N SR-IOV physical functions with M virtual functions each.

    gen-tree.py OUT-DIR [--pfs N] [--vfs M] [--fixture RECORDED-FIXTURE-DIR]

OUT-DIR gets the layout of tests/sysfs/fixtures/q35-aw48 (devices.umockdev, sys/..., proc/...),
so tests/sysfs/run-fixture runs anything against it, plus manifest.json (counts and the addresses
the benchmark uses).

The topology: Intel E810 PFs (8086:1592, ice) each on the bus behind its own PCIe root port
(Ice Lake root ports, 8086:347a-d, pcieport, ACS: a group each); with ARI their VFs (8086:1889,
iavf) sit on the same bus at routing ID PF + offset + k. Each PF and each VF is an IOMMU group of
its own, except a few dual-port cards whose two PFs (function .0 and .1, no ACS between them)
share one group. A few VFs are on vfio-pci (with driver_override), a few have no driver. One
Intel unit, dmar0 (copied with its cap/ecap from the recorded fixture), translates for all.
"""
import argparse
import json
import os
import shutil
import sys

INTEL = "Intel Corporation"
PF_ID, PF_SUBSYS, PF_NAME = 0x1592, 0x0002, "Ethernet Controller E810-C for QSFP"
VF_ID, VF_SUBSYS, VF_NAME = 0x1889, 0x0000, "Ethernet Adaptive Virtual Function"
RP_IDS = (0x347a, 0x347b, 0x347c, 0x347d)
RP_NAMES = ("Ice Lake PCI Express Root Port A", "Ice Lake PCI Express Root Port B",
            "Ice Lake PCI Express Root Port C", "Ice Lake PCI Express Root Port D")
VF_FIRST_OFFSET = 8       # first VF routing ID past the (at most 8) PFs of a card
PAIR_CARDS_MAX = 4        # dual-port cards whose PFs share a group
MSI_REGION = "0x00000000fee00000 0x00000000feefffff msi\n"


def esc(s):
    return s.replace("\\", "\\\\").replace("\n", "\\n")


def config_space(vendor, device, cls, rev, header, bus=None):
    """The first 64 bytes of config space (what an unprivileged reader of sysfs config sees)."""
    c = bytearray(64)
    c[0:2] = vendor.to_bytes(2, "little")
    c[2:4] = device.to_bytes(2, "little")
    c[4:6] = (0x0406).to_bytes(2, "little")     # memory space, bus master, INTx disabled
    c[6:8] = (0x0010).to_bytes(2, "little")     # capabilities list
    c[8] = rev
    c[9:12] = cls.to_bytes(3, "little")         # prog-if, subclass, class
    c[0x0c] = 0x10
    c[0x0e] = header
    if header & 0x7f == 1 and bus is not None:  # type 1: primary, secondary, subordinate
        c[0x18], c[0x19], c[0x1a] = bus
    else:
        c[0x10] = 0x0c                          # BAR0: 64-bit prefetchable memory
        c[0x2c:0x2e] = vendor.to_bytes(2, "little")
    c[0x34] = 0x40
    return c.hex().upper()


class Tree:
    def __init__(self):
        self.devices = []   # (syspath under /sys, address, group, lines)
        self.groups = []

    def new_group(self):
        self.groups.append(len(self.groups))
        return self.groups[-1]


bound_devices = {}
group_members = []   # (address, syspath under /sys, group), filled by pci_entry()


def pci_entry(path, addr, *, vendor, device, svendor, sdevice, cls, rev, header, names,
              driver, override, group, extra_attrs=(), links=(), numa=0, bus=None):
    if driver:
        bound_devices.setdefault(driver, []).append((addr, path))
    group_members.append((addr, path, group))
    depth = path.count("/") - 1          # components below /sys/devices
    up = "../" * depth
    modalias = "pci:v%08Xd%08Xsv%08Xsd%08Xbc%02Xsc%02Xi%02X" % (
        vendor, device, svendor, sdevice, cls >> 16, (cls >> 8) & 0xff, cls & 0xff)
    class_name, subclass_name, model_name = names
    e = [f"P: {path}"]
    if driver:
        e.append(f"E: DRIVER={driver}")
    e += [f"E: ID_MODEL_FROM_DATABASE={model_name}",
          f"E: ID_PATH=pci-{addr}",
          f"E: ID_PATH_TAG=pci-{addr.replace(':', '_').replace('.', '_')}",
          f"E: ID_PCI_CLASS_FROM_DATABASE={class_name}",
          f"E: ID_PCI_SUBCLASS_FROM_DATABASE={subclass_name}",
          f"E: ID_VENDOR_FROM_DATABASE={INTEL}",
          f"E: MODALIAS={modalias}",
          f"E: PCI_CLASS={cls:X}",
          f"E: PCI_ID={vendor:04X}:{device:04X}",
          f"E: PCI_SLOT_NAME={addr}",
          f"E: PCI_SUBSYS_ID={svendor:04X}:{sdevice:04X}",
          "E: SUBSYSTEM=pci",
          "A: broken_parity_status=0\\n",
          f"A: class=0x{cls:06x}\\n",
          f"H: config={config_space(vendor, device, cls, rev, header, bus)}",
          "A: consistent_dma_mask_bits=64\\n",
          "A: d3cold_allowed=1\\n",
          f"A: device=0x{device:04x}\\n",
          "A: dma_mask_bits=64\\n"]
    if driver:
        e.append(f"L: driver={up}../bus/pci/drivers/{driver}")
    e += [f"A: driver_override={override or '(null)'}\\n",
          f"A: enable={1 if driver else 0}\\n",
          f"L: iommu={up}virtual/iommu/dmar0",
          f"L: iommu_group={up}../kernel/iommu_groups/{group}",
          "A: irq=0\\n",
          f"A: local_cpulist={'0-31' if numa == 0 else '32-63'}\\n",
          f"A: modalias={modalias}\\n",
          "A: msi_bus=1\\n",
          f"A: numa_node={numa}\\n",
          "A: power/control=on\\n",
          "A: power/runtime_status=active\\n",
          f"A: power_state={'D0' if driver else 'unknown'}\\n",
          f"A: revision=0x{rev:02x}\\n",
          f"A: subsystem_device=0x{sdevice:04x}\\n",
          f"A: subsystem_vendor=0x{svendor:04x}\\n",
          f"A: vendor=0x{vendor:04x}\\n"]
    e += [f"A: {k}={esc(v)}" for k, v in extra_attrs]
    e += [f"L: {k}={v}" for k, v in links]
    return "\n".join(e) + "\n"


def net_entry(parent, name, ifindex, driver):
    """The network interface a NIC driver made (what dpdk-devbind shows as if=)."""
    mac = ":".join(f"{b:02x}" for b in (0x02, 0, 0, ifindex >> 16 & 0xff, ifindex >> 8 & 0xff, ifindex & 0xff))
    return "\n".join([f"P: {parent}/net/{name}", f"E: ID_NET_DRIVER={driver}", f"E: IFINDEX={ifindex}",
                      f"E: INTERFACE={name}", "E: SUBSYSTEM=net", f"A: address={mac}\\n",
                      f"A: ifindex={ifindex}\\n", "A: mtu=1500\\n", "A: operstate=down\\n",
                      "A: type=1\\n"]) + "\n"


def dmar0_block(fixture):
    """dmar0 from the recorded fixture, without its devices/ links."""
    text = open(os.path.join(fixture, "devices.umockdev")).read()
    for block in text.split("\n\n"):
        if block.startswith("P: /devices/virtual/iommu/dmar0\n"):
            return [ln for ln in block.strip("\n").split("\n") if not ln.startswith("L: devices/")]
    sys.exit(f"gen-tree: no dmar0 in {fixture}/devices.umockdev")


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out")
    ap.add_argument("--pfs", type=int, default=64)
    ap.add_argument("--vfs", type=int, default=63)
    ap.add_argument("--fixture", default=os.path.join(here, "..", "sysfs", "fixtures", "q35-aw48"))
    a = ap.parse_args()
    if a.pfs < 1 or a.vfs < 0:
        sys.exit("gen-tree: --pfs must be >= 1 and --vfs >= 0")

    # Cards: the last few carry two PFs that share a group; the rest one PF each.
    # Past 248 PFs (the root ports bus 00 has room for) more cards carry two.
    pairs = max(min(PAIR_CARDS_MAX, a.pfs // 4), min(a.pfs - 31 * 8, a.pfs // 2))
    cards = [1] * (a.pfs - 2 * pairs) + [2] * pairs
    if len(cards) > 31 * 8:
        sys.exit("gen-tree: at most 496 PFs (248 root ports on bus 00, two PFs a card)")

    entries, links_to_dmar, group_ids = [], [], 0
    counts = {"rootPorts": 0, "pfs": 0, "vfs": 0, "vfio": 0, "unbound": 0, "sharedGroups": 0}
    next_bus, pf_index = 1, 0
    explain_vf = None
    nets, ifindex = [], 100   # net/ interfaces of the functions on ice and iavf
    shared_group_members = []
    drivers = bound_devices  # driver -> [(address, syspath)], filled by pci_entry()

    def group():
        nonlocal group_ids
        group_ids += 1
        return group_ids - 1

    for c, n_pf in enumerate(cards):
        sec = next_bus
        # Routing IDs used on this card: PFs at devfn 0..n_pf-1, VFs from VF_FIRST_OFFSET on.
        last_rid = sec * 256 + VF_FIRST_OFFSET + n_pf * a.vfs - 1 if a.vfs else sec * 256 + n_pf - 1
        sub = last_rid >> 8
        if sub > 255:
            sys.exit("gen-tree: out of bus numbers in domain 0000; use fewer PFs or VFs")
        next_bus = sub + 1

        slot, fn = 1 + c // 8, c % 8
        multi = 0x80 if len(cards) > c - fn + 1 else 0   # more than one root port in the slot
        rp_addr = f"0000:00:{slot:02x}.{fn}"
        rp_path = f"/devices/pci0000:00/{rp_addr}"
        entries.append(pci_entry(
            rp_path, rp_addr, vendor=0x8086, device=RP_IDS[fn % 4], svendor=0x8086, sdevice=0x0000,
            cls=0x060400, rev=0x04, header=0x01 | multi, bus=(0, sec, sub),
            names=("Bridge", "PCI bridge", RP_NAMES[fn % 4]), driver="pcieport", override=None,
            group=group(), numa=0 if c < len(cards) // 2 else 1,
            extra_attrs=[("secondary_bus_number", f"{sec}\n"), ("subordinate_bus_number", f"{sub}\n"),
                         ("current_link_speed", "16.0 GT/s PCIe\n"), ("current_link_width", "16\n"),
                         ("max_link_speed", "16.0 GT/s PCIe\n"), ("max_link_width", "16\n")]))
        links_to_dmar.append((rp_addr, rp_path))
        counts["rootPorts"] += 1

        numa = 0 if c < len(cards) // 2 else 1
        card_group = group() if n_pf > 1 else None
        if card_group is not None:
            counts["sharedGroups"] += 1
        for f in range(n_pf):
            pf_addr = f"0000:{sec:02x}:00.{f}"
            pf_path = f"{rp_path}/{pf_addr}"
            pf_group = card_group if card_group is not None else group()
            if card_group is not None and not shared_group_members:
                shared_group_members = [f"0000:{sec:02x}:00.{i}" for i in range(n_pf)]
            first = VF_FIRST_OFFSET + f * a.vfs
            vf_links, vf_entries = [], []
            for k in range(a.vfs):
                rid = sec * 256 + first + k
                vf_addr = f"0000:{rid >> 8:02x}:{(rid & 0xff) >> 3:02x}.{rid & 7}"
                vf_path = f"{rp_path}/{vf_addr}"
                # A few VFs handed to vfio-pci (first VF of every 4th PF), a few with no driver
                # (last VF of every 8th PF); the rest on iavf.
                if k == 0 and pf_index % 4 == 0:
                    drv, ovr = "vfio-pci", "vfio-pci"
                    counts["vfio"] += 1
                elif k == a.vfs - 1 and pf_index % 8 == 7:
                    drv, ovr = None, None
                    counts["unbound"] += 1
                else:
                    drv, ovr = "iavf", None
                if explain_vf is None and drv == "iavf" and pf_index == len(cards) // 2:
                    explain_vf = vf_addr
                vf_entries.append(pci_entry(
                    vf_path, vf_addr, vendor=0x8086, device=VF_ID, svendor=0x8086, sdevice=VF_SUBSYS,
                    cls=0x020000, rev=0x02, header=0x00,
                    names=("Network controller", "Ethernet controller", VF_NAME),
                    driver=drv, override=ovr, group=group(), numa=numa,
                    links=[("physfn", f"../{pf_addr}")]))
                if drv == "iavf":
                    nets.append(net_entry(vf_path, f"ens{c + 1}f{f}v{k}", ifindex, drv))
                    ifindex += 1
                vf_links.append((f"virtfn{k}", f"../{vf_addr}"))
                links_to_dmar.append((vf_addr, vf_path))
                counts["vfs"] += 1
            entries.append(pci_entry(
                pf_path, pf_addr, vendor=0x8086, device=PF_ID, svendor=0x8086, sdevice=PF_SUBSYS,
                cls=0x020000, rev=0x02, header=0x80 if n_pf > 1 else 0x00,
                names=("Network controller", "Ethernet controller", PF_NAME),
                driver="ice", override=None, group=pf_group, numa=numa,
                extra_attrs=[("ari_enabled", "1\n"), ("reset_method", "flr bus\n"),
                             ("current_link_speed", "16.0 GT/s PCIe\n"), ("current_link_width", "16\n"),
                             ("sriov_numvfs", f"{a.vfs}\n"), ("sriov_totalvfs", "256\n"),
                             ("sriov_offset", f"{first - f}\n"), ("sriov_stride", "1\n"),
                             ("sriov_vf_device", f"{VF_ID:04x}\n"), ("sriov_drivers_autoprobe", "1\n")],
                links=vf_links))
            entries.append(net_entry(pf_path, f"ens{c + 1}f{f}np{f}", ifindex, "ice"))
            ifindex += 1
            entries += vf_entries + nets
            nets = []
            links_to_dmar.append((pf_addr, pf_path))
            counts["pfs"] += 1
            pf_index += 1

    # devices.umockdev: dmar0 (listing everything it translates for), then every function.
    os.makedirs(a.out, exist_ok=True)
    dmar = dmar0_block(a.fixture)
    dev_links = [f"L: devices/{addr}=../../../..{path[len('/devices'):]}" for addr, path in sorted(links_to_dmar)]
    with open(os.path.join(a.out, "devices.umockdev"), "w") as f:
        f.write("\n".join(dmar[:2] + dev_links + dmar[2:]) + "\n\n")
        f.write("\n".join(entries))

    # sys/: one directory per group; the recorded module parameters.
    groups_dir = os.path.join(a.out, "sys", "kernel", "iommu_groups")
    for g in range(group_ids):
        d = os.path.join(groups_dir, str(g))
        os.makedirs(os.path.join(d, "devices"), exist_ok=True)
        with open(os.path.join(d, "type"), "w") as f:
            f.write("DMA-FQ\n")
        with open(os.path.join(d, "reserved_regions"), "w") as f:
            f.write(MSI_REGION)
    # Each group's devices/ (tests/sysfs/run-fixture makes them with a few processes per device,
    # minutes for 16,384 functions; tests/bench/run copies these instead).
    for addr, path, g in group_members:
        os.symlink("../../../.." + path, os.path.join(groups_dir, str(g), "devices", addr))
    # The driver directories the driver links point to (lspci resolves them; a dangling link
    # would read as "no driver"), each with the links to its devices, as in real sysfs.
    for drv, bound in sorted(drivers.items()):
        d = os.path.join(a.out, "sys", "bus", "pci", "drivers", drv)
        os.makedirs(d, exist_ok=True)
        for name in ("bind", "unbind", "new_id", "remove_id", "uevent"):
            open(os.path.join(d, name), "w").close()
        for addr, path in bound:
            os.symlink("../../../.." + path, os.path.join(d, addr))
    shutil.copytree(os.path.join(a.fixture, "sys", "module"), os.path.join(a.out, "sys", "module"),
                    dirs_exist_ok=True)
    shutil.copytree(os.path.join(a.fixture, "proc"), os.path.join(a.out, "proc"), dirs_exist_ok=True)

    counts["devices"] = counts["rootPorts"] + counts["pfs"] + counts["vfs"]
    counts["groups"] = group_ids
    manifest = dict(counts, cards=len(cards), explainDevice=explain_vf or links_to_dmar[-1][0],
                    sharedGroupMembers=shared_group_members)
    with open(os.path.join(a.out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
