/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The shipped policy: /usr/share/vfiod/policy.d/00-defaults.json says exactly what vfiod does with
 * no file at all, and states every setting (so reading it tells the whole default); each worked
 * example in /usr/share/doc/vfiod/examples/ is accepted by the loader.
 * Usage: test-policy-shipped DEFAULTS.json EXAMPLE.json... */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "fileio.h"
#include "macro.h"
#include "policy.h"

static char **arg_files;
static int arg_n_files;

static void parse_file(const char *path, Policy *p) {
        _cleanup_free_ char *text = NULL, *err = NULL;
        size_t len = 0;

        assert_int_equal(read_full_file_bounded(path, POLICY_FILE_SIZE_MAX, &text, &len), 0);
        if (policy_parse_text(path, text, len, p, &err) < 0)
                fail_msg("%s rejected: %s", path, err ?: "(no message)");
        assert_null(err);
}

static void assert_same_settings(const Policy *a, const Policy *b) {
        assert_int_equal(a->min_aperture_bits, b->min_aperture_bits);
        assert_int_equal(a->require_interrupt_remapping, b->require_interrupt_remapping);
        assert_int_equal(a->allow_noiommu, b->allow_noiommu);
        assert_int_equal(a->allow_acs_override, b->allow_acs_override);
        assert_int_equal(a->allow_direct_mapped_regions, b->allow_direct_mapped_regions);
        assert_int_equal(a->allow_unsafe_interrupts, b->allow_unsafe_interrupts);
        assert_int_equal(a->allow_smmu_bypass, b->allow_smmu_bypass);
        assert_int_equal(a->mixed_apertures, b->mixed_apertures);
        assert_int_equal(a->protect_root_storage, b->protect_root_storage);
        assert_int_equal(a->protect_routed_interfaces, b->protect_routed_interfaces);
        assert_int_equal(a->protect_boot_console, b->protect_boot_console);
        assert_int_equal(a->n_rules, b->n_rules);
}

/* Loaded over the built-in defaults, the file changes nothing and adds no rule. */
static void test_defaults_equal_builtin(void **state) {
        Policy builtin, loaded;

        policy_init_defaults(&builtin);
        policy_init_defaults(&loaded);
        parse_file(arg_files[0], &loaded);
        assert_same_settings(&builtin, &loaded);
        assert_int_equal(loaded.n_rules, 0);
        policy_done(&loaded);
        policy_done(&builtin);
}

/* Loaded over the opposite of every default, the file brings each one back: it names them all, so
 * a setting added to the code without the file (or the file with a stale value) fails here. */
static void test_defaults_state_every_setting(void **state) {
        Policy builtin, flipped;

        policy_init_defaults(&builtin);
        policy_init_defaults(&flipped);
        flipped.min_aperture_bits = builtin.min_aperture_bits + 9;
        flipped.require_interrupt_remapping = !builtin.require_interrupt_remapping;
        flipped.allow_noiommu = !builtin.allow_noiommu;
        flipped.allow_acs_override = !builtin.allow_acs_override;
        flipped.allow_direct_mapped_regions = !builtin.allow_direct_mapped_regions;
        flipped.allow_unsafe_interrupts = !builtin.allow_unsafe_interrupts;
        flipped.allow_smmu_bypass = !builtin.allow_smmu_bypass;
        flipped.mixed_apertures = (builtin.mixed_apertures + 1) % _MIXED_APERTURES_MAX;
        flipped.protect_root_storage = !builtin.protect_root_storage;
        flipped.protect_routed_interfaces = !builtin.protect_routed_interfaces;
        flipped.protect_boot_console = !builtin.protect_boot_console;
        parse_file(arg_files[0], &flipped);
        assert_same_settings(&builtin, &flipped);
        policy_done(&flipped);
        policy_done(&builtin);
}

static void test_examples_load(void **state) {
        assert_true(arg_n_files >= 2);
        for (int i = 1; i < arg_n_files; i++) {
                Policy p;

                policy_init_defaults(&p);
                parse_file(arg_files[i], &p);
                /* An example shows at least one rule, or it shows nothing. */
                if (p.n_rules == 0)
                        fail_msg("%s has no rule", arg_files[i]);
                policy_done(&p);
        }
}

int main(int argc, char *argv[]) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_defaults_equal_builtin),
                cmocka_unit_test(test_defaults_state_every_setting),
                cmocka_unit_test(test_examples_load),
        };

        if (argc < 2) {
                fprintf(stderr, "usage: %s DEFAULTS.json EXAMPLE.json...\n", argv[0]);
                return 2;
        }
        arg_files = argv + 1;
        arg_n_files = argc - 1;
        return cmocka_run_group_tests(tests, NULL, NULL);
}
