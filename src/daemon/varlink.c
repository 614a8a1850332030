/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "caller.h"
#include "info.h"
#include "log.h"
#include "macro.h"
#include "pci-address.h"
#include "query.h"
#include "varlink-idl.h"
#include "varlink.h"

/* Methods that take no parameters still reject unknown ones. */
static int dispatch_none(sd_varlink *link, sd_json_variant *parameters) {
        static const sd_json_dispatch_field table[] = {
                {}
        };
        return sd_varlink_dispatch(link, parameters, table, NULL);
}

/* Read the caller's identity and refresh the decision-time facts; both must succeed or the
 * call fails: a verdict on stale or partial facts could wrongly allow. */
static int prepare_decision(sd_varlink *link, Manager *m, CallerInfo *ret) {
        int r;

        r = caller_from_link(link, ret);
        if (r < 0) {
                log_warning_errno(r, "Failed to identify the caller: %m");
                return sd_varlink_error_errno(link, r);
        }
        r = manager_refresh_facts(m);
        if (r < 0)
                return sd_varlink_error_errno(link, r);
        return 1;
}

static int vl_method_get_info(sd_varlink *link, sd_json_variant *parameters,
                              sd_varlink_method_flags_t flags, void *userdata) {
        _cleanup_(sd_json_variant_unrefp) sd_json_variant *v = NULL;
        Manager *m = userdata;
        int r;

        (void) flags;

        r = dispatch_none(link, parameters);
        if (r != 0)
                return r;

        r = manager_refresh_facts(m);
        if (r < 0)
                return sd_varlink_error_errno(link, r);
        r = info_build(m, &v);
        if (r < 0)
                return log_error_errno(r, "Failed to collect host information: %m");

        return sd_varlink_reply(link, v);
}

typedef int (*QueryFunc)(const Topology *t, const Policy *p, const Caller *c, sd_json_variant **ret);

/* The parameterless queries judged for the caller: ListDevices, ListGroups. */
static int reply_query(sd_varlink *link, sd_json_variant *parameters, Manager *m, QueryFunc query) {
        _cleanup_(sd_json_variant_unrefp) sd_json_variant *v = NULL;
        _cleanup_(caller_info_done) CallerInfo c = {};
        int r;

        r = dispatch_none(link, parameters);
        if (r != 0)
                return r;
        r = prepare_decision(link, m, &c);
        if (r <= 0)
                return r;
        r = query(&m->topology, &m->policy, &c.caller, &v);
        if (r < 0)
                return sd_varlink_error_errno(link, r);
        return sd_varlink_reply(link, v);
}

static int vl_method_list_devices(sd_varlink *link, sd_json_variant *parameters,
                                  sd_varlink_method_flags_t flags, void *userdata) {
        return reply_query(link, parameters, userdata, query_list_devices);
}

static int vl_method_list_groups(sd_varlink *link, sd_json_variant *parameters,
                                 sd_varlink_method_flags_t flags, void *userdata) {
        return reply_query(link, parameters, userdata, query_list_groups);
}

#define REQUEST_DEVICES_MAX 256

typedef struct ExplainParams {
        const char *device;
        sd_json_variant *devices;
        int64_t uid;
} ExplainParams;

/* Validate and canonicalise the devices of a request: one "device" or a "devices" array,
 * bounded, each a well-formed PCI address, no duplicates. Returns a NULL-terminated array of
 * PCI_ADDRESS_STRLEN_MAX+1 buffers in *ret_buf and pointers into it in *ret. */
static int request_devices(sd_varlink *link, const char *device, sd_json_variant *devices,
                           char (**ret_buf)[PCI_ADDRESS_STRLEN_MAX + 1], const char ***ret) {
        _cleanup_free_ char (*buf)[PCI_ADDRESS_STRLEN_MAX + 1] = NULL;
        _cleanup_free_ const char **list = NULL;
        size_t n;

        if (!!device == !!devices)
                return sd_varlink_error_invalid_parameter_name(link, device ? "devices" : "device");
        if (devices && !sd_json_variant_is_array(devices))
                return sd_varlink_error_invalid_parameter_name(link, "devices");
        n = device ? 1 : sd_json_variant_elements(devices);
        if (n == 0 || n > REQUEST_DEVICES_MAX)
                return sd_varlink_error_invalid_parameter_name(link, "devices");

        buf = calloc(n, sizeof(*buf));
        list = calloc(n + 1, sizeof(char *));
        if (!buf || !list)
                return -ENOMEM;

        for (size_t i = 0; i < n; i++) {
                sd_json_variant *e = device ? NULL : sd_json_variant_by_index(devices, i);
                const char *s = device ?: (sd_json_variant_is_string(e) ? sd_json_variant_string(e) : NULL);

                if (!s || pci_address_normalize(s, buf[i]) < 0)
                        return sd_varlink_error_invalid_parameter_name(link, device ? "device" : "devices");
                for (size_t j = 0; j < i; j++)
                        if (strcmp(buf[j], buf[i]) == 0)
                                return sd_varlink_error_invalid_parameter_name(link, "devices");
                list[i] = buf[i];
        }

        *ret_buf = TAKE_PTR(buf);
        *ret = TAKE_PTR(list);
        return 1;
}

