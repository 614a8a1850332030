/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "macro.h"
#include "policy.h"

/* An in-memory host shaped like the QEMU q35 machine of the VM tests:
 *
 *   00:00.0 host bridge                        group 0   dmar0 (48 bits)
 *   00:01.0 VGA, boot console                  group 4   dmar0, RMRR (direct) region
 *   00:03.0 e1000e alone                       group 1   dmar0, MSI region
 *   00:04.0 NVMe with the root file system     group 2   dmar1 (39 bits), relaxable direct region
 *   00:05.0 PCIe-to-PCI bridge                 group 3   dmar0
 *   02:01.0, 02:02.0 e1000 behind the bridge   group 3   dmar0
 *   00:06.0 no IOMMU group, no unit
 *   00:07.0 behind an Arm SMMU                 group 5   smmu0 (48 bits)
 *   00:08.0 behind virtio-iommu                group 6   viommu0 (width unknown)
 *   03:00.0 igb SR-IOV PF (VFs off by default) group 7   dmar0
 *   03:10.0, 03:10.2 its VFs on igbvf          groups 8, 9 dmar0
 */

#define A_HOSTBRIDGE "0000:00:00.0"
#define A_VGA        "0000:00:01.0"
#define A_E1000E     "0000:00:03.0"
#define A_NVME       "0000:00:04.0"
#define A_BRIDGE     "0000:00:05.0"
#define A_NOGROUP    "0000:00:06.0"
#define A_SMMU       "0000:00:07.0"
#define A_VIRTIO     "0000:00:08.0"
#define A_E1000_1    "0000:02:01.0"
#define A_E1000_2    "0000:02:02.0"
#define A_PF         "0000:03:00.0"
#define A_VF1        "0000:03:10.0"
#define A_VF2        "0000:03:10.2"

enum { D_HOSTBRIDGE, D_VGA, D_E1000E, D_NVME, D_BRIDGE, D_NOGROUP, D_SMMU, D_VIRTIO, D_E1000_1, D_E1000_2, D_PF, D_VF1, D_VF2, N_DEVICES };
enum { G0, G1, G2, G3, G4, G5, G6, G7, G8, G9, N_GROUPS };
enum { U_DMAR0, U_DMAR1, U_SMMU0, U_VIOMMU0, N_UNITS };

typedef struct Fixture {
        PciDevice devices[N_DEVICES];
        IommuGroup groups[N_GROUPS];
        IommuUnit units[N_UNITS];
        Topology t;
        Policy p;
} Fixture;

static char *g0_members[] = { (char *) A_HOSTBRIDGE, NULL };
static char *g1_members[] = { (char *) A_E1000E, NULL };
static char *g2_members[] = { (char *) A_NVME, NULL };
static char *g3_members[] = { (char *) A_BRIDGE, (char *) A_E1000_1, (char *) A_E1000_2, NULL };
static char *g4_members[] = { (char *) A_VGA, NULL };
static char *g5_members[] = { (char *) A_SMMU, NULL };
static char *g6_members[] = { (char *) A_VIRTIO, NULL };
static char *g7_members[] = { (char *) A_PF, NULL };
static char *g8_members[] = { (char *) A_VF1, NULL };
static char *g9_members[] = { (char *) A_VF2, NULL };

static ReservedRegion msi_region[] = {
        { .start = 0xfee00000, .end = 0xfeefffff, .type = RESERVED_REGION_MSI },
};
static ReservedRegion vga_regions[] = {
        { .start = 0xfee00000, .end = 0xfeefffff, .type = RESERVED_REGION_MSI },
        { .start = 0x7d000000, .end = 0x7dffffff, .type = RESERVED_REGION_DIRECT },
};
static ReservedRegion nvme_regions[] = {
        { .start = 0x000e0000, .end = 0x000fffff, .type = RESERVED_REGION_DIRECT_RELAXABLE },
};

static void device(Fixture *f, int i, const char *address, uint16_t vendor, uint16_t dev, uint32_t class,
                   uint8_t header, int group, const char *unit, const char *driver) {
        PciDevice *d = &f->devices[i];

        *d = (PciDevice) {
                .vendor = vendor,
                .device = dev,
                .class = class,
                .header_type = header,
                .iommu_group = group,
                .iommu_unit = (char *) unit,
                .driver = (char *) driver,
                .state = driver ? DEVICE_STATE_HOST : DEVICE_STATE_UNBOUND,
        };
        strcpy(d->address, address);
}

static void group(Fixture *f, int i, char **members, ReservedRegion *regions, size_t n_regions) {
        size_t n = 0;

        while (members[n])
                n++;
        f->groups[i] = (IommuGroup) {
                .id = i,
                .members = members,
                .n_members = n,
                .default_domain_type = (char *) "DMA",
                .regions = regions,
                .n_regions = n_regions,
        };
}

static void unit(Fixture *f, int i, const char *name, IommuKind kind, unsigned width) {
        f->units[i] = (IommuUnit) { .name = (char *) name, .kind = kind, .address_width = width };
}

static void policy_text(Fixture *f, const char *json) {
        char *err = NULL;

        policy_done(&f->p);
        policy_init_defaults(&f->p);
        if (policy_parse_text("/etc/vfiod/policy.d/50-test.json", json, strlen(json), &f->p, &err) < 0)
                fail_msg("policy rejected: %s", err);
}

