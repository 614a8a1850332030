/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The varlink front-end: parameters in, the broker's outcome out. Nothing is decided here. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "broker.h"
#include "listener.h"
#include "log.h"
#include "macro.h"
#include "manager.h"
#include "pci-address.h"
#include "strv.h"
#include "varlink-idl.h"
#include "varlink.h"

/* Methods that take no parameters still reject unknown ones. */
static int dispatch_none(sd_varlink *link, sd_json_variant *parameters) {
        static const sd_json_dispatch_field table[] = {
                {}
        };
        return sd_varlink_dispatch(link, parameters, table, NULL);
}

/* Who is calling, from the kernel: SO_PEERCRED, SO_PEERGROUPS and the connection's pidfd. */
static int caller_from_link(sd_varlink *link, CallerInfo *ret) {
        gid_t groups[CALLER_GROUPS_MAX];
        socklen_t len = sizeof(groups);
        uid_t uid;
        gid_t gid;
        pid_t pid = 0;
        int fd, r;

        r = sd_varlink_get_peer_uid(link, &uid);
        if (r < 0)
                return r;
        r = sd_varlink_get_peer_gid(link, &gid);
        if (r < 0)
                return r;
        (void) sd_varlink_get_peer_pid(link, &pid);

        /* More supplementary groups than we accept means we cannot judge by group fairly: refuse
         * rather than judge on a truncated list. */
        fd = sd_varlink_get_fd(link);
        if (fd < 0)
                return fd;
        if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) < 0)
                return errno == ERANGE ? -E2BIG : negative_errno();

        return caller_info_init(ret, uid, gid, pid, sd_varlink_get_peer_pidfd(link), groups, len / sizeof(gid_t));
}

/* Every call starts here: a caller we cannot identify gets nothing. */
static int identify(sd_varlink *link, CallerInfo *ret) {
        int r = caller_from_link(link, ret);

        if (r < 0) {
                log_warning_errno(r, "Failed to identify the caller: %m");
                return sd_varlink_error_errno(link, r);
        }
        return 1;
}

static int reply_json(sd_varlink *link, int r, sd_json_variant *v) {
        if (r == -EPERM)
                return sd_varlink_error(link, SD_VARLINK_ERROR_PERMISSION_DENIED, NULL);
        if (r < 0)
                return sd_varlink_error_errno(link, r);
        return sd_varlink_reply(link, v);
}

static int vl_method_get_info(sd_varlink *link, sd_json_variant *parameters,
                              sd_varlink_method_flags_t flags, void *userdata) {
        _cleanup_(sd_json_variant_unrefp) sd_json_variant *v = NULL;
        _cleanup_(caller_info_done) CallerInfo c = {};
        int r;

        r = dispatch_none(link, parameters);
        if (r != 0)
                return r;
        r = identify(link, &c);
        if (r <= 0)
                return r;
        r = manager_get_info(userdata, &c, &v);
        return reply_json(link, r, v);
}

typedef int (*QueryFunc)(Broker *b, const CallerInfo *caller, sd_json_variant **ret);

/* The parameterless queries judged for the caller: ListDevices, ListGroups, ListLeases. */
static int reply_query(sd_varlink *link, sd_json_variant *parameters, Manager *m, QueryFunc query) {
        _cleanup_(sd_json_variant_unrefp) sd_json_variant *v = NULL;
        _cleanup_(caller_info_done) CallerInfo c = {};
        int r;

        r = dispatch_none(link, parameters);
        if (r != 0)
                return r;
        r = identify(link, &c);
        if (r <= 0)
                return r;
        r = query(m->broker, &c, &v);
        return reply_json(link, r, v);
}

static int vl_method_list_devices(sd_varlink *link, sd_json_variant *parameters,
                                  sd_varlink_method_flags_t flags, void *userdata) {
        return reply_query(link, parameters, userdata, broker_list_devices);
}

static int vl_method_list_groups(sd_varlink *link, sd_json_variant *parameters,
                                 sd_varlink_method_flags_t flags, void *userdata) {
        return reply_query(link, parameters, userdata, broker_list_groups);
}

