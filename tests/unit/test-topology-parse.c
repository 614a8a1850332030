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

#include "iommu-group.h"
#include "pci-address.h"
#include "switches.h"

/* Recorded from the q35 ICH9 group (6) under the Debian 13 kernel. */
static void test_regions_recorded(void **state) {
        ReservedRegion *r = NULL;
        size_t n = 0;

        (void) state;
        assert_int_equal(reserved_regions_parse("0x0000000000000000 0x0000000000ffffff direct-relaxable\n"
                                                "0x00000000fee00000 0x00000000feefffff msi\n", &r, &n), 0);
        assert_int_equal(n, 2);
        assert_int_equal(r[0].type, RESERVED_REGION_DIRECT_RELAXABLE);
        assert_true(r[0].start == 0 && r[0].end == 0xffffff);
        assert_int_equal(r[1].type, RESERVED_REGION_MSI);
        assert_true(r[1].start == 0xfee00000 && r[1].end == 0xfeefffff);
        free(r);

        assert_int_equal(reserved_regions_parse("0x00000000000e0000 0x00000000000fffff direct\n", &r, &n), 0);
        assert_int_equal(r[0].type, RESERVED_REGION_DIRECT);
        free(r);

        assert_int_equal(reserved_regions_parse("", &r, &n), 0);
        assert_int_equal(n, 0);
        free(r);
}

static void test_regions_malformed(void **state) {
        ReservedRegion *r = NULL;
        size_t n = 77;

        (void) state;
        assert_int_equal(reserved_regions_parse("0x10 0x0f msi\n", &r, &n), -EINVAL);          /* end < start */
        assert_int_equal(reserved_regions_parse("10 0x20 msi\n", &r, &n), -EINVAL);            /* no 0x */
        assert_int_equal(reserved_regions_parse("0x10 0x20 weird\n", &r, &n), -EINVAL);       /* unknown type */
        assert_int_equal(reserved_regions_parse("0x10 0x20\n", &r, &n), -EINVAL);             /* missing type */
        assert_int_equal(reserved_regions_parse("0x10 0x20 msi extra\n", &r, &n), -EINVAL);
        assert_int_equal(reserved_regions_parse("0x10000000000000000 0x20 msi\n", &r, &n), -EINVAL);
        assert_int_equal(reserved_regions_parse("0x10  0x20 msi\n", &r, &n), -EINVAL);
        assert_null(r);
        assert_int_equal(n, 77);
}

static void test_regions_bounded(void **state) {
        size_t sz = (RESERVED_REGIONS_MAX + 1) * 64;
        char *text = malloc(sz), *p = text;
        ReservedRegion *r = NULL;
        size_t n = 0;

        (void) state;
        for (int i = 0; i <= RESERVED_REGIONS_MAX; i++)
                p += sprintf(p, "0x%016x 0x%016x msi\n", i * 16, i * 16 + 15);
        assert_int_equal(reserved_regions_parse(text, &r, &n), -E2BIG);
        free(text);
}

static void test_cmdline(void **state) {
        KernelSwitches s = {};

        (void) state;
        assert_int_equal(kernel_switches_parse_cmdline(
                "BOOT_IMAGE=/vmlinuz root=/dev/vda rw pcie_acs_override=downstream,multifunction "
                "intremap=nosid,off iommu=pt intel_iommu=on,sm_on amd_iommu=off "
                "vfio.enable_unsafe_noiommu_mode=1 quiet", &s), 0);
        assert_string_equal(s.acs_override, "downstream,multifunction");
        assert_true(s.intremap_off);
        assert_true(s.intremap_nosid);
        assert_true(s.iommu_pt);
        assert_false(s.intel_iommu_off);
        assert_true(s.amd_iommu_off);
        assert_true(s.cmdline_noiommu);
        kernel_switches_done(&s);

        /* Recorded from the VM: nothing set. Look-alike keys do not count. */
        assert_int_equal(kernel_switches_parse_cmdline(
                "console=ttyS0 panic=-1 root=/dev/vda rw intel_iommu=on xpcie_acs_override=id:1 "
                "\"quoted=pcie_acs_override=x y\" vfio.enable_unsafe_noiommu_mode=0\n", &s), 0);
        assert_null(s.acs_override);
        assert_false(s.intremap_off);
        assert_false(s.iommu_pt);
        assert_false(s.intel_iommu_off);
        assert_false(s.cmdline_noiommu);
        kernel_switches_done(&s);

        assert_int_equal(kernel_switches_parse_cmdline("intel_iommu=off", &s), 0);
        assert_true(s.intel_iommu_off);
        kernel_switches_done(&s);

        assert_int_equal(kernel_switches_parse_cmdline(NULL, &s), -EINVAL);
}

