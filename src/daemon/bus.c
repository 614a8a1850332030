/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The D-Bus front-end, io.vfiod.Broker1: arguments in, the broker's outcome out, exactly as the
 * varlink front-end does; nothing is decided here. Large nested replies (GetInfo, ListDevices,
 * ListGroups, Explain) are the varlink reply as a JSON string (docs/DESIGN.md says why); the
 * rest is typed. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "broker.h"
#include "bus.h"
#include "log.h"
#include "macro.h"
#include "strv.h"

/* The same names as on varlink; the errno is what sd-bus clients see in sd_bus_error_get_errno(). */
static const sd_bus_error_map broker_errors[] = {
        SD_BUS_ERROR_MAP(BROKER_ERROR_DENIED,         EACCES),
        SD_BUS_ERROR_MAP(BROKER_ERROR_BUSY,           EBUSY),
        SD_BUS_ERROR_MAP(BROKER_ERROR_BIND_FAILED,    EIO),
        SD_BUS_ERROR_MAP(BROKER_ERROR_TIMEOUT,        ETIMEDOUT),
        SD_BUS_ERROR_MAP(BROKER_ERROR_NOT_SUPPORTED,  EOPNOTSUPP),
        SD_BUS_ERROR_MAP(BROKER_ERROR_NO_SUCH_DEVICE, ENODEV),
        SD_BUS_ERROR_MAP(BROKER_ERROR_NO_SUCH_LEASE,  ENOENT),
        SD_BUS_ERROR_MAP(BROKER_ERROR_POLICY_INVALID, EINVAL),
        SD_BUS_ERROR_MAP_END
};

/* Who is calling, from the bus daemon (which read SO_PEERCRED, SO_PEERGROUPS and SO_PEERPIDFD
 * when the caller connected): never from /proc by pid, which could be another process by now. */
static int caller_from_message(sd_bus_message *m, CallerInfo *ret) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_close_ int pidfd = -EBADF;
        gid_t groups[CALLER_GROUPS_MAX];
        size_t n_groups = 0;
        uint32_t uid = UINT32_MAX, pid = 0;
        bool have_groups = false;
        int r;

        r = sd_bus_call_method(sd_bus_message_get_bus(m), "org.freedesktop.DBus", "/org/freedesktop/DBus",
                               "org.freedesktop.DBus", "GetConnectionCredentials", &error, &reply,
                               "s", sd_bus_message_get_sender(m));
        if (r < 0)
                return r;
        r = sd_bus_message_enter_container(reply, 'a', "{sv}");
        if (r < 0)
                return r;
        for (unsigned i = 0; i < 64; i++) {
                const char *key;

                r = sd_bus_message_enter_container(reply, 'e', "sv");
                if (r < 0)
                        return r;
                if (r == 0)
                        break;
                r = sd_bus_message_read(reply, "s", &key);
                if (r < 0)
                        return r;
                if (streq(key, "UnixUserID"))
                        r = sd_bus_message_read(reply, "v", "u", &uid);
                else if (streq(key, "ProcessID"))
                        r = sd_bus_message_read(reply, "v", "u", &pid);
                else if (streq(key, "ProcessFD")) {
                        int fd;

                        r = sd_bus_message_read(reply, "v", "h", &fd);
                        if (r >= 0 && pidfd < 0) {
                                pidfd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
                                if (pidfd < 0)
                                        return negative_errno();
                        }
                } else if (streq(key, "UnixGroupIDs")) {
                        const void *a;
                        size_t size;

                        r = sd_bus_message_enter_container(reply, 'v', "au");
                        if (r >= 0)
                                r = sd_bus_message_read_array(reply, 'u', &a, &size);
                        if (r >= 0) {
                                /* More groups than we accept: judging on a truncated list is not fair. */
                                if (size / sizeof(uint32_t) > CALLER_GROUPS_MAX)
                                        return -E2BIG;
                                n_groups = size / sizeof(uint32_t);
                                memcpy(groups, a, size);
                                have_groups = true;
                                r = sd_bus_message_exit_container(reply);
                        }
                } else
                        r = sd_bus_message_skip(reply, "v");
                if (r < 0)
                        return r;
                r = sd_bus_message_exit_container(reply);
                if (r < 0)
                        return r;
        }
        if (uid == UINT32_MAX)
                return -ENODATA;
        if (!have_groups)
                log_debug("The bus daemon gave no groups for %s; judging by user only.", sd_bus_message_get_sender(m));

        /* The primary group is among UnixGroupIDs. */
        r = caller_info_init(ret, (uid_t) uid, (gid_t) -1, (pid_t) pid, pidfd, groups, n_groups);
        if (r < 0)
                return r;
        /* caller_info_init() borrows the pidfd; the CallerInfo keeps ours until it is done. */
        ret->pidfd = TAKE_FD(pidfd);
        return 0;
}

