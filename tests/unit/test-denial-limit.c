/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "journal.h"

#define SEC 1000000ULL

/* What the limiter would have logged as "suppressed N". */
static unsigned reported, reported_count;
static uid_t reported_uid;

static void report(const DenialKey *k) {
        reported++;
        reported_count = k->suppressed;
        reported_uid = k->uid;
}

static DenialLimit *new_limit(void) {
        DenialLimit *l = calloc(1, sizeof(DenialLimit));

        assert_non_null(l);
        l->report = report;
        reported = reported_count = 0;
        reported_uid = 0;
        return l;
}

static void free_limit(DenialLimit *l) {
        denial_limit_done(l);
        free(l);
}

/* The first of a kind is logged, the rest of its window counted, the count reported at its end. */
static void test_identical(void **state) {
        DenialLimit *l = new_limit();

        (void) state;
        assert_true(denial_limit_admit(l, 1000, "acquire", "0000:00:03.0", "not-authorized", 1 * SEC));
        for (unsigned i = 0; i < 29; i++)
                assert_false(denial_limit_admit(l, 1000, "acquire", "0000:00:03.0", "not-authorized", 2 * SEC + i));
        denial_limit_expire(l, 1 * SEC + DENIALS_WINDOW_USEC - 1);
        assert_int_equal(reported, 0);
        denial_limit_expire(l, 1 * SEC + DENIALS_WINDOW_USEC);
        assert_int_equal(reported, 1);
        assert_int_equal(reported_count, 29);
        assert_int_equal(reported_uid, 1000);
        assert_int_equal(l->n_keys, 0);
        /* A new window: logged again. */
        assert_true(denial_limit_admit(l, 1000, "acquire", "0000:00:03.0", "not-authorized", 20 * SEC));
        free_limit(l);
}

/* Another uid, device, operation or reason is another kind: logged. */
static void test_distinct(void **state) {
        DenialLimit *l = new_limit();

        (void) state;
        assert_true(denial_limit_admit(l, 1000, "acquire", "0000:00:03.0", "not-authorized", SEC));
        assert_true(denial_limit_admit(l, 1001, "acquire", "0000:00:03.0", "not-authorized", SEC));
        assert_true(denial_limit_admit(l, 1000, "acquire", "0000:00:04.0", "not-authorized", SEC));
        assert_true(denial_limit_admit(l, 1000, "bind", "0000:00:03.0", "not-authorized", SEC));
        assert_true(denial_limit_admit(l, 1000, "acquire", "0000:00:03.0", "in-use", SEC));
        assert_false(denial_limit_admit(l, 1001, "acquire", "0000:00:03.0", "not-authorized", SEC));
        assert_int_equal(l->n_keys, 5);
        /* Windows with nothing left out end silently. */
        denial_limit_expire(l, SEC + DENIALS_WINDOW_USEC);
        assert_int_equal(reported, 1);
        assert_int_equal(reported_uid, 1001);
        assert_int_equal(reported_count, 1);
        free_limit(l);
}

/* The table is bounded: when full, the window ending first ends now, its count reported. */
static void test_full(void **state) {
        DenialLimit *l = new_limit();
        char dev[32];

        (void) state;
        for (unsigned i = 0; i < DENIALS_KEYS_MAX; i++) {
                snprintf(dev, sizeof(dev), "dev%u", i);
                assert_true(denial_limit_admit(l, 1000, "acquire", dev, "x", SEC + i));
        }
        assert_false(denial_limit_admit(l, 1000, "acquire", "dev0", "x", 2 * SEC));
        assert_int_equal(l->n_keys, DENIALS_KEYS_MAX);
        assert_true(denial_limit_admit(l, 1000, "acquire", "one-more", "x", 2 * SEC));
        assert_int_equal(l->n_keys, DENIALS_KEYS_MAX);
        assert_int_equal(reported, 1);
        assert_int_equal(reported_count, 1);
        /* dev0 was dropped: logged again. */
        assert_true(denial_limit_admit(l, 1000, "acquire", "dev0", "x", 2 * SEC));
        free_limit(l);
}

/* Nothing counted is lost at exit. */
static void test_done_reports(void **state) {
        DenialLimit *l = new_limit();

        (void) state;
        assert_true(denial_limit_admit(l, 7, "acquire", "d", "r", SEC));
        assert_false(denial_limit_admit(l, 7, "acquire", "d", "r", SEC));
        assert_false(denial_limit_admit(l, 7, "acquire", "d", "r", SEC));
        free_limit(l);
        assert_int_equal(reported, 1);
        assert_int_equal(reported_count, 2);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_identical),
                cmocka_unit_test(test_distinct),
                cmocka_unit_test(test_full),
                cmocka_unit_test(test_done_reports),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