static int vl_method_list_leases(sd_varlink *link, sd_json_variant *parameters,
                                 sd_varlink_method_flags_t flags, void *userdata) {
        return reply_query(link, parameters, userdata, broker_list_leases);
}

/* One "device" or a "devices" array of strings; the broker checks the addresses. */
static int request_devices(sd_varlink *link, const char *device, sd_json_variant *devices, DeviceList *ret) {
        const char *list[REQUEST_DEVICES_MAX];
        const char *field = device ? "device" : "devices";
        size_t n;
        int r;

        if (!!device == !!devices)
                return sd_varlink_error_invalid_parameter_name(link, device ? "devices" : "device");
        if (devices && !sd_json_variant_is_array(devices))
                return sd_varlink_error_invalid_parameter_name(link, "devices");
        n = device ? 1 : sd_json_variant_elements(devices);
        if (n == 0 || n > REQUEST_DEVICES_MAX)
                return sd_varlink_error_invalid_parameter_name(link, field);
        for (size_t i = 0; i < n; i++) {
                sd_json_variant *e = device ? NULL : sd_json_variant_by_index(devices, i);

                list[i] = device ?: (sd_json_variant_is_string(e) ? sd_json_variant_string(e) : NULL);
                if (!list[i])
                        return sd_varlink_error_invalid_parameter_name(link, field);
        }
        r = device_list_parse(list, n, ret);
        if (r == -EINVAL)
                return sd_varlink_error_invalid_parameter_name(link, field);
        if (r < 0)
                return sd_varlink_error_errno(link, r);
        return 1;
}

typedef struct ExplainParams {
        const char *device;
        sd_json_variant *devices;
        int64_t uid;
} ExplainParams;

static int vl_method_explain(sd_varlink *link, sd_json_variant *parameters,
                             sd_varlink_method_flags_t flags, void *userdata) {
        static const sd_json_dispatch_field table[] = {
                { "device",  SD_JSON_VARIANT_STRING, sd_json_dispatch_const_string, offsetof(ExplainParams, device),  SD_JSON_NULLABLE },
                { "devices", SD_JSON_VARIANT_ARRAY,  sd_json_dispatch_variant_noref, offsetof(ExplainParams, devices), SD_JSON_NULLABLE },
                { "uid",     _SD_JSON_VARIANT_TYPE_INVALID, sd_json_dispatch_int64, offsetof(ExplainParams, uid),     SD_JSON_NULLABLE },
                {}
        };
        _cleanup_(sd_json_variant_unrefp) sd_json_variant *v = NULL;
        _cleanup_(caller_info_done) CallerInfo c = {};
        _cleanup_(device_list_done) DeviceList devices = {};
        ExplainParams p = { .uid = -1 };
        const char *missing = NULL;
        Manager *m = userdata;
        int r;

        r = sd_varlink_dispatch(link, parameters, table, &p);
        if (r != 0)
                return r;
        r = request_devices(link, p.device, p.devices, &devices);
        if (r <= 0)
                return r;
        if (p.uid != -1 && (p.uid < 0 || p.uid >= (int64_t) UINT32_MAX))
                return sd_varlink_error_invalid_parameter_name(link, "uid");
        r = identify(link, &c);
        if (r <= 0)
                return r;

        r = broker_explain(m->broker, &c, devices.list, p.uid < 0 ? (uid_t) -1 : (uid_t) p.uid, &v, &missing);
        if (r == -ENXIO)
                return sd_varlink_errorbo(link, BROKER_ERROR_NO_SUCH_DEVICE, SD_JSON_BUILD_PAIR_STRING("device", missing));
        return reply_json(link, r, v);
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
        if (m->n_monitors >= MONITORS_MAX || !listener_monitor_admit(m, link))
                return sd_varlink_error_errno(link, -EBUSY);

        r = sd_varlink_notifybo(link, SD_JSON_BUILD_PAIR_STRING("event", "ready"));
        if (r < 0)
                return r;
        m->monitors[m->n_monitors++] = sd_varlink_ref(link);
        return 0;
}

