/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <sys/stat.h>

#include "info.h"
#include "log.h"
#include "macro.h"
#include "varlink-idl.h"
#include "varlink.h"

static int vl_method_get_info(sd_varlink *link, sd_json_variant *parameters,
                              sd_varlink_method_flags_t flags, void *userdata) {
        _cleanup_(sd_json_variant_unrefp) sd_json_variant *v = NULL;
        Manager *m = userdata;
        int r;

        (void) flags;

        /* No parameters: an empty table still rejects unknown fields. */
        static const sd_json_dispatch_field dispatch_table[] = {
                {}
        };
        r = sd_varlink_dispatch(link, parameters, dispatch_table, NULL);
        if (r != 0)
                return r;

        r = info_build(m, &v);
        if (r < 0)
                return log_error_errno(r, "Failed to collect host information: %m");

        return sd_varlink_reply(link, v);
}

int manager_varlink_init(Manager *m) {
        _cleanup_(sd_varlink_server_unrefp) sd_varlink_server *s = NULL;
        int r;

        r = sd_varlink_server_new(&s, SD_VARLINK_SERVER_ACCOUNT_UID | SD_VARLINK_SERVER_INHERIT_USERDATA);
        if (r < 0)
                return log_error_errno(r, "Failed to allocate varlink server: %m");

        r = sd_varlink_server_set_info(s, "vfiod", "vfiod", VFIOD_VERSION, "https://vfiod.io/");
        if (r < 0)
                return log_error_errno(r, "Failed to set varlink server info: %m");

        sd_varlink_server_set_userdata(s, m);

        r = sd_varlink_server_add_interface(s, &vl_interface_io_vfiod_Broker);
        if (r < 0)
                return log_error_errno(r, "Failed to add varlink interface: %m");

        r = sd_varlink_server_bind_method_many(
                        s,
                        "io.vfiod.Broker.GetInfo", vl_method_get_info);
        if (r < 0)
                return log_error_errno(r, "Failed to bind varlink methods: %m");

        /* Everyone may connect; bound the damage one user can do by hogging connections. */
        r = sd_varlink_server_set_connections_per_uid_max(s, 64);
        if (r < 0)
                return log_error_errno(r, "Failed to set per-user connection limit: %m");

        r = sd_varlink_server_attach_event(s, m->event, SD_EVENT_PRIORITY_NORMAL);
        if (r < 0)
                return log_error_errno(r, "Failed to attach varlink server to event loop: %m");

        r = sd_varlink_server_listen_auto(s);
        if (r < 0)
                return log_error_errno(r, "Failed to take over sockets passed in: %m");
        if (r == 0) {
                /* Started by hand rather than by vfiod.socket: bind the socket ourselves. */
                if (mkdir(VFIOD_RUNTIME_DIR, 0755) < 0 && errno != EEXIST)
                        return log_error_errno(errno, "Failed to create " VFIOD_RUNTIME_DIR ": %m");
                r = sd_varlink_server_listen_address(s, VFIOD_VARLINK_ADDRESS, 0666);
                if (r < 0)
                        return log_error_errno(r, "Failed to listen on " VFIOD_VARLINK_ADDRESS ": %m");
        }

        m->varlink_server = TAKE_PTR(s);
        return 0;
}
