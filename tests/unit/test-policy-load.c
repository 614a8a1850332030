/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "macro.h"
#include "policy.h"

/* ---- helpers ---- */

/* Line and column (1-based, columns in characters) of the nth occurrence of anchor, worked out
 * here independently of the loader's own position finder. */
static char *expected_prefix(const char *path, const char *text, size_t len, const char *anchor, unsigned nth) {
        const char *p = text - 1;
        unsigned line = 1, column = 1;
        char *s;

        for (unsigned i = 0; i < nth; i++) {
                p = memmem(p + 1, len - (size_t) (p + 1 - text), anchor, strlen(anchor));
                if (!p)
                        fail_msg("anchor '%s' #%u not in '%s'", anchor, nth, text);
        }
        for (const char *q = text; q < p; q++) {
                if (*q == '\n') {
                        line++;
                        column = 1;
                } else if (((unsigned char) *q & 0xc0) != 0x80)
                        column++;
        }
        assert_true(asprintf(&s, "%s:%u:%u: ", path, line, column) > 0);
        return s;
}

/* A Policy that already holds something, so "not modified" means more than "still zero". */
static void base_policy(Policy *p) {
        static const char base[] =
                "{ \"platform\": { \"minApertureBits\": 40 },"
                "  \"rules\": [ { \"name\": \"base\", \"match\": { \"vendor\": \"1234\" }, \"deny\": true } ] }";
        char *err = NULL;

        policy_init_defaults(p);
        assert_int_equal(policy_parse_text("base.json", base, strlen(base), p, &err), 0);
        assert_null(err);
        assert_int_equal(p->n_rules, 1);
}

typedef struct BadCase {
        const char *text;
        const char *anchor;             /* where the error must point */
        unsigned nth;                   /* which occurrence of anchor, 1-based */
        int error;                      /* expected return, 0 = any negative */
        const char *what;               /* must appear in the message */
} BadCase;

static void expect_bad_full(const char *text, size_t len, const char *anchor, unsigned nth, int error, const char *what,
                            bool with_base) {
        Policy p, before;
        char *err = NULL, *prefix;
        int r;

        if (with_base)
                base_policy(&p);
        else
                policy_init_defaults(&p);
        memcpy(&before, &p, sizeof(Policy));

        r = policy_parse_text("t.json", text, len, &p, &err);
        if (r >= 0)
                fail_msg("accepted: %.200s", text);
        if (error != 0 && r != error)
                fail_msg("returned %d, not %d, for: %.200s (%s)", r, error, text, err);
        if (!err)
                fail_msg("no message for: %.200s", text);

        prefix = expected_prefix("t.json", text, len, anchor, nth);
        if (strncmp(err, prefix, strlen(prefix)) != 0)
                fail_msg("for: %.200s\n  expected prefix '%s'\n  got '%s'", text, prefix, err);
        if (what && !strstr(err, what))
                fail_msg("for: %.200s\n  expected '%s' in '%s'", text, what, err);
        if (strchr(err, '\n'))
                fail_msg("message has a newline: '%s'", err);

        /* Nothing half-loaded: not a byte of the Policy changed, and what it held is intact. */
        assert_memory_equal(&p, &before, sizeof(Policy));
        if (with_base) {
                assert_string_equal(p.rules[0].name, "base");
                assert_string_equal(p.rules[0].match.vendor, "1234");
        }

        free(prefix);
        free(err);
        policy_done(&p);
}

static void expect_bad_len(const char *text, size_t len, const char *anchor, unsigned nth, int error, const char *what) {
        expect_bad_full(text, len, anchor, nth, error, what, true);
}

static void expect_bad(const BadCase *c) {
        expect_bad_len(c->text, strlen(c->text), c->anchor, c->nth ?: 1, c->error, c->what);
}

static void expect_bad_table(const BadCase *cases, size_t n) {
        for (size_t i = 0; i < n; i++)
                expect_bad(&cases[i]);
}

static void parse_ok(const char *text, Policy *p) {
        char *err = NULL;
        int r = policy_parse_text("ok.json", text, strlen(text), p, &err);

        if (r < 0)
                fail_msg("rejected (%d): %s\n  %s", r, text, err);
        assert_null(err);
}

/* ---- defaults ---- */

static void assert_defaults(const Policy *p) {
        assert_int_equal(p->min_aperture_bits, 39);
        assert_true(p->require_interrupt_remapping);
        assert_false(p->allow_noiommu);
        assert_false(p->allow_acs_override);
        assert_false(p->allow_direct_mapped_regions);
        assert_false(p->allow_unsafe_interrupts);
        assert_false(p->allow_smmu_bypass);
        assert_int_equal(p->mixed_apertures, MIXED_APERTURES_SPLIT);
        assert_true(p->protect_root_storage);
        assert_true(p->protect_routed_interfaces);
        assert_true(p->protect_boot_console);
        assert_int_equal(p->n_rules, 0);
        assert_null(p->rules);
}

static void test_defaults(void **state) {
        const char *dirs[] = { "/nonexistent/vfiod-a", "/nonexistent/vfiod-b" };
        Policy p;
        char *err = (char *) "sentinel";

        (void) state;
        policy_init_defaults(&p);
        assert_defaults(&p);
        assert_int_equal(p.n_files, 0);

        /* no directories at all, and directories that do not exist: the strict built-in defaults */
        memset(&p, 0xaa, sizeof p);
        assert_int_equal(policy_load_dirs(NULL, 0, &p, &err), 0);
        assert_null(err);
        assert_defaults(&p);
        assert_int_equal(p.n_files, 0);
        policy_done(&p);

        memset(&p, 0xaa, sizeof p);
        assert_int_equal(policy_load_dirs(dirs, 2, &p, &err), 0);
        assert_null(err);
        assert_defaults(&p);
        policy_done(&p);

        /* "{}" changes nothing */
        policy_init_defaults(&p);
        parse_ok("{}", &p);
        assert_defaults(&p);
        policy_done(&p);
}

/* ---- a good file ---- */