static void on_disconnect(sd_varlink_server *s, sd_varlink *link, void *userdata) {
        Manager *m = userdata;

        listener_forget(m, link);
        for (size_t i = 0; i < m->n_monitors; i++)
                if (m->monitors[i] == link) {
                        sd_varlink_unref(link);
                        m->monitors[i] = m->monitors[--m->n_monitors];
                        return;
                }
}

static int vl_method_reload(sd_varlink *link, sd_json_variant *parameters,
                            sd_varlink_method_flags_t flags, void *userdata) {
        _cleanup_(sd_json_variant_unrefp) sd_json_variant *v = NULL;
        _cleanup_(caller_info_done) CallerInfo c = {};
        _cleanup_free_ char *error = NULL;
        Manager *m = userdata;
        int r;

        r = dispatch_none(link, parameters);
        if (r != 0)
                return r;
        r = identify(link, &c);
        if (r <= 0)
                return r;
        r = broker_reload(m->broker, &c, &v, &error);
        if (r < 0 && r != -EPERM && error)
                return sd_varlink_errorbo(link, BROKER_ERROR_POLICY_INVALID, SD_JSON_BUILD_PAIR_STRING("message", error));
        return reply_json(link, r, v);
}

/* ---- Bind, Acquire, Unbind, Release ---- */

static int parse_hex_param(sd_json_variant *v, uint64_t *ret) {
        const char *s = sd_json_variant_is_string(v) ? sd_json_variant_string(v) : NULL;
        char *end;

        if (!s || strncmp(s, "0x", 2) != 0 || strlen(s) > 18 || strspn(s + 2, "0123456789abcdefABCDEF") != strlen(s) - 2 || !s[2])
                return -EINVAL;
        errno = 0;
        *ret = strtoull(s + 2, &end, 16);
        return errno == 0 && *end == '\0' ? 0 : -EINVAL;
}


/* An error outcome, as the broker describes it. */
static int reply_error(sd_varlink *link, const Operation *op) {
        _cleanup_(sd_json_variant_unrefp) sd_json_variant *v = NULL;
        int r;

        if (streq_ptr(op->error_id, BROKER_ERROR_SYSTEM))
                return sd_varlink_error_errno(link, -EIO);
        r = operation_error_json(op, &v);
        if (r < 0)
                return sd_varlink_error_errno(link, r);
        return sd_varlink_error(link, op->error_id, v);
}

/* Every fd of the reply, in the order it is pushed (the index sd_varlink_push_fd() returns). */
static int push_acquired_fds(sd_varlink *link, Operation *op) {
        int n = 0, idx;

        for (size_t i = 0; i < op->n_containers; i++) {
                VfioContainer *c = &op->containers[i];

                for (size_t k = 0; k < c->n_groups; k++) {
                        idx = sd_varlink_push_fd(link, c->group_fds[k]);
                        if (idx < 0)
                                return n > 0 ? -ECONNABORTED : idx;
                        c->group_fds[k] = -EBADF;   /* the connection owns it now */
                        if (idx != n++)
                                return -ECONNABORTED;
                }
                idx = sd_varlink_push_fd(link, c->fd);
                if (idx < 0)
                        return n > 0 ? -ECONNABORTED : idx;
                c->fd = -EBADF;
                if (idx != n++)
                        return -ECONNABORTED;
        }
        for (size_t i = 0; i < op->n_request_devices; i++) {
                idx = sd_varlink_push_fd(link, op->device_fds[i]);
                if (idx < 0)
                        return n > 0 ? -ECONNABORTED : idx;
                op->device_fds[i] = -EBADF;
                if (idx != n++)
                        return -ECONNABORTED;
        }
        return 0;
}

/* No fd pushed yet: an error reply is safe. Negative either way, for the lease to be ended. */
static int reply_acquire_failed(sd_varlink *link, int error) {
        (void) sd_varlink_error_errno(link, error);
        return error;
}