static int vl_method_explain(sd_varlink *link, sd_json_variant *parameters,
                             sd_varlink_method_flags_t flags, void *userdata) {
        static const sd_json_dispatch_field table[] = {
                { "device",  SD_JSON_VARIANT_STRING, sd_json_dispatch_const_string, offsetof(ExplainParams, device),  SD_JSON_NULLABLE },
                { "devices", SD_JSON_VARIANT_ARRAY,  sd_json_dispatch_variant_noref, offsetof(ExplainParams, devices), SD_JSON_NULLABLE },
                { "uid",     _SD_JSON_VARIANT_TYPE_INVALID, sd_json_dispatch_int64, offsetof(ExplainParams, uid),     SD_JSON_NULLABLE },
                {}
        };
        _cleanup_(sd_json_variant_unrefp) sd_json_variant *v = NULL;
        _cleanup_(caller_info_done) CallerInfo c = {}, as = {};
        _cleanup_free_ char (*buf)[PCI_ADDRESS_STRLEN_MAX + 1] = NULL;
        _cleanup_free_ const char **devices = NULL;
        ExplainParams p = { .uid = -1 };
        const char *missing = NULL;
        const Caller *judged;
        Manager *m = userdata;
        int r;

        r = sd_varlink_dispatch(link, parameters, table, &p);
        if (r != 0)
                return r;
        r = request_devices(link, p.device, p.devices, &buf, &devices);
        if (r <= 0)
                return r;
        if (p.uid != -1 && (p.uid < 0 || p.uid >= (int64_t) UINT32_MAX))
                return sd_varlink_error_invalid_parameter_name(link, "uid");

        r = prepare_decision(link, m, &c);
        if (r <= 0)
                return r;

        judged = &c.caller;
        if (p.uid >= 0 && (uid_t) p.uid != c.uid) {
                /* Asking on someone else's behalf reveals what they may do: root only. */
                if (c.uid != 0)
                        return sd_varlink_error(link, SD_VARLINK_ERROR_PERMISSION_DENIED, NULL);
                r = caller_from_uid((uid_t) p.uid, &as);
                if (r < 0)
                        return sd_varlink_error_errno(link, r);
                judged = &as.caller;
        }

        r = query_explain(&m->topology, &m->policy, judged, devices, &v, &missing);
        if (r == -ENXIO)
                return sd_varlink_errorbo(link, "io.vfiod.Broker.NoSuchDevice",
                                          SD_JSON_BUILD_PAIR_STRING("device", missing));
        if (r < 0)
                return sd_varlink_error_errno(link, r);
        return sd_varlink_reply(link, v);
}

static int vl_method_monitor(sd_varlink *link, sd_json_variant *parameters,
                             sd_varlink_method_flags_t flags, void *userdata) {
        Manager *m = userdata;
        int r;

        r = dispatch_none(link, parameters);
        if (r != 0)
                return r;
        if (!(flags & SD_VARLINK_METHOD_MORE))
                return sd_varlink_error(link, SD_VARLINK_ERROR_EXPECTED_MORE, NULL);
        if (m->n_monitors >= MONITORS_MAX)
                return sd_varlink_error_errno(link, -EBUSY);

        r = sd_varlink_notifybo(link, SD_JSON_BUILD_PAIR_STRING("event", "ready"));
        if (r < 0)
                return r;
        m->monitors[m->n_monitors++] = sd_varlink_ref(link);
        return 0;
}

static void on_disconnect(sd_varlink_server *s, sd_varlink *link, void *userdata) {
        Manager *m = userdata;

        for (size_t i = 0; i < m->n_monitors; i++)
                if (m->monitors[i] == link) {
                        sd_varlink_unref(link);
                        m->monitors[i] = m->monitors[--m->n_monitors];
                        return;
                }
}

static int vl_method_reload(sd_varlink *link, sd_json_variant *parameters,
                            sd_varlink_method_flags_t flags, void *userdata) {
        _cleanup_(sd_json_variant_unrefp) sd_json_variant *files = NULL;
        _cleanup_free_ char *error = NULL;
        Manager *m = userdata;
        uid_t uid;
        int r;

        r = dispatch_none(link, parameters);
        if (r != 0)
                return r;
        r = sd_varlink_get_peer_uid(link, &uid);
        if (r < 0)
                return r;
        if (uid != 0)
                return sd_varlink_error(link, SD_VARLINK_ERROR_PERMISSION_DENIED, NULL);

        r = manager_reload_policy(m, &error);
        if (r < 0)
                return sd_varlink_errorbo(link, "io.vfiod.Broker.PolicyInvalid",
                                          SD_JSON_BUILD_PAIR_STRING("message", error ?: strerror(-r)));

        r = query_policy_files(&m->policy, &files);
        if (r < 0)
                return r;
        return sd_varlink_replybo(link, SD_JSON_BUILD_PAIR_VARIANT("files", files));
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
                        "io.vfiod.Broker.GetInfo",     vl_method_get_info,
                        "io.vfiod.Broker.ListDevices", vl_method_list_devices,
                        "io.vfiod.Broker.ListGroups",  vl_method_list_groups,
                        "io.vfiod.Broker.Explain",     vl_method_explain,
                        "io.vfiod.Broker.Monitor",     vl_method_monitor,
                        "io.vfiod.Broker.Reload",      vl_method_reload);
        if (r < 0)
                return log_error_errno(r, "Failed to bind varlink methods: %m");

        r = sd_varlink_server_bind_disconnect(s, on_disconnect);
        if (r < 0)
                return log_error_errno(r, "Failed to bind disconnect handler: %m");

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