static int setup(void **state) {
        Fixture *f = calloc(1, sizeof(Fixture));

        if (!f)
                return -1;

        /* sorted by address, as the topology module keeps them */
        device(f, D_HOSTBRIDGE, A_HOSTBRIDGE, 0x8086, 0x29c0, 0x060000, 0, 0, "dmar0", NULL);
        device(f, D_VGA, A_VGA, 0x1234, 0x1111, 0x030000, 0, 4, "dmar0", "bochs-drm");
        device(f, D_E1000E, A_E1000E, 0x8086, 0x10d3, 0x020000, 0, 1, "dmar0", "e1000e");
        device(f, D_NVME, A_NVME, 0x1b36, 0x0010, 0x010802, 0, 2, "dmar1", "nvme");
        device(f, D_BRIDGE, A_BRIDGE, 0x1b36, 0x000e, 0x060400, 1, 3, "dmar0", NULL);
        device(f, D_NOGROUP, A_NOGROUP, 0x1af4, 0x1041, 0x020000, 0, -1, NULL, "virtio-pci");
        device(f, D_SMMU, A_SMMU, 0x8086, 0x10d3, 0x020000, 0, 5, "smmu0", NULL);
        device(f, D_VIRTIO, A_VIRTIO, 0x8086, 0x10d3, 0x020000, 0, 6, "viommu0", "vfio-pci");
        device(f, D_E1000_1, A_E1000_1, 0x8086, 0x100e, 0x020000, 0, 3, "dmar0", "e1000");
        device(f, D_E1000_2, A_E1000_2, 0x8086, 0x100e, 0x020000, 0, 3, "dmar0", "e1000");
        device(f, D_PF, A_PF, 0x8086, 0x10c9, 0x020000, 0, 7, "dmar0", "igb");
        device(f, D_VF1, A_VF1, 0x8086, 0x10ca, 0x020000, 0, 8, "dmar0", "igbvf");
        device(f, D_VF2, A_VF2, 0x8086, 0x10ca, 0x020000, 0, 9, "dmar0", "igbvf");
        f->devices[D_PF].sriov_totalvfs = 7;
        f->devices[D_VF1].physfn = (char *) A_PF;
        f->devices[D_VF2].physfn = (char *) A_PF;
        f->devices[D_NVME].host_use = HOST_USE_ROOT_STORAGE;
        f->devices[D_NVME].host_use_detail = (char *) "/ on nvme0n1p2";
        f->devices[D_VGA].host_use = HOST_USE_BOOT_CONSOLE;
        f->devices[D_VGA].host_use_detail = (char *) "fbcon on bochs-drm";
        f->devices[D_VGA].boot_vga = true;

        group(f, G0, g0_members, NULL, 0);
        group(f, G1, g1_members, msi_region, ELEMENTSOF(msi_region));
        group(f, G2, g2_members, nvme_regions, ELEMENTSOF(nvme_regions));
        group(f, G3, g3_members, NULL, 0);
        group(f, G4, g4_members, vga_regions, ELEMENTSOF(vga_regions));
        group(f, G5, g5_members, NULL, 0);
        group(f, G6, g6_members, NULL, 0);
        group(f, G7, g7_members, NULL, 0);
        group(f, G8, g8_members, NULL, 0);
        group(f, G9, g9_members, NULL, 0);

        unit(f, U_DMAR0, "dmar0", IOMMU_KIND_INTEL, 48);
        unit(f, U_DMAR1, "dmar1", IOMMU_KIND_INTEL, 39);
        unit(f, U_SMMU0, "smmu0", IOMMU_KIND_SMMU, 48);
        unit(f, U_VIOMMU0, "viommu0", IOMMU_KIND_VIRTIO, 0);

        f->t = (Topology) {
                .devices = f->devices,
                .n_devices = N_DEVICES,
                .groups = f->groups,
                .n_groups = N_GROUPS,
                .units = { .units = f->units, .n_units = N_UNITS },
                .switches = {
                        .type1_unsafe_interrupts = TRI_NO,
                        .iommufd_unsafe_interrupts = TRI_UNKNOWN,
                        .vfio_noiommu = TRI_NO,
                        .vfio_pci_disable_denylist = TRI_NO,
                        .smmu_disable_bypass = TRI_UNKNOWN,
                        .interrupt_remapping = TRI_YES,
                        .msi_isolation = MSI_ISOLATION_REMAPPING,
                },
        };
        policy_init_defaults(&f->p);

        /* the fixture must be what the topology module promises: sorted, findable */
        for (size_t i = 1; i < N_DEVICES; i++)
                if (strcmp(f->devices[i - 1].address, f->devices[i].address) >= 0)
                        return -1;
        *state = f;
        return 0;
}

static int teardown(void **state) {
        Fixture *f = *state;

        policy_done(&f->p);
        free(f);
        return 0;
}

static const Caller root = { .uid = 0, .user_name = "root", .group_names = (const char *const[]) { "root", NULL } };
static const Caller alice = { .uid = 1000, .user_name = "alice",
                              .group_names = (const char *const[]) { "alice", "vfio", NULL } };
static const Caller bob = { .uid = 1001, .user_name = "bob", .group_names = (const char *const[]) { "bob", NULL } };
static const Caller nameless = { .uid = 4242, .user_name = NULL, .group_names = NULL };

/* Evaluates, and checks the promises every verdict keeps. */
static void evaluate_full(Fixture *f, const char *const *devices, unsigned min_bits, const IovaRange *ranges,
                          size_t n_ranges, const Caller *c, Verdict *v) {
        const Request r = {
                .devices = devices,
                .min_aperture_bits = min_bits,
                .iova_ranges = ranges,
                .n_iova_ranges = n_ranges,
        };
        bool all = true;

        assert_int_equal(policy_evaluate(&f->p, &f->t, &r, c, v), 0);
        assert_true(v->n_checks > 0);
        for (size_t i = 0; i < v->n_checks; i++) {
                assert_non_null(v->checks[i].code);
                assert_non_null(v->checks[i].subject);
                assert_non_null(v->checks[i].sentence);
                assert_null(strchr(v->checks[i].sentence, '\n'));
                all = all && v->checks[i].passed;
        }
        assert_int_equal(v->allowed, all);
}

static void evaluate(Fixture *f, const char *const *devices, const Caller *c, Verdict *v) {
        evaluate_full(f, devices, 0, NULL, 0, c, v);
}

static void evaluate_bind(Fixture *f, const char *const *devices, const Caller *c, Verdict *v) {
        const Request r = { .devices = devices, .persistent = true };

        assert_int_equal(policy_evaluate(&f->p, &f->t, &r, c, v), 0);
}

#define DEVICES(...) ((const char *const[]) { __VA_ARGS__, NULL })

static const Check *find(const Verdict *v, const char *code, const char *subject) {
        for (size_t i = 0; i < v->n_checks; i++)
                if (strcmp(v->checks[i].code, code) == 0 && strcmp(v->checks[i].subject, subject) == 0)
                        return &v->checks[i];
        return NULL;
}

static size_t count(const Verdict *v, const char *code) {
        size_t n = 0;

        for (size_t i = 0; i < v->n_checks; i++)
                if (strcmp(v->checks[i].code, code) == 0)
                        n++;
        return n;
}

static void dump(const Verdict *v) {
        for (size_t i = 0; i < v->n_checks; i++)
                print_message("  %-22s %-4s %-14s %s\n", v->checks[i].code, v->checks[i].passed ? "ok" : "FAIL",
                              v->checks[i].subject, v->checks[i].sentence);
}

/* The check exists, passed or failed as expected, and its sentence says what it must. */
static void expect(const Verdict *v, const char *code, const char *subject, bool passed, const char *words) {
        const Check *c = find(v, code, subject);

        if (!c) {
                dump(v);
                fail_msg("no %s check for %s", code, subject);
        }
        if (c->passed != passed) {
                dump(v);
                fail_msg("%s for %s %s, expected it to %s: %s", code, subject, c->passed ? "passed" : "failed",
                         passed ? "pass" : "fail", c->sentence);
        }
        if (words && !strstr(c->sentence, words)) {
                dump(v);
                fail_msg("%s for %s: '%s' not in '%s'", code, subject, words, c->sentence);
        }
}

/* ---- the whole picture ---- */