static void test_full_file(void **state) {
        static const char text[] =
                "{\n"
                "  \"platform\": { \"minApertureBits\": 48, \"requireInterruptRemapping\": false, \"allowNoIommu\": true,\n"
                "                \"allowAcsOverride\": true, \"allowDirectMappedRegions\": true,\n"
                "                \"allowUnsafeInterrupts\": true, \"allowSmmuBypass\": true, \"mixedApertures\": \"deny\" },\n"
                "  \"protect\":  { \"rootStorage\": false, \"routedInterfaces\": false, \"bootConsole\": false },\n"
                "  \"rules\": [\n"
                "    { \"name\": \"dpdk-nics\", \"match\": { \"vendor\": \"8086\", \"class\": \"0200*\", \"address\": \"0000:3B:*\" },\n"
                "      \"allow\": { \"users\": [\"dpdk\", \"alice\"], \"groups\": [\"vfio\"], \"bind\": true }, \"restoreOnRelease\": false, \"bindAtBoot\": true },\n"
                "    { \"name\": \"never-gpus\", \"match\": { \"class\": \"03*\" }, \"deny\": true },\n"
                "    { \"name\": \"Lab_1.x\", \"match\": { \"device\": \"10D[0-9A-F]\" }, \"allow\": { \"groups\": [\"lab\"] }, \"deny\": false }\n"
                "  ]\n"
                "}\n";
        Policy p;

        (void) state;
        policy_init_defaults(&p);
        parse_ok(text, &p);

        assert_int_equal(p.min_aperture_bits, 48);
        assert_false(p.require_interrupt_remapping);
        assert_true(p.allow_noiommu);
        assert_true(p.allow_acs_override);
        assert_true(p.allow_direct_mapped_regions);
        assert_true(p.allow_unsafe_interrupts);
        assert_true(p.allow_smmu_bypass);
        assert_int_equal(p.mixed_apertures, MIXED_APERTURES_DENY);
        assert_false(p.protect_root_storage);
        assert_false(p.protect_routed_interfaces);
        assert_false(p.protect_boot_console);

        assert_int_equal(p.n_rules, 3);
        assert_string_equal(p.rules[0].name, "dpdk-nics");
        assert_string_equal(p.rules[0].file, "ok.json");
        assert_string_equal(p.rules[0].match.vendor, "8086");
        assert_null(p.rules[0].match.device);
        assert_string_equal(p.rules[0].match.class, "0200*");
        assert_string_equal(p.rules[0].match.address, "0000:3b:*");   /* lowercased */
        assert_false(p.rules[0].deny);
        assert_string_equal(p.rules[0].users[0], "dpdk");
        assert_string_equal(p.rules[0].users[1], "alice");
        assert_null(p.rules[0].users[2]);
        assert_string_equal(p.rules[0].groups[0], "vfio");
        assert_null(p.rules[0].groups[1]);
        assert_false(p.rules[0].restore_on_release);
        assert_true(p.rules[0].bind_at_boot);
        assert_true(p.rules[0].allow_bind);

        assert_string_equal(p.rules[1].name, "never-gpus");
        assert_true(p.rules[1].deny);
        assert_null(p.rules[1].users);
        assert_null(p.rules[1].groups);
        assert_true(p.rules[1].restore_on_release);    /* default */
        assert_false(p.rules[1].bind_at_boot);         /* default */
        assert_false(p.rules[2].allow_bind);           /* default: Acquire does not imply Bind */

        assert_string_equal(p.rules[2].name, "Lab_1.x");
        assert_string_equal(p.rules[2].match.device, "10d[0-9a-f]");
        assert_null(p.rules[2].users);
        assert_string_equal(p.rules[2].groups[0], "lab");
        policy_done(&p);
        assert_null(p.rules);
        assert_int_equal(p.n_rules, 0);
}

/* Later text overrides platform and protect keys one by one; rules append. */
static void test_override_and_append(void **state) {
        Policy p;

        (void) state;
        policy_init_defaults(&p);
        parse_ok("{\"platform\": {\"minApertureBits\": 48, \"allowNoIommu\": true}, "
                 "\"rules\": [{\"name\": \"a\", \"deny\": true}]}", &p);
        parse_ok("{\"platform\": {\"minApertureBits\": 52}, \"protect\": {\"bootConsole\": false}, "
                 "\"rules\": [{\"name\": \"b\", \"deny\": true}]}", &p);
        assert_int_equal(p.min_aperture_bits, 52);
        assert_true(p.allow_noiommu);                   /* kept from the first */
        assert_false(p.protect_boot_console);
        assert_true(p.protect_root_storage);
        assert_int_equal(p.n_rules, 2);
        assert_string_equal(p.rules[0].name, "a");
        assert_string_equal(p.rules[1].name, "b");
        policy_done(&p);
}

/* ---- malformed shapes ---- */

static void test_wrong_types(void **state) {
        static const BadCase cases[] = {
                { "{\"platform\": {\"minApertureBits\": \"39\"}}", "\"39\"", 1, -EINVAL,
                  "\"minApertureBits\" is a string; expected an integer from 32 to 64" },
                { "{\"platform\": {\"minApertureBits\": 39.5}}", "39.5", 1, -EINVAL,
                  "\"minApertureBits\" is a number with a fraction or exponent; expected an integer" },
                { "{\"platform\": {\"requireInterruptRemapping\": \"yes\"}}", "\"yes\"", 1, -EINVAL,
                  "\"requireInterruptRemapping\" is a string; expected true or false" },
                { "{\"platform\": {\"allowNoIommu\": 1}}", "1}", 1, -EINVAL, "\"allowNoIommu\" is an integer; expected true or false" },
                { "{\"platform\": {\"allowAcsOverride\": null}}", "null", 1, -EINVAL, "\"allowAcsOverride\" is null" },
                { "{\"platform\": {\"allowDirectMappedRegions\": []}}", "[]", 1, -EINVAL, "\"allowDirectMappedRegions\" is an array" },
                { "{\"platform\": {\"allowUnsafeInterrupts\": {}}}", "{}", 1, -EINVAL, "\"allowUnsafeInterrupts\" is an object" },
                { "{\"platform\": {\"allowSmmuBypass\": \"true\"}}", "\"true\"", 1, -EINVAL, "\"allowSmmuBypass\" is a string" },
                { "{\"platform\": {\"mixedApertures\": 1}}", "1}", 1, -EINVAL,
                  "\"mixedApertures\" is an integer; expected one of \"split\", \"allow\", \"deny\"" },
                { "{\"platform\": {\"mixedApertures\": \"merge\"}}", "\"merge\"", 1, -EINVAL,
                  "\"mixedApertures\" is \"merge\"; expected one of \"split\", \"allow\", \"deny\"" },
                { "{\"platform\": []}", "[]", 1, -EINVAL, "\"platform\" is an array; expected an object" },
                { "{\"protect\": true}", "true", 1, -EINVAL, "\"protect\" is a boolean; expected an object" },
                { "{\"protect\": {\"rootStorage\": 0}}", "0}", 1, -EINVAL, "\"rootStorage\" is an integer; expected true or false" },
                { "{\"protect\": {\"routedInterfaces\": \"no\"}}", "\"no\"", 1, -EINVAL, "\"routedInterfaces\" is a string" },
                { "{\"protect\": {\"bootConsole\": null}}", "null", 1, -EINVAL, "\"bootConsole\" is null" },
                { "{\"rules\": {}}", "{}", 1, -EINVAL, "\"rules\" is an object; expected an array of rule objects" },
                { "{\"rules\": [1]}", "1]", 1, -EINVAL, "element 0 of \"rules\" is an integer; expected a rule object" },
                { "{\"rules\": [{\"name\": \"a\", \"deny\": true}, \"b\"]}", "\"b\"", 1, -EINVAL,
                  "element 1 of \"rules\" is a string; expected a rule object" },
                { "{\"rules\": [{\"name\": 5, \"deny\": true}]}", "5,", 1, -EINVAL, "\"name\" is an integer; expected a rule name" },
                { "{\"rules\": [{\"name\": \"a\", \"match\": \"8086\", \"deny\": true}]}", "\"8086\"", 1, -EINVAL,
                  "\"match\" is a string; expected an object with any of vendor, device, class, address" },
                { "{\"rules\": [{\"name\": \"a\", \"match\": {\"vendor\": 8086}, \"deny\": true}]}", "8086}", 1, -EINVAL,
                  "\"vendor\" is an integer; expected a glob over 4 lowercase hex digits" },
                { "{\"rules\": [{\"name\": \"a\", \"match\": {\"device\": [\"10d3\"]}, \"deny\": true}]}", "[\"10d3\"]", 1, -EINVAL,
                  "\"device\" is an array" },
                { "{\"rules\": [{\"name\": \"a\", \"match\": {\"class\": 20000}, \"deny\": true}]}", "20000", 1, -EINVAL,
                  "\"class\" is an integer; expected a glob over 6 lowercase hex digits" },
                { "{\"rules\": [{\"name\": \"a\", \"match\": {\"address\": true}, \"deny\": true}]}", "true}", 1, -EINVAL,
                  "\"address\" is a boolean; expected a glob over 12 characters of a PCI address" },
                { "{\"rules\": [{\"name\": \"a\", \"allow\": []}]}", "[]", 1, -EINVAL,
                  "\"allow\" is an array; expected an object with \"users\" and/or \"groups\"" },
                { "{\"rules\": [{\"name\": \"a\", \"allow\": {\"users\": \"dpdk\"}}]}", "\"dpdk\"", 1, -EINVAL,
                  "\"users\" is a string; expected an array of user names" },
                { "{\"rules\": [{\"name\": \"a\", \"allow\": {\"users\": [\"dpdk\", 1]}}]}", "1]", 1, -EINVAL,
                  "element 1 of \"users\" is an integer; expected a user name" },
                { "{\"rules\": [{\"name\": \"a\", \"allow\": {\"groups\": [null]}}]}", "null", 1, -EINVAL,
                  "element 0 of \"groups\" is null; expected a group name" },
                { "{\"rules\": [{\"name\": \"a\", \"allow\": {\"users\": [\"dpdk\"], \"bind\": \"yes\"}}]}", "\"yes\"", 1, -EINVAL,
                  "\"bind\" is a string; expected true or false" },
                { "{\"rules\": [{\"name\": \"a\", \"allow\": {\"bind\": true}}]}", "{\"bind\"", 1, -EINVAL,
                  "\"allow\" names no user and no group" },
                { "{\"rules\": [{\"name\": \"a\", \"deny\": \"yes\"}]}", "\"yes\"", 1, -EINVAL, "\"deny\" is a string; expected true or false" },
                { "{\"rules\": [{\"name\": \"a\", \"deny\": true, \"restoreOnRelease\": \"no\"}]}", "\"no\"", 1, -EINVAL,
                  "\"restoreOnRelease\" is a string; expected true or false" },
                { "{\"rules\": [{\"name\": \"a\", \"deny\": true, \"bindAtBoot\": 1}]}", "1}", 1, -EINVAL,
                  "\"bindAtBoot\" is an integer; expected true or false" },
                { "[]", "[]", 1, -EINVAL, "the top level is an array; expected an object" },
                { "\"x\"", "\"x\"", 1, -EINVAL, "the top level is a string; expected an object" },
                { "  5", "5", 1, -EINVAL, "the top level is an integer; expected an object" },
        };

        (void) state;
        expect_bad_table(cases, ELEMENTSOF(cases));
}