typedef struct BusCaller {
        CallerInfo info;
} BusCaller;

static void bus_caller_done(BusCaller *c) {
        if (c->info.pidfd >= 0)
                close(c->info.pidfd);
        caller_info_done(&c->info);
}

static int identify(sd_bus_message *m, BusCaller *ret, sd_bus_error *error) {
        int r = caller_from_message(m, &ret->info);

        if (r < 0) {
                log_warning_errno(r, "Failed to identify the bus caller %s: %m", strna(sd_bus_message_get_sender(m)));
                return sd_bus_error_set_errnof(error, r, "cannot identify the caller: %s", strerror(-r));
        }
        return 0;
}

static int reply_json(sd_bus_message *m, int r, sd_json_variant *v, sd_bus_error *error) {
        _cleanup_free_ char *text = NULL;

        if (r == -EPERM)
                return sd_bus_error_set(error, SD_BUS_ERROR_ACCESS_DENIED, "only root may do this");
        if (r < 0)
                return sd_bus_error_set_errno(error, r);
        r = sd_json_variant_format(v, 0, &text);
        if (r < 0)
                return r;
        return sd_bus_reply_method_return(m, "s", text);
}

static int bus_devices(sd_bus_message *m, DeviceList *ret, sd_bus_error *error) {
        _cleanup_(strv_freep) char **in = NULL;
        size_t n = 0;
        int r;

        r = sd_bus_message_read_strv(m, &in);
        if (r < 0)
                return r;
        while (in && in[n])
                n++;
        r = device_list_parse((const char *const *) in, n, ret);
        if (r == -EINVAL)
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                         "devices: 1 to %d distinct PCI addresses (DDDD:BB:DD.F) expected", REQUEST_DEVICES_MAX);
        return r;
}

/* Acquire's arguments after the devices: minApertureBits, iovaRanges. */
static int read_acquire_args(sd_bus_message *m, uint32_t *ret_min_bits, IovaRange iova[static IOVA_RANGES_MAX],
                             size_t *ret_n_iova, sd_bus_error *error) {
        size_t n_iova = 0;
        int r;

        r = sd_bus_message_read(m, "u", ret_min_bits);
        if (r < 0)
                return r;
        if (*ret_min_bits > 64)
                return sd_bus_error_set(error, SD_BUS_ERROR_INVALID_ARGS, "minApertureBits: 0 to 64 expected");
        r = sd_bus_message_enter_container(m, 'a', "(tt)");
        if (r < 0)
                return r;
        for (;;) {
                uint64_t start, end;

                r = sd_bus_message_read(m, "(tt)", &start, &end);
                if (r < 0)
                        return r;
                if (r == 0)
                        break;
                if (n_iova >= IOVA_RANGES_MAX || end < start)
                        return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                                 "iovaRanges: at most %d ranges, each start <= end", IOVA_RANGES_MAX);
                iova[n_iova++] = (IovaRange) { .start = start, .end = end };
        }
        r = sd_bus_message_exit_container(m);
        if (r < 0)
                return r;
        *ret_n_iova = n_iova;
        return 0;
}

/* Explain's uid: -1 for the caller. */
static int read_explain_uid(sd_bus_message *m, uid_t *ret, sd_bus_error *error) {
        int64_t uid;
        int r;

        r = sd_bus_message_read(m, "x", &uid);
        if (r < 0)
                return r;
        if (uid < -1 || uid >= (int64_t) UINT32_MAX)
                return sd_bus_error_set(error, SD_BUS_ERROR_INVALID_ARGS, "uid: -1 (yourself) or a uid expected");
        *ret = uid < 0 ? (uid_t) -1 : (uid_t) uid;
        return 0;
}