static void test_clean_single_device(void **state) {
        static const char *const order[] = {
                "no-iommu-group", "not-an-endpoint", "partial-group", "group-not-viable", "noiommu",
                "unsafe-interrupts", "no-interrupt-remapping", "acs-override", "smmu-bypass", "direct-mapped-region",
                "aperture-too-small", "aperture-mixed", "root-storage", "routed-interface", "boot-console",
                "sriov-vfs-enabled", "in-use", "held-by-domain", "not-authorized",
        };
        Fixture *f = *state;
        Verdict v;

        evaluate(f, DEVICES(A_E1000E), &root, &v);
        if (!v.allowed)
                dump(&v);
        assert_true(v.allowed);
        assert_null(v.rule);
        assert_int_equal(v.effective_aperture_bits, 48);

        /* one entry per check for a lone device, in the stable order */
        assert_int_equal(v.n_checks, ELEMENTSOF(order));
        for (size_t i = 0; i < ELEMENTSOF(order); i++)
                assert_string_equal(v.checks[i].code, order[i]);

        expect(&v, "no-iommu-group", A_E1000E, true, "IOMMU group 1");
        expect(&v, "partial-group", "group 1", true, NULL);
        expect(&v, "unsafe-interrupts", "kernel", true, NULL);
        expect(&v, "aperture-too-small", "dmar0", true, "48 address bits");
        expect(&v, "not-authorized", A_E1000E, true, "root may use");
        verdict_done(&v);
        assert_null(v.checks);
        assert_int_equal(v.n_checks, 0);
}

static void test_bad_requests(void **state) {
        Fixture *f = *state;
        const Request empty = { .devices = (const char *const[]) { NULL } };
        const Request unknown = { .devices = DEVICES(A_E1000E, "0000:09:00.0") };
        const IovaRange backwards = { .start = 0x2000, .end = 0x1000 };
        const Request bad_range = { .devices = DEVICES(A_E1000E), .iova_ranges = &backwards, .n_iova_ranges = 1 };
        Verdict v = { .allowed = true, .rule = (char *) "untouched" };

        assert_int_equal(policy_evaluate(&f->p, &f->t, &empty, &root, &v), -EINVAL);
        assert_int_equal(policy_evaluate(&f->p, &f->t, &unknown, &root, &v), -ENXIO);
        assert_int_equal(policy_evaluate(&f->p, &f->t, &bad_range, &root, &v), -EINVAL);
        assert_int_equal(policy_evaluate(&f->p, &f->t, NULL, &root, &v), -EINVAL);
        /* *ret is only written on success */
        assert_true(v.allowed);
        assert_string_equal(v.rule, "untouched");
        assert_null(v.checks);

        /* a device named twice is asked for once */
        evaluate(f, DEVICES(A_E1000E, A_E1000E), &root, &v);
        assert_true(v.allowed);
        assert_int_equal(count(&v, "not-an-endpoint"), 1);
        verdict_done(&v);
}

/* ---- isolation ---- */

static void test_no_iommu_group(void **state) {
        Fixture *f = *state;
        Verdict v;

        evaluate(f, DEVICES(A_NOGROUP), &root, &v);
        assert_false(v.allowed);
        expect(&v, "no-iommu-group", A_NOGROUP, false, "in no IOMMU group");
        /* no group, so no group checks; no unit, so the aperture waits for the container */
        assert_int_equal(count(&v, "partial-group"), 0);
        expect(&v, "aperture-too-small", A_NOGROUP, true, "measured when the container is set up");
        assert_int_equal(v.effective_aperture_bits, 0);
        verdict_done(&v);
}

static void test_not_an_endpoint(void **state) {
        Fixture *f = *state;
        Verdict v;

        evaluate(f, DEVICES(A_BRIDGE, A_E1000_1, A_E1000_2), &root, &v);
        assert_false(v.allowed);
        expect(&v, "not-an-endpoint", A_BRIDGE, false, "is a PCI bridge, not an endpoint");
        expect(&v, "not-an-endpoint", A_E1000_1, true, NULL);
        verdict_done(&v);

        evaluate(f, DEVICES(A_HOSTBRIDGE), &root, &v);
        assert_false(v.allowed);
        expect(&v, "not-an-endpoint", A_HOSTBRIDGE, false, "host bridge");
        verdict_done(&v);

        /* a CardBus bridge by header type alone */
        f->devices[D_E1000E].header_type = 2;
        evaluate(f, DEVICES(A_E1000E), &root, &v);
        expect(&v, "not-an-endpoint", A_E1000E, false, "header type 2");
        verdict_done(&v);
}

static void test_partial_group(void **state) {
        Fixture *f = *state;
        Verdict v;

        /* leaving 02:02.0 out of group 3; the bridge 00:05.0 need not be requested */
        evaluate(f, DEVICES(A_E1000_1), &root, &v);
        assert_false(v.allowed);
        expect(&v, "partial-group", "group 3", false,
               "the request leaves out " A_E1000_2 " of IOMMU group 3; request the whole group (" A_E1000_1 " " A_E1000_2 ")");
        verdict_done(&v);

        f->devices[D_E1000_2].driver = (char *) "vfio-pci";
        evaluate(f, DEVICES(A_E1000_2, A_E1000_1), &root, &v);
        if (!v.allowed)
                dump(&v);
        assert_true(v.allowed);
        expect(&v, "partial-group", "group 3", true, "covers every endpoint of IOMMU group 3");
        assert_int_equal(count(&v, "partial-group"), 1);       /* one entry per group, not per device */
        verdict_done(&v);
}

static void test_group_not_viable(void **state) {
        Fixture *f = *state;
        Verdict v;

        evaluate(f, DEVICES(A_E1000_1), &root, &v);
        expect(&v, "group-not-viable", "group 3", false,
               A_E1000_2 " shares IOMMU group 3 with " A_E1000_1 " and is still on e1000; "
               "request the whole group (" A_E1000_1 " " A_E1000_2 ") or unbind it");
        verdict_done(&v);

        /* on vfio-pci or pci-stub, or unbound, the member is no longer a host driver's */
        f->devices[D_E1000_2].driver = (char *) "pci-stub";
        evaluate(f, DEVICES(A_E1000_1), &root, &v);
        expect(&v, "group-not-viable", "group 3", true, NULL);
        expect(&v, "partial-group", "group 3", false, NULL);   /* still a partial request */
        verdict_done(&v);

        f->devices[D_E1000_2].driver = NULL;
        evaluate(f, DEVICES(A_E1000_1), &root, &v);
        expect(&v, "group-not-viable", "group 3", true, "no member of IOMMU group 3 outside the request");
        verdict_done(&v);

        /* a bridge on a host driver (pcieport) does not make the group unviable */
        f->devices[D_BRIDGE].driver = (char *) "pcieport";
        evaluate(f, DEVICES(A_E1000_1, A_E1000_2), &root, &v);
        expect(&v, "group-not-viable", "group 3", true, NULL);
        verdict_done(&v);
}

/* ---- bypass ---- */

static void test_noiommu(void **state) {
        Fixture *f = *state;
        Verdict v;

        evaluate(f, DEVICES(A_E1000E), &root, &v);
        expect(&v, "noiommu", "group 1", true, "translated by an IOMMU");
        verdict_done(&v);

        f->groups[G1].noiommu = true;
        evaluate(f, DEVICES(A_E1000E), &root, &v);
        assert_false(v.allowed);
        expect(&v, "noiommu", "group 1", false, "VFIO no-IOMMU group");
        verdict_done(&v);

        f->groups[G1].noiommu = false;
        f->t.switches.vfio_noiommu = TRI_YES;
        evaluate(f, DEVICES(A_E1000E), &root, &v);
        expect(&v, "noiommu", "group 1", false, "vfio.enable_unsafe_noiommu_mode");
        verdict_done(&v);

        f->t.switches.vfio_noiommu = TRI_UNKNOWN;
        f->t.switches.cmdline_noiommu = true;
        evaluate(f, DEVICES(A_E1000E), &root, &v);
        expect(&v, "noiommu", "group 1", false, NULL);
        verdict_done(&v);

        policy_text(f, "{\"platform\": {\"allowNoIommu\": true}}");
        evaluate(f, DEVICES(A_E1000E), &root, &v);
        assert_true(v.allowed);
        expect(&v, "noiommu", "group 1", true, "allowed by allowNoIommu");
        verdict_done(&v);
}