static void test_out_of_range(void **state) {
        static const BadCase cases[] = {
                { "{\"platform\": {\"minApertureBits\": 31}}", "31", 1, -ERANGE,
                  "\"minApertureBits\" is 31; expected an integer from 32 to 64" },
                { "{\"platform\": {\"minApertureBits\": 65}}", "65", 1, -ERANGE, "\"minApertureBits\" is 65" },
                { "{\"platform\": {\"minApertureBits\": -39}}", "-39", 1, -ERANGE, "\"minApertureBits\" is -39" },
                { "{\"platform\": {\"minApertureBits\": 0}}", "0}", 1, -ERANGE, "\"minApertureBits\" is 0" },
                { "{\"platform\": {\"minApertureBits\": 9223372036854775807}}", "9223", 1, -ERANGE, "expected an integer from 32 to 64" },
        };
        Policy p;

        (void) state;
        expect_bad_table(cases, ELEMENTSOF(cases));

        /* the edges are in range */
        policy_init_defaults(&p);
        parse_ok("{\"platform\": {\"minApertureBits\": 32}}", &p);
        assert_int_equal(p.min_aperture_bits, 32);
        parse_ok("{\"platform\": {\"minApertureBits\": 64}}", &p);
        assert_int_equal(p.min_aperture_bits, 64);
        policy_done(&p);
}

static void test_unknown_keys(void **state) {
        static const BadCase cases[] = {
                { "{\"platfrom\": {}}", "\"platfrom\"", 1, -EINVAL,
                  "unknown key \"platfrom\" in the top level; expected one of platform, protect, rules" },
                { "{\"platform\": {\"minAperture\": 39}}", "\"minAperture\"", 1, -EINVAL,
                  "unknown key \"minAperture\" in platform; expected one of minApertureBits, requireInterruptRemapping, "
                  "allowNoIommu, allowAcsOverride, allowDirectMappedRegions, allowUnsafeInterrupts, allowSmmuBypass, mixedApertures" },
                { "{\"protect\": {\"rootstorage\": true}}", "\"rootstorage\"", 1, -EINVAL,
                  "unknown key \"rootstorage\" in protect; expected one of rootStorage, routedInterfaces, bootConsole" },
                { "{\"rules\": [{\"name\": \"a\", \"match\": {\"vendr\": \"8086\"}, \"deny\": true}]}", "\"vendr\"", 1, -EINVAL,
                  "unknown key \"vendr\" in match; expected one of vendor, device, class, address" },
                { "{\"rules\": [{\"name\": \"a\", \"allow\": {\"user\": [\"x\"]}}]}", "\"user\"", 1, -EINVAL,
                  "unknown key \"user\" in allow; expected one of users, groups" },
                /* the first mistake in the text is the one reported */
                { "{\"protect\": {\"x\": 1}, \"platform\": {\"y\": 1}}", "\"x\"", 1, -EINVAL, "unknown key \"x\" in protect" },
                /* what the file said is quoted safely, on one line */
                { "{\"a\\nb\": 1}", "\"a\\nb\"", 1, -EINVAL, "unknown key \"a?b\" in the top level" },
        };

        (void) state;
        expect_bad_table(cases, ELEMENTSOF(cases));
}

