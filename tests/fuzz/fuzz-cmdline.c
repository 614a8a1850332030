/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* /proc/cmdline: the switches that weaken isolation. */
#include "fuzz.h"
#include "macro.h"
#include "switches.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_free_ char *text = fuzz_string(data, size);
        _cleanup_(kernel_switches_done) KernelSwitches s = {};

        FUZZ_ASSERT(kernel_switches_parse_cmdline(text, &s) == 0);
        /* The value is a copy of part of the line. */
        FUZZ_ASSERT(!s.acs_override || strlen(s.acs_override) < size + 1);
        return 0;
}
