/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdio.h>

#include "ctl-pci.h"
#include "ctl-util.h"
#include "vfiodctl.h"

/* Connect with the long timeout calls that rebind drivers need. */
static int connect_for_change(sd_varlink **ret) {
        _cleanup_(sd_varlink_flush_close_unrefp) sd_varlink *link = NULL;
        int r;

        r = broker_connect(arg_address, &link);
        if (r < 0)
                return r;

        r = sd_varlink_set_relative_timeout(link, CTL_CHANGE_TIMEOUT_USEC);
        if (r < 0)
                return ctl_log_errno(r, "Failed to set the call timeout: %m");

        *ret = TAKE_PTR(link);
        return 0;
}

/* Bind and Unbind take the same {"devices": [...]}. */
static int call_with_devices(const char *method, char *argv[], int argc, sd_varlink **ret_link,
                             sd_json_variant **ret_reply) {
        _cleanup_(sd_varlink_flush_close_unrefp) sd_varlink *link = NULL;
        _cleanup_(sd_json_variant_unrefp) sd_json_variant *params = NULL;
        _cleanup_(ctl_strv_freep) char **devices = NULL;
        int r;

        r = ctl_pci_address_list_parse(argv, argc, &devices);
        if (r != 0)
                return r;

        r = sd_json_buildo(&params, SD_JSON_BUILD_PAIR_STRV("devices", devices));
        if (r < 0)
                return ctl_log_errno(r, "Failed to build parameters: %m");

        r = connect_for_change(&link);
        if (r < 0)
                return r;

        r = broker_call(link, method, params, ret_reply);
        if (r < 0)
                return r;

        /* The reply lives in the connection. */
        *ret_link = TAKE_PTR(link);
        return 0;
}

static void print_list(const char *label, sd_json_variant *array, bool ints) {
        char buf[TEXT_MAX], clean[TEXT_MAX];
        size_t n;

        n = ints ? json_join_ints(array, ", ", buf, sizeof buf) : json_join(array, ", ", buf, sizeof buf);
        (void) text_clean(clean, sizeof clean, n > 0 ? buf : "none", TEXT_MAX);
        printf("%s%s\n", label, clean);
}

int verb_bind(int argc, char *argv[]) {
        _cleanup_(sd_varlink_flush_close_unrefp) sd_varlink *link = NULL;
        sd_json_variant *reply = NULL;
        char lease[TEXT_MAX];
        int r;

        r = call_with_devices(VFIOD_INTERFACE ".Bind", argv, argc, &link, &reply);
        if (r != 0)
                return r;

        if (arg_json)
                return print_json(reply, false);

        (void) text_clean(lease, sizeof lease, json_str(reply, "leaseId") ?: "-", 128);
        printf("Lease:       %s\n", lease);
        print_list("Groups:      ", json_array(reply, "groups"), true);
        print_list("On vfio-pci: ", json_array(reply, "devices"), false);
        if (arg_legend)
                printf("\nThe devices stay on vfio-pci until '%s unbind' or '%s release %s'.\n",
                       program_invocation_short_name, program_invocation_short_name, lease);
        return 0;
}

int verb_unbind(int argc, char *argv[]) {
        _cleanup_(sd_varlink_flush_close_unrefp) sd_varlink *link = NULL;
        sd_json_variant *reply = NULL;
        int r;

        r = call_with_devices(VFIOD_INTERFACE ".Unbind", argv, argc, &link, &reply);
        if (r != 0)
                return r;

        if (arg_json)
                return print_json(reply, false);

        print_list("Given back to their drivers: ", json_array(reply, "devices"), false);
        return 0;
}

int verb_release(int argc, char *argv[]) {
        _cleanup_(sd_varlink_flush_close_unrefp) sd_varlink *link = NULL;
        _cleanup_(sd_json_variant_unrefp) sd_json_variant *params = NULL;
        sd_json_variant *reply = NULL;
        char lease[TEXT_MAX];
        int r;

        if (isempty(argv[0])) {
                ctl_log("release: the lease id is empty; see '%s leases'", program_invocation_short_name);
                return EXIT_USAGE;
        }

        r = sd_json_buildo(&params, SD_JSON_BUILD_PAIR_STRING("leaseId", argv[0]));
        if (r < 0)
                return ctl_log_errno(r, "Failed to build parameters: %m");

        r = connect_for_change(&link);
        if (r < 0)
                return r;

        r = broker_call(link, VFIOD_INTERFACE ".Release", params, &reply);
        if (r < 0)
                return r;

        if (arg_json)
                return print_json(reply, false);

        (void) text_clean(lease, sizeof lease, argv[0], 128);
        printf("Released lease %s.\n", lease);
        return 0;
}