/* The example from the design: position of a misspelt key in an indented file, whole message. */
static void test_message_format(void **state) {
        static const char text[] =
                "{\n"
                "  \"rules\": [\n"
                "    {\n"
                "      \"name\": \"lab\",\n"
                "      \"match\": { \"vendor\": \"8086\" },\n"
                "      \"restoreOnRelease\": true,\n"
                "        \"allwo\": { \"users\": [\"alice\"] }\n"
                "    }\n"
                "  ]\n"
                "}\n";
        Policy p;
        char *err = NULL;

        (void) state;
        policy_init_defaults(&p);
        assert_int_equal(policy_parse_text("/etc/vfiod/policy.d/50-lab.json", text, strlen(text), &p, &err), -EINVAL);
        assert_string_equal(err,
                            "/etc/vfiod/policy.d/50-lab.json:7:9: unknown key \"allwo\" in rule; "
                            "expected one of name, match, allow, deny, restoreOnRelease, bindAtBoot");
        assert_int_equal(p.n_rules, 0);
        free(err);

        /* columns count characters, not bytes: "é" is two bytes and one column */
        const char *u = "{\"platform\": {}, \"\xc3\xa9\": 1, \"platform\": {}}";
        assert_true(policy_parse_text("u.json", u, strlen(u), &p, &err) < 0);
        assert_string_equal(err, "u.json:1:26: duplicate key \"platform\"; expected each key at most once per object");
        free(err);

        /* CRLF line ends */
        const char *crlf = "{\r\n  \"protect\": {\r\n    \"bootConsole\": 1 }}";
        assert_true(policy_parse_text("c.json", crlf, strlen(crlf), &p, &err) < 0);
        assert_true(strncmp(err, "c.json:3:20: ", 13) == 0);
        free(err);

        /* a NULL ret_error is fine */
        assert_int_equal(policy_parse_text("n.json", "[]", 2, &p, NULL), -EINVAL);
        policy_done(&p);
}

static void test_bad_patterns(void **state) {
        static const struct {
                const char *key, *pattern, *what;
        } bad[] = {
                { "vendor", "80x6", "neither a hex digit nor glob syntax" },
                { "vendor", "0x8086", "neither a hex digit nor glob syntax" },
                { "vendor", "[0-9", "unbalanced '['" },
                { "vendor", "[]086", "empty bracket expression" },
                { "vendor", "[!]086", "empty bracket expression" },
                { "vendor", "]086", "']' without '['" },
                { "vendor", "80-6", "neither a hex digit nor glob syntax" },
                { "vendor", "808", "cannot match" },
                { "vendor", "80861", "cannot match" },
                { "vendor", "", "is empty" },
                { "vendor", "8086\\\\", "neither a hex digit nor glob syntax" },
                { "device", "1[0-", "unbalanced '['" },
                { "device", "1[[]d3", "in brackets" },
                { "device", "10 3", "neither a hex digit nor glob syntax" },
                { "class", "0300000", "cannot match" },
                { "class", "03:*", "neither a hex digit nor glob syntax" },
                { "address", "3b:00.0", "cannot match" },
                { "address", "0000:3b:00.00", "cannot match" },
                { "address", "0000:3b:00.0/", "neither a hex digit nor glob syntax" },
                { "address", "0000:3b:[00.0", "unbalanced '['" },
                { "address", "****************************************************************?", "too long" },
        };

        (void) state;
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                char *text, *anchor;

                assert_true(asprintf(&text, "{\"rules\": [{\"name\": \"r\", \"match\": {\"%s\": \"%s\"}, \"deny\": true}]}",
                                     bad[i].key, bad[i].pattern) > 0);
                assert_true(asprintf(&anchor, "\"%s\"}", bad[i].pattern) > 0);
                expect_bad_len(text, strlen(text), anchor, 1, -EINVAL, bad[i].what);
                free(text);
                free(anchor);
        }
}

static void test_good_patterns(void **state) {
        Policy p;

        (void) state;
        policy_init_defaults(&p);
        parse_ok("{\"rules\": ["
                 "{\"name\": \"a\", \"match\": {\"vendor\": \"80*\", \"device\": \"10?3\", \"class\": \"03*\"}, \"deny\": true},"
                 "{\"name\": \"b\", \"match\": {\"vendor\": \"[0-9A-F]086\", \"device\": \"*\", \"address\": \"0000:0[0-3]:*\"}, \"deny\": true},"
                 "{\"name\": \"c\", \"match\": {\"vendor\": \"[!0]0[8-9]6\", \"class\": \"0C0330\", \"address\": \"0000:3B:00.0\"}, \"deny\": true},"
                 "{\"name\": \"d\", \"match\": {}, \"deny\": true}"
                 "]}", &p);
        assert_int_equal(p.n_rules, 4);
        assert_string_equal(p.rules[0].match.vendor, "80*");
        assert_string_equal(p.rules[1].match.vendor, "[0-9a-f]086");
        assert_string_equal(p.rules[1].match.address, "0000:0[0-3]:*");
        assert_string_equal(p.rules[2].match.class, "0c0330");
        assert_string_equal(p.rules[2].match.address, "0000:3b:00.0");
        assert_null(p.rules[3].match.vendor);
        assert_null(p.rules[3].match.address);
        policy_done(&p);
}

static void test_duplicate_keys(void **state) {
        static const BadCase cases[] = {
                { "{\"platform\": {\"allowNoIommu\": false, \"allowNoIommu\": true}}", "\"allowNoIommu\"", 2, -EINVAL,
                  "duplicate key \"allowNoIommu\"; expected each key at most once per object" },
                { "{\"rules\": [], \"rules\": []}", "\"rules\"", 2, -EINVAL, "duplicate key \"rules\"" },
                { "{\"rules\": [{\"name\": \"a\", \"name\": \"b\", \"deny\": true}]}", "\"name\"", 2, -EINVAL, "duplicate key \"name\"" },
                { "{\"rules\": [{\"name\": \"a\", \"deny\": true, \"match\": {\"vendor\": \"8086\", \"vendor\": \"10de\"}}]}",
                  "\"vendor\"", 2, -EINVAL, "duplicate key \"vendor\"" },
                /* an outer duplicate that comes first in the text wins over an inner one that closes first */
                { "{\"platform\": {}, \"platform\": {\"allowNoIommu\": true, \"allowNoIommu\": true}}", "\"platform\"", 2, -EINVAL,
                  "duplicate key \"platform\"" },
                /* escapes do not hide a duplicate */
                { "{\"platform\": {\"allowNoIommu\": false, \"allow\\u004eoIommu\": true}}", "\"allow\\u004e", 1, -EINVAL,
                  "duplicate key \"allowNoIommu\"" },
                /* even inside keys that would be rejected anyway: duplicates are found first */
                { "{\"x\": {\"k\": 1, \"k\": 2}}", "\"k\"", 2, -EINVAL, "duplicate key \"k\"" },
        };
        Policy p;

        (void) state;
        expect_bad_table(cases, ELEMENTSOF(cases));

        /* the same key in different objects is fine */
        policy_init_defaults(&p);
        parse_ok("{\"rules\": [{\"name\": \"a\", \"deny\": true}, {\"name\": \"b\", \"deny\": true}]}", &p);
        policy_done(&p);
}

