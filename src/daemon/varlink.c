/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "broker.h"
#include "caller.h"
#include "info.h"
#include "listener.h"
#include "log.h"
#include "macro.h"
#include "pci-address.h"
#include "query.h"
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
        uid_t uid;
        int r;

        (void) flags;

        r = dispatch_none(link, parameters);
        if (r != 0)
                return r;

        r = sd_varlink_get_peer_uid(link, &uid);
        if (r < 0)
                return sd_varlink_error_errno(link, r);
        r = manager_refresh_facts(m);
        if (r < 0)
                return sd_varlink_error_errno(link, r);
        /* Policy paths, rule names and load errors are root's to read; others get a summary. */
        r = info_build(m, uid == 0, &v);
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

        /* Membership first: it may re-read devices, and the facts are marked on what it read. */
        r = manager_refresh_groups(m, devices);
        if (r < 0)
                return sd_varlink_error_errno(link, r);
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

/* ---- Bind, Acquire, Unbind, Release, ListLeases ---- */

#define IOVA_RANGES_MAX 64

static int parse_hex_param(sd_json_variant *v, uint64_t *ret) {
        const char *s = sd_json_variant_is_string(v) ? sd_json_variant_string(v) : NULL;
        char *end;

        if (!s || strncmp(s, "0x", 2) != 0 || strlen(s) > 18 || strspn(s + 2, "0123456789abcdefABCDEF") != strlen(s) - 2 || !s[2])
                return -EINVAL;
        errno = 0;
        *ret = strtoull(s + 2, &end, 16);
        return errno == 0 && *end == '\0' ? 0 : -EINVAL;
}

/* The kernel's pidfd for the process that connected (SO_PEERPIDFD), never one opened for a pid
 * number: that pid may belong to another process by now. */
static int caller_pidfd(sd_varlink *link) {
        int fd = sd_varlink_get_peer_pidfd(link);

        if (fd < 0)
                return fd;
        /* The connection keeps its pidfd; we need our own for the lease's lifetime. */
        fd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
        return fd < 0 ? negative_errno() : fd;
}

static int reply_checks(sd_varlink *link, const Operation *op) {
        _cleanup_(sd_json_variant_unrefp) sd_json_variant *checks = NULL, *reasons = NULL;
        int r;

        r = sd_json_variant_new_array(&checks, NULL, 0);
        if (r >= 0)
                r = sd_json_variant_new_array(&reasons, NULL, 0);
        for (size_t i = 0; r >= 0 && i < op->verdict.n_checks; i++) {
                const Check *c = &op->verdict.checks[i];
                bool seen = false;

                if (c->passed)
                        continue;
                r = sd_json_variant_append_arraybo(&checks,
                                                   SD_JSON_BUILD_PAIR_STRING("code", c->code),
                                                   SD_JSON_BUILD_PAIR_BOOLEAN("passed", false),
                                                   SD_JSON_BUILD_PAIR_STRING("subject", strna(c->subject)),
                                                   SD_JSON_BUILD_PAIR_STRING("sentence", strna(c->sentence)));
                for (size_t j = 0; j < i; j++)
                        seen = seen || (!op->verdict.checks[j].passed && strcmp(op->verdict.checks[j].code, c->code) == 0);
                if (r >= 0 && !seen)
                        r = sd_json_variant_append_arrayb(&reasons, SD_JSON_BUILD_STRING(c->code));
        }
        if (r < 0)
                return sd_varlink_error_errno(link, r);
        return sd_varlink_errorbo(link, op->error_id,
                                  SD_JSON_BUILD_PAIR_VARIANT("reasons", reasons),
                                  SD_JSON_BUILD_PAIR_VARIANT("checks", checks),
                                  SD_JSON_BUILD_PAIR_STRING("message", strna(op->message)));
}

static int reply_busy(sd_varlink *link, const char *device, const Lease *l, uid_t viewer);

