/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdarg.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "broker.h"
#include "fileio.h"
#include "journal.h"
#include "log.h"
#include "macro.h"
#include "pci-device.h"
#include "strv.h"

#define ERROR_DENIED "io.vfiod.Broker.Denied"
#define ERROR_BUSY "io.vfiod.Broker.Busy"
#define ERROR_BIND_FAILED "io.vfiod.Broker.BindFailed"
#define ERROR_TIMEOUT "io.vfiod.Broker.Timeout"
#define ERROR_NOT_SUPPORTED "io.vfiod.Broker.NotSupported"
#define ERROR_NO_SUCH_DEVICE "io.vfiod.Broker.NoSuchDevice"
#define ERROR_SYSTEM "io.systemd.System"

/* Per-step bound for the binder (unbind, probe, /dev/vfio/N); the worker as a whole gets more. */
#define BINDER_TIMEOUT_USEC (10ULL * 1000 * 1000)
#define STATE_MAX (4 * 1024 * 1024)
#define LEASES_MAX 4096

void operation_free(Operation *op) {
        if (!op)
                return;
        worker_free(op->worker);
        strv_free_n(op->request_devices, op->n_request_devices);
        free(op->iova);
        free(op->message);
        free(op->error_device);
        verdict_done(&op->verdict);
        for (size_t i = 0; i < op->n_containers; i++)
                vfio_container_done(&op->containers[i]);
        free(op->containers);
        for (size_t i = 0; op->device_fds && i < op->n_request_devices; i++)
                if (op->device_fds[i] >= 0)
                        close(op->device_fds[i]);
        free(op->device_fds);
        free(op);
}

static void complete(Operation *op) {
        op->done(op->manager, op, op->userdata);
}

static void fail(Operation *op, const char *error_id, const char *device, const char *fmt, ...) _printf_(4, 5);
static void fail(Operation *op, const char *error_id, const char *device, const char *fmt, ...) {
        va_list ap;

        op->error_id = error_id;
        if (device)
                op->error_device = strdup(device);
        va_start(ap, fmt);
        if (vasprintf(&op->message, fmt, ap) < 0)
                op->message = NULL;
        va_end(ap);
        complete(op);
}

/* ---- the lease table and its journal ---- */

Lease *broker_find_lease(Manager *m, const char *id) {
        for (size_t i = 0; i < m->n_leases; i++)
                if (strcmp(m->leases[i]->id, id) == 0)
                        return m->leases[i];
        return NULL;
}

const Lease *broker_lease_holding(Manager *m, const char *address, int group) {
        for (size_t i = 0; i < m->n_leases; i++)
                if ((address && lease_has_device(m->leases[i], address)) || (group >= 0 && lease_has_group(m->leases[i], group)))
                        return m->leases[i];
        return NULL;
}

static int lease_add(Manager *m, Lease *l) {
        Lease **n;

        if (m->n_leases >= LEASES_MAX)
                return -E2BIG;
        n = reallocarray(m->leases, m->n_leases + 1, sizeof(Lease *));
        if (!n)
                return -ENOMEM;
        m->leases = n;
        m->leases[m->n_leases++] = l;
        return 0;
}

static void lease_remove(Manager *m, Lease *l) {
        for (size_t i = 0; i < m->n_leases; i++)
                if (m->leases[i] == l) {
                        memmove(m->leases + i, m->leases + i + 1, (m->n_leases - i - 1) * sizeof(Lease *));
                        m->n_leases--;
                        break;
                }
        lease_free(l);
}