static int reply_acquired(sd_varlink *link, Operation *op) {
        _cleanup_(sd_json_variant_unrefp) sd_json_variant *containers = NULL, *groups = NULL, *devices = NULL;
        int idx = 0, r;

        r = sd_json_variant_new_array(&containers, NULL, 0);
        if (r >= 0)
                r = sd_json_variant_new_array(&groups, NULL, 0);
        if (r >= 0)
                r = sd_json_variant_new_array(&devices, NULL, 0);
        if (r < 0)
                return reply_acquire_failed(link, r);

        /* The whole reply first, with the indices the fds will get, and the fds last: sd-varlink
         * sends pushed fds with whatever message comes next, an error reply included, and offers
         * no way to take them back. */
        for (size_t i = 0; i < op->n_containers; i++) {
                const VfioContainer *c = &op->containers[i];
                _cleanup_(sd_json_variant_unrefp) sd_json_variant *ranges = NULL, *ids = NULL;

                r = sd_json_variant_new_array(&ranges, NULL, 0);
                if (r >= 0)
                        r = sd_json_variant_new_array(&ids, NULL, 0);
                for (size_t k = 0; r >= 0 && k < c->n_ranges; k++) {
                        char a[19], b[19];
                        snprintf(a, sizeof(a), "0x%" PRIx64, c->ranges[k].start);
                        snprintf(b, sizeof(b), "0x%" PRIx64, c->ranges[k].end);
                        r = sd_json_variant_append_arraybo(&ranges, SD_JSON_BUILD_PAIR_STRING("start", a),
                                                           SD_JSON_BUILD_PAIR_STRING("end", b));
                }
                for (size_t k = 0; r >= 0 && k < c->n_groups; k++) {
                        r = sd_json_variant_append_arrayb(&ids, SD_JSON_BUILD_INTEGER(c->group_ids[k]));
                        if (r >= 0)
                                r = sd_json_variant_append_arraybo(&groups, SD_JSON_BUILD_PAIR_INTEGER("group", c->group_ids[k]),
                                                                   SD_JSON_BUILD_PAIR_INTEGER("fd", idx++));
                }
                if (r >= 0)
                        r = sd_json_variant_append_arraybo(
                                        &containers,
                                        SD_JSON_BUILD_PAIR_INTEGER("fd", idx++),
                                        SD_JSON_BUILD_PAIR_VARIANT("groups", ids),
                                        SD_JSON_BUILD_PAIR_VARIANT("iovaRanges", ranges),
                                        SD_JSON_BUILD_PAIR_UNSIGNED("pageSizes", c->page_sizes),
                                        SD_JSON_BUILD_PAIR_CONDITION(c->have_dma_avail, "dmaMappingsAvailable",
                                                                     SD_JSON_BUILD_UNSIGNED(c->dma_avail)),
                                        SD_JSON_BUILD_PAIR_UNSIGNED("apertureBits", vfio_container_aperture_bits(c)));
                if (r < 0)
                        return reply_acquire_failed(link, r);
        }
        for (size_t i = 0; i < op->n_request_devices; i++) {
                r = sd_json_variant_append_arraybo(&devices, SD_JSON_BUILD_PAIR_STRING("device", op->request_devices[i]),
                                                   SD_JSON_BUILD_PAIR_INTEGER("fd", idx++));
                if (r < 0)
                        return reply_acquire_failed(link, r);
        }

        r = push_acquired_fds(link, op);
        if (r == -ECONNABORTED)
                return r;       /* fds are queued: only closing the connection drops them */
        if (r < 0)
                return reply_acquire_failed(link, r);

        r = sd_varlink_replybo(link,
                               SD_JSON_BUILD_PAIR_STRING("leaseId", op->lease->id),
                               SD_JSON_BUILD_PAIR_VARIANT("containers", containers),
                               SD_JSON_BUILD_PAIR_VARIANT("groups", groups),
                               SD_JSON_BUILD_PAIR_VARIANT("devices", devices));
        /* A failed reply leaves the fds queued as well. */
        return r < 0 ? -ECONNABORTED : 0;
}

