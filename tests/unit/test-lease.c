/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "lease.h"
#include "macro.h"

/* The state journal's lease: an SR-IOV PF's VF count survives the round trip, and journals
 * written before it was recorded still load (without VFs to recreate). */

#define LEASE_ID "0123456789abcdef0123456789abcdef"

static Lease *parse(const char *text) {
        _cleanup_(sd_json_variant_unrefp) sd_json_variant *v = NULL;
        Lease *l = NULL;

        assert_int_equal(sd_json_parse(text, 0, &v, NULL, NULL), 0);
        if (lease_from_json(v, &l) < 0)
                return NULL;
        return l;
}

static const char old_journal[] =
        "{\"id\":\"" LEASE_ID "\",\"kind\":\"bind\",\"phase\":\"active\",\"uid\":0,\"pid\":0,\"pidStartTime\":0,"
        "\"since\":1,\"restoreOnRelease\":true,\"devices\":[\"0000:03:00.0\"],\"groups\":[7],"
        "\"moved\":[{\"address\":\"0000:03:00.0\",\"originalDriver\":\"igb\",\"originalOverride\":\"\"}]}";

static void test_old_journal(void **state) {
        Lease *l = parse(old_journal);

        assert_non_null(l);
        assert_int_equal(l->n_moved, 1);
        assert_string_equal(l->moved[0].original_driver, "igb");
        assert_int_equal(l->moved[0].sriov_numvfs, 0);
        lease_free(l);
}

static void test_round_trip(void **state) {
        _cleanup_(sd_json_variant_unrefp) sd_json_variant *v = NULL;
        Lease *l = parse(old_journal), *back = NULL;

        assert_non_null(l);
        l->moved[0].sriov_numvfs = 2;
        assert_int_equal(lease_to_json(l, &v), 0);
        assert_int_equal(sd_json_variant_unsigned(sd_json_variant_by_key(sd_json_variant_by_index(
                                 sd_json_variant_by_key(v, "moved"), 0), "sriovNumvfs")), 2);
        assert_int_equal(lease_from_json(v, &back), 0);
        assert_int_equal(back->moved[0].sriov_numvfs, 2);
        lease_free(back);

        /* no VFs: no key, so the journal of a plain device looks as it always did */
        l->moved[0].sriov_numvfs = 0;
        v = sd_json_variant_unref(v);
        assert_int_equal(lease_to_json(l, &v), 0);
        assert_null(sd_json_variant_by_key(sd_json_variant_by_index(sd_json_variant_by_key(v, "moved"), 0), "sriovNumvfs"));
        lease_free(l);
}

static void test_bad_numvfs(void **state) {
        static const char *const bad[] = { "-1", "65536", "\"2\"", "2.5", "null" };

        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                _cleanup_free_ char *text = NULL;
                const char *tail = strstr(old_journal, "\"originalOverride\":\"\"}");

                assert_non_null(tail);
                assert_true(asprintf(&text, "%.*s\"originalOverride\":\"\",\"sriovNumvfs\":%s}]}",
                                     (int) (tail - old_journal), old_journal, bad[i]) > 0);
                if (parse(text))
                        fail_msg("sriovNumvfs %s was accepted", bad[i]);
        }
}

/* A device held from its host driver (vfiod-hold) is given back by a probe: the flag survives a
 * restart, an older journal has none, and it is a boolean or nothing. */
static void test_reprobe(void **state) {
        _cleanup_(sd_json_variant_unrefp) sd_json_variant *v = NULL;
        Lease *l = parse(old_journal), *back = NULL;
        const char *tail = strstr(old_journal, "\"originalOverride\":\"\"}");

        assert_non_null(l);
        assert_false(l->moved[0].reprobe);
        l->moved[0].reprobe = true;
        assert_int_equal(lease_to_json(l, &v), 0);
        assert_int_equal(lease_from_json(v, &back), 0);
        assert_true(back->moved[0].reprobe);
        lease_free(back);
        lease_free(l);

        assert_non_null(tail);
        static const char *const bad[] = { "1", "\"true\"", "null" };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                _cleanup_free_ char *text = NULL;

                assert_true(asprintf(&text, "%.*s\"originalOverride\":\"\",\"reprobe\":%s}]}",
                                     (int) (tail - old_journal), old_journal, bad[i]) > 0);
                if (parse(text))
                        fail_msg("reprobe %s was accepted", bad[i]);
        }
}