static void test_interrupts(void **state) {
        (void) state;
        static const char x86[] =
                "           CPU0       CPU1       \n"
                "  0:         82          0  IR-IO-APIC   2-edge      timer\n"
                " 24:          0          0  DMAR-MSI   0-edge      dmar0\n"
                " 25:          0          0  IR-PCI-MSIX-0000:00:04.0   0-edge      PCIe PME, aerdrv\n"
                "NMI:          0          0   Non-maskable interrupts\n"
                "ERR:          0\n";
        static const char arm64[] =
                "           CPU0       CPU1       CPU2       CPU3\n"
                " 11:       1234       1111        999        888     GICv3  27 Level     arch_timer\n"
                " 53:          0          0          0          0   ITS-MSI 524288 Edge      nvme0q0\n"
                "IPI0:       10         10         10         10       Rescheduling interrupts\n";
        static const char arm64_new[] =
                "           CPU0       CPU1\n"
                " 60:          5          0  ITS-PCI-MSIX-0002:01:00.0   0 Edge      mlx5_async0\n";
        /* An action name that starts with IR- is free text, not a chip. */
        static const char fooled[] =
                "           CPU0       CPU1\n"
                "  0:         82          0  IO-APIC   2-edge      IR-timer\n"
                " 25:          0          0  PCI-MSIX-0000:00:04.0   0-edge      IR-PCI-MSIX\n";

        assert_int_equal(interrupts_parse(x86), MSI_ISOLATION_REMAPPING);
        assert_int_equal(interrupts_parse(arm64), MSI_ISOLATION_ITS);
        assert_int_equal(interrupts_parse(arm64_new), MSI_ISOLATION_ITS);
        assert_int_equal(interrupts_parse(fooled), MSI_ISOLATION_NONE);
        assert_int_equal(interrupts_parse(""), MSI_ISOLATION_UNKNOWN);
        assert_int_equal(interrupts_parse("garbage\n  1: 2 3 X\n"), MSI_ISOLATION_UNKNOWN);
        assert_int_equal(interrupts_parse("  CPU0\n  1: x IR-IO-APIC\n"), MSI_ISOLATION_UNKNOWN);
        assert_int_equal(interrupts_parse(NULL), MSI_ISOLATION_UNKNOWN);
}

static void test_cmdline_intremap(void **state) {
        KernelSwitches s = {};
        (void) state;

        assert_int_equal(kernel_switches_parse_cmdline("quiet nointremap", &s), 0);
        assert_true(s.intremap_off);
        kernel_switches_done(&s);
        assert_int_equal(kernel_switches_parse_cmdline("intremap=no_x2apic_optout", &s), 0);
        assert_false(s.intremap_off);
        assert_false(s.intremap_nosid);
        kernel_switches_done(&s);
        assert_int_equal(kernel_switches_parse_cmdline("intremap=nosid", &s), 0);
        assert_true(s.intremap_nosid);
        kernel_switches_done(&s);
}

static void test_pci_address(void **state) {
        char buf[PCI_ADDRESS_STRLEN_MAX + 1];

        (void) state;
        assert_int_equal(pci_address_normalize("0000:00:03.0", buf), 0);
        assert_string_equal(buf, "0000:00:03.0");
        assert_int_equal(pci_address_normalize("0000:3B:1F.7", buf), 0);
        assert_string_equal(buf, "0000:3b:1f.7");
        assert_true(pci_address_is_valid("ffff:ff:1f.7"));
        assert_false(pci_address_is_valid("0000:3B:00.0"));   /* valid, but not canonical */
        /* Intel VMD domains: more than four digits, no leading zeros then. */
        assert_int_equal(pci_address_normalize("10000:E1:00.0", buf), 0);
        assert_string_equal(buf, "10000:e1:00.0");
        assert_true(pci_address_is_valid("ffffffff:ff:1f.7"));

        const char *bad[] = { "", "00:03.0", "0000:00:03.8", "0000:00:20.0", "0000:00:03.0 ", " 0000:00:03.0",
                              "0000-00:03.0", "0000:00:03:0", "g000:00:03.0", "0000:00:03.00", "../../../etc",
                              "0000:00:03.0/../..", "0000:00:0x.0", "00000:00:03.0", "123456789:00:03.0",
                              "000:00:03.0", "0000:0:03.0", NULL };
        for (size_t i = 0; bad[i]; i++)
                assert_int_equal(pci_address_normalize(bad[i], buf), -EINVAL);
        assert_int_equal(pci_address_normalize(NULL, buf), -EINVAL);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_regions_recorded),
                cmocka_unit_test(test_regions_malformed),
                cmocka_unit_test(test_regions_bounded),
                cmocka_unit_test(test_cmdline),
                cmocka_unit_test(test_pci_address),
                cmocka_unit_test(test_interrupts),
                cmocka_unit_test(test_cmdline_intremap),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