static int reply_error(sd_varlink *link, const Operation *op) {
        const char *id = op->error_id;

        if (streq_ptr(id, "io.vfiod.Broker.Denied"))
                return reply_checks(link, op);
        if (streq_ptr(id, "io.vfiod.Broker.Busy") && op->busy_lease)
                return reply_busy(link, op->error_device, op->busy_lease, op->uid);
        if (streq_ptr(id, "io.vfiod.Broker.NoSuchDevice"))
                return sd_varlink_errorbo(link, id, SD_JSON_BUILD_PAIR_STRING("device", strna(op->error_device)));
        if (streq_ptr(id, "io.systemd.System"))
                return sd_varlink_error_errno(link, -EIO);
        return sd_varlink_errorbo(link, id,
                                  SD_JSON_BUILD_PAIR_CONDITION(!!op->error_device, "device", SD_JSON_BUILD_STRING(op->error_device)),
                                  SD_JSON_BUILD_PAIR_STRING("message", strna(op->message)));
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

typedef struct EndLater {
        Manager *manager;
        char id[LEASE_ID_STRLEN + 1];
} EndLater;

static int on_end_later(sd_event_source *s, void *userdata) {
        EndLater *e = userdata;
        Lease *l = broker_find_lease(e->manager, e->id);

        if (l && !l->busy && broker_end_lease(e->manager, l, NULL, NULL) < 0)
                log_error("Failed to end lease %s; its holder's exit or a restart ends it.", e->id);
        sd_event_source_unref(s);
        return 0;
}

/* The broker still uses the lease after done returns: end it from the event loop. */
static void end_lease_later(Manager *m, const char *id) {
        sd_event_source *s = NULL;
        EndLater *e;
        int r;

        e = calloc(1, sizeof(EndLater));
        if (!e) {
                log_error("Out of memory; lease %s ends with its holder or at the next start.", id);
                return;
        }
        *e = (EndLater) { .manager = m };
        strcpy(e->id, id);
        r = sd_event_add_defer(m->event, &s, on_end_later, e);
        if (r < 0) {
                free(e);
                log_error_errno(r, "Failed to schedule the end of lease %s (%m); it ends with its holder or at the next start.", id);
                return;
        }
        (void) sd_event_source_set_destroy_callback(s, free);
        (void) sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
        /* on_end_later() drops the source, and with it e */
}

static void on_request_done(Manager *m, Operation *op, void *userdata) {
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
                end_lease_later(m, op->lease->id);
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
} RequestParams;

/* A caller in a user namespace presents whichever of its subordinate ids it likes: no Bind or
 * Acquire from there (and when it cannot be told, none either). Queries stay open. */
static int reply_userns_denied(sd_varlink *link, int r) {
        const char *sentence = r > 0
                ? "the caller runs in a user namespace other than the host's, whose ids its creator chose; "
                  "ask from the host's user namespace"
                : "cannot tell the caller's user namespace; ask again from a process that stays alive until the reply";

        if (r < 0)
                log_debug_errno(r, "Failed to read the caller's user namespace: %m");
        return sd_varlink_errorbo(link, "io.vfiod.Broker.Denied",
                                  SD_JSON_BUILD_PAIR_ARRAY("reasons", SD_JSON_BUILD_STRING("user-namespace")),
                                  SD_JSON_BUILD_PAIR_ARRAY("checks",
                                                           SD_JSON_BUILD_OBJECT(
                                                                           SD_JSON_BUILD_PAIR_STRING("code", "user-namespace"),
                                                                           SD_JSON_BUILD_PAIR_BOOLEAN("passed", false),
                                                                           SD_JSON_BUILD_PAIR_STRING("subject", "caller"),
                                                                           SD_JSON_BUILD_PAIR_STRING("sentence", sentence))),
                                  SD_JSON_BUILD_PAIR_STRING("message", sentence));
}

static int vl_request(sd_varlink *link, sd_json_variant *parameters, Manager *m, LeaseKind kind) {
        static const sd_json_dispatch_field bind_table[] = {
                { "devices", SD_JSON_VARIANT_ARRAY, sd_json_dispatch_variant_noref, offsetof(RequestParams, devices), SD_JSON_MANDATORY },
                {}
        };
        static const sd_json_dispatch_field acquire_table[] = {
                { "devices",         SD_JSON_VARIANT_ARRAY,   sd_json_dispatch_variant_noref, offsetof(RequestParams, devices),           SD_JSON_MANDATORY },
                { "minApertureBits", _SD_JSON_VARIANT_TYPE_INVALID, sd_json_dispatch_int64,   offsetof(RequestParams, min_aperture_bits), SD_JSON_NULLABLE  },
                { "iovaRanges",      SD_JSON_VARIANT_ARRAY,   sd_json_dispatch_variant_noref, offsetof(RequestParams, iova_ranges),       SD_JSON_NULLABLE  },
                {}
        };
        _cleanup_free_ char (*buf)[PCI_ADDRESS_STRLEN_MAX + 1] = NULL;
        _cleanup_free_ const char **devices = NULL;
        _cleanup_(caller_info_done) CallerInfo c = {};
        IovaRange iova[IOVA_RANGES_MAX];
        RequestParams p = {};
        size_t n_iova = 0;
        int pidfd = -EBADF, r;

        r = sd_varlink_dispatch(link, parameters, kind == LEASE_ACQUIRE ? acquire_table : bind_table, &p);
        if (r != 0)
                return r;
        r = request_devices(link, NULL, p.devices, &buf, &devices);
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

        r = caller_from_link(link, &c);
        if (r < 0)
                return sd_varlink_error_errno(link, r);
        r = caller_in_other_userns(link);
        if (r != 0)
                return reply_userns_denied(link, r);
        if (kind == LEASE_ACQUIRE) {
                r = sd_varlink_set_allow_fd_passing_output(link, true);
                if (r < 0)
                        return sd_varlink_error_errno(link, r);
                pidfd = caller_pidfd(link);
                if (pidfd < 0) {
                        log_warning_errno(pidfd, "Refusing Acquire from pid %d: no pidfd for the connection: %m", (int) c.pid);
                        return sd_varlink_errorbo(link, "io.vfiod.Broker.NotSupported",
                                                  SD_JSON_BUILD_PAIR_STRING("message",
                                                          "vfiod cannot pin the calling process: the kernel gave no pidfd for "
                                                          "this connection (SO_PEERPIDFD needs Linux 6.5 or later, and the "
                                                          "process that connected must still be running). A lease lives as "
                                                          "long as that process; call Acquire from the process that holds "
                                                          "the connection, on Linux 6.5 or later"));
                }
        }

        /* The reference is on_request_done()'s, unless broker_request() fails before it starts. */
        sd_varlink_ref(link);
        r = broker_request(m, kind, &c.caller, c.uid, c.pid, pidfd, devices, (unsigned) p.min_aperture_bits,
                           iova, n_iova, on_request_done, link);
        if (r < 0) {
                sd_varlink_unref(link);
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

static void on_end_done(Manager *m, Operation *op, void *userdata) {
        sd_varlink *link = userdata;

        if (streq_ptr(op->error_id, "io.vfiod.Broker.Busy"))
                /* The lease cannot end yet (orphaned): which one, and why. */
                (void) sd_varlink_errorbo(link, op->error_id,
                                          SD_JSON_BUILD_PAIR_STRING("device", strna(op->error_device)),
                                          SD_JSON_BUILD_PAIR_STRING("leaseId", op->busy_lease_id),
                                          SD_JSON_BUILD_PAIR_UNSIGNED("uid", op->busy_uid),
                                          SD_JSON_BUILD_PAIR_STRING("message", strna(op->message)));
        else if (op->error_id)
                (void) sd_varlink_errorbo(link, op->error_id, SD_JSON_BUILD_PAIR_STRING("message", strna(op->message)));
        else
                (void) sd_varlink_replybo(link, SD_JSON_BUILD_PAIR_STRV("devices", op->request_devices));
        sd_varlink_unref(link);
        operation_free(op);
}

/* Which lease, whose and which process: only for the lease's own uid and root. */
static int reply_busy(sd_varlink *link, const char *device, const Lease *l, uid_t viewer) {
        bool reveal = viewer == 0 || viewer == l->uid;

        return sd_varlink_errorbo(link, "io.vfiod.Broker.Busy",
                                  SD_JSON_BUILD_PAIR_STRING("device", device ?: l->devices[0]),
                                  SD_JSON_BUILD_PAIR_CONDITION(reveal, "leaseId", SD_JSON_BUILD_STRING(l->id)),
                                  SD_JSON_BUILD_PAIR_CONDITION(reveal, "uid", SD_JSON_BUILD_UNSIGNED(l->uid)),
                                  SD_JSON_BUILD_PAIR_CONDITION(reveal && l->pid > 0, "pid", SD_JSON_BUILD_INTEGER(l->pid)));
}

static int vl_method_release(sd_varlink *link, sd_json_variant *parameters, sd_varlink_method_flags_t flags, void *userdata) {
        static const sd_json_dispatch_field table[] = {
                { "leaseId", SD_JSON_VARIANT_STRING, sd_json_dispatch_const_string, 0, SD_JSON_MANDATORY },
                {}
        };
        const Lease *busy = NULL;
        const char *id = NULL;
        Manager *m = userdata;
        uid_t uid;
        int r;

        r = sd_varlink_dispatch(link, parameters, table, &id);
        if (r != 0)
                return r;
        if (strlen(id) != LEASE_ID_STRLEN || strspn(id, "0123456789abcdef") != LEASE_ID_STRLEN)
                return sd_varlink_error_invalid_parameter_name(link, "leaseId");
        r = sd_varlink_get_peer_uid(link, &uid);
        if (r < 0)
                return sd_varlink_error_errno(link, r);

        r = broker_release(m, uid, id, on_end_done, sd_varlink_ref(link), &busy);
        if (r < 0)
                sd_varlink_unref(link);
        if (r == -ENOENT)
                return sd_varlink_errorbo(link, "io.vfiod.Broker.NoSuchLease", SD_JSON_BUILD_PAIR_STRING("leaseId", id));
        if (r == -EBUSY)
                return reply_busy(link, NULL, busy, uid);
        if (r < 0)
                return sd_varlink_error_errno(link, r);
        return 0;
}

static int vl_method_unbind(sd_varlink *link, sd_json_variant *parameters, sd_varlink_method_flags_t flags, void *userdata) {
        static const sd_json_dispatch_field table[] = {
                { "devices", SD_JSON_VARIANT_ARRAY, sd_json_dispatch_variant_noref, 0, SD_JSON_MANDATORY },
                {}
        };
        _cleanup_free_ char (*buf)[PCI_ADDRESS_STRLEN_MAX + 1] = NULL;
        _cleanup_free_ const char **devices = NULL;
        const char *bad = NULL;
        const Lease *busy = NULL;
        sd_json_variant *dv = NULL;
        Manager *m = userdata;
        uid_t uid;
        int r;

        r = sd_varlink_dispatch(link, parameters, table, &dv);
        if (r != 0)
                return r;
        r = request_devices(link, NULL, dv, &buf, &devices);
        if (r <= 0)
                return r;
        r = sd_varlink_get_peer_uid(link, &uid);
        if (r < 0)
                return sd_varlink_error_errno(link, r);

        r = broker_unbind(m, uid, devices, on_end_done, sd_varlink_ref(link), &bad, &busy);
        if (r < 0)
                sd_varlink_unref(link);
        if (r == -ENOENT)
                return sd_varlink_errorbo(link, "io.vfiod.Broker.BindFailed",
                                          SD_JSON_BUILD_PAIR_STRING("device", bad),
                                          SD_JSON_BUILD_PAIR_STRING("message", "not bound by a Bind of yours; nothing to give back"));
        if (r == -EBUSY)
                return reply_busy(link, bad, busy, uid);
        if (r < 0)
                return sd_varlink_error_errno(link, r);
        return 0;
}

static int vl_method_list_leases(sd_varlink *link, sd_json_variant *parameters, sd_varlink_method_flags_t flags, void *userdata) {
        _cleanup_(sd_json_variant_unrefp) sd_json_variant *a = NULL;
        Manager *m = userdata;
        uid_t uid;
        int r;

        r = dispatch_none(link, parameters);
        if (r != 0)
                return r;
        r = sd_varlink_get_peer_uid(link, &uid);
        if (r < 0)
                return sd_varlink_error_errno(link, r);
        r = sd_json_variant_new_array(&a, NULL, 0);
        if (r < 0)
                return sd_varlink_error_errno(link, r);
        for (size_t i = 0; i < m->n_leases; i++) {
                const Lease *l = m->leases[i];
                _cleanup_(sd_json_variant_unrefp) sd_json_variant *groups = NULL;

                if (uid != 0 && uid != l->uid)
                        continue;
                r = sd_json_variant_new_array(&groups, NULL, 0);
                for (size_t k = 0; r >= 0 && k < l->n_groups; k++)
                        r = sd_json_variant_append_arrayb(&groups, SD_JSON_BUILD_INTEGER(l->groups[k]));
                if (r >= 0)
                        r = sd_json_variant_append_arraybo(
                                        &a,
                                        SD_JSON_BUILD_PAIR_STRING("id", l->id),
                                        SD_JSON_BUILD_PAIR_STRING("kind", lease_kind_to_string(l->kind)),
                                        SD_JSON_BUILD_PAIR_STRING("state", lease_state_to_string(l)),
                                        SD_JSON_BUILD_PAIR_UNSIGNED("uid", l->uid),
                                        SD_JSON_BUILD_PAIR_CONDITION(l->pid > 0, "pid", SD_JSON_BUILD_INTEGER(l->pid)),
                                        SD_JSON_BUILD_PAIR_STRV("devices", l->devices),
                                        SD_JSON_BUILD_PAIR_VARIANT("groups", groups),
                                        SD_JSON_BUILD_PAIR_UNSIGNED("since", l->since_usec),
                                        SD_JSON_BUILD_PAIR_BOOLEAN("restoreOnRelease", l->restore_on_release));
                if (r < 0)
                        return sd_varlink_error_errno(link, r);
        }
        return sd_varlink_replybo(link, SD_JSON_BUILD_PAIR_VARIANT("leases", a));
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