static void test_rule_shapes(void **state) {
        static const BadCase cases[] = {
                { "{\"rules\": [{\"name\": \"a\", \"deny\": true}, {\"name\": \"a\", \"deny\": true}]}", "\"a\"", 2, -EEXIST,
                  "rule name \"a\" is already used earlier in this file" },
                /* base_policy() loaded "base" from base.json */
                { "{\"rules\": [{\"name\": \"base\", \"deny\": true}]}", "\"base\"", 1, -EEXIST,
                  "rule name \"base\" is already used in base.json; expected a name no other rule has" },
                { "{\"rules\": [{\"name\": \"x\", \"allow\": {\"users\": [\"a\"]}, \"deny\": true}]}", "\"deny\"", 1, -EINVAL,
                  "rule \"x\" has both \"allow\" and \"deny\": true; expected exactly one of them" },
                { "{\"rules\": [{\"name\": \"x\", \"deny\": false}]}", "{\"name\"", 1, -EINVAL,
                  "rule \"x\" has neither \"allow\" nor \"deny\": true; expected exactly one of them" },
                { "{\"rules\": [{\"name\": \"x\"}]}", "{\"name\"", 1, -EINVAL, "has neither" },
                { "{\"rules\": [{\"deny\": true}]}", "{\"deny\"", 1, -EINVAL, "rule has no \"name\"" },
                { "{\"rules\": [{\"name\": \"x\", \"allow\": {}}]}", "{}", 1, -EINVAL,
                  "\"allow\" names no user and no group; expected at least one name in \"users\" or \"groups\"" },
                { "{\"rules\": [{\"name\": \"x\", \"allow\": {\"users\": [], \"groups\": []}}]}", "{\"users\"", 1, -EINVAL,
                  "names no user and no group" },
                { "{\"rules\": [{\"name\": \"\", \"deny\": true}]}", "\"\"", 1, -EINVAL, "rule name \"\" is not valid" },
                { "{\"rules\": [{\"name\": \"a b\", \"deny\": true}]}", "\"a b\"", 1, -EINVAL, "rule name \"a b\" is not valid" },
                { "{\"rules\": [{\"name\": \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\", \"deny\": true}]}",
                  "\"aaaa", 1, -EINVAL, "expected 1 to 64 characters" },
                { "{\"rules\": [{\"name\": \"x\", \"allow\": {\"users\": [\"9lives\"]}}]}", "\"9lives\"", 1, -EINVAL,
                  "user name \"9lives\" is not valid" },
                { "{\"rules\": [{\"name\": \"x\", \"allow\": {\"users\": [\"ok\"], \"groups\": [\"a b\"]}}]}", "\"a b\"", 1, -EINVAL,
                  "group name \"a b\" is not valid" },
                { "{\"rules\": [{\"name\": \"x\", \"allow\": {\"users\": [\"-rf\"]}}]}", "\"-rf\"", 1, -EINVAL, "is not valid" },
                { "{\"rules\": [{\"name\": \"x\", \"allow\": {\"users\": [\"abcdefghijabcdefghijabcdefghijabc\"]}}]}", "\"abcdef", 1,
                  -EINVAL, "is not valid" },
        };
        Policy p;

        (void) state;
        expect_bad_table(cases, ELEMENTSOF(cases));

        /* a 64-character name and a 32-character user name are fine */
        policy_init_defaults(&p);
        parse_ok("{\"rules\": [{\"name\": \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\", "
                 "\"allow\": {\"users\": [\"abcdefghijabcdefghijabcdefghijab\", \"_x.y-z\", \"host$\"]}}]}", &p);
        assert_int_equal(p.n_rules, 1);
        policy_done(&p);
}

static void test_encoding(void **state) {
        static const BadCase cases[] = {
                { "{\"name\": \"\xc3\xa9\xff\"}", "\xff", 1, -EBADMSG, "invalid UTF-8 byte 0xff; expected UTF-8 text" },
                { "{\"a\": \"\xc0\xaf\"}", "\xc0", 1, -EBADMSG, "invalid UTF-8 byte 0xc0" },      /* overlong '/' */
                { "{\"a\": \"\xed\xa0\x80\"}", "\xed", 1, -EBADMSG, "invalid UTF-8 byte 0xed" },  /* a surrogate */
                { "{\"a\": \"\xf4\x90\x80\x80\"}", "\xf4", 1, -EBADMSG, "invalid UTF-8" },       /* beyond U+10FFFF */
                { "{\"a\": \"\xe2\x82", "\xe2", 1, -EBADMSG, "invalid UTF-8" },                  /* cut short */
                { "{\"rules\": [{\"name\": \"a\\u0000b\", \"deny\": true}]}", "\"a\\u0000b\"", 1, -EBADMSG,
                  "string contains \\u0000; expected no NUL characters" },
                { "{\"a\\u0000\": 1}", "\"a\\u0000\"", 1, -EBADMSG, "string contains \\u0000" },
                /* valid UTF-8, but no policy value may be anything but ASCII */
                { "{\"rules\": [{\"name\": \"caf\xc3\xa9\", \"deny\": true}]}", "\xc3", 1, -EBADMSG,
                  "non-ASCII character in a string value; expected ASCII" },
                { "{\"rules\": [{\"name\": \"x\", \"allow\": {\"users\": [\"j\xc3\xb6rg\"]}}]}", "\xc3", 1, -EBADMSG,
                  "non-ASCII character" },
        };
        static const char nul[] = "{\n  \"platform\": {}\0}";
        Policy p;
        char *err = NULL;

        (void) state;
        expect_bad_table(cases, ELEMENTSOF(cases));

        /* a raw NUL byte */
        base_policy(&p);
        assert_int_equal(policy_parse_text("t.json", nul, sizeof nul - 1, &p, &err), -EBADMSG);
        assert_string_equal(err, "t.json:2:17: NUL byte; expected UTF-8 text without NUL bytes");
        free(err);
        policy_done(&p);

        /* UTF-8 where it is allowed is fine */
        policy_init_defaults(&p);
        parse_ok("{\"rules\": [{\"name\": \"x\", \"deny\": true}]}\n", &p);
        policy_done(&p);
}

static void test_syntax(void **state) {
        char deep[128], ok32[128];
        BadCase cases[] = {
                { "{} x", "x", 1, -EBADMSG, "unexpected data after the JSON object; expected the end of the file" },
                { "{}{}", "{}", 2, -EBADMSG, "unexpected data after the JSON object" },
                { "{}\n\n  ]", "]", 1, -EBADMSG, "unexpected data after the JSON object" },
                { "{\"a\":1,}", "}", 1, -EBADMSG, "invalid JSON (unexpected character)" },
                { "{\"a\" 1}", "1", 1, -EBADMSG, "invalid JSON" },
                { "{'platform': {}}", "'", 1, -EBADMSG, "invalid JSON; expected JSON as in RFC 8259" },
                { "{\"platform\": {\"minApertureBits\": NaN}}", "NaN", 1, -EBADMSG, "invalid JSON" },
                { "{\"platform\": {\"minApertureBits\": 39.}}", "39.", 1, -EBADMSG, "invalid JSON" },
                { "{\"platform\": {\"minApertureBits\": -Infinity}}", "-Inf", 1, -EBADMSG, "invalid JSON" },
                { deep, "[", 32, -EBADMSG, "nesting is too deep; expected at most 32 levels of objects and arrays" },
                /* 32 levels are allowed: the error is the unknown key, not the depth */
                { ok32, "\"a\"", 1, -EINVAL, "unknown key \"a\"" },
        };
        Policy p;
        char *err = NULL;

        (void) state;
        /* the root object is level 1; the 32nd '[' is level 33 */
        strcpy(deep, "{\"a\": ");
        memset(deep + strlen(deep), '[', 40);
        deep[6 + 40] = '\0';
        strcpy(ok32, "{\"a\": ");
        memset(ok32 + 6, '[', 31);
        memset(ok32 + 6 + 31, ']', 31);
        strcpy(ok32 + 6 + 62, "}");

        expect_bad_table(cases, ELEMENTSOF(cases));

        /* cut short: the position is the end of the text */
        base_policy(&p);
        assert_int_equal(policy_parse_text("t.json", "{\"platform\": {", 14, &p, &err), -EBADMSG);
        assert_string_equal(err, "t.json:1:15: unexpected end of file; expected the rest of a JSON object");
        free(err);
        assert_int_equal(policy_parse_text("t.json", "{\"rules\": [{\"name\": \"x\"\n", 24, &p, &err), -EBADMSG);
        assert_string_equal(err, "t.json:2:1: unexpected end of file; expected the rest of a JSON object");
        free(err);
        assert_int_equal(p.n_rules, 1);
        policy_done(&p);

        /* empty text: nothing to parse */
        base_policy(&p);
        assert_int_equal(policy_parse_text("t.json", "", 0, &p, &err), -EBADMSG);
        assert_string_equal(err, "t.json:1:1: unexpected end of file; expected the rest of a JSON object");
        free(err);
        policy_done(&p);

        /* trailing white space is fine */
        policy_init_defaults(&p);
        parse_ok(" \n{}\r\n\t \n", &p);
        policy_done(&p);
}