static void test_unsafe_interrupts(void **state) {
        Fixture *f = *state;
        Verdict v;

        f->t.switches.type1_unsafe_interrupts = TRI_YES;
        evaluate(f, DEVICES(A_E1000E), &root, &v);
        assert_false(v.allowed);
        expect(&v, "unsafe-interrupts", "kernel", false, "vfio_iommu_type1.allow_unsafe_interrupts is Y");
        verdict_done(&v);

        /* vfiod's containers are type1: an unreadable switch is assumed on (F19). */
        f->t.switches.type1_unsafe_interrupts = TRI_UNKNOWN;
        evaluate(f, DEVICES(A_E1000E), &root, &v);
        assert_false(v.allowed);
        expect(&v, "unsafe-interrupts", "kernel", false, "may be Y");
        verdict_done(&v);

        /* iommufd counts only where it exists. */
        f->t.switches.type1_unsafe_interrupts = TRI_NO;
        f->t.switches.iommufd_unsafe_interrupts = TRI_UNKNOWN;
        f->t.switches.iommufd_present = false;
        evaluate(f, DEVICES(A_E1000E), &root, &v);
        assert_true(v.allowed);
        expect(&v, "unsafe-interrupts", "kernel", true, "neither");
        verdict_done(&v);

        f->t.switches.iommufd_present = true;
        f->t.switches.iommufd_unsafe_interrupts = TRI_YES;
        evaluate(f, DEVICES(A_E1000E), &root, &v);
        expect(&v, "unsafe-interrupts", "kernel", false, "iommufd.allow_unsafe_interrupts is Y, so devices can inject arbitrary interrupts; set it to N");
        verdict_done(&v);

        policy_text(f, "{\"platform\": {\"allowUnsafeInterrupts\": true}}");
        evaluate(f, DEVICES(A_E1000E), &root, &v);
        assert_true(v.allowed);
        expect(&v, "unsafe-interrupts", "kernel", true, "allowed by allowUnsafeInterrupts");
        verdict_done(&v);
}

static void test_interrupt_remapping(void **state) {
        Fixture *f = *state;
        Verdict v;

        evaluate(f, DEVICES(A_E1000E), &root, &v);
        expect(&v, "no-interrupt-remapping", "kernel", true, "the kernel remaps interrupts");
        verdict_done(&v);

        /* arm64: a GICv3 ITS isolates MSIs without any remapping. */
        f->t.switches.msi_isolation = MSI_ISOLATION_ITS;
        evaluate(f, DEVICES(A_E1000E), &root, &v);
        assert_true(v.allowed);
        expect(&v, "no-interrupt-remapping", "kernel", true, "GICv3 ITS");
        verdict_done(&v);

        /* unknown fails closed */
        f->t.switches.msi_isolation = MSI_ISOLATION_UNKNOWN;
        evaluate(f, DEVICES(A_E1000E), &root, &v);
        assert_false(v.allowed);
        expect(&v, "no-interrupt-remapping", "kernel", false, "unknown");
        verdict_done(&v);

        f->t.switches.msi_isolation = MSI_ISOLATION_NONE;
        evaluate(f, DEVICES(A_E1000E), &root, &v);
        expect(&v, "no-interrupt-remapping", "kernel", false, "neither remaps interrupts");
        verdict_done(&v);

        /* nosid remaps without source-id checks: no isolation between devices */
        f->t.switches.msi_isolation = MSI_ISOLATION_REMAPPING;
        f->t.switches.intremap_nosid = true;
        evaluate(f, DEVICES(A_E1000E), &root, &v);
        assert_false(v.allowed);
        expect(&v, "no-interrupt-remapping", "kernel", false, "intremap=nosid");
        verdict_done(&v);
        f->t.switches.intremap_nosid = false;

        /* intremap=off wins over what the kernel reports */
        f->t.switches.intremap_off = true;
        evaluate(f, DEVICES(A_E1000E), &root, &v);
        expect(&v, "no-interrupt-remapping", "kernel", false, "intremap=off");
        verdict_done(&v);

        policy_text(f, "{\"platform\": {\"requireInterruptRemapping\": false}}");
        evaluate(f, DEVICES(A_E1000E), &root, &v);
        assert_true(v.allowed);
        expect(&v, "no-interrupt-remapping", "kernel", true, "not required by the policy");
        verdict_done(&v);
}

static void test_acs_override(void **state) {
        Fixture *f = *state;
        Verdict v;

        evaluate(f, DEVICES(A_E1000E), &root, &v);
        expect(&v, "acs-override", "kernel", true, NULL);
        verdict_done(&v);

        f->t.switches.acs_override = (char *) "downstream,multifunction";
        evaluate(f, DEVICES(A_E1000E), &root, &v);
        assert_false(v.allowed);
        expect(&v, "acs-override", "kernel", false,
               "pcie_acs_override=downstream,multifunction is on the kernel command line, so the IOMMU group "
               "boundaries are fiction; remove pcie_acs_override= from the kernel command line");
        verdict_done(&v);

        policy_text(f, "{\"platform\": {\"allowAcsOverride\": true}}");
        evaluate(f, DEVICES(A_E1000E), &root, &v);
        assert_true(v.allowed);
        expect(&v, "acs-override", "kernel", true, "allowed by allowAcsOverride");
        verdict_done(&v);
}

static void test_smmu_bypass(void **state) {
        Fixture *f = *state;
        Verdict v;

        evaluate(f, DEVICES(A_SMMU), &root, &v);
        expect(&v, "smmu-bypass", "smmu0", true, "does not allow bypass");
        verdict_done(&v);

        f->t.switches.smmu_disable_bypass = TRI_NO;
        evaluate(f, DEVICES(A_SMMU), &root, &v);
        assert_false(v.allowed);
        expect(&v, "smmu-bypass", "smmu0", false, "disable_bypass=N");
        verdict_done(&v);

        /* only SMMUs are concerned */
        evaluate(f, DEVICES(A_E1000E), &root, &v);
        assert_true(v.allowed);
        expect(&v, "smmu-bypass", "dmar0", true, "not an Arm SMMU");
        verdict_done(&v);

        policy_text(f, "{\"platform\": {\"allowSmmuBypass\": true}}");
        evaluate(f, DEVICES(A_SMMU), &root, &v);
        assert_true(v.allowed);
        expect(&v, "smmu-bypass", "smmu0", true, "allowed by allowSmmuBypass");
        verdict_done(&v);
}