static int read_lease_id(sd_bus_message *m, const char **ret, sd_bus_error *error) {
        int r;

        r = sd_bus_message_read(m, "s", ret);
        if (r < 0)
                return r;
        if (!lease_id_is_valid(*ret))
                return sd_bus_error_set(error, SD_BUS_ERROR_INVALID_ARGS, "leaseId: 32 lowercase hex digits expected");
        return 0;
}

static int method_get_info(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        _cleanup_(sd_json_variant_unrefp) sd_json_variant *v = NULL;
        _cleanup_(bus_caller_done) BusCaller c = {};
        int r;

        r = identify(m, &c, error);
        if (r < 0)
                return r;
        r = manager_get_info(userdata, &c.info, &v);
        return reply_json(m, r, v, error);
}

typedef int (*QueryFunc)(Broker *b, const CallerInfo *caller, sd_json_variant **ret);

static int reply_query(sd_bus_message *m, Manager *manager, QueryFunc query, sd_bus_error *error) {
        _cleanup_(sd_json_variant_unrefp) sd_json_variant *v = NULL;
        _cleanup_(bus_caller_done) BusCaller c = {};
        int r;

        r = identify(m, &c, error);
        if (r < 0)
                return r;
        r = query(manager->broker, &c.info, &v);
        return reply_json(m, r, v, error);
}

static int method_list_devices(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        return reply_query(m, userdata, broker_list_devices, error);
}

static int method_list_groups(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        return reply_query(m, userdata, broker_list_groups, error);
}

static int method_explain(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        _cleanup_(sd_json_variant_unrefp) sd_json_variant *v = NULL;
        _cleanup_(device_list_done) DeviceList devices = {};
        _cleanup_(bus_caller_done) BusCaller c = {};
        Manager *manager = userdata;
        const char *missing = NULL;
        uid_t uid = (uid_t) -1;
        int r;

        r = bus_devices(m, &devices, error);
        if (r < 0)
                return r;
        r = read_explain_uid(m, &uid, error);
        if (r < 0)
                return r;
        r = identify(m, &c, error);
        if (r < 0)
                return r;
        r = broker_explain(manager->broker, &c.info, devices.list, uid, &v, &missing);
        if (r == -ENXIO)
                return sd_bus_error_setf(error, BROKER_ERROR_NO_SUCH_DEVICE, "no PCI device %s", missing);
        return reply_json(m, r, v, error);
}

static int method_reload(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(sd_json_variant_unrefp) sd_json_variant *v = NULL;
        _cleanup_(bus_caller_done) BusCaller c = {};
        _cleanup_free_ char *why = NULL;
        Manager *manager = userdata;
        sd_json_variant *files, *e;
        int r;

        r = identify(m, &c, error);
        if (r < 0)
                return r;
        r = broker_reload(manager->broker, &c.info, &v, &why);
        if (r < 0 && r != -EPERM && why)
                return sd_bus_error_set(error, BROKER_ERROR_POLICY_INVALID, why);
        if (r < 0)
                return reply_json(m, r, NULL, error);

        r = sd_bus_message_new_method_return(m, &reply);
        if (r >= 0)
                r = sd_bus_message_open_container(reply, 'a', "(ss)");
        files = sd_json_variant_by_key(v, "files");
        for (size_t i = 0; r >= 0 && i < sd_json_variant_elements(files); i++) {
                e = sd_json_variant_by_index(files, i);
                r = sd_bus_message_append(reply, "(ss)",
                                          sd_json_variant_string(sd_json_variant_by_key(e, "path")),
                                          strempty(sd_json_variant_string(sd_json_variant_by_key(e, "error"))));
        }
        if (r >= 0)
                r = sd_bus_message_close_container(reply);
        if (r < 0)
                return r;
        return sd_bus_send(NULL, reply, NULL);
}

