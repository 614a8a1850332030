/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "amd-iommu.h"
#include "intel-iommu.h"

/* Recorded from QEMU's intel-iommu with aw-bits=48 under the Debian 13 kernel. */
static void test_qemu_aw48(void **state) {
        IntelIommuCaps c;

        (void) state;
        assert_int_equal(intel_iommu_decode("d2008c222f0606\n", "f00f4a\n", &c), 0);
        assert_int_equal(c.mgaw, 48);
        assert_int_equal(c.sagaw_mask, 0x6);       /* 39- and 48-bit tables */
        assert_int_equal(c.address_width, 48);
        assert_true(c.interrupt_remapping);       /* ecap bit 3 */
        assert_true(c.pass_through);              /* ecap bit 6 */
}

/* Recorded with aw-bits=39: MGAW field 0x26 (38 + 1), SAGAW only the 3-level (39-bit) table. */
static void test_aw39(void **state) {
        IntelIommuCaps c;

        (void) state;
        assert_int_equal(intel_iommu_decode("d2008c22260206", NULL, &c), 0);
        assert_int_equal(c.mgaw, 39);
        assert_int_equal(c.sagaw_mask, 0x2);
        assert_int_equal(c.address_width, 39);
        assert_false(c.interrupt_remapping);
        assert_false(c.pass_through);
}

/* A unit whose MGAW is narrower than its widest table: the usable width is MGAW. */
static void test_mgaw_limits(void **state) {
        IntelIommuCaps c;

        (void) state;
        /* MGAW field 0x28 -> 41 bits, SAGAW 39+48 */
        assert_int_equal(intel_iommu_decode("280600", NULL, &c), 0);
        assert_int_equal(c.mgaw, 41);
        assert_int_equal(c.address_width, 41);
}

/* No supported table depth: decoded, but the width is unknown (0), not guessed. */
static void test_no_sagaw(void **state) {
        IntelIommuCaps c;

        (void) state;
        assert_int_equal(intel_iommu_decode("2f0000", NULL, &c), 0);
        assert_int_equal(c.mgaw, 48);
        assert_int_equal(c.address_width, 0);
}

static void test_malformed(void **state) {
        IntelIommuCaps c = { .mgaw = 77 };

        (void) state;
        assert_int_equal(intel_iommu_decode(NULL, NULL, &c), -EINVAL);
        assert_int_equal(intel_iommu_decode("", NULL, &c), -EINVAL);
        assert_int_equal(intel_iommu_decode("\n", NULL, &c), -EINVAL);
        assert_int_equal(intel_iommu_decode("0x2f0606", NULL, &c), -EINVAL);
        assert_int_equal(intel_iommu_decode("2f0606 ", NULL, &c), -EINVAL);
        assert_int_equal(intel_iommu_decode(" 2f0606", NULL, &c), -EINVAL);
        assert_int_equal(intel_iommu_decode("-2f0606", NULL, &c), -EINVAL);
        assert_int_equal(intel_iommu_decode("2f0606\n\n", NULL, &c), -EINVAL);
        assert_int_equal(intel_iommu_decode("2f0606\nxx", NULL, &c), -EINVAL);
        assert_int_equal(intel_iommu_decode("zz", NULL, &c), -EINVAL);
        assert_int_equal(intel_iommu_decode("12345678901234567", NULL, &c), -ERANGE);
        assert_int_equal(intel_iommu_decode("0", NULL, &c), -EBADMSG);
        assert_int_equal(intel_iommu_decode("2f0606", "nothex", &c), -EINVAL);
        /* Nothing was written on failure. */
        assert_int_equal(c.mgaw, 77);

        /* 16 digits is the most a 64-bit register has. */
        assert_int_equal(intel_iommu_decode("ffffffffffffffff", NULL, &c), 0);
        assert_int_equal(c.mgaw, 64);
}

static void test_parse_hex(void **state) {
        uint64_t v;

        (void) state;
        assert_int_equal(parse_hex_u64("DeadBeef\n", &v), 0);
        assert_true(v == 0xdeadbeef);
        assert_int_equal(parse_hex_u64("0000000000000001", &v), 0);
        assert_true(v == 1);
}

/* Recorded from QEMU's amd-iommu under the Debian 13 kernel ("AMD-Vi: Extended features
 * (0x29d3, 0x0): PreF PPR GT IA GA HE"). */
static void test_amd_recorded(void **state) {
        AmdIommuCaps c;

        (void) state;
        assert_int_equal(amd_iommu_decode("29d3:0\n", &c), 0);
        assert_true(c.efr == 0x29d3);
        assert_int_equal(c.host_levels, 6);     /* HATS = 2 */
        assert_int_equal(c.address_width, 64);
        assert_true(c.guest_translation);
        assert_false(c.x2apic);

        /* Older kernels print only the EFR; HATS 0 = four levels = 48 bits. */
        assert_int_equal(amd_iommu_decode("4\n", &c), 0);
        assert_int_equal(c.host_levels, 4);
        assert_int_equal(c.address_width, 48);
        assert_true(c.x2apic);
        /* HATS 3 is reserved: width unknown, not guessed. */
        assert_int_equal(amd_iommu_decode("c00:0", &c), 0);
        assert_int_equal(c.address_width, 0);
}

static void test_amd_malformed(void **state) {
        AmdIommuCaps c = { .host_levels = 9 };

        (void) state;
        assert_int_equal(amd_iommu_decode(NULL, &c), -EINVAL);
        assert_int_equal(amd_iommu_decode("", &c), -EINVAL);
        assert_int_equal(amd_iommu_decode(":0", &c), -EINVAL);
        assert_int_equal(amd_iommu_decode("29d3:", &c), -EINVAL);
        assert_int_equal(amd_iommu_decode("29d3:x", &c), -EINVAL);
        assert_int_equal(amd_iommu_decode("0x29d3", &c), -EINVAL);
        assert_int_equal(amd_iommu_decode("12345678901234567:0", &c), -EINVAL);
        assert_int_equal(c.host_levels, 9);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_qemu_aw48),
                cmocka_unit_test(test_aw39),
                cmocka_unit_test(test_mgaw_limits),
                cmocka_unit_test(test_no_sagaw),
                cmocka_unit_test(test_malformed),
                cmocka_unit_test(test_parse_hex),
                cmocka_unit_test(test_amd_recorded),
                cmocka_unit_test(test_amd_malformed),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