/* Written before every kernel change and after it: temp file, fsync, rename, fsync of the directory. */
int broker_save_state(Manager *m) {
        _cleanup_(sd_json_variant_unrefp) sd_json_variant *leases = NULL, *v = NULL;
        _cleanup_free_ char *text = NULL;
        _cleanup_close_ int fd = -EBADF, dfd = -EBADF;
        const char *tmp = VFIOD_STATE_FILE ".tmp";
        size_t len;
        int r;

        r = sd_json_variant_new_array(&leases, NULL, 0);
        if (r < 0)
                return r;
        for (size_t i = 0; i < m->n_leases; i++) {
                _cleanup_(sd_json_variant_unrefp) sd_json_variant *l = NULL;

                r = lease_to_json(m->leases[i], &l);
                if (r < 0)
                        return r;
                r = sd_json_variant_append_array(&leases, l);
                if (r < 0)
                        return r;
        }
        r = sd_json_buildo(&v, SD_JSON_BUILD_PAIR_INTEGER("version", 1), SD_JSON_BUILD_PAIR_VARIANT("leases", leases));
        if (r < 0)
                return r;
        r = sd_json_variant_format(v, 0, &text);
        if (r < 0)
                return r;
        len = strlen(text);

        (void) mkdir(VFIOD_RUNTIME_DIR, 0755);
        fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0)
                return log_error_errno(errno, "Failed to write %s: %m", tmp);
        if (write(fd, text, len) != (ssize_t) len || write(fd, "\n", 1) != 1 || fsync(fd) < 0)
                return log_error_errno(errno ?: EIO, "Failed to write %s: %m", tmp);
        if (rename(tmp, VFIOD_STATE_FILE) < 0)
                return log_error_errno(errno, "Failed to replace " VFIOD_STATE_FILE ": %m");
        dfd = open(VFIOD_RUNTIME_DIR, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0)
                (void) fsync(dfd);
        return 0;
}

int broker_mark_holders(Manager *m) {
        Topology *t = &m->topology;

        for (size_t i = 0; i < t->n_devices; i++) {
                free(t->devices[i].held_by);
                t->devices[i].held_by = NULL;
        }
        for (size_t i = 0; i < m->n_leases; i++) {
                const Lease *l = m->leases[i];

                for (size_t gi = 0; gi < l->n_groups; gi++) {
                        const IommuGroup *g = topology_find_group(t, l->groups[gi]);

                        for (size_t k = 0; g && k < g->n_members; k++) {
                                PciDevice *d = (PciDevice *) topology_find_device(t, g->members[k]);
                                if (!d || d->held_by)
                                        continue;
                                if (asprintf(&d->held_by, "lease %s of uid %u", l->id, (unsigned) l->uid) < 0)
                                        return -ENOMEM;
                        }
                }
        }
        return 0;
}

/* ---- ending leases ---- */

typedef struct EndCtx {
        Manager *manager;
        Lease *lease;
        OperationDone done;
        void *userdata;
        Worker *worker;
} EndCtx;

static void end_finish(EndCtx *c, int r, const char *message) {
        Manager *m = c->manager;
        Operation *op;

        for (size_t i = 0; i < c->lease->n_moved; i++)
                if (r >= 0)
                        journal_device(VFIOD_MESSAGE_RESTORED, c->lease->moved[i].address, -1,
                                       c->lease->moved[i].original_driver[0] ? c->lease->moved[i].original_driver : NULL,
                                       c->lease->moved[i].original_driver[0] ? "given back to its driver" : "left without a driver, as it was");
        if (r < 0) {
                /* Keep the lease in "restoring": the next start tries again. Nothing is forgotten. */
                log_error("Failed to give back the devices of lease %s: %s", c->lease->id, strna(message));
                journal_lease(VFIOD_MESSAGE_BIND_FAILED, c->lease, message ?: "restore failed; will retry at next start");
                c->lease->busy = false;
        } else {
                journal_lease(VFIOD_MESSAGE_LEASE_END, c->lease, "ended");
                manager_broadcast(m, "released", c->lease->devices[0], NULL, c->lease->n_groups > 0 ? c->lease->groups[0] : -1);
                lease_remove(m, c->lease);
                (void) broker_save_state(m);
        }

        if (c->done) {
                op = calloc(1, sizeof(Operation));
                if (op) {
                        op->manager = m;
                        if (r < 0) {
                                op->error_id = r == -ETIMEDOUT ? ERROR_TIMEOUT : ERROR_BIND_FAILED;
                                op->message = strdup(message ?: strerror(-r));
                        }
                        c->done(m, op, c->userdata);
                        operation_free(op);
                }
        }
        worker_free(c->worker);
        free(c);
}