static int method_list_leases(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(bus_caller_done) BusCaller c = {};
        Broker *b = ((Manager *) userdata)->broker;
        int r;

        r = identify(m, &c, error);
        if (r < 0)
                return r;
        /* Typed from the same JSON the broker gives varlink, so the two cannot drift. */
        _cleanup_(sd_json_variant_unrefp) sd_json_variant *v = NULL;
        sd_json_variant *e;
        r = broker_list_leases(b, &c.info, &v);
        if (r < 0)
                return r;
        r = sd_bus_message_new_method_return(m, &reply);
        if (r >= 0)
                r = sd_bus_message_open_container(reply, 'a', "(sssuuasaitb(sss))");
        sd_json_variant *leases = sd_json_variant_by_key(v, "leases");
        for (size_t i = 0; r >= 0 && i < sd_json_variant_elements(leases); i++) {
                sd_json_variant *devices, *groups;

                e = sd_json_variant_by_index(leases, i);
                devices = sd_json_variant_by_key(e, "devices");
                groups = sd_json_variant_by_key(e, "groups");
                r = sd_bus_message_open_container(reply, 'r', "sssuuasaitb(sss)");
                if (r >= 0)
                        r = sd_bus_message_append(reply, "sssuu",
                                                  sd_json_variant_string(sd_json_variant_by_key(e, "id")),
                                                  sd_json_variant_string(sd_json_variant_by_key(e, "kind")),
                                                  sd_json_variant_string(sd_json_variant_by_key(e, "state")),
                                                  (uint32_t) sd_json_variant_unsigned(sd_json_variant_by_key(e, "uid")),
                                                  (uint32_t) sd_json_variant_unsigned(sd_json_variant_by_key(e, "pid")));
                if (r >= 0)
                        r = sd_bus_message_open_container(reply, 'a', "s");
                for (size_t k = 0; r >= 0 && k < sd_json_variant_elements(devices); k++)
                        r = sd_bus_message_append(reply, "s", sd_json_variant_string(sd_json_variant_by_index(devices, k)));
                if (r >= 0)
                        r = sd_bus_message_close_container(reply);
                if (r >= 0)
                        r = sd_bus_message_open_container(reply, 'a', "i");
                for (size_t k = 0; r >= 0 && k < sd_json_variant_elements(groups); k++)
                        r = sd_bus_message_append(reply, "i", (int32_t) sd_json_variant_integer(sd_json_variant_by_index(groups, k)));
                if (r >= 0)
                        r = sd_bus_message_close_container(reply);
                if (r >= 0)
                        r = sd_bus_message_append(reply, "tb",
                                                  sd_json_variant_unsigned(sd_json_variant_by_key(e, "since")),
                                                  sd_json_variant_boolean(sd_json_variant_by_key(e, "restoreOnRelease")));
                /* The owner label: kind, name, uuid; "" each when the lease has none. */
                sd_json_variant *owner = sd_json_variant_by_key(e, "owner");
                if (r >= 0)
                        r = sd_bus_message_append(reply, "(sss)",
                                                  strempty(sd_json_variant_string(sd_json_variant_by_key(owner, "kind"))),
                                                  strempty(sd_json_variant_string(sd_json_variant_by_key(owner, "name"))),
                                                  strempty(sd_json_variant_string(sd_json_variant_by_key(owner, "uuid"))));
                if (r >= 0)
                        r = sd_bus_message_close_container(reply);
        }
        if (r >= 0)
                r = sd_bus_message_close_container(reply);
        if (r < 0)
                return r;
        return sd_bus_send(NULL, reply, NULL);
}

/* ---- Bind, Acquire, Unbind, Release: the broker answers later ---- */

static int reply_error(sd_bus_message *m, const Operation *op) {
        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
        _cleanup_free_ char *text = NULL;
        int r;

        if (streq(op->error_id, BROKER_ERROR_SYSTEM))
                return sd_bus_reply_method_errnof(m, EIO, "%s", strna(op->message));
        r = operation_error_text(op, &text);
        if (r < 0)
                return sd_bus_reply_method_errno(m, -r, NULL);
        (void) sd_bus_error_set(&e, op->error_id, text);
        return sd_bus_reply_method_error(m, &e);
}

static int append_ranges(sd_bus_message *reply, const VfioContainer *c) {
        int r;

        r = sd_bus_message_open_container(reply, 'a', "(tt)");
        for (size_t k = 0; r >= 0 && k < c->n_ranges; k++)
                r = sd_bus_message_append(reply, "(tt)", c->ranges[k].start, c->ranges[k].end);
        if (r >= 0)
                r = sd_bus_message_close_container(reply);
        return r;
}

