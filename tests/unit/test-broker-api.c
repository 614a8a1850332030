/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What every front-end relies on from the broker: one check of a request's devices, and one
 * description of an error (varlink's parameters, the D-Bus text), including what a Busy may
 * reveal to whom. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "broker.h"
#include "macro.h"

static int parse(const char *const *in, size_t n, DeviceList *ret) {
        return device_list_parse(in, n, ret);
}

static void test_device_list(void **state) {
        _cleanup_(device_list_done) DeviceList l = {};
        const char *one[] = { "0000:0A:00.0" };
        const char *two[] = { "0000:02:01.0", "0000:02:02.0" };
        const char *dup[] = { "0000:0a:00.0", "0000:0A:00.0" };
        const char *bad[] = { "0000:01:00.0", "0000:01:00.8" };
        const char *short_form[] = { "01:00.0" };
        const char *hole[] = { "0000:01:00.0", NULL };
        const char **many = calloc(REQUEST_DEVICES_MAX + 1, sizeof(char *));
        char (*buf)[16] = calloc(REQUEST_DEVICES_MAX + 1, 16);

        assert_int_equal(parse(one, 1, &l), 0);
        assert_int_equal(l.n, 1);
        assert_string_equal(l.list[0], "0000:0a:00.0");       /* canonical */
        assert_null(l.list[1]);
        device_list_done(&l);
        assert_int_equal(parse(two, 2, &l), 0);
        assert_int_equal(l.n, 2);
        device_list_done(&l);

        assert_int_equal(parse(one, 0, &l), -EINVAL);           /* empty */
        assert_int_equal(parse(dup, 2, &l), -EINVAL);           /* the same device twice, spelt two ways */
        assert_int_equal(parse(bad, 2, &l), -EINVAL);           /* function 8 */
        assert_int_equal(parse(hole, 2, &l), -EINVAL);          /* a missing string */
        assert_int_equal(parse(short_form, 1, &l), -EINVAL);    /* the domain is not guessed */
        assert_null(l.list);

        for (unsigned i = 0; i <= REQUEST_DEVICES_MAX; i++) {
                snprintf(buf[i], 16, "0000:%02x:%02x.%u", i / 32, i % 32, 0);
                many[i] = buf[i];
        }
        assert_int_equal(parse(many, REQUEST_DEVICES_MAX, &l), 0);
        device_list_done(&l);
        assert_int_equal(parse(many, REQUEST_DEVICES_MAX + 1, &l), -EINVAL);
        free(many);
        free(buf);
}

static const char *key(sd_json_variant *v, const char *k) {
        sd_json_variant *e = sd_json_variant_by_key(v, k);
        return e && sd_json_variant_is_string(e) ? sd_json_variant_string(e) : NULL;
}

static void test_denied(void **state) {
        _cleanup_(sd_json_variant_unrefp) sd_json_variant *v = NULL;
        _cleanup_free_ char *text = NULL;
        Check checks[] = {
                { .code = "iommu-present", .passed = true, .subject = (char *) "0000:01:00.0", .sentence = (char *) "ok" },
                { .code = "partial-group", .passed = false, .subject = (char *) "group 7", .sentence = (char *) "bind the whole group" },
                { .code = "partial-group", .passed = false, .subject = (char *) "group 8", .sentence = (char *) "bind the whole group" },
                { .code = "not-authorized", .passed = false, .subject = (char *) "uid 1000", .sentence = (char *) "no rule" },
        };
        Operation op = {
                .error_id = BROKER_ERROR_DENIED,
                .message = (char *) "denied by vfiod's checks",
                .verdict = { .checks = checks, .n_checks = ELEMENTSOF(checks) },
        };

        assert_int_equal(operation_error_json(&op, &v), 0);
        /* Each failed code once in reasons; every failed check in checks; passed ones left out. */
        assert_int_equal(sd_json_variant_elements(sd_json_variant_by_key(v, "reasons")), 2);
        assert_int_equal(sd_json_variant_elements(sd_json_variant_by_key(v, "checks")), 3);
        assert_string_equal(key(v, "message"), "denied by vfiod's checks");

        assert_int_equal(operation_error_text(&op, &text), 0);
        assert_string_equal(text, "denied by vfiod's checks\n"
                                  "partial-group: group 7: bind the whole group\n"
                                  "partial-group: group 8: bind the whole group\n"
                                  "not-authorized: uid 1000: no rule");
}

static void test_busy(void **state) {
        _cleanup_(sd_json_variant_unrefp) sd_json_variant *mine = NULL, *theirs = NULL;
        _cleanup_free_ char *t_mine = NULL, *t_theirs = NULL;
        Operation op = {
                .error_id = BROKER_ERROR_BUSY,
                .error_device = (char *) "0000:01:00.0",
                .busy_uid = 990, .busy_pid = 4242,
        };

        strcpy(op.busy_lease_id, "0123456789abcdef0123456789abcdef");
        assert_int_equal(operation_error_json(&op, &mine), 0);
        assert_string_equal(key(mine, "leaseId"), "0123456789abcdef0123456789abcdef");
        assert_int_equal(sd_json_variant_unsigned(sd_json_variant_by_key(mine, "uid")), 990);
        assert_int_equal(sd_json_variant_integer(sd_json_variant_by_key(mine, "pid")), 4242);
        assert_int_equal(operation_error_text(&op, &t_mine), 0);
        assert_non_null(strstr(t_mine, "0123456789abcdef0123456789abcdef"));

        /* The broker left the id empty: not the caller's to see. Nothing about the holder goes out. */
        op.busy_lease_id[0] = '\0';
        assert_int_equal(operation_error_json(&op, &theirs), 0);
        assert_string_equal(key(theirs, "device"), "0000:01:00.0");
        assert_null(sd_json_variant_by_key(theirs, "leaseId"));
        assert_null(sd_json_variant_by_key(theirs, "uid"));
        assert_null(sd_json_variant_by_key(theirs, "pid"));
        assert_int_equal(operation_error_text(&op, &t_theirs), 0);
        assert_null(strstr(t_theirs, "990"));
        assert_non_null(strstr(t_theirs, "another user"));
}

static void test_others(void **state) {
        _cleanup_(sd_json_variant_unrefp) sd_json_variant *lease = NULL, *device = NULL, *timeout = NULL;
        Operation nl = { .error_id = BROKER_ERROR_NO_SUCH_LEASE, .message = (char *) "no lease x of yours" };
        Operation nd = { .error_id = BROKER_ERROR_NO_SUCH_DEVICE, .error_device = (char *) "0000:0f:00.0" };
        Operation to = { .error_id = BROKER_ERROR_TIMEOUT, .error_device = (char *) "0000:01:00.0",
                         .message = (char *) "the kernel did not finish" };

        strcpy(nl.busy_lease_id, "0123456789abcdef0123456789abcdef");
        assert_int_equal(operation_error_json(&nl, &lease), 0);
        assert_string_equal(key(lease, "leaseId"), "0123456789abcdef0123456789abcdef");
        assert_int_equal(operation_error_json(&nd, &device), 0);
        assert_string_equal(key(device, "device"), "0000:0f:00.0");
        /* Timeout's IDL has a message only: no device field that the IDL would refuse. */
        assert_int_equal(operation_error_json(&to, &timeout), 0);
        assert_null(sd_json_variant_by_key(timeout, "device"));
        assert_string_equal(key(timeout, "message"), "the kernel did not finish");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_device_list),
                cmocka_unit_test(test_denied),
                cmocka_unit_test(test_busy),
                cmocka_unit_test(test_others),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