static void test_direct_mapped_region(void **state) {
        Fixture *f = *state;
        Verdict v;

        policy_text(f, "{\"protect\": {\"bootConsole\": false}}");
        evaluate(f, DEVICES(A_VGA), &root, &v);
        assert_false(v.allowed);
        expect(&v, "direct-mapped-region", "group 4", false, "direct-mapped region 0x7d000000-0x7dffffff (RMRR/IVMD)");
        verdict_done(&v);

        /* relaxable: the kernel drops it for VFIO, so it passes and says so */
        policy_text(f, "{\"protect\": {\"rootStorage\": false}}");
        evaluate(f, DEVICES(A_NVME), &root, &v);
        expect(&v, "direct-mapped-region", "group 2", true, "relaxable direct-mapped region 0xe0000-0xfffff");
        verdict_done(&v);

        evaluate(f, DEVICES(A_E1000E), &root, &v);
        expect(&v, "direct-mapped-region", "group 1", true, "no direct-mapped region");
        verdict_done(&v);

        policy_text(f, "{\"platform\": {\"allowDirectMappedRegions\": true}, \"protect\": {\"bootConsole\": false}}");
        evaluate(f, DEVICES(A_VGA), &root, &v);
        assert_true(v.allowed);
        expect(&v, "direct-mapped-region", "group 4", true, "allowed by allowDirectMappedRegions");
        verdict_done(&v);
}

/* ---- aperture ---- */

static void test_aperture_too_small(void **state) {
        Fixture *f = *state;
        Verdict v;

        /* default minApertureBits 39: dmar1's 39 bits are just enough */
        policy_text(f, "{\"protect\": {\"rootStorage\": false}}");
        evaluate(f, DEVICES(A_NVME), &root, &v);
        assert_true(v.allowed);
        expect(&v, "aperture-too-small", "dmar1", true, "39 address bits (at least 39 needed)");
        assert_int_equal(v.effective_aperture_bits, 39);
        verdict_done(&v);

        /* the caller asks for more */
        evaluate_full(f, DEVICES(A_NVME), 40, NULL, 0, &root, &v);
        assert_false(v.allowed);
        expect(&v, "aperture-too-small", "dmar1", false, "dmar1 decodes 39 address bits but the request needs 40");
        verdict_done(&v);

        /* the policy asks for more */
        policy_text(f, "{\"platform\": {\"minApertureBits\": 49}}");
        evaluate(f, DEVICES(A_E1000E), &root, &v);
        assert_false(v.allowed);
        expect(&v, "aperture-too-small", "dmar0", false, "but the policy (minApertureBits) needs 49");
        verdict_done(&v);

        /* an unknown width is measured later, so it passes now */
        evaluate(f, DEVICES(A_VIRTIO), &root, &v);
        assert_true(v.allowed);
        expect(&v, "aperture-too-small", "viommu0", true, "measured when the container is set up");
        assert_int_equal(v.effective_aperture_bits, 0);
        verdict_done(&v);
}

static void test_iova_ranges(void **state) {
        Fixture *f = *state;
        const IovaRange low = { .start = 0x100000, .end = 0x7fffffff };
        const IovaRange beyond39 = { .start = 0x100000, .end = UINT64_C(0x8000000000) };
        const IovaRange top39 = { .start = 0x100000, .end = UINT64_C(0x7fffffffff) };
        const IovaRange msi = { .start = 0xfe000000, .end = 0xfeefffff };
        const IovaRange two[] = { low, msi };
        Verdict v;

        policy_text(f, "{\"protect\": {\"rootStorage\": false}}");

        evaluate_full(f, DEVICES(A_NVME), 0, &top39, 1, &root, &v);
        assert_true(v.allowed);
        expect(&v, "aperture-too-small", "dmar1", true, "every requested IOVA range fits");
        expect(&v, "aperture-too-small", "group 2", true, "no requested IOVA range overlaps");
        verdict_done(&v);

        evaluate_full(f, DEVICES(A_NVME), 0, &beyond39, 1, &root, &v);
        assert_false(v.allowed);
        expect(&v, "aperture-too-small", "dmar1", false,
               "IOVA range 0x100000-0x8000000000 ends beyond the 39-bit aperture of dmar1 (last address 0x7fffffffff)");
        verdict_done(&v);

        /* the second range runs into group 1's MSI window */
        evaluate_full(f, DEVICES(A_E1000E), 0, two, ELEMENTSOF(two), &root, &v);
        assert_false(v.allowed);
        expect(&v, "aperture-too-small", "dmar0", true, NULL);
        expect(&v, "aperture-too-small", "group 1", false,
               "IOVA range 0xfe000000-0xfeefffff overlaps the msi reserved region 0xfee00000-0xfeefffff of IOMMU group 1");
        verdict_done(&v);

        /* a relaxable direct region is not carved out of the IOVA space, so overlapping it is fine */
        const IovaRange over_relaxable = { .start = 0x0, .end = 0x7fffffff };
        evaluate_full(f, DEVICES(A_NVME), 0, &over_relaxable, 1, &root, &v);
        assert_true(v.allowed);
        expect(&v, "aperture-too-small", "group 2", true, NULL);
        verdict_done(&v);

        /* a direct (RMRR) region is */
        policy_text(f, "{\"platform\": {\"allowDirectMappedRegions\": true}, \"protect\": {\"bootConsole\": false}}");
        evaluate_full(f, DEVICES(A_VGA), 0, &over_relaxable, 1, &root, &v);
        assert_false(v.allowed);
        expect(&v, "aperture-too-small", "group 4", false, "overlaps the direct reserved region 0x7d000000-0x7dffffff");
        verdict_done(&v);

        /* no ranges, no per-group range entries */
        evaluate(f, DEVICES(A_E1000E), &root, &v);
        assert_null(find(&v, "aperture-too-small", "group 1"));
        verdict_done(&v);
}

static void test_aperture_mixed(void **state) {
        Fixture *f = *state;
        Verdict v;

        /* dmar0 (48 bits) and dmar1 (39 bits): split is the default */
        policy_text(f, "{\"protect\": {\"rootStorage\": false}}");
        evaluate(f, DEVICES(A_E1000E, A_NVME), &root, &v);
        assert_true(v.allowed);
        expect(&v, "aperture-mixed", "dmar0 dmar1", true, "separate containers");
        assert_int_equal(v.effective_aperture_bits, 39);
        assert_int_equal(count(&v, "aperture-mixed"), 1);
        assert_int_equal(count(&v, "aperture-too-small"), 2);  /* one per unit */
        verdict_done(&v);

        policy_text(f, "{\"platform\": {\"mixedApertures\": \"allow\"}, \"protect\": {\"rootStorage\": false}}");
        evaluate(f, DEVICES(A_E1000E, A_NVME), &root, &v);
        assert_true(v.allowed);
        expect(&v, "aperture-mixed", "dmar0 dmar1", true, "the narrowest width, 39 bits, applies");
        verdict_done(&v);

        policy_text(f, "{\"platform\": {\"mixedApertures\": \"deny\"}, \"protect\": {\"rootStorage\": false}}");
        evaluate(f, DEVICES(A_E1000E, A_NVME), &root, &v);
        assert_false(v.allowed);
        expect(&v, "aperture-mixed", "dmar0 dmar1", false, "(dmar0 48 bits, dmar1 39 bits) and the policy denies that");
        verdict_done(&v);

        /* one width is not mixed, whatever the policy says */
        evaluate(f, DEVICES(A_E1000E, A_SMMU), &root, &v);
        expect(&v, "aperture-mixed", "dmar0 smmu0", true, "one address width (48 bits)");
        verdict_done(&v);
}