/* leaseId, containers a(h ai a(tt) t x u): fd, groups, IOVA ranges, page sizes, DMA mappings
 * available (-1: the kernel does not say), aperture bits; groups a(ih); devices a(sh). The
 * message holds its own copies of the fds; the Operation closes its. */
static int reply_acquired(sd_bus_message *m, const Operation *op) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        int r;

        r = sd_bus_message_new_method_return(m, &reply);
        if (r >= 0)
                r = sd_bus_message_append(reply, "s", op->lease->id);
        if (r >= 0)
                r = sd_bus_message_open_container(reply, 'a', "(haia(tt)txu)");
        for (size_t i = 0; r >= 0 && i < op->n_containers; i++) {
                const VfioContainer *c = &op->containers[i];

                r = sd_bus_message_open_container(reply, 'r', "haia(tt)txu");
                if (r >= 0)
                        r = sd_bus_message_append(reply, "h", c->fd);
                if (r >= 0)
                        r = sd_bus_message_append_array(reply, 'i', c->group_ids, c->n_groups * sizeof(int));
                if (r >= 0)
                        r = append_ranges(reply, c);
                if (r >= 0)
                        r = sd_bus_message_append(reply, "txu", (uint64_t) c->page_sizes,
                                                  c->have_dma_avail ? (int64_t) c->dma_avail : (int64_t) -1,
                                                  (uint32_t) vfio_container_aperture_bits(c));
                if (r >= 0)
                        r = sd_bus_message_close_container(reply);
        }
        if (r >= 0)
                r = sd_bus_message_close_container(reply);
        if (r >= 0)
                r = sd_bus_message_open_container(reply, 'a', "(ih)");
        for (size_t i = 0; r >= 0 && i < op->n_containers; i++)
                for (size_t k = 0; r >= 0 && k < op->containers[i].n_groups; k++)
                        r = sd_bus_message_append(reply, "(ih)", op->containers[i].group_ids[k], op->containers[i].group_fds[k]);
        if (r >= 0)
                r = sd_bus_message_close_container(reply);
        if (r >= 0)
                r = sd_bus_message_open_container(reply, 'a', "(sh)");
        for (size_t i = 0; r >= 0 && i < op->n_request_devices; i++)
                r = sd_bus_message_append(reply, "(sh)", op->request_devices[i], op->device_fds[i]);
        if (r >= 0)
                r = sd_bus_message_close_container(reply);
        if (r < 0) {
                /* Nothing was sent: an error reply carries no fds. */
                (void) sd_bus_reply_method_errno(m, -r, NULL);
                return r;
        }
        return sd_bus_send(NULL, reply, NULL);
}

static int reply_bound(sd_bus_message *m, const Operation *op) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        int r;

        r = sd_bus_message_new_method_return(m, &reply);
        if (r >= 0)
                r = sd_bus_message_append(reply, "s", op->lease->id);
        if (r >= 0)
                r = sd_bus_message_append_array(reply, 'i', op->lease->groups, op->lease->n_groups * sizeof(int));
        if (r >= 0)
                r = sd_bus_message_append_strv(reply, op->lease->devices);
        if (r < 0)
                return r;
        return sd_bus_send(NULL, reply, NULL);
}

static void on_request_done(Broker *b, Operation *op, void *userdata) {
        sd_bus_message *m = userdata;
        int r;

        if (op->error_id)
                r = reply_error(m, op);
        else if (op->kind == LEASE_ACQUIRE)
                r = reply_acquired(m, op);
        else
                r = reply_bound(m, op);
        if (r < 0 && !op->error_id && op->kind == LEASE_ACQUIRE) {
                /* The caller never learnt of the lease (or got no fds): end it, from the event loop,
                 * since the broker still uses the lease when this returns. (Once the bus daemon has
                 * the reply, a caller gone from the bus loses the fds there; the lease then ends
                 * with the caller's process.) */
                log_warning_errno(r, "Failed to send the Acquire reply of lease %s (%m); ending the lease.", op->lease->id);
                broker_end_lease_later(b, op->lease->id);
        } else if (r < 0)
                log_debug_errno(r, "Failed to reply on the bus: %m");
        sd_bus_message_unref(m);
        operation_free(op);
}