static void test_size_limits(void **state) {
        size_t big = POLICY_FILE_SIZE_MAX + 1;
        char *text, *q;
        Policy p;
        char *err = NULL;

        (void) state;
        text = malloc(big + 1);
        assert_non_null(text);

        /* one byte too many: refused before it is parsed */
        memset(text, ' ', big);
        text[0] = '{';
        text[big - 1] = '}';
        text[big] = '\0';
        base_policy(&p);
        Policy before;
        memcpy(&before, &p, sizeof p);
        assert_int_equal(policy_parse_text("t.json", text, big, &p, &err), -EFBIG);
        assert_string_equal(err, "t.json:1:1: file is 1048577 bytes; expected at most 1048576 bytes");
        assert_memory_equal(&p, &before, sizeof p);
        free(err);
        err = NULL;

        /* exactly the limit is fine */
        text[big - 2] = '}';
        assert_int_equal(policy_parse_text("t.json", text, big - 1, &p, &err), 0);
        assert_null(err);
        policy_done(&p);

        /* rules: POLICY_RULES_MAX in all is fine, one more is not, counting earlier files' rules too */
        q = text;
        q += sprintf(q, "{\"rules\": [\n");
        for (int i = 0; i < POLICY_RULES_MAX + 1; i++)
                q += sprintf(q, "  {\"name\": \"r%d\", \"deny\": true}%s\n", i, i < POLICY_RULES_MAX ? "," : "");
        sprintf(q, "]}\n");
        expect_bad_full(text, strlen(text), "{\"name\": \"r4096\"", 1, -E2BIG,
                        "this is rule number 4097; expected at most 4096 rules in all policy files together", false);

        /* base_policy() holds one rule already, so rule r4095 of this file is one too many */
        expect_bad_len(text, strlen(text), "{\"name\": \"r4095\"", 1, -E2BIG, "this is rule number 4097");

        /* drop the last rule: 4096 fit into an empty policy */
        q = strstr(text, ",\n  {\"name\": \"r4096\"");
        assert_non_null(q);
        strcpy(q, "\n]}\n");
        policy_init_defaults(&p);
        parse_ok(text, &p);
        assert_int_equal(p.n_rules, POLICY_RULES_MAX);
        assert_string_equal(p.rules[POLICY_RULES_MAX - 1].name, "r4095");
        policy_done(&p);

        free(text);
}

/* ---- directories ---- */

typedef struct TmpDirs {
        char a[64], b[64];
} TmpDirs;

static void write_file(const char *dir, const char *name, const char *content) {
        char path[256];
        FILE *f;

        snprintf(path, sizeof path, "%s/%s", dir, name);
        f = fopen(path, "we");
        assert_non_null(f);
        assert_int_equal(fputs(content, f) >= 0, 1);
        assert_int_equal(fclose(f), 0);
}

static void rm_rf(const char *dir) {
        char cmd[300];

        /* test scratch only: a directory we made with mkdtemp() */
        snprintf(cmd, sizeof cmd, "rm -rf -- '%s'", dir);
        assert_int_equal(system(cmd), 0);
}

static int dirs_setup(void **state) {
        TmpDirs *t = calloc(1, sizeof(TmpDirs));

        if (!t)
                return -1;
        strcpy(t->a, "/tmp/test-policy-a-XXXXXX");
        strcpy(t->b, "/tmp/test-policy-b-XXXXXX");
        if (!mkdtemp(t->a) || !mkdtemp(t->b))
                return -1;
        *state = t;
        return 0;
}

static int dirs_teardown(void **state) {
        TmpDirs *t = *state;

        rm_rf(t->a);
        rm_rf(t->b);
        free(t);
        return 0;
}

static char *path_join(const char *dir, const char *name) {
        size_t n = strlen(dir) + strlen(name) + 2;
        char *s = malloc(n);

        if (!s)
                abort();
        snprintf(s, n, "%s/%s", dir, name);
        return s;
}

static void test_dir_masking(void **state) {
        TmpDirs *t = *state;
        const char *dirs[] = { t->a, t->b };
        Policy p;
        char *err = NULL, *masked, *masking;

        write_file(t->a, "10-x.json", "{\"rules\": [{\"name\": \"from-a\", \"deny\": true}]}");
        write_file(t->b, "10-x.json", "{\"rules\": [{\"name\": \"from-b\", \"deny\": true}]}");
        write_file(t->a, "20-only-a.json", "{\"platform\": {\"allowSmmuBypass\": true}}");
        /* neither of these is a policy file */
        write_file(t->a, "README", "not json");
        write_file(t->a, ".30-hidden.json", "garbage");
        write_file(t->a, "40-x.json~", "garbage");

        assert_int_equal(policy_load_dirs(dirs, 2, &p, &err), 0);
        assert_null(err);
        assert_int_equal(p.n_rules, 1);
        assert_string_equal(p.rules[0].name, "from-b");
        masking = path_join(t->b, "10-x.json");
        masked = path_join(t->a, "20-only-a.json");
        assert_string_equal(p.rules[0].file, masking);
        assert_true(p.allow_smmu_bypass);
        assert_int_equal(p.n_files, 2);
        assert_string_equal(p.files[0].path, masking);
        assert_null(p.files[0].error);
        assert_string_equal(p.files[1].path, masked);
        assert_null(p.files[1].error);
        policy_done(&p);
        free(masked);
        free(masking);
}