static void on_end_worker(Worker *w, int r, const char *message, void *userdata) {
        end_finish(userdata, r, message);
}

int broker_end_lease(Manager *m, Lease *l, OperationDone done, void *userdata) {
        EndCtx *c;
        int r;

        if (l->busy)
                return -EBUSY;
        c = calloc(1, sizeof(EndCtx));
        if (!c)
                return -ENOMEM;
        *c = (EndCtx) { .manager = m, .lease = l, .done = done, .userdata = userdata };

        l->busy = true;
        l->pidfd_source = sd_event_source_disable_unref(l->pidfd_source);
        l->phase = LEASE_PHASE_RESTORING;
        r = broker_save_state(m);
        if (r < 0) {
                l->busy = false;
                free(c);
                return r;
        }

        if (l->n_moved == 0 || !l->restore_on_release) {
                end_finish(c, 0, NULL);
                return 0;
        }

        int *groups = calloc(l->n_moved, sizeof(int));
        if (!groups) {
                l->busy = false;
                free(c);
                return -ENOMEM;
        }
        r = worker_start(m->event, WORKER_RESTORE, l->moved, groups, l->n_moved, BINDER_TIMEOUT_USEC,
                         on_end_worker, c, &c->worker);
        free(groups);
        if (r < 0) {
                l->busy = false;
                free(c);
                return r;
        }
        return 0;
}

static int on_holder_exit(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Lease *l = userdata;
        Manager *m = l->manager;
        int r;

        l->pidfd_source = sd_event_source_disable_unref(l->pidfd_source);
        if (l->busy)
                return 0;  /* the operation in flight sees the holder is gone and ends the lease */
        log_info("Holder %d of lease %s is gone; ending the lease.", (int) l->pid, l->id);
        r = broker_end_lease(m, l, NULL, NULL);
        if (r < 0)
                log_error_errno(r, "Failed to end lease %s; it stays journalled: %m", l->id);
        return 0;
}

static int watch_holder(Manager *m, Lease *l, int pidfd) {
        l->pidfd = pidfd;
        l->manager = m;
        /* A pidfd polls readable when the process exits. */
        return sd_event_add_io(m->event, &l->pidfd_source, pidfd, EPOLLIN, on_holder_exit, l);
}

/* ---- Release and Unbind: several lease ends, one answer ---- */

static void on_part_done(Manager *m, Operation *part, void *userdata) {
        Operation *op = userdata;

        if (part->error_id && !op->error_id) {
                op->error_id = part->error_id;
                op->message = strdup(strna(part->message));
        }
        if (--op->pending == 0)
                complete(op);
}

static bool may_end(uid_t uid, const Lease *l) {
        return uid == 0 || uid == l->uid;
}

static int end_leases(Manager *m, Lease **leases, size_t n, OperationDone done, void *userdata) {
        Operation *op;
        int r;

        op = calloc(1, sizeof(Operation));
        if (!op)
                return -ENOMEM;
        *op = (Operation) { .manager = m, .done = done, .userdata = userdata, .pending = n + 1 };
        for (size_t k = 0; k < n; k++)
                for (size_t i = 0; i < leases[k]->n_devices; i++) {
                        r = strv_push_n(&op->request_devices, &op->n_request_devices, leases[k]->devices[i]);
                        if (r < 0) {
                                operation_free(op);
                                return r;
                        }
                }
        for (size_t k = 0; k < n; k++) {
                r = broker_end_lease(m, leases[k], on_part_done, op);
                if (r < 0) {
                        Operation part = { .error_id = ERROR_BIND_FAILED, .message = (char *) "cannot start giving the devices back" };
                        on_part_done(m, &part, op);
                }
        }
        /* The extra count holds the answer until every end was started. */
        Operation none = {};
        on_part_done(m, &none, op);
        return 0;
}