/* ---- host ---- */

static void test_host_use(void **state) {
        Fixture *f = *state;
        Verdict v;

        evaluate(f, DEVICES(A_NVME), &root, &v);
        assert_false(v.allowed);
        expect(&v, "root-storage", A_NVME, false, A_NVME " backs storage the host uses (/ on nvme0n1p2); unmount it");
        expect(&v, "routed-interface", A_NVME, true, NULL);
        expect(&v, "boot-console", A_NVME, true, NULL);
        verdict_done(&v);

        evaluate(f, DEVICES(A_VGA), &root, &v);
        expect(&v, "boot-console", A_VGA, false, "boot VGA device with the console on it (fbcon on bochs-drm)");
        expect(&v, "root-storage", A_VGA, true, "backs no mount, swap area or volume in use");
        verdict_done(&v);

        f->devices[D_E1000E].host_use = HOST_USE_ROUTED_IFACE;
        f->devices[D_E1000E].host_use_detail = (char *) "enp0s3 10.0.2.15/24, default route";
        evaluate(f, DEVICES(A_E1000E), &root, &v);
        assert_false(v.allowed);
        expect(&v, "routed-interface", A_E1000E, false, "(enp0s3 10.0.2.15/24, default route); remove the addresses and routes");
        verdict_done(&v);

        /* a protect flag off relaxes exactly its own check */
        policy_text(f, "{\"protect\": {\"routedInterfaces\": false}}");
        evaluate(f, DEVICES(A_E1000E), &root, &v);
        assert_true(v.allowed);
        expect(&v, "routed-interface", A_E1000E, true, "allowed because protect.routedInterfaces is false");
        verdict_done(&v);
        evaluate(f, DEVICES(A_NVME), &root, &v);
        expect(&v, "root-storage", A_NVME, false, NULL);
        verdict_done(&v);
}

/* ---- authorization ---- */

static const char rules_json[] =
        "{\"rules\": ["
        " {\"name\": \"no-virtio\", \"match\": {\"vendor\": \"1af4\"}, \"deny\": true},"
        " {\"name\": \"lab-e1000\", \"match\": {\"vendor\": \"8086\", \"device\": \"100e\", \"address\": \"0000:02:*\"},"
        "  \"allow\": {\"users\": [\"bob\"]}},"
        " {\"name\": \"nics\", \"match\": {\"class\": \"02*\"}, \"allow\": {\"groups\": [\"vfio\"]}},"
        " {\"name\": \"never-gpus\", \"match\": {\"class\": \"03*\"}, \"deny\": true}"
        "]}";

static void test_in_use(void **state) {
        Fixture *f = *state;
        Verdict v;

        f->devices[D_E1000E].held_by = (char *) "lease 0123 of uid 1000";
        evaluate(f, DEVICES(A_E1000E), &root, &v);
        assert_false(v.allowed);
        expect(&v, "in-use", A_E1000E, false, "is held by lease 0123 of uid 1000");
        verdict_done(&v);
        f->devices[D_E1000E].held_by = NULL;

        evaluate(f, DEVICES(A_E1000E), &root, &v);
        assert_true(v.allowed);
        expect(&v, "in-use", A_E1000E, true, "no lease holds");
        verdict_done(&v);
}

/* A running libvirt domain uses the device: refused to everyone, root included; only root reads
 * the domain's name. */
static void test_held_by_domain(void **state) {
        Fixture *f = *state;
        Verdict v;

        f->devices[D_E1000E].held_by_domain = (char *) "vm1";
        evaluate(f, DEVICES(A_E1000E), &root, &v);
        assert_false(v.allowed);
        expect(&v, "held-by-domain", A_E1000E, false, "the running libvirt domain 'vm1'");
        verdict_done(&v);
        evaluate(f, DEVICES(A_E1000E), &alice, &v);
        assert_false(v.allowed);
        expect(&v, "held-by-domain", A_E1000E, false, "a running libvirt domain");
        for (size_t i = 0; i < v.n_checks; i++)
                assert_null(strstr(v.checks[i].sentence, "vm1"));
        verdict_done(&v);

        /* Judged for the domain itself (a hostdev hotplugged into it): its own use is no refusal,
         * another domain's is. */
        const Request for_vm1 = { .devices = DEVICES(A_E1000E), .persistent = true, .domain = "vm1" };
        const Request for_vm2 = { .devices = DEVICES(A_E1000E), .persistent = true, .domain = "vm2" };
        assert_int_equal(policy_evaluate(&f->p, &f->t, &for_vm1, &root, &v), 0);
        assert_true(v.allowed);
        expect(&v, "held-by-domain", A_E1000E, true, "but 'vm1', the one it is judged for");
        verdict_done(&v);
        assert_int_equal(policy_evaluate(&f->p, &f->t, &for_vm2, &root, &v), 0);
        assert_false(v.allowed);
        expect(&v, "held-by-domain", A_E1000E, false, "the running libvirt domain 'vm1'");
        verdict_done(&v);
        f->devices[D_E1000E].held_by_domain = NULL;

        evaluate(f, DEVICES(A_E1000E), &root, &v);
        assert_true(v.allowed);
        expect(&v, "held-by-domain", A_E1000E, true, "no running libvirt domain uses");
        verdict_done(&v);
}

/* ---- SR-IOV ---- */