static void test_dir_devnull_mask(void **state) {
        TmpDirs *t = *state;
        const char *dirs[] = { t->a, t->b };
        struct stat st;
        Policy p;
        char *err = NULL, *link, *empty;

        if (stat("/dev/null", &st) < 0 || !S_ISCHR(st.st_mode))
                skip();

        write_file(t->a, "20-y.json", "{\"rules\": [{\"name\": \"y\", \"deny\": true}], \"platform\": {\"allowNoIommu\": true}}");
        write_file(t->a, "30-z.json", "{\"rules\": [{\"name\": \"z\", \"deny\": true}]}");
        link = path_join(t->b, "20-y.json");
        assert_int_equal(symlink("/dev/null", link), 0);
        /* an empty file masks as well */
        write_file(t->b, "30-z.json", "");
        empty = path_join(t->b, "30-z.json");

        assert_int_equal(policy_load_dirs(dirs, 2, &p, &err), 0);
        assert_null(err);
        assert_int_equal(p.n_rules, 0);
        assert_false(p.allow_noiommu);
        assert_int_equal(p.n_files, 2);
        assert_string_equal(p.files[0].path, link);
        assert_string_equal(p.files[1].path, empty);
        policy_done(&p);
        free(link);
        free(empty);
}

static void test_dir_name_order(void **state) {
        TmpDirs *t = *state;
        const char *dirs[] = { t->a, t->b };
        Policy p;
        char *err = NULL;

        /* name order across directories, not directory order: 05-b (in b) applies before 10-a (in a) */
        write_file(t->a, "10-a.json",
                   "{\"platform\": {\"minApertureBits\": 40}, \"rules\": [{\"name\": \"second\", \"deny\": true}]}");
        write_file(t->b, "05-b.json",
                   "{\"platform\": {\"minApertureBits\": 48, \"allowNoIommu\": true}, \"protect\": {\"bootConsole\": false},"
                   " \"rules\": [{\"name\": \"first\", \"deny\": true}]}");
        write_file(t->b, "99-z.json", "{\"protect\": {\"rootStorage\": false}}");

        assert_int_equal(policy_load_dirs(dirs, 2, &p, &err), 0);
        assert_null(err);
        assert_int_equal(p.min_aperture_bits, 40);     /* 10-a overrides 05-b */
        assert_true(p.allow_noiommu);                  /* only 05-b says it */
        assert_false(p.protect_boot_console);
        assert_false(p.protect_root_storage);
        assert_true(p.protect_routed_interfaces);
        assert_int_equal(p.n_rules, 2);
        assert_string_equal(p.rules[0].name, "first");
        assert_string_equal(p.rules[1].name, "second");
        assert_int_equal(p.n_files, 3);
        assert_non_null(strstr(p.files[0].path, "/05-b.json"));
        assert_non_null(strstr(p.files[1].path, "/10-a.json"));
        assert_non_null(strstr(p.files[2].path, "/99-z.json"));
        policy_done(&p);
}

static void expect_load_fails(const char *const *dirs, size_t n, int error, const char *prefix, const char *what) {
        Policy p, before;
        char *err = NULL;
        int r;

        memset(&p, 0x5a, sizeof p);
        memcpy(&before, &p, sizeof p);
        r = policy_load_dirs(dirs, n, &p, &err);
        if (r >= 0)
                fail_msg("loaded, expected %s", prefix);
        if (error != 0)
                assert_int_equal(r, error);
        assert_non_null(err);
        if (strncmp(err, prefix, strlen(prefix)) != 0)
                fail_msg("expected prefix '%s', got '%s'", prefix, err);
        if (what && !strstr(err, what))
                fail_msg("expected '%s' in '%s'", what, err);
        assert_memory_equal(&p, &before, sizeof p);
        free(err);
}

static void test_dir_bad_file(void **state) {
        TmpDirs *t = *state;
        const char *dirs[] = { t->a, t->b };
        char *prefix;

        write_file(t->a, "10-good.json", "{\"rules\": [{\"name\": \"good\", \"deny\": true}]}");
        write_file(t->b, "50-lab.json", "{\n  \"platform\": {\n    \"allowNoIommu\": \"yes\"\n  }\n}\n");
        assert_true(asprintf(&prefix, "%s/50-lab.json:3:21: ", t->b) > 0);
        expect_load_fails(dirs, 2, -EINVAL, prefix, "\"allowNoIommu\" is a string; expected true or false");
        free(prefix);
}

static void test_dir_duplicate_rule_across_files(void **state) {
        TmpDirs *t = *state;
        const char *dirs[] = { t->a, t->b };
        char *prefix, *first;

        write_file(t->a, "10-one.json", "{\"rules\": [{\"name\": \"gpu\", \"deny\": true}]}");
        write_file(t->b, "20-two.json", "{\"rules\": [\n  {\"name\": \"nic\", \"deny\": true},\n  {\"name\": \"gpu\", \"deny\": true}]}");
        assert_true(asprintf(&prefix, "%s/20-two.json:3:12: ", t->b) > 0);
        first = path_join(t->a, "10-one.json");
        char *what;
        assert_true(asprintf(&what, "rule name \"gpu\" is already used in %s", first) > 0);
        expect_load_fails(dirs, 2, -EEXIST, prefix, what);
        free(prefix);
        free(first);
        free(what);
}

static void test_dir_odd_files(void **state) {
        TmpDirs *t = *state;
        const char *dirs[] = { t->a };
        char *sub, *prefix, *big;
        FILE *f;

        /* a directory named like a policy file */
        sub = path_join(t->a, "10-dir.json");
        assert_int_equal(mkdir(sub, 0755), 0);
        assert_true(asprintf(&prefix, "%s:1:1: ", sub) > 0);
        expect_load_fails(dirs, 1, -EISDIR, prefix, "not a regular file");
        assert_int_equal(rmdir(sub), 0);
        free(prefix);
        free(sub);

        /* a file over the limit is refused without reading it all */
        big = path_join(t->a, "20-big.json");
        f = fopen(big, "we");
        assert_non_null(f);
        assert_int_equal(ftruncate(fileno(f), POLICY_FILE_SIZE_MAX + 1), 0);
        fclose(f);
        assert_true(asprintf(&prefix, "%s:1:1: ", big) > 0);
        expect_load_fails(dirs, 1, -EFBIG, prefix, "expected at most 1048576 bytes");
        free(prefix);
        free(big);
}

static void test_dir_not_a_dir(void **state) {
        TmpDirs *t = *state;
        char *file = path_join(t->a, "plain");
        const char *dirs[] = { file };
        char *prefix;

        write_file(t->a, "plain", "x");
        assert_true(asprintf(&prefix, "%s: cannot read the directory", file) > 0);
        expect_load_fails(dirs, 1, -ENOTDIR, prefix, NULL);
        free(prefix);
        free(file);
}

