/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdio.h>

#include "ctl-table.h"
#include "ctl-util.h"
#include "vfiodctl.h"

int verb_reload(int argc, char *argv[]) {
        static const char *const headers[] = { "FILE", "STATUS" };
        _cleanup_(sd_varlink_flush_close_unrefp) sd_varlink *link = NULL;
        _cleanup_(table_freep) Table *t = NULL;
        sd_json_variant *reply = NULL, *files;
        int r;

        r = broker_connect(arg_address, &link);
        if (r < 0)
                return r;

        /* PolicyInvalid comes back as an error: broker_call() prints its message and we exit 1. */
        r = broker_call(link, VFIOD_INTERFACE ".Reload", NULL, &reply);
        if (r < 0)
                return r;

        if (arg_json)
                return print_json(reply, false);

        r = table_new(&t, ELEMENTSOF(headers), headers);
        if (r < 0)
                return ctl_log_errno(r, "Failed to allocate table: %m");

        files = json_array(reply, "files");
        for (size_t i = 0; files && i < sd_json_variant_elements(files); i++) {
                sd_json_variant *f = sd_json_variant_by_index(files, i);
                const char *error = json_str(f, "error");

                if (!sd_json_variant_is_object(f))
                        continue;
                if ((r = table_add(t, json_str(f, "path"), NULL)) < 0 ||
                    (r = table_addf(t, error ? ANSI_RED : NULL, "%s%s", error ? "rejected: " : "loaded", error ?: "")) < 0)
                        return ctl_log_errno(r, "Failed to add table cell: %m");
        }

        if (table_rows(t) == 0) {
                printf("Policy reloaded; no policy files are in force.\n");
                return 0;
        }

        if (arg_legend)
                printf("Policy reloaded; files in force:\n");
        r = table_print(t, stdout, arg_legend, arg_legend ? "  " : NULL);
        if (r < 0)
                return ctl_log_errno(r, "Failed to print table: %m");
        return 0;
}