static void test_sriov_pf(void **state) {
        Fixture *f = *state;
        Verdict v;

        /* VFs off (and so not in the topology; they sort last): the PF is a device like any other */
        f->t.n_devices = N_DEVICES - 2;
        evaluate(f, DEVICES(A_PF), &root, &v);
        if (!v.allowed)
                dump(&v);
        assert_true(v.allowed);
        expect(&v, "sriov-vfs-enabled", A_PF, true, "has no SR-IOV VFs enabled");
        verdict_done(&v);
        f->t.n_devices = N_DEVICES;

        /* two VFs on the host: the PF alone would destroy them */
        f->devices[D_PF].sriov_numvfs = 2;
        evaluate(f, DEVICES(A_PF), &root, &v);
        assert_false(v.allowed);
        expect(&v, "sriov-vfs-enabled", A_PF, false,
               "set sriov_numvfs to 0 first (echo 0 > /sys/bus/pci/devices/" A_PF "/sriov_numvfs), "
               "or request its VFs " A_VF1 " " A_VF2 " too");
        verdict_done(&v);

        /* one VF is not enough */
        evaluate(f, DEVICES(A_PF, A_VF1), &root, &v);
        assert_false(v.allowed);
        expect(&v, "sriov-vfs-enabled", A_PF, false, "leaves out " A_VF2);
        verdict_done(&v);

        /* the PF with every VF: this check passes, and each VF passes its own checks */
        evaluate(f, DEVICES(A_PF, A_VF1, A_VF2), &root, &v);
        if (!v.allowed)
                dump(&v);
        assert_true(v.allowed);
        expect(&v, "sriov-vfs-enabled", A_PF, true, "takes all of them");
        expect(&v, "in-use", A_VF1, true, NULL);
        expect(&v, "routed-interface", A_VF2, true, NULL);
        verdict_done(&v);

        /* ... but a VF that fails its own checks still refuses the request */
        f->devices[D_VF2].host_use = HOST_USE_ROUTED_IFACE;
        f->devices[D_VF2].host_use_detail = (char *) "enp3s16f2 192.0.2.5/24";
        evaluate(f, DEVICES(A_PF, A_VF1, A_VF2), &root, &v);
        assert_false(v.allowed);
        expect(&v, "sriov-vfs-enabled", A_PF, true, NULL);
        expect(&v, "routed-interface", A_VF2, false, "192.0.2.5/24");
        verdict_done(&v);
        f->devices[D_VF2].host_use = 0;

        /* a VF on vfio-pci outside any lease may be in a VM: destroying it is not ours to do */
        f->devices[D_VF1].driver = (char *) "vfio-pci";
        f->devices[D_VF1].state = DEVICE_STATE_VFIO;
        evaluate(f, DEVICES(A_PF, A_VF1, A_VF2), &root, &v);
        assert_false(v.allowed);
        expect(&v, "sriov-vfs-enabled", A_PF, false, A_VF1 " is on vfio-pci");
        verdict_done(&v);
        f->devices[D_VF1].driver = (char *) "igbvf";
        f->devices[D_VF1].state = DEVICE_STATE_HOST;

        /* the snapshot knows fewer VFs than the PF has: fail closed, even with all known ones */
        f->devices[D_PF].sriov_numvfs = 3;
        evaluate(f, DEVICES(A_PF, A_VF1, A_VF2), &root, &v);
        assert_false(v.allowed);
        expect(&v, "sriov-vfs-enabled", A_PF, false, "knows only 2 of them");
        expect(&v, "sriov-vfs-enabled", A_PF, false, "set sriov_numvfs to 0 first");
        verdict_done(&v);

        /* sriov_numvfs read before the VFs appeared says 0: the VFs the snapshot has count */
        f->devices[D_PF].sriov_numvfs = 0;
        evaluate(f, DEVICES(A_PF), &root, &v);
        assert_false(v.allowed);
        expect(&v, "sriov-vfs-enabled", A_PF, false, "request its VFs " A_VF1 " " A_VF2 " too");
        verdict_done(&v);

        /* a VF is not a PF: it passes this check */
        evaluate(f, DEVICES(A_VF1), &root, &v);
        expect(&v, "sriov-vfs-enabled", A_VF1, true, NULL);
        verdict_done(&v);
}

static void test_sriov_vf_pf_held(void **state) {
        Fixture *f = *state;
        Verdict v;

        f->devices[D_PF].sriov_numvfs = 2;

        /* PF free: a VF alone is fine */
        evaluate(f, DEVICES(A_VF1), &root, &v);
        if (!v.allowed)
                dump(&v);
        assert_true(v.allowed);
        expect(&v, "in-use", A_VF1, true, NULL);
        verdict_done(&v);

        /* PF leased: its holder controls the VF too */
        f->devices[D_PF].held_by = (char *) "lease 0123 of uid 1000";
        evaluate(f, DEVICES(A_VF1), &root, &v);
        assert_false(v.allowed);
        expect(&v, "in-use", A_VF1, false, "its PF " A_PF " is held by lease 0123 of uid 1000");
        verdict_done(&v);
        f->devices[D_PF].held_by = NULL;

        /* PF on vfio-pci without a lease: the same */
        f->devices[D_PF].driver = (char *) "vfio-pci";
        f->devices[D_PF].state = DEVICE_STATE_VFIO;
        evaluate(f, DEVICES(A_VF2), &root, &v);
        assert_false(v.allowed);
        expect(&v, "in-use", A_VF2, false, "its PF " A_PF " is on vfio-pci");
        verdict_done(&v);
}

/* Lists ask for failed checks only: same decision, no passed entries. */
static void test_failed_only(void **state) {
        Fixture *f = *state;
        const Request full = { .devices = DEVICES(A_E1000_1) };
        const Request brief = { .devices = DEVICES(A_E1000_1), .failed_only = true };
        Verdict a, b;

        assert_int_equal(policy_evaluate(&f->p, &f->t, &full, &root, &a), 0);
        assert_int_equal(policy_evaluate(&f->p, &f->t, &brief, &root, &b), 0);
        assert_int_equal(a.allowed, b.allowed);
        assert_false(b.allowed);
        for (size_t i = 0; i < b.n_checks; i++)
                assert_false(b.checks[i].passed);
        size_t failed = 0;
        for (size_t i = 0; i < a.n_checks; i++)
                if (!a.checks[i].passed) {
                        assert_string_equal(a.checks[i].code, b.checks[failed].code);
                        failed++;
                }
        assert_int_equal(failed, b.n_checks);
        assert_true(b.n_checks > 0);
        verdict_done(&a);
        verdict_done(&b);
}

static void test_authorization(void **state) {
        Fixture *f = *state;
        Verdict v;

        /* no rules: root may, others may not */
        evaluate(f, DEVICES(A_E1000E), &alice, &v);
        assert_false(v.allowed);
        assert_null(v.rule);
        expect(&v, "not-authorized", A_E1000E, false, "no rule matches " A_E1000E ", so only root may use it");
        expect(&v, "not-authorized", A_E1000E, false, "allows user alice");
        verdict_done(&v);

        evaluate(f, DEVICES(A_E1000E), &nameless, &v);
        expect(&v, "not-authorized", A_E1000E, false, "allows uid 4242");
        verdict_done(&v);

        policy_text(f, rules_json);

        /* allowed by group: alice is in vfio, the "nics" rule names that group */
        evaluate(f, DEVICES(A_E1000E), &alice, &v);
        assert_true(v.allowed);
        assert_string_equal(v.rule, "nics");
        expect(&v, "not-authorized", A_E1000E, true, "rule \"nics\" in /etc/vfiod/policy.d/50-test.json allows group vfio");
        verdict_done(&v);

        /* allowed by user: "lab-e1000" comes first for 02:0x.0 and names bob */
        evaluate(f, DEVICES(A_E1000_1, A_E1000_2), &bob, &v);
        assert_true(v.allowed);
        assert_string_equal(v.rule, "lab-e1000");
        expect(&v, "not-authorized", A_E1000_1, true, "allows user bob");
        expect(&v, "not-authorized", A_E1000_2, true, "allows user bob");
        verdict_done(&v);

        /* first match wins: alice's group would fit "nics", but "lab-e1000" decides for 02:01.0 */
        evaluate(f, DEVICES(A_E1000_1, A_E1000_2), &alice, &v);
        assert_false(v.allowed);
        assert_string_equal(v.rule, "lab-e1000");
        expect(&v, "not-authorized", A_E1000_1, false, "rule \"lab-e1000\"");
        expect(&v, "not-authorized", A_E1000_1, false, "lists neither user alice nor any of its groups");
        verdict_done(&v);

        /* an allow rule adds users; it does not take the device away from root */
        evaluate(f, DEVICES(A_E1000E), &root, &v);
        assert_true(v.allowed);
        expect(&v, "not-authorized", A_E1000E, true, "rule \"nics\"");
        verdict_done(&v);

        /* no rule matches the NVMe (class 01): root may */
        policy_text(f, "{\"protect\": {\"rootStorage\": false}, \"rules\": [{\"name\": \"nics\", \"match\": {\"class\": \"02*\"}, "
                       "\"allow\": {\"groups\": [\"vfio\"]}}]}");
        evaluate(f, DEVICES(A_NVME), &root, &v);
        assert_true(v.allowed);
        assert_null(v.rule);
        verdict_done(&v);
}

