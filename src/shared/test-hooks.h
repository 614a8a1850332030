/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Test hooks: environment variables that replace the daemon's inputs or inject faults
 *   VFIOD_TEST_PROC      a directory read instead of /proc (cmdline, interrupts, mountinfo)
 *   VFIOD_POLICY_PATH    colon-separated policy directories instead of the standard three
 *   VFIOD_TEST_CRASH_AT  a crash point (binder.h)
 *   VFIOD_TEST_STALL_AT  POINT:SECONDS, a worker sleeps there as a slow driver would (binder.c)
 *   VFIOD_TEST_LIBVIRT_URI  the libvirt URI the watch follows instead of qemu:///system (libvirt's
 *                        in-process test driver: running domains without a libvirtd)
 * They exist only in builds made with -Dtest-hooks=true (tools/dev makes its test builds so);
 * in any other build the names are not even in the binary, so no stray Environment= can turn
 * the safety checks' inputs into a test fixture. */

#include <stdlib.h>

#if VFIOD_TEST_HOOKS
#  define test_hook_getenv(name) secure_getenv(name)
#  define TEST_HOOK_NAMES { "VFIOD_TEST_PROC", "VFIOD_POLICY_PATH", "VFIOD_TEST_CRASH_AT", "VFIOD_TEST_STALL_AT", \
                           "VFIOD_TEST_LIBVIRT_URI" }
#else
#  define test_hook_getenv(name) ((const char *) NULL)
#endif
