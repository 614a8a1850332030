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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_free_ char *error = NULL;
        Policy p;
        Topology t;
        int r;

        /* Exactly the file's bytes, no terminating NUL: the loader is given a length. */
        policy_init_defaults(&p);
        r = policy_parse_text("/etc/vfiod/policy.d/50-fuzz.json", (const char *) data, size, &p, &error);
        if (r < 0) {
                /* Every refusal says where and why, on one line. */
                FUZZ_ASSERT(r == -ENOMEM || (error && *error && !strchr(error, '\n')));
                policy_done(&p);
                return 0;
        }
        FUZZ_ASSERT(!error);
        FUZZ_ASSERT(p.n_rules <= POLICY_RULES_MAX);

        fuzz_host(&t);
        for (size_t i = 0; i < ELEMENTSOF(requests); i++)
                for (size_t k = 0; k < ELEMENTSOF(callers); k++)
                        check_verdict(&p, &t, requests[i], &callers[k]);
        policy_done(&p);
        return 0;
}