int broker_release(Manager *m, uid_t uid, const char *id, OperationDone done, void *userdata, const Lease **ret_busy) {
        Lease *l = broker_find_lease(m, id);

        if (!l || !may_end(uid, l))
                return -ENOENT;
        if (l->busy) {
                *ret_busy = l;
                return -EBUSY;
        }
        return end_leases(m, &l, 1, done, userdata);
}

int broker_unbind(Manager *m, uid_t uid, const char *const *devices, OperationDone done, void *userdata,
                  const char **ret_device, const Lease **ret_busy) {
        Lease *ends[LEASE_DEVICES_MAX];
        size_t n = 0;

        for (size_t i = 0; devices[i]; i++) {
                Lease *l = NULL;
                bool seen = false;

                for (size_t k = 0; k < m->n_leases && !l; k++)
                        if (m->leases[k]->kind == LEASE_BIND && lease_has_device(m->leases[k], devices[i]))
                                l = m->leases[k];
                if (!l || !may_end(uid, l)) {
                        *ret_device = devices[i];
                        return -ENOENT;
                }
                if (l->busy) {
                        *ret_device = devices[i];
                        *ret_busy = l;
                        return -EBUSY;
                }
                for (size_t k = 0; k < n; k++)
                        seen = seen || ends[k] == l;
                if (!seen) {
                        if (n >= ELEMENTSOF(ends))
                                return -E2BIG;
                        ends[n++] = l;
                }
        }
        return end_leases(m, ends, n, done, userdata);
}

/* ---- Bind and Acquire ---- */

static bool holder_alive(const Lease *l) {
        uint64_t st;
        return l->pid > 0 && pid_get_starttime(l->pid, &st) >= 0 && st == l->pid_starttime;
}

static int open_containers(Operation *op, char **ret_error) {
        Manager *m = op->manager;
        Lease *l = op->lease;
        unsigned widths[LEASE_DEVICES_MAX];
        int r;

        op->containers = calloc(l->n_groups, sizeof(VfioContainer));
        op->device_fds = malloc(sizeof(int) * op->n_request_devices);
        if (!op->containers || !op->device_fds)
                return -ENOMEM;
        for (size_t i = 0; i < op->n_request_devices; i++)
                op->device_fds[i] = -EBADF;

        /* With mixedApertures=split, groups behind units of different widths get containers of
         * their own, so a narrow unit does not shrink what the wide one can map. */
        for (size_t i = 0; i < l->n_groups; i++) {
                const IommuGroup *g = topology_find_group(&m->topology, l->groups[i]);
                const PciDevice *d = g && g->n_members > 0 ? topology_find_device(&m->topology, g->members[0]) : NULL;
                const IommuUnit *u = d ? topology_find_unit(&m->topology, d->iommu_unit) : NULL;
                widths[i] = m->policy.mixed_apertures == MIXED_APERTURES_SPLIT && u ? u->address_width : 0;
        }
        for (size_t i = 0; i < l->n_groups; i++) {
                int ids[LEASE_DEVICES_MAX];
                size_t n = 0;
                bool seen = false;

                for (size_t j = 0; j < i; j++)
                        seen = seen || widths[j] == widths[i];
                if (seen)
                        continue;
                for (size_t j = i; j < l->n_groups; j++)
                        if (widths[j] == widths[i])
                                ids[n++] = l->groups[j];
                r = vfio_container_open(ids, n, &op->containers[op->n_containers], ret_error);
                if (r < 0)
                        return r;
                op->n_containers++;
        }

        for (size_t i = 0; i < op->n_request_devices; i++) {
                const PciDevice *d = topology_find_device(&m->topology, op->request_devices[i]);
                int gfd = -EBADF;

                for (size_t c = 0; d && c < op->n_containers && gfd < 0; c++)
                        for (size_t k = 0; k < op->containers[c].n_groups; k++)
                                if (op->containers[c].group_ids[k] == d->iommu_group)
                                        gfd = op->containers[c].group_fds[k];
                if (gfd < 0)
                        return -ENXIO;
                r = vfio_device_open(gfd, op->request_devices[i]);
                if (r < 0) {
                        if (asprintf(ret_error, "cannot open the VFIO device fd of %s: %s", op->request_devices[i], strerror(-r)) < 0)
                                *ret_error = NULL;
                        return r;
                }
                op->device_fds[i] = r;
        }
        return 0;
}