/* Bind (a lease with no process) is a right of its own: allow.bind, or root. */
static void test_bind_right(void **state) {
        Fixture *f = *state;
        Verdict v;

        policy_text(f, rules_json);
        evaluate_bind(f, DEVICES(A_E1000E), &alice, &v);
        assert_false(v.allowed);
        assert_string_equal(v.rule, "nics");
        expect(&v, "bind-not-authorized", A_E1000E, false, "lets group vfio acquire " A_E1000E " but not bind it");
        expect(&v, "bind-not-authorized", A_E1000E, false, "\"bind\": true");
        verdict_done(&v);

        evaluate_bind(f, DEVICES(A_E1000E), &root, &v);
        assert_true(v.allowed);
        verdict_done(&v);

        policy_text(f, "{\"rules\": [{\"name\": \"nics\", \"match\": {\"class\": \"02*\"}, "
                       "\"allow\": {\"groups\": [\"vfio\"], \"bind\": true}}]}");
        evaluate_bind(f, DEVICES(A_E1000E), &alice, &v);
        assert_true(v.allowed);
        assert_null(find(&v, "bind-not-authorized", A_E1000E));
        verdict_done(&v);

        /* allow.bind grants nothing to whom the rule does not name */
        evaluate_bind(f, DEVICES(A_E1000E), &bob, &v);
        assert_false(v.allowed);
        expect(&v, "not-authorized", A_E1000E, false, "lists neither user bob");
        verdict_done(&v);
}

static void test_denied_by_rule(void **state) {
        Fixture *f = *state;
        Verdict v;

        policy_text(f, rules_json);

        /* the GPU rule denies even root, and names itself and its file */
        policy_text(f, "{\"protect\": {\"bootConsole\": false}, \"platform\": {\"allowDirectMappedRegions\": true}, "
                       "\"rules\": [{\"name\": \"never-gpus\", \"match\": {\"class\": \"03*\"}, \"deny\": true}]}");
        evaluate(f, DEVICES(A_VGA), &root, &v);
        assert_false(v.allowed);
        assert_string_equal(v.rule, "never-gpus");
        expect(&v, "denied-by-rule", A_VGA, false,
               "rule \"never-gpus\" in /etc/vfiod/policy.d/50-test.json denies " A_VGA);
        assert_int_equal(count(&v, "not-authorized"), 0);
        verdict_done(&v);

        /* first match wins the other way round too: a deny before an allow */
        policy_text(f, "{\"rules\": ["
                       "{\"name\": \"block-e1000e\", \"match\": {\"device\": \"10d3\", \"address\": \"0000:00:0[0-3].*\"}, \"deny\": true},"
                       "{\"name\": \"nics\", \"match\": {\"class\": \"02*\"}, \"allow\": {\"groups\": [\"vfio\"]}}]}");
        evaluate(f, DEVICES(A_E1000E), &alice, &v);
        assert_false(v.allowed);
        assert_string_equal(v.rule, "block-e1000e");
        expect(&v, "denied-by-rule", A_E1000E, false, "block-e1000e");
        verdict_done(&v);

        /* the glob does not reach 00:08.0, so "nics" allows it */
        evaluate(f, DEVICES(A_VIRTIO), &alice, &v);
        assert_true(v.allowed);
        assert_string_equal(v.rule, "nics");
        verdict_done(&v);

        /* the deciding rule of a verdict is the one that refused, even when another device was allowed first */
        policy_text(f, rules_json);
        evaluate(f, DEVICES(A_E1000E, A_NOGROUP), &alice, &v);
        assert_false(v.allowed);
        assert_string_equal(v.rule, "no-virtio");
        expect(&v, "not-authorized", A_E1000E, true, NULL);
        expect(&v, "denied-by-rule", A_NOGROUP, false, "rule \"no-virtio\"");
        verdict_done(&v);
}

/* Safety checks bind root, and authorization does not hide them: a refused verdict lists all. */
static void test_safety_binds_root(void **state) {
        Fixture *f = *state;
        Verdict v;
        size_t failed = 0;

        f->t.switches.acs_override = (char *) "downstream";
        f->t.switches.type1_unsafe_interrupts = TRI_YES;
        evaluate(f, DEVICES(A_E1000_1), &root, &v);
        assert_false(v.allowed);
        expect(&v, "not-authorized", A_E1000_1, true, NULL);
        for (size_t i = 0; i < v.n_checks; i++)
                failed += !v.checks[i].passed;
        /* partial-group, group-not-viable, unsafe-interrupts, acs-override */
        assert_int_equal(failed, 4);
        verdict_done(&v);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_clean_single_device, setup, teardown),
                cmocka_unit_test_setup_teardown(test_bad_requests, setup, teardown),
                cmocka_unit_test_setup_teardown(test_no_iommu_group, setup, teardown),
                cmocka_unit_test_setup_teardown(test_not_an_endpoint, setup, teardown),
                cmocka_unit_test_setup_teardown(test_partial_group, setup, teardown),
                cmocka_unit_test_setup_teardown(test_group_not_viable, setup, teardown),
                cmocka_unit_test_setup_teardown(test_noiommu, setup, teardown),
                cmocka_unit_test_setup_teardown(test_unsafe_interrupts, setup, teardown),
                cmocka_unit_test_setup_teardown(test_interrupt_remapping, setup, teardown),
                cmocka_unit_test_setup_teardown(test_acs_override, setup, teardown),
                cmocka_unit_test_setup_teardown(test_smmu_bypass, setup, teardown),
                cmocka_unit_test_setup_teardown(test_direct_mapped_region, setup, teardown),
                cmocka_unit_test_setup_teardown(test_aperture_too_small, setup, teardown),
                cmocka_unit_test_setup_teardown(test_iova_ranges, setup, teardown),
                cmocka_unit_test_setup_teardown(test_aperture_mixed, setup, teardown),
                cmocka_unit_test_setup_teardown(test_host_use, setup, teardown),
                cmocka_unit_test_setup_teardown(test_authorization, setup, teardown),
                cmocka_unit_test_setup_teardown(test_denied_by_rule, setup, teardown),
                cmocka_unit_test_setup_teardown(test_bind_right, setup, teardown),
                cmocka_unit_test_setup_teardown(test_safety_binds_root, setup, teardown),
                cmocka_unit_test_setup_teardown(test_held_by_domain, setup, teardown),
                cmocka_unit_test_setup_teardown(test_in_use, setup, teardown),
                cmocka_unit_test_setup_teardown(test_failed_only, setup, teardown),
                cmocka_unit_test_setup_teardown(test_sriov_pf, setup, teardown),
                cmocka_unit_test_setup_teardown(test_sriov_vf_pf_held, setup, teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