static int reply_bound(sd_varlink *link, const Operation *op) {
        _cleanup_(sd_json_variant_unrefp) sd_json_variant *groups = NULL;
        int r;

        r = sd_json_variant_new_array(&groups, NULL, 0);
        for (size_t i = 0; r >= 0 && i < op->lease->n_groups; i++)
                r = sd_json_variant_append_arrayb(&groups, SD_JSON_BUILD_INTEGER(op->lease->groups[i]));
        if (r < 0)
                return sd_varlink_error_errno(link, r);
        return sd_varlink_replybo(link,
                                  SD_JSON_BUILD_PAIR_STRING("leaseId", op->lease->id),
                                  SD_JSON_BUILD_PAIR_VARIANT("groups", groups),
                                  SD_JSON_BUILD_PAIR_STRV("devices", op->lease->devices));
}

static void on_request_done(Broker *b, Operation *op, void *userdata) {
        sd_varlink *link = userdata;
        int r;

        if (op->error_id)
                r = reply_error(link, op);
        else if (op->kind == LEASE_ACQUIRE)
                r = reply_acquired(link, op);
        else
                r = reply_bound(link, op);
        if (r < 0 && !op->error_id && op->kind == LEASE_ACQUIRE) {
                /* No success reply went out. If fds were pushed, close the connection so that they
                 * are never sent (with an error reply, or a later one). Either way the caller never
                 * learnt of the lease: end it. */
                log_warning_errno(r, "Failed to send the Acquire reply of lease %s (%m); %sending the lease.",
                                  op->lease->id, r == -ECONNABORTED ? "closing the connection and " : "");
                if (r == -ECONNABORTED)
                        (void) sd_varlink_close(link);
                broker_end_lease_later(b, op->lease->id);
        } else if (r < 0)
                /* The caller went away; an Acquire lease ends with its process, a Bind stays. */
                log_debug_errno(r, "Failed to reply: %m");
        sd_varlink_unref(link);
        operation_free(op);
}

typedef struct RequestParams {
        sd_json_variant *devices;
        int64_t min_aperture_bits;
        sd_json_variant *iova_ranges;
        sd_json_variant *owner;
} RequestParams;

static int vl_request(sd_varlink *link, sd_json_variant *parameters, Manager *m, LeaseKind kind) {
        static const sd_json_dispatch_field bind_table[] = {
                { "devices", SD_JSON_VARIANT_ARRAY,  sd_json_dispatch_variant_noref, offsetof(RequestParams, devices), SD_JSON_MANDATORY },
                { "owner",   SD_JSON_VARIANT_OBJECT, sd_json_dispatch_variant_noref, offsetof(RequestParams, owner),   SD_JSON_NULLABLE  },
                {}
        };
        static const sd_json_dispatch_field acquire_table[] = {
                { "devices",         SD_JSON_VARIANT_ARRAY,   sd_json_dispatch_variant_noref, offsetof(RequestParams, devices),           SD_JSON_MANDATORY },
                { "minApertureBits", _SD_JSON_VARIANT_TYPE_INVALID, sd_json_dispatch_int64,   offsetof(RequestParams, min_aperture_bits), SD_JSON_NULLABLE  },
                { "iovaRanges",      SD_JSON_VARIANT_ARRAY,   sd_json_dispatch_variant_noref, offsetof(RequestParams, iova_ranges),       SD_JSON_NULLABLE  },
                {}
        };
        _cleanup_(device_list_done) DeviceList devices = {};
        _cleanup_(caller_info_done) CallerInfo c = {};
        IovaRange iova[IOVA_RANGES_MAX];
        RequestParams p = {};
        LeaseOwner owner = {};
        size_t n_iova = 0;
        int r;

        r = sd_varlink_dispatch(link, parameters, kind == LEASE_ACQUIRE ? acquire_table : bind_table, &p);
        if (r != 0)
                return r;
        r = request_devices(link, NULL, p.devices, &devices);
        if (r <= 0)
                return r;
        if (p.min_aperture_bits < 0 || p.min_aperture_bits > 64)
                return sd_varlink_error_invalid_parameter_name(link, "minApertureBits");
        if (p.iova_ranges) {
                if (sd_json_variant_elements(p.iova_ranges) > IOVA_RANGES_MAX)
                        return sd_varlink_error_invalid_parameter_name(link, "iovaRanges");
                for (size_t i = 0; i < sd_json_variant_elements(p.iova_ranges); i++) {
                        sd_json_variant *e = sd_json_variant_by_index(p.iova_ranges, i);
                        if (!sd_json_variant_is_object(e) || sd_json_variant_elements(e) != 4 ||
                            parse_hex_param(sd_json_variant_by_key(e, "start"), &iova[n_iova].start) < 0 ||
                            parse_hex_param(sd_json_variant_by_key(e, "end"), &iova[n_iova].end) < 0 ||
                            iova[n_iova].end < iova[n_iova].start)
                                return sd_varlink_error_invalid_parameter_name(link, "iovaRanges");
                        n_iova++;
                }
        }
        if (p.owner && !sd_json_variant_is_null(p.owner) && lease_owner_from_json(p.owner, &owner) < 0)
                return sd_varlink_error_invalid_parameter_name(link, "owner");
        r = identify(link, &c);
        if (r <= 0)
                return r;
        if (kind == LEASE_ACQUIRE) {
                r = sd_varlink_set_allow_fd_passing_output(link, true);
                if (r < 0)
                        return sd_varlink_error_errno(link, r);
        }

        BrokerRequest req = {
                .kind = kind,
                .devices = devices.list,
                .min_aperture_bits = (unsigned) p.min_aperture_bits,
                .iova = iova,
                .n_iova = n_iova,
                .owner = lease_owner_is_set(&owner) ? &owner : NULL,
        };
        /* The reference is on_request_done()'s, unless broker_request() fails before it starts. */
        sd_varlink_ref(link);
        r = broker_request(m->broker, &c, &req, on_request_done, link);
        if (r < 0) {
                sd_varlink_unref(link);
                if (r == -EPERM)
                        return sd_varlink_error(link, SD_VARLINK_ERROR_PERMISSION_DENIED, NULL);
                return sd_varlink_error_errno(link, r);
        }
        return 0;
}