/* The width the kernel really gives must cover what the policy and the caller need. */
static bool measured_aperture_ok(Operation *op, char **ret_error) {
        unsigned need = op->manager->policy.min_aperture_bits;

        if (op->request.min_aperture_bits > need)
                need = op->request.min_aperture_bits;
        for (size_t c = 0; c < op->n_containers; c++) {
                const VfioContainer *ct = &op->containers[c];
                unsigned bits = vfio_container_aperture_bits(ct);

                if (bits < need) {
                        if (asprintf(ret_error, "the container for group %d measures %u address bits, %u needed; "
                                     "use devices behind a wider IOMMU or lower minApertureBits", ct->group_ids[0], bits, need) < 0)
                                *ret_error = NULL;
                        return false;
                }
                for (size_t i = 0; i < op->request.n_iova_ranges; i++) {
                        bool inside = false;
                        for (size_t k = 0; k < ct->n_ranges; k++)
                                inside = inside || (op->request.iova_ranges[i].start >= ct->ranges[k].start &&
                                                    op->request.iova_ranges[i].end <= ct->ranges[k].end);
                        if (!inside) {
                                if (asprintf(ret_error, "IOVA range 0x%llx-0x%llx is not usable in the container for group %d",
                                             (unsigned long long) op->request.iova_ranges[i].start,
                                             (unsigned long long) op->request.iova_ranges[i].end, ct->group_ids[0]) < 0)
                                        *ret_error = NULL;
                                return false;
                        }
                }
        }
        return true;
}

static void undo_and_fail(Operation *op, const char *error_id, const char *message) {
        Manager *m = op->manager;
        Lease *l = op->lease;

        /* Close every VFIO fd first: vfio-pci's unbind waits until the last one is gone. */
        for (size_t i = 0; i < op->n_containers; i++)
                vfio_container_done(&op->containers[i]);
        op->n_containers = 0;
        for (size_t i = 0; op->device_fds && i < op->n_request_devices; i++)
                if (op->device_fds[i] >= 0) {
                        close(op->device_fds[i]);
                        op->device_fds[i] = -EBADF;
                }
        op->lease = NULL;
        l->busy = false;
        if (broker_end_lease(m, l, NULL, NULL) < 0)
                log_error("Failed to start giving back the devices of lease %s; the journal keeps it.", l->id);
        fail(op, error_id, NULL, "%s", message);
}

static void bound(Operation *op) {
        _cleanup_free_ char *error = NULL;
        Lease *l = op->lease;
        int r;

        if (op->kind == LEASE_ACQUIRE) {
                r = open_containers(op, &error);
                if (r < 0) {
                        journal_lease(VFIOD_MESSAGE_BIND_FAILED, l, error ?: strerror(-r));
                        return undo_and_fail(op, r == -EOPNOTSUPP ? ERROR_NOT_SUPPORTED : ERROR_BIND_FAILED,
                                             error ?: strerror(-r));
                }
                if (!measured_aperture_ok(op, &error)) {
                        Check *nc = reallocarray(op->verdict.checks, op->verdict.n_checks + 1, sizeof(Check));
                        if (nc) {
                                op->verdict.checks = nc;
                                op->verdict.checks[op->verdict.n_checks++] = (Check) {
                                        .code = "aperture-too-small", .passed = false,
                                        .subject = strdup("container"), .sentence = strdup(strna(error)),
                                };
                        }
                        op->verdict.allowed = false;
                        journal_denied(&op->manager->denials, "acquire", (const char *const *) op->request_devices, &op->manager->topology,
                                       &op->verdict, op->uid, op->pid, error);
                        return undo_and_fail(op, ERROR_DENIED, error);
                }
        }

        Manager *m = op->manager;

        l->busy = false;
        journal_lease(VFIOD_MESSAGE_LEASE_START, l, "started");
        manager_broadcast(m, "leased", l->devices[0], NULL, l->groups[0]);
        complete(op);   /* frees op */

        /* The holder may have gone while we were binding. */
        if (l->kind == LEASE_ACQUIRE && !holder_alive(l))
                (void) broker_end_lease(m, l, NULL, NULL);
}