static int bus_request(sd_bus_message *m, Manager *manager, LeaseKind kind, sd_bus_error *error) {
        _cleanup_(device_list_done) DeviceList devices = {};
        _cleanup_(bus_caller_done) BusCaller c = {};
        IovaRange iova[IOVA_RANGES_MAX];
        size_t n_iova = 0;
        uint32_t min_bits = 0;
        int r;

        r = bus_devices(m, &devices, error);
        if (r < 0)
                return r;
        if (kind == LEASE_ACQUIRE) {
                r = read_acquire_args(m, &min_bits, iova, &n_iova, error);
                if (r < 0)
                        return r;
        }
        r = identify(m, &c, error);
        if (r < 0)
                return r;

        BrokerRequest req = {
                .kind = kind,
                .devices = devices.list,
                .min_aperture_bits = min_bits,
                .iova = iova,
                .n_iova = n_iova,
        };
        sd_bus_message_ref(m);
        r = broker_request(manager->broker, &c.info, &req, on_request_done, m);
        if (r < 0) {
                sd_bus_message_unref(m);
                return r;
        }
        return 1;
}

static int method_bind(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        return bus_request(m, userdata, LEASE_BIND, error);
}

static int method_acquire(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        return bus_request(m, userdata, LEASE_ACQUIRE, error);
}

static void on_end_done(Broker *b, Operation *op, void *userdata) {
        sd_bus_message *m = userdata;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;

        if (op->error_id)
                (void) reply_error(m, op);
        else if (sd_bus_message_new_method_return(m, &reply) >= 0 &&
                 sd_bus_message_append_strv(reply, op->request_devices) >= 0)
                (void) sd_bus_send(NULL, reply, NULL);
        sd_bus_message_unref(m);
        operation_free(op);
}

/* Release (id) or Unbind (devices): the broker answers through on_end_done(), which owns the
 * reference from then on. */
static int end_call(sd_bus_message *m, Manager *manager, const char *id, const char *const *devices, sd_bus_error *error) {
        _cleanup_(bus_caller_done) BusCaller c = {};
        int r;

        r = identify(m, &c, error);
        if (r < 0)
                return r;
        sd_bus_message_ref(m);
        r = id ? broker_release(manager->broker, &c.info, id, on_end_done, m)
               : broker_unbind(manager->broker, &c.info, devices, on_end_done, m);
        if (r < 0) {
                sd_bus_message_unref(m);
                return r;
        }
        return 1;
}

static int method_release(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        const char *id;
        int r;

        r = read_lease_id(m, &id, error);
        if (r < 0)
                return r;
        return end_call(m, userdata, id, NULL, error);
}

static int method_unbind(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        _cleanup_(device_list_done) DeviceList devices = {};
        int r;

        r = bus_devices(m, &devices, error);
        if (r < 0)
                return r;
        return end_call(m, userdata, NULL, devices.list, error);
}

#define EVENT_SIGNAL(name) SD_BUS_SIGNAL_WITH_NAMES(name, "ssi", SD_BUS_PARAM(device) SD_BUS_PARAM(driver) SD_BUS_PARAM(iommuGroup), 0)