static int vl_method_bind(sd_varlink *link, sd_json_variant *parameters, sd_varlink_method_flags_t flags, void *userdata) {
        return vl_request(link, parameters, userdata, LEASE_BIND);
}

static int vl_method_acquire(sd_varlink *link, sd_json_variant *parameters, sd_varlink_method_flags_t flags, void *userdata) {
        return vl_request(link, parameters, userdata, LEASE_ACQUIRE);
}

static void on_end_done(Broker *b, Operation *op, void *userdata) {
        sd_varlink *link = userdata;

        if (op->error_id)
                (void) reply_error(link, op);
        else
                (void) sd_varlink_replybo(link, SD_JSON_BUILD_PAIR_STRV("devices", op->request_devices));
        sd_varlink_unref(link);
        operation_free(op);
}

static int vl_method_release(sd_varlink *link, sd_json_variant *parameters, sd_varlink_method_flags_t flags, void *userdata) {
        static const sd_json_dispatch_field table[] = {
                { "leaseId", SD_JSON_VARIANT_STRING, sd_json_dispatch_const_string, 0, SD_JSON_MANDATORY },
                {}
        };
        _cleanup_(caller_info_done) CallerInfo c = {};
        const char *id = NULL;
        Manager *m = userdata;
        int r;

        r = sd_varlink_dispatch(link, parameters, table, &id);
        if (r != 0)
                return r;
        if (!lease_id_is_valid(id))
                return sd_varlink_error_invalid_parameter_name(link, "leaseId");
        r = identify(link, &c);
        if (r <= 0)
                return r;
        sd_varlink_ref(link);
        r = broker_release(m->broker, &c, id, on_end_done, link);
        if (r < 0) {
                sd_varlink_unref(link);
                return sd_varlink_error_errno(link, r);
        }
        return 0;
}