static void on_bind_worker(Worker *w, int r, const char *message, void *userdata) {
        Operation *op = userdata;
        Lease *l = op->lease;

        if (r < 0) {
                journal_lease(VFIOD_MESSAGE_BIND_FAILED, l, message ?: strerror(-r));
                /* The binder rolled back; a timeout leaves the state unknown, so restore anyway. */
                op->lease = NULL;
                l->busy = false;
                (void) broker_end_lease(op->manager, l, NULL, NULL);
                return fail(op, r == -ETIMEDOUT ? ERROR_TIMEOUT : r == -EOPNOTSUPP ? ERROR_NOT_SUPPORTED : ERROR_BIND_FAILED,
                            NULL, "%s", message ?: strerror(-r));
        }

        l->phase = LEASE_PHASE_ACTIVE;
        if (broker_save_state(op->manager) < 0)
                log_warning("Failed to journal lease %s as active; it will be undone at the next start.", l->id);
        for (size_t i = 0; i < l->n_moved; i++)
                journal_device(VFIOD_MESSAGE_BOUND, l->moved[i].address, -1, "vfio-pci", "moved to vfio-pci");
        bound(op);
}

static int restore_on_release_for(const Manager *m, const Verdict *v) {
        for (size_t i = 0; v->rule && i < m->policy.n_rules; i++)
                if (strcmp(m->policy.rules[i].name, v->rule) == 0)
                        return m->policy.rules[i].restore_on_release;
        return true;
}