static const sd_bus_vtable broker_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_METHOD_WITH_NAMES("GetInfo", "", , "s", SD_BUS_PARAM(json), method_get_info, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_NAMES("ListDevices", "", , "s", SD_BUS_PARAM(json), method_list_devices, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_NAMES("ListGroups", "", , "s", SD_BUS_PARAM(json), method_list_groups, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_NAMES("Explain", "asx", SD_BUS_PARAM(devices) SD_BUS_PARAM(uid),
                                 "s", SD_BUS_PARAM(json), method_explain, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_NAMES("Bind", "as", SD_BUS_PARAM(devices),
                                 "saias", SD_BUS_PARAM(leaseId) SD_BUS_PARAM(groups) SD_BUS_PARAM(devices),
                                 method_bind, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_NAMES("Unbind", "as", SD_BUS_PARAM(devices), "as", SD_BUS_PARAM(devices),
                                 method_unbind, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_NAMES("Acquire", "asua(tt)",
                                 SD_BUS_PARAM(devices) SD_BUS_PARAM(minApertureBits) SD_BUS_PARAM(iovaRanges),
                                 "sa(haia(tt)txu)a(ih)a(sh)",
                                 SD_BUS_PARAM(leaseId) SD_BUS_PARAM(containers) SD_BUS_PARAM(groups) SD_BUS_PARAM(devices),
                                 method_acquire, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_NAMES("Release", "s", SD_BUS_PARAM(leaseId), "as", SD_BUS_PARAM(devices),
                                 method_release, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_NAMES("ListLeases", "", , "a(sssuuasaitb(sss))", SD_BUS_PARAM(leases),
                                 method_list_leases, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_NAMES("Reload", "", , "a(ss)", SD_BUS_PARAM(files), method_reload, SD_BUS_VTABLE_UNPRIVILEGED),
        EVENT_SIGNAL("DeviceAdded"),
        EVENT_SIGNAL("DeviceRemoved"),
        EVENT_SIGNAL("DeviceBound"),
        EVENT_SIGNAL("DeviceUnbound"),
        EVENT_SIGNAL("DeviceChanged"),
        EVENT_SIGNAL("LeaseStarted"),
        EVENT_SIGNAL("LeaseEnded"),
        EVENT_SIGNAL("Denied"),
        SD_BUS_SIGNAL("PolicyReloaded", "", 0),
        SD_BUS_SIGNAL("Rescanned", "", 0),
        SD_BUS_VTABLE_END
};

void manager_bus_emit(Manager *m, const char *event, const char *device, const char *driver, int group) {
        static const struct { const char *event, *signal; } map[] = {
                { "added", "DeviceAdded" }, { "removed", "DeviceRemoved" }, { "bound", "DeviceBound" },
                { "unbound", "DeviceUnbound" }, { "changed", "DeviceChanged" }, { "leased", "LeaseStarted" },
                { "released", "LeaseEnded" }, { "denied", "Denied" },
                { "policy-reloaded", "PolicyReloaded" }, { "rescanned", "Rescanned" },
        };
        int r = 0;

        if (!m->bus)
                return;
        for (size_t i = 0; i < ELEMENTSOF(map); i++) {
                if (!streq(map[i].event, event))
                        continue;
                if (streq(event, "policy-reloaded") || streq(event, "rescanned"))
                        r = sd_bus_emit_signal(m->bus, VFIOD_BUS_PATH, VFIOD_BUS_INTERFACE, map[i].signal, "");
                else
                        r = sd_bus_emit_signal(m->bus, VFIOD_BUS_PATH, VFIOD_BUS_INTERFACE, map[i].signal, "ssi",
                                               strempty(device), strempty(driver), (int32_t) group);
                break;
        }
        if (r < 0)
                log_debug_errno(r, "Failed to emit a D-Bus signal for '%s': %m", event);
}

static int set_bus_error(Manager *m, int r, const char *what) {
        free(m->bus_error);
        if (asprintf(&m->bus_error, "%s: %s", what, strerror(-r)) < 0)
                m->bus_error = NULL;
        log_notice("Not on D-Bus (%s: %s); serving varlink only.", what, strerror(-r));
        m->bus = sd_bus_flush_close_unref(m->bus);
        return r;
}

int manager_bus_init(Manager *m) {
        int r;

        r = sd_bus_error_add_map(broker_errors);
        if (r < 0)
                return set_bus_error(m, r, "registering the error names");
        r = sd_bus_open_system_with_description(&m->bus, "vfiod");
        if (r < 0)
                return set_bus_error(m, r, "connecting to the system bus");
        r = sd_bus_add_object_vtable(m->bus, NULL, VFIOD_BUS_PATH, VFIOD_BUS_INTERFACE, broker_vtable, m);
        if (r < 0)
                return set_bus_error(m, r, "exporting " VFIOD_BUS_PATH);
        r = sd_bus_attach_event(m->bus, m->event, SD_EVENT_PRIORITY_NORMAL);
        if (r < 0)
                return set_bus_error(m, r, "attaching to the event loop");
        /* Last: once the name is ours, activation queues deliver calls. */
        r = sd_bus_request_name(m->bus, VFIOD_BUS_NAME, 0);
        if (r < 0)
                return set_bus_error(m, r, "taking the name " VFIOD_BUS_NAME);
        log_info("On the system bus as " VFIOD_BUS_NAME ".");
        return 0;
}

void manager_bus_done(Manager *m) {
        m->bus = sd_bus_flush_close_unref(m->bus);
        free(m->bus_error);
        m->bus_error = NULL;
}