static int vl_method_unbind(sd_varlink *link, sd_json_variant *parameters, sd_varlink_method_flags_t flags, void *userdata) {
        static const sd_json_dispatch_field table[] = {
                { "devices", SD_JSON_VARIANT_ARRAY, sd_json_dispatch_variant_noref, 0, SD_JSON_MANDATORY },
                {}
        };
        _cleanup_(device_list_done) DeviceList devices = {};
        _cleanup_(caller_info_done) CallerInfo c = {};
        sd_json_variant *dv = NULL;
        Manager *m = userdata;
        int r;

        r = sd_varlink_dispatch(link, parameters, table, &dv);
        if (r != 0)
                return r;
        r = request_devices(link, NULL, dv, &devices);
        if (r <= 0)
                return r;
        r = identify(link, &c);
        if (r <= 0)
                return r;
        sd_varlink_ref(link);
        r = broker_unbind(m->broker, &c, devices.list, on_end_done, link);
        if (r < 0) {
                sd_varlink_unref(link);
                return sd_varlink_error_errno(link, r);
        }
        return 0;
}

/* Calls a client makes while leaving earlier replies unread (its socket full) before it is
 * disconnected: sd-varlink would otherwise buffer up to 16 MiB of replies per connection. */
#define CALL_LAG_MAX 8

/* Every method first checks that the caller reads its replies. */
#define GUARDED(name)                                                                                  \
        static int name##_guarded(sd_varlink *link, sd_json_variant *parameters,                      \
                                  sd_varlink_method_flags_t flags, void *userdata) {                  \
                if (listener_close_if_lagging(userdata, link, CALL_LAG_MAX))                          \
                        return 0;                                                                     \
                return name(link, parameters, flags, userdata);                                       \
        }
GUARDED(vl_method_get_info)
GUARDED(vl_method_list_devices)
GUARDED(vl_method_list_groups)
GUARDED(vl_method_explain)
GUARDED(vl_method_monitor)
GUARDED(vl_method_reload)
GUARDED(vl_method_bind)
GUARDED(vl_method_unbind)
GUARDED(vl_method_acquire)
GUARDED(vl_method_release)
GUARDED(vl_method_list_leases)

int manager_varlink_init(Manager *m) {
        _cleanup_(sd_varlink_server_unrefp) sd_varlink_server *s = NULL;
        int r;

        /* No SD_VARLINK_SERVER_ACCOUNT_UID: the listener accounts per user itself, charging a user
         * namespace's uids to its owner, which sd-varlink cannot. */
        r = sd_varlink_server_new(&s, SD_VARLINK_SERVER_INHERIT_USERDATA);
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
                        "io.vfiod.Broker.GetInfo",     vl_method_get_info_guarded,
                        "io.vfiod.Broker.ListDevices", vl_method_list_devices_guarded,
                        "io.vfiod.Broker.ListGroups",  vl_method_list_groups_guarded,
                        "io.vfiod.Broker.Explain",     vl_method_explain_guarded,
                        "io.vfiod.Broker.Monitor",     vl_method_monitor_guarded,
                        "io.vfiod.Broker.Reload",      vl_method_reload_guarded,
                        "io.vfiod.Broker.Bind",        vl_method_bind_guarded,
                        "io.vfiod.Broker.Unbind",      vl_method_unbind_guarded,
                        "io.vfiod.Broker.Acquire",     vl_method_acquire_guarded,
                        "io.vfiod.Broker.Release",     vl_method_release_guarded,
                        "io.vfiod.Broker.ListLeases",  vl_method_list_leases_guarded);
        if (r < 0)
                return log_error_errno(r, "Failed to bind varlink methods: %m");

        r = sd_varlink_server_bind_disconnect(s, on_disconnect);
        if (r < 0)
                return log_error_errno(r, "Failed to bind disconnect handler: %m");

        /* Everyone may connect; the listener bounds what one user can hold (listener.h). This
         * is the same global bound, in sd-varlink. */
        r = sd_varlink_server_set_connections_max(s, CONNECTIONS_TABLE_MAX);
        if (r < 0)
                return log_error_errno(r, "Failed to set the connection limit: %m");

        r = sd_varlink_server_attach_event(s, m->event, SD_EVENT_PRIORITY_NORMAL);
        if (r < 0)
                return log_error_errno(r, "Failed to attach varlink server to event loop: %m");

        m->varlink_server = TAKE_PTR(s);
        /* We accept ourselves: sd-varlink's accept callback returns accept()'s EMFILE to
         * sd-event, which then switches the socket off for good. */
        return listener_start(m);
}