/* The owner label: strict on every part, kept through the journal, lowercase uuid. */
static void test_owner(void **state) {
        _cleanup_(sd_json_variant_unrefp) sd_json_variant *v = NULL;
        Lease *l = parse(old_journal), *back = NULL;
        LeaseOwner o = {};
        char longname[LEASE_OWNER_NAME_MAX + 2];

        assert_non_null(l);
        assert_false(lease_owner_is_set(&l->owner));
        assert_int_equal(lease_owner_set(&o, "libvirt-domain", "vm-\xc3\xa9t\xc3\xa9", "6A3C8E0C-1B7D-4F5E-9C2A-0123456789AB"), 0);
        assert_string_equal(o.uuid, "6a3c8e0c-1b7d-4f5e-9c2a-0123456789ab");
        l->owner = o;
        assert_int_equal(lease_to_json(l, &v), 0);
        assert_int_equal(lease_from_json(v, &back), 0);
        assert_string_equal(back->owner.kind, "libvirt-domain");
        assert_string_equal(back->owner.name, "vm-\xc3\xa9t\xc3\xa9");
        assert_string_equal(back->owner.uuid, o.uuid);
        lease_free(back);
        lease_free(l);

        const char *uuid = "6a3c8e0c-1b7d-4f5e-9c2a-0123456789ab";
        assert_int_equal(lease_owner_set(&o, "", "vm", uuid), -EINVAL);
        assert_int_equal(lease_owner_set(&o, "Libvirt", "vm", uuid), -EINVAL);
        assert_int_equal(lease_owner_set(&o, "libvirt-domain-libvirt-domain-libvirt", "vm", uuid), -EINVAL);
        assert_int_equal(lease_owner_set(&o, "libvirt-domain", "", uuid), -EINVAL);
        assert_int_equal(lease_owner_set(&o, "libvirt-domain", "a\nb", uuid), -EINVAL);
        assert_int_equal(lease_owner_set(&o, "libvirt-domain", "a\x7f", uuid), -EINVAL);
        assert_int_equal(lease_owner_set(&o, "libvirt-domain", "\xc2\x85", uuid), -EINVAL);     /* C1 NEL */
        assert_int_equal(lease_owner_set(&o, "libvirt-domain", "\xc0\xaf", uuid), -EINVAL);     /* overlong */
        assert_int_equal(lease_owner_set(&o, "libvirt-domain", "\xed\xa0\x80", uuid), -EINVAL); /* surrogate */
        assert_int_equal(lease_owner_set(&o, "libvirt-domain", "\xe2\x82", uuid), -EINVAL);     /* cut */
        memset(longname, 'a', sizeof longname - 1);
        longname[sizeof longname - 1] = 0;
        assert_int_equal(lease_owner_set(&o, "libvirt-domain", longname, uuid), -EINVAL);
        longname[LEASE_OWNER_NAME_MAX] = 0;
        assert_int_equal(lease_owner_set(&o, "libvirt-domain", longname, uuid), 0);
        assert_int_equal(lease_owner_set(&o, "libvirt-domain", "vm", "6a3c8e0c1b7d4f5e9c2a0123456789ab"), -EINVAL);
        assert_int_equal(lease_owner_set(&o, "libvirt-domain", "vm", "6a3c8e0c-1b7d-4f5e-9c2a-0123456789ag"), -EINVAL);
        assert_int_equal(lease_owner_set(&o, "libvirt-domain", "vm", "6a3c8e0c-1b7d-4f5e-9c2a-0123456789abc"), -EINVAL);

        /* A journal with a bad or extended owner is refused. */
        v = sd_json_variant_unref(v);
        assert_int_equal(sd_json_parse("{\"kind\":\"libvirt-domain\",\"name\":\"vm\",\"uuid\":\"x\"}", 0, &v, NULL, NULL), 0);
        assert_int_equal(lease_owner_from_json(v, &o), -EINVAL);
        v = sd_json_variant_unref(v);
        assert_int_equal(sd_json_parse("{\"kind\":\"libvirt-domain\",\"name\":\"vm\",\"uuid\":\"6a3c8e0c-1b7d-4f5e-9c2a-0123456789ab\",\"x\":1}",
                                       0, &v, NULL, NULL), 0);
        assert_int_equal(lease_owner_from_json(v, &o), -EINVAL);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_old_journal),
                cmocka_unit_test(test_round_trip),
                cmocka_unit_test(test_bad_numvfs),
                cmocka_unit_test(test_reprobe),
                cmocka_unit_test(test_owner),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
