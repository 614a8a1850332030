/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Policy files: the loader on one file's bytes; what it accepts is then evaluated against a
 * small host for a few callers, and every verdict must keep its promises. */
#include <errno.h>
#include <stdio.h>

#include "fuzz.h"
#include "macro.h"
#include "policy.h"

static const Caller callers[] = {
        { .uid = 0, .user_name = "root", .group_names = (const char *const[]) { "root", NULL } },
        { .uid = 1000, .user_name = "alice", .group_names = (const char *const[]) { "alice", "vfio", NULL } },
        { .uid = 4242, .user_name = NULL, .group_names = NULL },
};

static const char *const *const requests[] = {
        (const char *const[]) { "0000:00:03.0", NULL },
        (const char *const[]) { "0000:00:04.0", NULL },                /* root storage */
        (const char *const[]) { "0000:00:01.0", NULL },                /* boot console, direct region */
        (const char *const[]) { "0000:02:01.0", NULL },                /* part of a shared group */
        (const char *const[]) { "0000:00:05.0", "0000:02:01.0", "0000:02:02.0", NULL },
        (const char *const[]) { "0000:00:06.0", NULL },                /* no group */
};

static void check_verdict(const Policy *p, const Topology *t, const char *const *devices, const Caller *c) {
        static const IovaRange ranges[] = { { 0x100000, 0xfedfffff } };
        const Request r = {
                .devices = devices,
                .min_aperture_bits = 40,
                .iova_ranges = ranges,
                .n_iova_ranges = ELEMENTSOF(ranges),
        };
        Verdict v = {};
        bool all = true;

        FUZZ_ASSERT(policy_evaluate(p, t, &r, c, &v) == 0);
        FUZZ_ASSERT(v.n_checks > 0);
        for (size_t i = 0; i < v.n_checks; i++) {
                FUZZ_ASSERT(v.checks[i].code && v.checks[i].subject && v.checks[i].sentence);
                FUZZ_ASSERT(!strchr(v.checks[i].sentence, '\n'));
                all = all && v.checks[i].passed;
        }
        FUZZ_ASSERT(v.allowed == all);
        /* No rule can give away the disk the host runs from while the policy protects it. */
        if (p->protect_root_storage && strcmp(devices[0], "0000:00:04.0") == 0)
                FUZZ_ASSERT(!v.allowed);
        verdict_done(&v);
}

/* Refused files must leave the policy as it was: nothing half-loaded. */
static void check_unchanged(const Policy *before, const Policy *after) {
        FUZZ_ASSERT(before->n_rules == after->n_rules && before->rules == after->rules);
        FUZZ_ASSERT(before->min_aperture_bits == after->min_aperture_bits);
        FUZZ_ASSERT(before->require_interrupt_remapping == after->require_interrupt_remapping);
        FUZZ_ASSERT(before->allow_noiommu == after->allow_noiommu);
        FUZZ_ASSERT(before->allow_acs_override == after->allow_acs_override);
        FUZZ_ASSERT(before->allow_direct_mapped_regions == after->allow_direct_mapped_regions);
        FUZZ_ASSERT(before->allow_unsafe_interrupts == after->allow_unsafe_interrupts);
        FUZZ_ASSERT(before->allow_smmu_bypass == after->allow_smmu_bypass);
        FUZZ_ASSERT(before->mixed_apertures == after->mixed_apertures);
        FUZZ_ASSERT(before->protect_root_storage == after->protect_root_storage);
        FUZZ_ASSERT(before->protect_routed_interfaces == after->protect_routed_interfaces);
        FUZZ_ASSERT(before->protect_boot_console == after->protect_boot_console);
}

/* One file's bytes, exactly: no terminating NUL, the loader is given a length. */
static int parse_file(const char *path, const uint8_t *data, size_t size, Policy *p) {
        _cleanup_free_ char *error = NULL;
        _cleanup_free_ uint8_t *copy = NULL;
        Policy before = *p;
        int r;

        copy = malloc(size ?: 1);
        FUZZ_ASSERT(copy);
        memcpy(copy, data, size);
        r = policy_parse_text(path, (const char *) copy, size, p, &error);
        if (r < 0) {
                /* Every refusal says where and why, on one line. */
                FUZZ_ASSERT(r == -ENOMEM || (error && *error && !strchr(error, '\n')));
                check_unchanged(&before, p);
                return r;
        }
        FUZZ_ASSERT(!error);
        FUZZ_ASSERT(p->n_rules >= before.n_rules && p->n_rules <= POLICY_RULES_MAX);
        return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        const uint8_t *nul = memchr(data, 0, size);
        Policy p;
        Topology t;

        /* A NUL (which no policy file may contain) splits the input into two files, loaded in
         * order into one policy, as policy_load_dirs does: the second may add rules and change
         * settings, or be refused and change nothing. */
        policy_init_defaults(&p);
        if (nul) {
                if (parse_file("/etc/vfiod/policy.d/10-fuzz.json", data, nul - data, &p) < 0) {
                        policy_done(&p);
                        return 0;
                }
                size -= nul - data + 1;
                data = nul + 1;
        }
        if (parse_file("/etc/vfiod/policy.d/50-fuzz.json", data, size, &p) < 0 && !nul) {
                policy_done(&p);
                return 0;
        }

        fuzz_host(&t);
        for (size_t i = 0; i < ELEMENTSOF(requests); i++)
                for (size_t k = 0; k < ELEMENTSOF(callers); k++)
                        check_verdict(&p, &t, requests[i], &callers[k]);
        policy_done(&p);
        return 0;
}
