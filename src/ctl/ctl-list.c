/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>

#include "ctl-table.h"
#include "ctl-util.h"
#include "vfiodctl.h"

/* Model names from pci.ids run long; the table keeps them to this many columns. */
#define MODEL_WIDTH_MAX 32

/* "allowed", or "denied: code, code" from a Verdict object. */
static int add_verdict(Table *t, sd_json_variant *verdict) {
        char failed[TEXT_MAX];
        int allowed = json_bool(verdict, "allowed");

        if (allowed < 0)
                return table_add(t, NULL, NULL);
        if (allowed)
                return table_add(t, "allowed", ANSI_GREEN);
        if (json_join(json_array(verdict, "failed"), ", ", failed, sizeof failed) == 0)
                return table_add(t, "denied", ANSI_RED);
        return table_addf(t, ANSI_RED, "denied: %s", failed);
}

static int add_int_or_dash(Table *t, sd_json_variant *o, const char *key) {
        int64_t v;

        if (!json_int(o, key, &v))
                return table_add(t, NULL, NULL);
        return table_addf(t, NULL, "%" PRIi64, v);
}

static int add_device(Table *t, sd_json_variant *d) {
        const char *vendor = json_str(d, "vendor"), *device = json_str(d, "device");
        int r;

        if ((r = table_add(t, json_str(d, "address"), NULL)) < 0)
                return r;
        if (vendor || device)
                r = table_addf(t, NULL, "%s:%s", vendor ?: "-", device ?: "-");
        else
                r = table_add(t, NULL, NULL);
        if (r < 0)
                return r;

        if ((r = table_add(t, json_str(d, "class"), NULL)) < 0 ||
            (r = table_add(t, json_str(d, "driver"), NULL)) < 0 ||
            (r = table_add(t, json_str(d, "state"), NULL)) < 0 ||
            (r = add_int_or_dash(t, d, "iommuGroup")) < 0 ||
            (r = table_add(t, json_str(d, "iommuUnit"), NULL)) < 0 ||
            (r = add_verdict(t, json_object(d, "verdict"))) < 0)
                return r;

        return table_add(t, json_str(d, "modelName"), NULL);
}

static int print_table(Table *t, const char *what) {
        size_t n = table_rows(t);
        int r;

        r = table_print(t, stdout, arg_legend, NULL);
        if (r < 0)
                return ctl_log_errno(r, "Failed to print table: %m");
        if (arg_legend)
                printf("\n%zu %s%s listed.\n", n, what, n == 1 ? "" : "s");
        return 0;
}

int verb_list(int argc, char *argv[]) {
        static const char *const headers[] = {
                "ADDRESS", "VENDOR:DEVICE", "CLASS", "DRIVER", "STATE", "GROUP", "UNIT", "VERDICT", "MODEL",
        };
        _cleanup_(sd_varlink_flush_close_unrefp) sd_varlink *link = NULL;
        _cleanup_(table_freep) Table *t = NULL;
        sd_json_variant *reply = NULL, *devices;
        int r;

        r = broker_connect(arg_address, &link);
        if (r < 0)
                return r;

        r = broker_call(link, VFIOD_INTERFACE ".ListDevices", NULL, &reply);
        if (r < 0)
                return r;

        if (arg_json)
                return print_json(reply, false);

        devices = json_array(reply, "devices");
        if (!devices)
                return ctl_log_errno(-EBADMSG, "vfiod's reply to ListDevices has no device list");

        r = table_new(&t, ELEMENTSOF(headers), headers);
        if (r < 0)
                return ctl_log_errno(r, "Failed to allocate table: %m");
        table_set_max_width(t, ELEMENTSOF(headers) - 1, MODEL_WIDTH_MAX);

        for (size_t i = 0; i < sd_json_variant_elements(devices); i++) {
                sd_json_variant *d = sd_json_variant_by_index(devices, i);

                if (!sd_json_variant_is_object(d))
                        continue;
                r = add_device(t, d);
                if (r < 0)
                        return ctl_log_errno(r, "Failed to add table cell: %m");
        }

        return print_table(t, "device");
}

/* The distinct types of a group's reserved regions, in order: "msi, direct-relaxable". */
static int add_regions(Table *t, sd_json_variant *regions) {
        char buf[TEXT_MAX] = "";
        bool direct = false;
        size_t len = 0;

        for (size_t i = 0; regions && i < sd_json_variant_elements(regions); i++) {
                const char *type = json_str(sd_json_variant_by_index(regions, i), "type");
                bool seen = false;
                int k;

                if (!type)
                        continue;
                if (streq(type, "direct"))
                        direct = true;
                for (size_t j = 0; j < i && !seen; j++) {
                        const char *other = json_str(sd_json_variant_by_index(regions, j), "type");

                        seen = other && streq(other, type);
                }
                if (seen)
                        continue;

                k = snprintf(buf + len, sizeof buf - len, "%s%s", len > 0 ? ", " : "", type);
                if (k < 0 || (size_t) k >= sizeof buf - len)
                        break;
                len += k;
        }

        /* A direct-mapped region (RMRR/IVMD) means the device may DMA outside the guest's control. */
        return table_add(t, len > 0 ? buf : NULL, direct ? ANSI_RED : NULL);
}

static int add_group(Table *t, sd_json_variant *g) {
        char members[TEXT_MAX];
        int viable = json_bool(g, "viable");
        int r;

        if ((r = add_int_or_dash(t, g, "id")) < 0 ||
            (r = table_add(t, json_join(json_array(g, "members"), ", ", members, sizeof members) > 0 ? members : NULL,
                           NULL)) < 0 ||
            (r = table_add(t, yes_no(viable), viable == 0 ? ANSI_YELLOW : NULL)) < 0 ||
            (r = add_regions(t, json_array(g, "reservedRegions"))) < 0)
                return r;

        return add_verdict(t, json_object(g, "verdict"));
}

int verb_groups(int argc, char *argv[]) {
        static const char *const headers[] = { "GROUP", "MEMBERS", "VIABLE", "REGIONS", "VERDICT" };
        _cleanup_(sd_varlink_flush_close_unrefp) sd_varlink *link = NULL;
        _cleanup_(table_freep) Table *t = NULL;
        sd_json_variant *reply = NULL, *groups;
        int r;

        r = broker_connect(arg_address, &link);
        if (r < 0)
                return r;

        r = broker_call(link, VFIOD_INTERFACE ".ListGroups", NULL, &reply);
        if (r < 0)
                return r;

        if (arg_json)
                return print_json(reply, false);

        groups = json_array(reply, "groups");
        if (!groups)
                return ctl_log_errno(-EBADMSG, "vfiod's reply to ListGroups has no group list");

        r = table_new(&t, ELEMENTSOF(headers), headers);
        if (r < 0)
                return ctl_log_errno(r, "Failed to allocate table: %m");

        for (size_t i = 0; i < sd_json_variant_elements(groups); i++) {
                sd_json_variant *g = sd_json_variant_by_index(groups, i);

                if (!sd_json_variant_is_object(g))
                        continue;
                r = add_group(t, g);
                if (r < 0)
                        return ctl_log_errno(r, "Failed to add table cell: %m");
        }

        return print_table(t, "group");
}
