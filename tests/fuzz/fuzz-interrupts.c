/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* /proc/interrupts: which irq chips isolate MSIs. */
#include "fuzz.h"
#include "macro.h"
#include "switches.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_free_ char *text = fuzz_string(data, size);
        MsiIsolation m = interrupts_parse(text);

        FUZZ_ASSERT(m >= 0 && m < _MSI_ISOLATION_MAX);
        FUZZ_ASSERT(m == MSI_ISOLATION_UNKNOWN || msi_isolation_to_string(m));
        return 0;
}