int broker_request(Manager *m, LeaseKind kind, const Caller *caller, uid_t uid, pid_t pid, int pidfd,
                   const char *const *devices, unsigned min_aperture_bits, const IovaRange *iova, size_t n_iova,
                   OperationDone done, void *userdata) {
        _cleanup_close_ int pidfd_owned = pidfd;
        _cleanup_(lease_freep) Lease *l = NULL;
        _cleanup_free_ int *moved_groups = NULL;
        const char *operation = kind == LEASE_ACQUIRE ? "acquire" : "bind";
        size_t cap = 0;
        Operation *op;
        int r;

        op = calloc(1, sizeof(Operation));
        if (!op)
                return -ENOMEM;
        *op = (Operation) { .manager = m, .kind = kind, .uid = uid, .pid = pid, .done = done, .userdata = userdata };
        for (size_t i = 0; devices[i]; i++) {
                r = strv_push_n(&op->request_devices, &op->n_request_devices, devices[i]);
                if (r < 0)
                        goto fail_errno;
        }
        if (n_iova > 0) {
                op->iova = calloc(n_iova, sizeof(IovaRange));
                if (!op->iova) {
                        r = -ENOMEM;
                        goto fail_errno;
                }
                memcpy(op->iova, iova, n_iova * sizeof(IovaRange));
        }
        op->request = (Request) {
                .devices = (const char *const *) op->request_devices,
                .min_aperture_bits = min_aperture_bits,
                .iova_ranges = op->iova,
                .n_iova_ranges = n_iova,
        };

        r = manager_refresh_facts(m);
        if (r < 0)
                goto fail_errno;

        for (size_t i = 0; i < op->n_request_devices; i++)
                if (!topology_find_device(&m->topology, op->request_devices[i])) {
                        fail(op, ERROR_NO_SUCH_DEVICE, op->request_devices[i], "no PCI device %s", op->request_devices[i]);
                        return 0;
                }

        /* Held by someone (or an operation in flight)? Exactly one of two racing callers gets here
         * first: the lease below is in the table before we return to the event loop. */
        for (size_t i = 0; i < op->n_request_devices; i++) {
                const PciDevice *d = topology_find_device(&m->topology, op->request_devices[i]);
                const Lease *h = broker_lease_holding(m, d->address, d->iommu_group);
                if (h) {
                        op->busy_lease = h;
                        journal_denied(&m->denials, operation, op->request.devices, &m->topology, NULL, uid, pid, "in-use");
                        fail(op, ERROR_BUSY, d->address, "%s is held by lease %s of uid %u", d->address, h->id, (unsigned) h->uid);
                        return 0;
                }
        }

        r = policy_evaluate(&m->policy, &m->topology, &op->request, caller, &op->verdict);
        if (r >= 0 && op->verdict.allowed) {
                /* Allowed on the kept facts; this changes the host, so judge again on facts read
                 * now (only now: a denied caller must not make us re-read the host per call). */
                r = manager_refresh_facts_now(m);
                if (r >= 0) {
                        verdict_done(&op->verdict);
                        r = policy_evaluate(&m->policy, &m->topology, &op->request, caller, &op->verdict);
                }
        }
        if (r < 0)
                goto fail_errno;
        if (!op->verdict.allowed) {
                journal_denied(&m->denials, operation, op->request.devices, &m->topology, &op->verdict, uid, pid, NULL);
                fail(op, ERROR_DENIED, NULL, "denied by vfiod's checks");
                return 0;
        }

        r = binder_vfio_pci_available();
        if (r < 0) {
                fail(op, ERROR_NOT_SUPPORTED, NULL, "vfio-pci is not loaded; load it (modules-load.d/vfiod.conf does at boot)");
                return 0;
        }
        if (kind == LEASE_ACQUIRE && access("/dev/vfio/vfio", F_OK) < 0) {
                fail(op, ERROR_NOT_SUPPORTED, NULL, "/dev/vfio/vfio is missing: the VFIO container interface is not available");
                return 0;
        }

        /* The lease: the requested devices, their groups, and every endpoint of those groups not
         * yet on vfio-pci, with the driver it is on now — read fresh from sysfs. */
        r = lease_new(kind, uid, kind == LEASE_ACQUIRE ? pid : 0, &l);
        if (r < 0)
                goto fail_errno;
        l->restore_on_release = kind == LEASE_BIND || restore_on_release_for(m, &op->verdict);
        l->groups = calloc(op->n_request_devices, sizeof(int));
        if (!l->groups) {
                r = -ENOMEM;
                goto fail_errno;
        }
        for (size_t i = 0; i < op->n_request_devices; i++) {
                const PciDevice *d = topology_find_device(&m->topology, op->request_devices[i]);
                r = strv_push_n(&l->devices, &l->n_devices, d->address);
                if (r < 0)
                        goto fail_errno;
                if (!lease_has_group(l, d->iommu_group))
                        l->groups[l->n_groups++] = d->iommu_group;
        }

        for (size_t gi = 0; gi < l->n_groups; gi++) {
                const IommuGroup *g = topology_find_group(&m->topology, l->groups[gi]);
                for (size_t k = 0; g && k < g->n_members; k++) {
                        const PciDevice *d = topology_find_device(&m->topology, g->members[k]);
                        BindDevice b = {};

                        if (!d || pci_device_is_bridge(d))
                                continue;
                        strcpy(b.address, d->address);
                        r = binder_read_state(d->address, b.original_driver, b.original_override);
                        if (r < 0) {
                                fail(op, ERROR_BIND_FAILED, d->address, "cannot read the driver of %s: %s", d->address, strerror(-r));
                                return 0;
                        }
                        if (strcmp(b.original_driver, "vfio-pci") == 0)
                                continue;
                        if (l->n_moved >= cap) {
                                cap = cap * 2 + 8;
                                BindDevice *nm = reallocarray(l->moved, cap, sizeof(BindDevice));
                                int *ng = reallocarray(moved_groups, cap, sizeof(int));
                                if (nm)
                                        l->moved = nm;
                                if (ng)
                                        moved_groups = ng;
                                if (!nm || !ng) {
                                        r = -ENOMEM;
                                        goto fail_errno;
                                }
                        }
                        moved_groups[l->n_moved] = g->id;
                        l->moved[l->n_moved++] = b;
                }
        }

        r = lease_add(m, l);
        if (r < 0)
                goto fail_errno;
        op->lease = TAKE_PTR(l);
        op->lease->busy = true;
        if (kind == LEASE_ACQUIRE && pidfd_owned >= 0) {
                r = watch_holder(m, op->lease, TAKE_FD(pidfd_owned));
                if (r < 0)
                        log_warning_errno(r, "Failed to watch the holder of lease %s: %m", op->lease->id);
        }

        /* Journal first: a crash from here on is undone at the next start. */
        r = broker_save_state(m);
        if (r < 0) {
                Lease *x = op->lease;
                op->lease = NULL;
                lease_remove(m, x);
                goto fail_errno;
        }

        if (op->lease->n_moved == 0) {
                op->lease->phase = LEASE_PHASE_ACTIVE;
                (void) broker_save_state(m);
                bound(op);
                return 0;
        }

        r = worker_start(m->event, WORKER_BIND, op->lease->moved, moved_groups, op->lease->n_moved,
                         BINDER_TIMEOUT_USEC, on_bind_worker, op, &op->worker);
        if (r < 0) {
                Lease *x = op->lease;
                op->lease = NULL;
                lease_remove(m, x);
                (void) broker_save_state(m);
                goto fail_errno;
        }
        return 0;

fail_errno:
        fail(op, ERROR_SYSTEM, NULL, "%s", strerror(-r));
        return 0;
}

