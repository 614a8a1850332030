/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Shared by the libFuzzer targets: each defines LLVMFuzzerTestOneInput and calls abort() when a
 * promise of the code under test is broken, so libFuzzer keeps the input as a crash. */

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "topology.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* The parsers take C strings, as the kernel's files and sd-json give them. */
static inline char *fuzz_string(const uint8_t *data, size_t size) {
        char *s = malloc(size + 1);

        if (!s)
                abort();
        memcpy(s, data, size);
        s[size] = '\0';
        return s;
}

#define FUZZ_ASSERT(expr) do { if (!(expr)) abort(); } while (0)

/* A small host shaped like the q35 machine of the VM tests (groups with and without direct
 * regions, a shared group behind a bridge, root storage, the boot console), static data. */
void fuzz_host(Topology *ret);
extern const char *const fuzz_host_addresses[];
