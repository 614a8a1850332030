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

#include "libvirt.h"
#include "macro.h"

/* The libvirt watch (src/daemon/libvirt.c) against libvirt's test driver, in-process (a node file
 * with a running domain that has a PCI hostdev and one that has none): its thread connects, reads
 * the running domains' live XML and hands the snapshot to the event loop, which gives it to the
 * broker; a URI that cannot be opened is reported, not fatal; the thread stops cleanly. */

static DomainXml *seen;
static size_t n_seen;
static unsigned calls;

/* The broker's side, stubbed: the watch only translates. */
int broker_set_domains(Broker *b, DomainXml *domains, size_t n) {
        free(seen);
        seen = domains;
        n_seen = n;
        calls++;
        return sd_event_exit((sd_event *) b, 0);
}

static int on_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        return sd_event_exit(sd_event_source_get_event(s), -ETIMEDOUT);
}

static int run_until_snapshot(sd_event *e) {
        _cleanup_(sd_event_source_unrefp) sd_event_source *t = NULL;

        assert_int_equal(sd_event_add_time_relative(e, &t, CLOCK_MONOTONIC, 20 * 1000000ULL, 0, on_timeout, NULL), 0);
        return sd_event_loop(e);
}

static void test_test_driver(void **state) {
        _cleanup_(sd_event_unrefp) sd_event *e = NULL;
        _cleanup_(sd_json_variant_unrefp) sd_json_variant *info = NULL;
        LibvirtWatch *w = NULL;
        char uri[4096];

        snprintf(uri, sizeof uri, "test://%s/data/libvirt-test-node.xml", SOURCE_DIR);
        assert_int_equal(sd_event_new(&e), 0);
        /* The stub gets the event loop as its "broker", to stop it. */
        assert_int_equal(libvirt_watch_new(e, (Broker *) e, uri, &w), 0);
        assert_non_null(w);
        assert_int_equal(run_until_snapshot(e), 0);
        assert_int_equal(n_seen, 2);
        for (size_t i = 0; i < n_seen; i++)
                if (strcmp(seen[i].name, "vm1") == 0) {
                        assert_string_equal(seen[i].uuid, "6a3c8e0c-1b7d-4f5e-9c2a-0123456789ab");
                        assert_int_equal(seen[i].n_devices, 1);
                        assert_string_equal(seen[i].devices[0], "0000:01:00.0");
                } else {
                        assert_string_equal(seen[i].name, "plain");
                        assert_int_equal(seen[i].n_devices, 0);
                }
        assert_int_equal(libvirt_watch_info(w, &info), 0);
        assert_string_equal(sd_json_variant_string(sd_json_variant_by_key(info, "state")), "connected");
        assert_int_equal(sd_json_variant_unsigned(sd_json_variant_by_key(info, "domains")), 2);
        libvirt_watch_free(w);
        free(seen);
        seen = NULL;
}

static int on_poll(sd_event_source *s, uint64_t usec, void *userdata) {
        _cleanup_(sd_json_variant_unrefp) sd_json_variant *info = NULL;

        assert_int_equal(libvirt_watch_info(userdata, &info), 0);
        if (strcmp(sd_json_variant_string(sd_json_variant_by_key(info, "state")), "disconnected") == 0 &&
            sd_json_variant_by_key(info, "error"))
                return sd_event_exit(sd_event_source_get_event(s), 0);
        return sd_event_source_set_time_relative(s, 50 * 1000);
}

static void test_unreachable(void **state) {
        _cleanup_(sd_event_unrefp) sd_event *e = NULL;
        _cleanup_(sd_event_source_unrefp) sd_event_source *poll = NULL;
        LibvirtWatch *w = NULL;

        assert_int_equal(sd_event_new(&e), 0);
        assert_int_equal(libvirt_watch_new(e, (Broker *) e, "test:///nonexistent/node.xml", &w), 0);
        assert_int_equal(sd_event_add_time_relative(e, &poll, CLOCK_MONOTONIC, 0, 0, on_poll, w), 0);
        assert_int_equal(sd_event_source_set_enabled(poll, SD_EVENT_ON), 0);
        assert_int_equal(run_until_snapshot(e), 0);
        assert_int_equal(calls, 1);   /* only the first test's snapshot: none from here */
        libvirt_watch_free(w);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_test_driver),
                cmocka_unit_test(test_unreachable),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