/* ---- start: reconcile with the journal ---- */

int broker_start(Manager *m) {
        _cleanup_(sd_json_variant_unrefp) sd_json_variant *v = NULL;
        _cleanup_free_ char *text = NULL;
        sd_json_variant *leases;
        int r;

        r = read_full_file_bounded(VFIOD_STATE_FILE, STATE_MAX, &text, NULL);
        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return log_error_errno(r, "Failed to read " VFIOD_STATE_FILE ": %m");

        r = sd_json_parse(text, 0, &v, NULL, NULL);
        leases = r >= 0 ? sd_json_variant_by_key(v, "leases") : NULL;
        if (r < 0 || !sd_json_variant_is_array(leases) || sd_json_variant_elements(leases) > LEASES_MAX)
                /* Refuse to guess: starting without the journal could strand devices silently. */
                return log_error_errno(r < 0 ? r : -EBADMSG, VFIOD_STATE_FILE " is damaged; refusing to start. "
                                       "Inspect it, give the devices back by hand, then remove it.");

        for (size_t i = 0; i < sd_json_variant_elements(leases); i++) {
                Lease *l;

                r = lease_from_json(sd_json_variant_by_index(leases, i), &l);
                if (r < 0)
                        return log_error_errno(r, VFIOD_STATE_FILE ": lease %zu is damaged; refusing to start.", i);
                r = lease_add(m, l);
                if (r < 0) {
                        lease_free(l);
                        return r;
                }
        }

        /* Leases are ended back to front: ending one removes it from the table. */
        for (size_t i = m->n_leases; i > 0; i--) {
                Lease *l = m->leases[i - 1];

                if (l->phase == LEASE_PHASE_ACTIVE && l->kind == LEASE_BIND) {
                        log_info("Lease %s (bind) re-adopted.", l->id);
                        continue;
                }
                if (l->phase == LEASE_PHASE_ACTIVE && holder_alive(l)) {
                        int pidfd = (int) syscall(SYS_pidfd_open, l->pid, 0);
                        if (pidfd >= 0 && watch_holder(m, l, pidfd) >= 0) {
                                log_info("Lease %s re-adopted: holder %d is alive.", l->id, (int) l->pid);
                                continue;
                        }
                }
                log_info("Lease %s was %s when vfiod stopped; giving its devices back.", l->id, lease_phase_to_string(l->phase));
                r = broker_end_lease(m, l, NULL, NULL);
                if (r < 0)
                        return log_error_errno(r, "Failed to give back the devices of lease %s: %m", l->id);
        }
        return 0;
}

void broker_done(Manager *m) {
        for (size_t i = 0; i < m->n_leases; i++)
                lease_free(m->leases[i]);
        free(m->leases);
        m->leases = NULL;
        m->n_leases = 0;
}
