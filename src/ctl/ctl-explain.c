/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <inttypes.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>

#include "ctl-pci.h"
#include "ctl-table.h"
#include "ctl-util.h"
#include "vfiodctl.h"

static int add_check(Table *t, sd_json_variant *c) {
        int passed = json_bool(c, "passed");
        int r;

        /* A check without a clear "passed" is not counted as passed. */
        if (passed > 0)
                r = table_add(t, glyph_check_mark(), ANSI_GREEN);
        else
                r = table_add(t, passed == 0 ? glyph_cross_mark() : "?", ANSI_RED);
        if (r < 0)
                return r;

        if ((r = table_add(t, json_str(c, "code"), NULL)) < 0 ||
            (r = table_add(t, json_str(c, "subject"), NULL)) < 0)
                return r;

        return table_addf(t, NULL, "%s %s", glyph_dash(), json_str(c, "sentence") ?: "-");
}

static void print_intro(sd_json_variant *reply, const char *fallback_device) {
        char device[TEXT_MAX], name[TEXT_MAX] = "";
        struct passwd *pw;
        int64_t uid;

        (void) text_clean(device, sizeof device, json_str(reply, "device") ?: fallback_device, 64);
        if (!json_int(reply, "uid", &uid) || uid < 0 || uid >= (int64_t) (uid_t) -1) {
                printf("%s:\n", device);
                return;
        }

        pw = getpwuid((uid_t) uid);
        if (pw && pw->pw_name)
                (void) text_clean(name, sizeof name, pw->pw_name, 64);
        printf("%s, judged for uid %" PRIi64 "%s%s%s:\n", device, uid, *name ? " (" : "", name, *name ? ")" : "");
}

static void print_verdict(sd_json_variant *reply, int allowed) {
        sd_json_variant *checks = sd_json_variant_by_key(reply, "checks");
        char rule[TEXT_MAX] = "", failed[TEXT_MAX] = "";
        const char *r = json_str(reply, "rule");
        size_t used = 0;
        int64_t bits;

        if (r)
                (void) text_clean(rule, sizeof rule, r, 256);

        /* Name what failed: "denied" alone sends people looking. */
        for (size_t i = 0; checks && sd_json_variant_is_array(checks) && i < sd_json_variant_elements(checks); i++) {
                sd_json_variant *c = sd_json_variant_by_index(checks, i);
                char code[TEXT_MAX];
                int n;

                if (json_bool(c, "passed") > 0)
                        continue;
                (void) text_clean(code, sizeof code, json_str(c, "code") ?: "?", 64);
                if (strstr(failed, code))
                        continue;
                n = snprintf(failed + used, sizeof failed - used, "%s%s", used ? ", " : "", code);
                if (n < 0 || (size_t) n >= sizeof failed - used)
                        break;
                used += n;
        }

        printf("Verdict: %s%s%s",
               ansi(allowed > 0 ? ANSI_GREEN : ANSI_RED),
               allowed > 0 ? "allowed" : allowed == 0 ? "denied" : "-",
               ansi(ANSI_NORMAL));
        if (*failed)
                printf(", failed: %s", failed);
        if (*rule)
                printf(" (rule %s)", rule);
        else
                printf(" (no policy rule matched)");
        putchar('\n');

        if (json_int(reply, "apertureBits", &bits))
                printf("Aperture: %" PRIi64 " bits\n", bits);
        else
                printf("Aperture: unknown\n");
}

int verb_explain(int argc, char *argv[]) {
        _cleanup_(sd_varlink_flush_close_unrefp) sd_varlink *link = NULL;
        _cleanup_(sd_json_variant_unrefp) sd_json_variant *params = NULL;
        _cleanup_(table_freep) Table *t = NULL;
        static const char *const headers[] = { "", "CHECK", "SUBJECT", "WHY" };
        sd_json_variant *reply = NULL, *checks;
        char address[CTL_PCI_ADDRESS_MAX];
        const char *reason;
        int allowed, r;

        /* Catch typos here, with a message that says what is wrong, rather than as NoSuchDevice. */
        r = ctl_pci_address_parse(argv[0], address, &reason);
        if (r < 0) {
                char given[TEXT_MAX];

                (void) text_clean(given, sizeof given, argv[0], 64);
                ctl_log("'%s' is not a PCI address: %s (e.g. 0000:01:00.0)", given, reason);
                return EXIT_USAGE;
        }

        r = sd_json_buildo(&params,
                           SD_JSON_BUILD_PAIR_STRING("device", address),
                           SD_JSON_BUILD_PAIR_CONDITION(arg_uid != (uid_t) -1, "uid",
                                                        SD_JSON_BUILD_UNSIGNED(arg_uid)));
        if (r < 0)
                return ctl_log_errno(r, "Failed to build parameters: %m");

        r = broker_connect(arg_address, &link);
        if (r < 0)
                return r;

        r = broker_call(link, VFIOD_INTERFACE ".Explain", params, &reply);
        if (r < 0)
                return r;

        /* Anything but an explicit "allowed": true counts as denied, for people and scripts alike. */
        allowed = json_bool(reply, "allowed");

        if (arg_json) {
                r = print_json(reply, false);
                if (r < 0)
                        return r;
                return allowed > 0 ? 0 : EXIT_DENIED;
        }

        if (arg_legend)
                print_intro(reply, address);

        r = table_new(&t, ELEMENTSOF(headers), headers);
        if (r < 0)
                return ctl_log_errno(r, "Failed to allocate table: %m");

        checks = json_array(reply, "checks");
        for (size_t i = 0; checks && i < sd_json_variant_elements(checks); i++) {
                sd_json_variant *c = sd_json_variant_by_index(checks, i);

                if (!sd_json_variant_is_object(c))
                        continue;
                r = add_check(t, c);
                if (r < 0)
                        return ctl_log_errno(r, "Failed to add table cell: %m");
        }

        if (table_rows(t) == 0)
                printf("  (vfiod reported no checks)\n");
        else {
                r = table_print(t, stdout, false, "  ");
                if (r < 0)
                        return ctl_log_errno(r, "Failed to print table: %m");
        }

        print_verdict(reply, allowed);
        return allowed > 0 ? 0 : EXIT_DENIED;
}
