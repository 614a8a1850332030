/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <time.h>

#include "ctl-table.h"
#include "ctl-util.h"
#include "vfiodctl.h"

/* Device lists run long; the table keeps them to this many columns. */
#define DEVICES_WIDTH_MAX 64

/* CLOCK_REALTIME microseconds as local time, to the second. */
static int add_since(Table *t, sd_json_variant *lease) {
        char buf[64];
        int64_t usec;
        time_t sec;
        struct tm tm;

        if (!json_int(lease, "since", &usec) || usec <= 0)
                return table_add(t, NULL, NULL);

        sec = (time_t) (usec / 1000000);
        if (!localtime_r(&sec, &tm) || strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm) == 0)
                return table_addf(t, NULL, "%" PRIi64, usec);
        return table_add(t, buf, NULL);
}

static int add_lease(Table *t, sd_json_variant *lease) {
        char buf[TEXT_MAX];
        int64_t v;
        int r;

        if ((r = table_add(t, json_str(lease, "id"), NULL)) < 0 ||
            (r = table_add(t, json_str(lease, "kind"), NULL)) < 0)
                return r;

        r = json_int(lease, "uid", &v) ? table_addf(t, NULL, "%" PRIi64, v) : table_add(t, NULL, NULL);
        if (r < 0)
                return r;
        /* A bind lease has no holder process. */
        r = json_int(lease, "pid", &v) ? table_addf(t, NULL, "%" PRIi64, v) : table_add(t, NULL, NULL);
        if (r < 0)
                return r;

        r = table_add(t, json_join(json_array(lease, "devices"), ",", buf, sizeof buf) > 0 ? buf : NULL, NULL);
        if (r < 0)
                return r;
        r = table_add(t, json_join_ints(json_array(lease, "groups"), ",", buf, sizeof buf) > 0 ? buf : NULL, NULL);
        if (r < 0)
                return r;

        r = add_since(t, lease);
        if (r < 0)
                return r;
        /* The label root's Bind gave the lease, e.g. the libvirt domain: "libvirt-domain vm1". */
        sd_json_variant *o = json_object(lease, "owner");
        if (json_str(o, "kind") && json_str(o, "name")) {
                char clean[TEXT_MAX];
                (void) text_clean(clean, sizeof clean, json_str(o, "name"), 64);
                return table_addf(t, NULL, "%s %s", json_str(o, "kind"), clean);
        }
        return table_add(t, NULL, NULL);
}

int verb_leases(int argc, char *argv[]) {
        static const char *const headers[] = { "ID", "KIND", "UID", "PID", "DEVICES", "GROUPS", "SINCE", "OWNER" };
        _cleanup_(sd_varlink_flush_close_unrefp) sd_varlink *link = NULL;
        _cleanup_(table_freep) Table *t = NULL;
        sd_json_variant *reply = NULL, *leases;
        size_t n;
        int r;

        r = broker_connect(arg_address, &link);
        if (r < 0)
                return r;

        r = broker_call(link, VFIOD_INTERFACE ".ListLeases", NULL, &reply);
        if (r < 0)
                return r;

        if (arg_json)
                return print_json(reply, false);

        leases = json_array(reply, "leases");
        if (!leases)
                return ctl_log_errno(-EBADMSG, "vfiod's reply to ListLeases has no lease list");

        r = table_new(&t, ELEMENTSOF(headers), headers);
        if (r < 0)
                return ctl_log_errno(r, "Failed to allocate table: %m");
        table_set_max_width(t, 4, DEVICES_WIDTH_MAX);

        for (size_t i = 0; i < sd_json_variant_elements(leases); i++) {
                sd_json_variant *l = sd_json_variant_by_index(leases, i);

                if (!sd_json_variant_is_object(l))
                        continue;
                r = add_lease(t, l);
                if (r < 0)
                        return ctl_log_errno(r, "Failed to add table cell: %m");
        }

        n = table_rows(t);
        if (n > 0 || arg_legend) {
                r = table_print(t, stdout, arg_legend, NULL);
                if (r < 0)
                        return ctl_log_errno(r, "Failed to print table: %m");
        }
        if (arg_legend)
                printf("\n%zu lease%s listed.\n", n, n == 1 ? "" : "s");
        return 0;
}