/* Policy is root's to write: a file or directory anyone else can change is refused, naming it. */
static void test_dir_file_trust(void **state) {
        TmpDirs *t = *state;
        const char *dirs[] = { t->a };
        char *path, *prefix;

        if (geteuid() != 0)
                skip();

        write_file(t->a, "50-x.json", "{\"rules\": [{\"name\": \"x\", \"deny\": true}]}");
        path = path_join(t->a, "50-x.json");
        assert_true(asprintf(&prefix, "%s:1:1: ", path) > 0);

        assert_int_equal(chmod(path, 0666), 0);
        expect_load_fails(dirs, 1, -EPERM, prefix, "writable by its group or others (mode 0666)");
        assert_int_equal(chmod(path, 0620), 0);
        expect_load_fails(dirs, 1, -EPERM, prefix, "writable by its group or others (mode 0620)");
        assert_int_equal(chmod(path, 0644), 0);
        assert_int_equal(chown(path, 1000, 0), 0);
        expect_load_fails(dirs, 1, -EPERM, prefix, "owned by uid 1000; expected a file owned by root");
        assert_int_equal(chown(path, 0, 0), 0);

        /* root-owned 0644 (or 0600) is fine */
        Policy p;
        char *err = NULL;
        assert_int_equal(chmod(path, 0600), 0);
        assert_int_equal(policy_load_dirs(dirs, 1, &p, &err), 0);
        assert_null(err);
        assert_int_equal(p.n_rules, 1);
        policy_done(&p);
        free(prefix);
        free(path);
}

static void test_dir_dir_trust(void **state) {
        TmpDirs *t = *state;
        char *sub, *pol, *prefix, *what;
        Policy p;
        char *err = NULL;

        if (geteuid() != 0)
                skip();

        /* the policy directory itself */
        write_file(t->a, "50-x.json", "{\"rules\": [{\"name\": \"x\", \"deny\": true}]}");
        const char *dirs_a[] = { t->a };
        assert_int_equal(chmod(t->a, 0777), 0);
        assert_true(asprintf(&prefix, "%s: ", dirs_a[0]) > 0);
        expect_load_fails(dirs_a, 1, -EPERM, prefix, "writable by its group or others (mode 0777)");
        /* sticky does not help the policy directory: anyone could add files */
        assert_int_equal(chmod(t->a, 01777), 0);
        expect_load_fails(dirs_a, 1, -EPERM, prefix, "writable by its group or others (mode 1777)");
        assert_int_equal(chmod(t->a, 0755), 0);
        assert_int_equal(chown(t->a, 1000, 1000), 0);
        expect_load_fails(dirs_a, 1, -EPERM, prefix, "owned by uid 1000; expected a directory owned by root");
        assert_int_equal(chown(t->a, 0, 0), 0);
        free(prefix);

        /* a directory on its way up to / */
        sub = path_join(t->b, "sub");
        pol = path_join(sub, "policy.d");
        assert_int_equal(mkdir(sub, 0777), 0);
        assert_int_equal(chmod(sub, 0777), 0);
        assert_int_equal(mkdir(pol, 0755), 0);
        write_file(pol, "50-x.json", "{\"rules\": [{\"name\": \"x\", \"deny\": true}]}");
        const char *dirs_b[] = { pol };
        assert_true(asprintf(&prefix, "%s: ", pol) > 0);
        assert_true(asprintf(&what, "the directory %s above it is writable by its group or others (mode 0777)", sub) > 0);
        expect_load_fails(dirs_b, 1, -EPERM, prefix, what);
        free(what);
        /* a sticky ancestor (like /tmp) is fine: only root may rename or remove root's entries in it */
        assert_int_equal(chmod(sub, 01777), 0);
        assert_int_equal(policy_load_dirs(dirs_b, 1, &p, &err), 0);
        assert_null(err);
        assert_int_equal(p.n_rules, 1);
        policy_done(&p);
        /* but its owner must still be root */
        assert_int_equal(chmod(sub, 0755), 0);
        assert_int_equal(chown(sub, 1000, 1000), 0);
        assert_true(asprintf(&what, "the directory %s above it is owned by uid 1000", sub) > 0);
        expect_load_fails(dirs_b, 1, -EPERM, prefix, what);
        assert_int_equal(chown(sub, 0, 0), 0);
        free(what);
        free(prefix);
        free(pol);
        free(sub);
}

/* Symlinks to files are refused (the target's directories would be unchecked); one to /dev/null masks
 * (test_dir_devnull_mask). A symlinked policy directory is followed, and its real path is checked. */
static void test_dir_symlinks(void **state) {
        TmpDirs *t = *state;
        const char *dirs[] = { t->a };
        char *link, *prefix, *target, *dlink;
        Policy p;
        char *err = NULL;

        write_file(t->b, "elsewhere.json", "{\"rules\": [{\"name\": \"x\", \"deny\": true}]}");
        target = path_join(t->b, "elsewhere.json");
        link = path_join(t->a, "60-link.json");
        assert_int_equal(symlink(target, link), 0);
        assert_true(asprintf(&prefix, "%s:1:1: ", link) > 0);
        expect_load_fails(dirs, 1, -ELOOP, prefix, "is a symlink; expected a regular file, or a symlink to /dev/null to mask");
        assert_int_equal(unlink(link), 0);
        free(prefix);

        /* a symlinked directory: followed, checked where it really is */
        dlink = path_join(t->a, "dirlink");
        assert_int_equal(symlink(t->b, dlink), 0);
        const char *dirs2[] = { dlink };
        assert_int_equal(policy_load_dirs(dirs2, 1, &p, &err), 0);
        assert_null(err);
        assert_int_equal(p.n_rules, 1);
        policy_done(&p);
        if (geteuid() == 0) {
                assert_int_equal(chmod(t->b, 0777), 0);
                assert_true(asprintf(&prefix, "%s: ", dlink) > 0);
                expect_load_fails(dirs2, 1, -EPERM, prefix, "writable by its group or others (mode 0777)");
                free(prefix);
                assert_int_equal(chmod(t->b, 0700), 0);
        }
        free(dlink);
        free(target);
        free(link);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_defaults),
                cmocka_unit_test(test_full_file),
                cmocka_unit_test(test_override_and_append),
                cmocka_unit_test(test_wrong_types),
                cmocka_unit_test(test_out_of_range),
                cmocka_unit_test(test_unknown_keys),
                cmocka_unit_test(test_message_format),
                cmocka_unit_test(test_bad_patterns),
                cmocka_unit_test(test_good_patterns),
                cmocka_unit_test(test_duplicate_keys),
                cmocka_unit_test(test_rule_shapes),
                cmocka_unit_test(test_encoding),
                cmocka_unit_test(test_syntax),
                cmocka_unit_test(test_size_limits),
                cmocka_unit_test_setup_teardown(test_dir_masking, dirs_setup, dirs_teardown),
                cmocka_unit_test_setup_teardown(test_dir_devnull_mask, dirs_setup, dirs_teardown),
                cmocka_unit_test_setup_teardown(test_dir_name_order, dirs_setup, dirs_teardown),
                cmocka_unit_test_setup_teardown(test_dir_bad_file, dirs_setup, dirs_teardown),
                cmocka_unit_test_setup_teardown(test_dir_duplicate_rule_across_files, dirs_setup, dirs_teardown),
                cmocka_unit_test_setup_teardown(test_dir_odd_files, dirs_setup, dirs_teardown),
                cmocka_unit_test_setup_teardown(test_dir_not_a_dir, dirs_setup, dirs_teardown),
                cmocka_unit_test_setup_teardown(test_dir_file_trust, dirs_setup, dirs_teardown),
                cmocka_unit_test_setup_teardown(test_dir_dir_trust, dirs_setup, dirs_teardown),
                cmocka_unit_test_setup_teardown(test_dir_symlinks, dirs_setup, dirs_teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
