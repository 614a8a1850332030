/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The state journal: one lease object, as broker_start reads it from state.json. What is
 * accepted must write back and read again to the same lease. */
#include <errno.h>

#include "fuzz.h"
#include "lease.h"
#include "macro.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_(sd_json_variant_unrefp) sd_json_variant *v = NULL, *w = NULL, *w2 = NULL;
        _cleanup_(lease_freep) Lease *l = NULL, *l2 = NULL;
        _cleanup_free_ char *text = NULL;
        int r;

        /* The journal is small; sd-json's own limits are not what is tested here. */
        if (size > 64 * 1024)
                return 0;
        text = fuzz_string(data, size);
        if (sd_json_parse(text, 0, &v, NULL, NULL) < 0)
                return 0;

        r = lease_from_json(v, &l);
        if (r < 0) {
                /* -ENODATA: an empty lease, which the caller drops (F16). */
                FUZZ_ASSERT(r == -EBADMSG || r == -ENOMEM || r == -ENODATA);
                return 0;
        }
        FUZZ_ASSERT(l->n_devices <= LEASE_DEVICES_MAX && l->n_groups <= LEASE_DEVICES_MAX &&
                    l->n_moved <= LEASE_DEVICES_MAX);
        FUZZ_ASSERT(l->pidfd < 0 && !l->pidfd_source);

        FUZZ_ASSERT(lease_to_json(l, &w) >= 0);
        FUZZ_ASSERT(lease_from_json(w, &l2) == 0);
        FUZZ_ASSERT(lease_to_json(l2, &w2) >= 0);
        FUZZ_ASSERT(sd_json_variant_equal(w, w2));
        return 0;
}
