/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdarg.h>
#include <poll.h>
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


/* Per-device bound for the binder (unbind, probe, /dev/vfio/N); the worker's limit is per step. */
#define BINDER_TIMEOUT_USEC (10ULL * 1000 * 1000)
/* Ending a lease again (its fds still open, or a restore failed): backoff from the first to the last. */
#define RETRY_FIRST_USEC (1ULL * 1000 * 1000)
#define RETRY_MAX_USEC (30ULL * 1000 * 1000)
/* A restore that keeps failing (the driver is gone, the device too) is not retried for ever on the
 * timer; a Release or the next start tries again. Waiting for fds to close has no such limit. */
#define RESTORE_TRIES_MAX 10
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
        op->done(op->broker, op, op->userdata);
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

Lease *broker_find_lease(Broker *b, const char *id) {
        for (size_t i = 0; i < b->n_leases; i++)
                if (strcmp(b->leases[i]->id, id) == 0)
                        return b->leases[i];
        return NULL;
}

const Lease *broker_lease_holding(Broker *b, const char *address, int group) {
        for (size_t i = 0; i < b->n_leases; i++)
                if ((address && lease_has_device(b->leases[i], address)) || (group >= 0 && lease_has_group(b->leases[i], group)))
                        return b->leases[i];
        return NULL;
}

static int lease_add(Broker *b, Lease *l) {
        Lease **n;

        if (b->n_leases >= LEASES_MAX)
                return -E2BIG;
        n = reallocarray(b->leases, b->n_leases + 1, sizeof(Lease *));
        if (!n)
                return -ENOMEM;
        b->leases = n;
        b->leases[b->n_leases++] = l;
        l->broker = b;
        return 0;
}

static void lease_remove(Broker *b, Lease *l) {
        for (size_t i = 0; i < b->n_leases; i++)
                if (b->leases[i] == l) {
                        memmove(b->leases + i, b->leases + i + 1, (b->n_leases - i - 1) * sizeof(Lease *));
                        b->n_leases--;
                        break;
                }
        lease_free(l);
}

/* Written before every kernel change and after it: temp file, fsync, rename, fsync of the directory. */
int broker_save_state(Broker *b) {
        _cleanup_(sd_json_variant_unrefp) sd_json_variant *leases = NULL, *v = NULL;
        _cleanup_free_ char *text = NULL;
        _cleanup_close_ int fd = -EBADF, dfd = -EBADF;
        const char *tmp = VFIOD_STATE_FILE ".tmp";
        size_t len;
        int r;

        r = sd_json_variant_new_array(&leases, NULL, 0);
        if (r < 0)
                return r;
        for (size_t i = 0; i < b->n_leases; i++) {
                _cleanup_(sd_json_variant_unrefp) sd_json_variant *l = NULL;

                r = lease_to_json(b->leases[i], &l);
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

int broker_mark_holders(Broker *b) {
        Topology *t = &b->topology;
        int r;

        for (size_t i = 0; i < t->n_devices; i++) {
                free(t->devices[i].held_by);
                t->devices[i].held_by = NULL;
                free(t->devices[i].held_by_domain);
                t->devices[i].held_by_domain = NULL;
                strv_free(t->devices[i].domain_failed);
                t->devices[i].domain_failed = NULL;
        }
        r = broker_mark_domains(b);
        if (r < 0)
                return r;
        for (size_t i = 0; i < b->n_leases; i++) {
                const Lease *l = b->leases[i];

                for (size_t gi = 0; gi < l->n_groups; gi++) {
                        const IommuGroup *g = topology_find_group(t, l->groups[gi]);

                        for (size_t k = 0; g && k < g->n_members; k++) {
                                PciDevice *d = (PciDevice *) topology_find_device(t, g->members[k]);
                                if (!d || d->held_by)
                                        continue;
                                if (asprintf(&d->held_by, "lease %s of uid %u", l->id, (unsigned) l->uid) < 0)
                                        return -ENOMEM;
                                d->held_by_uid = l->uid;
                        }
                }
        }
        return 0;
}

/* ---- ending leases ---- */

typedef struct EndCtx {
        Broker *broker;
        Lease *lease;
        OperationDone done;
        void *userdata;
        Worker *worker;
} EndCtx;

static void schedule_retry(Broker *b, Lease *l);

/* Tell whoever asked for the end how it went. lease: set when it cannot end yet (orphaned). */
static void end_report(Broker *b, OperationDone done, void *userdata, int r, const char *message, const Lease *busy) {
        Operation *op;

        if (!done)
                return;
        op = calloc(1, sizeof(Operation));
        if (!op)
                return;
        op->broker = b;
        if (busy) {
                op->error_id = BROKER_ERROR_BUSY;
                op->error_device = strdup(busy->devices[0]);
                strcpy(op->busy_lease_id, busy->id);
                op->busy_uid = busy->uid;
                op->busy_pid = busy->pid;
                if (asprintf(&op->message, "lease %s cannot end yet: the VFIO fds of its devices are still open "
                             "elsewhere (in a process its holder started or passed them to); it ends, and the "
                             "devices are given back, as soon as they are closed", busy->id) < 0)
                        op->message = NULL;
        } else if (r < 0) {
                op->error_id = r == -ETIMEDOUT ? BROKER_ERROR_TIMEOUT : BROKER_ERROR_BIND_FAILED;
                op->message = strdup(message ?: strerror(-r));
        }
        done(b, op, userdata);
        operation_free(op);
}

static void end_finish(EndCtx *c, int r, const char *message) {
        Broker *b = c->broker;

        for (size_t i = 0; i < c->lease->n_moved; i++)
                if (r >= 0)
                        journal_device(VFIOD_MESSAGE_RESTORED, c->lease->moved[i].address, -1,
                                       c->lease->moved[i].original_driver[0] ? c->lease->moved[i].original_driver : NULL,
                                       c->lease->moved[i].original_driver[0] ? "given back to its driver" : "left without a driver, as it was");
        if (r < 0) {
                /* Keep the lease in "restoring" and try again later (the next start would too).
                 * Nothing is forgotten. A worker given up on still counts until it is reaped. */
                log_error("Failed to give back the devices of lease %s: %s", c->lease->id, strna(message));
                journal_lease(VFIOD_MESSAGE_BIND_FAILED, c->lease, message ?: "restore failed; will retry");
                c->lease->busy = false;
                if (++c->lease->restore_failures < RESTORE_TRIES_MAX)
                        schedule_retry(b, c->lease);
                else
                        log_error("Lease %s: %u restores failed in a row; no more tries until a Release or the next start.",
                                  c->lease->id, c->lease->restore_failures);
        } else {
                journal_lease(VFIOD_MESSAGE_LEASE_END, c->lease, "ended");
                broker_emit(b, "released", c->lease->devices[0], NULL, c->lease->n_groups > 0 ? c->lease->groups[0] : -1);
                lease_remove(b, c->lease);
                (void) broker_save_state(b);
        }

        end_report(b, c->done, c->userdata, r, message, NULL);
        worker_free(c->worker);
        free(c);
}

static void on_end_worker(Worker *w, int r, const char *message, void *userdata) {
        end_finish(userdata, r, message);
}

static void on_end_progress(Worker *w, size_t done, size_t total, void *userdata) {
        EndCtx *c = userdata;

        log_info("Lease %s: %zu of %zu device(s) given back.", c->lease->id, done, total);
}

/* Is a group of the lease open elsewhere? VFIO lets a group be opened once, and a device fd holds
 * its group's file, so open() fails with EBUSY while any fd a caller got is alive. Unbinding then
 * would block in the kernel until the fd closes (vfio_unregister_group_dev()), unkillably. */
static bool lease_groups_open(const Lease *l) {
        for (size_t i = 0; i < l->n_groups; i++) {
                char path[64];
                int fd;

                (void) snprintf(path, sizeof(path), "/dev/vfio/%d", l->groups[i]);
                fd = open(path, O_RDWR | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
                if (fd >= 0) {
                        close(fd);
                        continue;
                }
                if (errno == EBUSY)
                        return true;
                /* ENOENT: not on vfio-pci (any more), so nothing holds it through VFIO. */
                if (errno != ENOENT)
                        log_debug_errno(errno, "Cannot tell whether %s is open elsewhere: %m", path);
        }
        return false;
}

static int on_retry(sd_event_source *s, uint64_t usec, void *userdata);

static void schedule_retry(Broker *b, Lease *l) {
        int r;

        if (l->retry_source)
                return;
        l->retry_usec = l->retry_usec == 0 ? RETRY_FIRST_USEC :
                        l->retry_usec * 2 > RETRY_MAX_USEC ? RETRY_MAX_USEC : l->retry_usec * 2;
        r = sd_event_add_time_relative(b->event, &l->retry_source, CLOCK_MONOTONIC, l->retry_usec, 0, on_retry, l);
        if (r < 0)
                log_error_errno(r, "Failed to schedule ending lease %s again; the next start does: %m", l->id);
}

/* End the lease, or try again later: a holder's exit, a failed bind or restore must never be lost. */
static void end_lease_or_retry(Broker *b, Lease *l) {
        int r = broker_end_lease(b, l, NULL, NULL);

        if (r < 0) {
                log_warning_errno(r, "Cannot end lease %s now, will try again: %m", l->id);
                schedule_retry(b, l);
        }
}

static int on_retry(sd_event_source *s, uint64_t usec, void *userdata) {
        Lease *l = userdata;

        l->retry_source = sd_event_source_disable_unref(l->retry_source);
        end_lease_or_retry(l->broker, l);
        return 0;
}

/* Addresses and group ids are reused after a hot-unplug: a device that is not the one this
 * lease moved is not "given back" (that would unbind someone else's device); journal and skip. */
static void drop_replaced_devices(Broker *b, Lease *l) {
        size_t k = 0;

        for (size_t i = 0; i < l->n_moved; i++) {
                const BindDevice *bd = &l->moved[i];
                const PciDevice *d = bd->vendor != 0 ? topology_find_device(&b->topology, bd->address) : NULL;

                if (d && (d->vendor != bd->vendor || d->device != bd->device || d->iommu_group != bd->group)) {
                        _cleanup_free_ char *what = NULL;

                        log_warning("Lease %s: %s is now %04x:%04x in group %d, not the %04x:%04x in group %d it moved; not restoring it.",
                                    l->id, bd->address, d->vendor, d->device, d->iommu_group, bd->vendor, bd->device, bd->group);
                        if (asprintf(&what, "replaced since it was moved (%04x:%04x in group %d, was %04x:%04x in group %d); not restored",
                                     d->vendor, d->device, d->iommu_group, bd->vendor, bd->device, bd->group) >= 0)
                                journal_device(VFIOD_MESSAGE_BIND_FAILED, bd->address, d->iommu_group, d->driver, what);
                        continue;
                }
                l->moved[k++] = *bd;
        }
        l->n_moved = k;
}

int broker_end_lease(Broker *b, Lease *l, OperationDone done, void *userdata) {
        EndCtx *c;
        int r;

        if (l->busy)
                return -EBUSY;
        /* Never two workers on one lease: one given up on may still be in the kernel. */
        if (worker_set_has_tag(&b->workers, l->id))
                return -EBUSY;

        l->pidfd_source = sd_event_source_disable_unref(l->pidfd_source);
        l->retry_source = sd_event_source_disable_unref(l->retry_source);
        if (lease_groups_open(l)) {
                /* Orphaned: whoever asked for the end is gone or let go, but the fds live on (a
                 * backgrounded child, fds passed on). The lease keeps naming the devices; it ends
                 * when the fds close. A restoreOnRelease: false lease waits too, or the device
                 * would be held by a process no lease names. */
                if (!l->orphaned)
                        log_info("Lease %s: its VFIO fds are still open elsewhere; it ends when they are closed.", l->id);
                l->orphaned = true;
                schedule_retry(b, l);
                end_report(b, done, userdata, 0, NULL, l);
                return 0;
        }
        if (l->orphaned)
                log_info("Lease %s: its VFIO fds are closed; ending it.", l->id);
        l->orphaned = false;

        drop_replaced_devices(b, l);
        c = calloc(1, sizeof(EndCtx));
        if (!c)
                return -ENOMEM;
        *c = (EndCtx) { .broker = b, .lease = l, .done = done, .userdata = userdata };

        l->busy = true;
        l->phase = LEASE_PHASE_RESTORING;
        r = broker_save_state(b);
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
        r = worker_start(&b->workers, l->id, WORKER_RESTORE, l->moved, groups, l->n_moved, BINDER_TIMEOUT_USEC,
                         on_end_worker, on_end_progress, c, &c->worker);
        free(groups);
        if (r < 0) {
                l->busy = false;
                free(c);
                return r;
        }
        return 0;
}

/* A pidfd polls readable once its process has exited, zombie or not. */
static bool pidfd_exited(int pidfd) {
        struct pollfd p = { .fd = pidfd, .events = POLLIN };

        return pidfd < 0 || poll(&p, 1, 0) != 0;
}

static bool holder_gone(const Lease *l) {
        return l->holder_gone || pidfd_exited(l->pidfd);
}

static int on_holder_exit(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Lease *l = userdata;

        /* Recorded, and the source switched off (the pidfd stays readable); while an operation is
         * busy, it looks at the flag and the pidfd when it finishes. */
        l->holder_gone = true;
        (void) sd_event_source_set_enabled(s, SD_EVENT_OFF);
        if (l->busy)
                return 0;
        log_info("Holder %d of lease %s is gone; ending the lease.", (int) l->pid, l->id);
        end_lease_or_retry(l->broker, l);
        return 0;
}

static int watch_holder(Broker *b, Lease *l, int pidfd) {
        l->pidfd = pidfd;
        /* A pidfd polls readable when the process exits. */
        return sd_event_add_io(b->event, &l->pidfd_source, pidfd, EPOLLIN, on_holder_exit, l);
}

typedef struct EndLater {
        Broker *broker;
        char id[LEASE_ID_STRLEN + 1];
} EndLater;

static int on_end_later(sd_event_source *s, void *userdata) {
        EndLater *e = userdata;
        Lease *l = broker_find_lease(e->broker, e->id);

        if (l && !l->busy && broker_end_lease(e->broker, l, NULL, NULL) < 0)
                log_error("Failed to end lease %s; its holder's exit or a restart ends it.", e->id);
        sd_event_source_unref(s);
        return 0;
}

/* The broker still uses the lease after done returns: end it from the event loop. */
void broker_end_lease_later(Broker *b, const char *id) {
        sd_event_source *s = NULL;
        EndLater *e;
        int r;

        e = calloc(1, sizeof(EndLater));
        if (!e) {
                log_error("Out of memory; lease %s ends with its holder or at the next start.", id);
                return;
        }
        *e = (EndLater) { .broker = b };
        strcpy(e->id, id);
        r = sd_event_add_defer(b->event, &s, on_end_later, e);
        if (r < 0) {
                free(e);
                log_error_errno(r, "Failed to schedule the end of lease %s (%m); it ends with its holder or at the next start.", id);
                return;
        }
        (void) sd_event_source_set_destroy_callback(s, free);
        (void) sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
        /* on_end_later() drops the source, and with it e */
}

/* ---- Release and Unbind: several lease ends, one answer ---- */

static void on_part_done(Broker *b, Operation *part, void *userdata) {
        Operation *op = userdata;

        if (part->error_id && !op->error_id) {
                op->error_id = part->error_id;
                op->message = strdup(strna(part->message));
                op->error_device = part->error_device ? strdup(part->error_device) : NULL;
                strcpy(op->busy_lease_id, part->busy_lease_id);
                op->busy_uid = part->busy_uid;
                op->busy_pid = part->busy_pid;
        }
        if (--op->pending == 0)
                complete(op);
}

static bool may_end(uid_t uid, const Lease *l) {
        return uid == 0 || uid == l->uid;
}

static int end_leases(Broker *b, Lease **leases, size_t n, OperationDone done, void *userdata) {
        Operation *op;
        int r;

        op = calloc(1, sizeof(Operation));
        if (!op)
                return -ENOMEM;
        *op = (Operation) { .broker = b, .done = done, .userdata = userdata, .pending = n + 1 };
        for (size_t k = 0; k < n; k++)
                for (size_t i = 0; i < leases[k]->n_devices; i++) {
                        r = strv_push_n(&op->request_devices, &op->n_request_devices, leases[k]->devices[i]);
                        if (r < 0) {
                                operation_free(op);
                                return r;
                        }
                }
        for (size_t k = 0; k < n; k++) {
                r = broker_end_lease(b, leases[k], on_part_done, op);
                if (r < 0) {
                        Operation part = { .error_id = BROKER_ERROR_BIND_FAILED, .message = (char *) "cannot start giving the devices back" };
                        on_part_done(b, &part, op);
                }
        }
        /* The extra count holds the answer until every end was started. */
        Operation none = {};
        on_part_done(b, &none, op);
        return 0;
}

/* An answer that needs no lease end: NoSuchLease, a Busy, a device not bound by the caller. */
static int end_refused(Broker *b, uid_t uid, const char *error_id, const char *device, const Lease *busy,
                       const char *lease_id, OperationDone done, void *userdata, const char *fmt, ...) _printf_(9, 10);
static int end_refused(Broker *b, uid_t uid, const char *error_id, const char *device, const Lease *busy,
                       const char *lease_id, OperationDone done, void *userdata, const char *fmt, ...) {
        Operation *op;
        va_list ap;

        op = calloc(1, sizeof(Operation));
        if (!op)
                return -ENOMEM;
        *op = (Operation) { .broker = b, .uid = uid, .error_id = error_id, .done = done, .userdata = userdata };
        if (device && !(op->error_device = strdup(device))) {
                operation_free(op);
                return -ENOMEM;
        }
        if (busy) {
                strcpy(op->busy_lease_id, busy->id);
                op->busy_uid = busy->uid;
                op->busy_pid = busy->pid;
        } else if (strcmp(error_id, BROKER_ERROR_NO_SUCH_LEASE) == 0)
                strcpy(op->busy_lease_id, lease_id);
        va_start(ap, fmt);
        if (vasprintf(&op->message, fmt, ap) < 0)
                op->message = NULL;
        va_end(ap);
        complete(op);
        return 0;
}

int broker_release(Broker *b, const CallerInfo *caller, const char *id, OperationDone done, void *userdata) {
        Lease *l = broker_find_lease(b, id);

        if (!l || !may_end(caller->uid, l))
                return end_refused(b, caller->uid, BROKER_ERROR_NO_SUCH_LEASE, NULL, NULL, id, done, userdata,
                                   "no lease %s of yours", id);
        if (l->busy)
                return end_refused(b, caller->uid, BROKER_ERROR_BUSY, l->devices[0], l, NULL, done, userdata,
                                   "lease %s is being set up or given back; try again when that is done", l->id);
        return end_leases(b, &l, 1, done, userdata);
}

int broker_unbind(Broker *b, const CallerInfo *caller, const char *const *devices, OperationDone done, void *userdata) {
        Lease *ends[LEASE_DEVICES_MAX];
        size_t n = 0;

        for (size_t i = 0; devices[i]; i++) {
                Lease *l = NULL;
                bool seen = false;

                for (size_t k = 0; k < b->n_leases && !l; k++)
                        if (b->leases[k]->kind == LEASE_BIND && lease_has_device(b->leases[k], devices[i]))
                                l = b->leases[k];
                if (!l || !may_end(caller->uid, l))
                        return end_refused(b, caller->uid, BROKER_ERROR_BIND_FAILED, devices[i], NULL, NULL, done, userdata,
                                           "not bound by a Bind of yours; nothing to give back");
                if (l->busy)
                        return end_refused(b, caller->uid, BROKER_ERROR_BUSY, devices[i], l, NULL, done, userdata,
                                           "lease %s is being set up or given back; try again when that is done", l->id);
                for (size_t k = 0; k < n; k++)
                        seen = seen || ends[k] == l;
                if (!seen) {
                        if (n >= ELEMENTSOF(ends))
                                return -E2BIG;
                        ends[n++] = l;
                }
        }
        return end_leases(b, ends, n, done, userdata);
}

/* ---- Bind and Acquire ---- */

static int open_containers(Operation *op, char **ret_error) {
        Broker *b = op->broker;
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
                const IommuGroup *g = topology_find_group(&b->topology, l->groups[i]);
                const PciDevice *d = g && g->n_members > 0 ? topology_find_device(&b->topology, g->members[0]) : NULL;
                const IommuUnit *u = d ? topology_find_unit(&b->topology, d->iommu_unit) : NULL;
                widths[i] = b->policy.mixed_apertures == MIXED_APERTURES_SPLIT && u ? u->address_width : 0;
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
                const PciDevice *d = topology_find_device(&b->topology, op->request_devices[i]);
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
        unsigned need = op->broker->policy.min_aperture_bits;

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
        Broker *b = op->broker;
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
        end_lease_or_retry(b, l);
        fail(op, error_id, NULL, "%s", message);
}

/* A check that only the kernel could answer, at Acquire time, failed: a Denied like any other. */
static void deny_measured(Operation *op, const char *code, const char *subject, const char *sentence) {
        Check *nc = reallocarray(op->verdict.checks, op->verdict.n_checks + 1, sizeof(Check));

        if (nc) {
                op->verdict.checks = nc;
                op->verdict.checks[op->verdict.n_checks++] = (Check) {
                        .code = code, .passed = false,
                        .subject = strdup(subject), .sentence = strdup(strna(sentence)),
                };
        }
        op->verdict.allowed = false;
        if (journal_denied(&op->broker->denials, "acquire", (const char *const *) op->request_devices,
                           &op->broker->topology, &op->verdict, op->uid, op->pid, NULL, sentence))
                broker_emit(op->broker, "denied", op->request_devices[0], NULL, -1);
        undo_and_fail(op, BROKER_ERROR_DENIED, strna(sentence));
}

static void bound(Operation *op) {
        _cleanup_free_ char *error = NULL;
        Lease *l = op->lease;
        int r;

        if (op->kind == LEASE_ACQUIRE) {
                r = open_containers(op, &error);
                /* type1's SET_IOMMU refuses a group whose MSIs are not isolated: the kernel's measured
                 * answer to our no-interrupt-remapping check, reported as that check. */
                if (r == -EPERM)
                        return deny_measured(op, "no-interrupt-remapping", "kernel", error);
                if (r < 0) {
                        journal_lease(VFIOD_MESSAGE_BIND_FAILED, l, error ?: strerror(-r));
                        return undo_and_fail(op, r == -EOPNOTSUPP ? BROKER_ERROR_NOT_SUPPORTED : BROKER_ERROR_BIND_FAILED,
                                             error ?: strerror(-r));
                }
                if (!measured_aperture_ok(op, &error))
                        return deny_measured(op, "aperture-too-small", "container", error);
        }

        Broker *b = op->broker;

        l->busy = false;
        journal_lease(VFIOD_MESSAGE_LEASE_START, l, "started");
        broker_emit(b, "leased", l->devices[0], NULL, l->groups[0]);
        complete(op);   /* frees op */

        /* The holder may have gone while we were binding: its pidfd says so, a zombie included. */
        if (l->kind == LEASE_ACQUIRE && holder_gone(l)) {
                log_info("Holder %d of lease %s exited while it was being set up; ending the lease.", (int) l->pid, l->id);
                end_lease_or_retry(b, l);
        }
}

static void on_bind_worker(Worker *w, int r, const char *message, void *userdata) {
        Operation *op = userdata;
        Lease *l = op->lease;

        if (r < 0) {
                journal_lease(VFIOD_MESSAGE_BIND_FAILED, l, message ?: strerror(-r));
                /* The binder rolled back; a timeout leaves the state unknown, so restore anyway. */
                op->lease = NULL;
                l->busy = false;
                end_lease_or_retry(op->broker, l);
                return fail(op, r == -ETIMEDOUT ? BROKER_ERROR_TIMEOUT : r == -EOPNOTSUPP ? BROKER_ERROR_NOT_SUPPORTED : BROKER_ERROR_BIND_FAILED,
                            NULL, "%s", message ?: strerror(-r));
        }

        l->phase = LEASE_PHASE_ACTIVE;
        if (broker_save_state(op->broker) < 0)
                log_warning("Failed to journal lease %s as active; it will be undone at the next start.", l->id);
        for (size_t i = 0; i < l->n_moved; i++)
                journal_device(VFIOD_MESSAGE_BOUND, l->moved[i].address, -1, "vfio-pci", "moved to vfio-pci");
        bound(op);
}

/* A requested VF whose PF is requested too: unbinding the PF destroys it (the policy let the PF
 * through only with all its VFs), so it is not moved by itself and gets no fd. */
static bool destroyed_with_pf(const Operation *op, const PciDevice *d) {
        for (size_t i = 0; d->physfn && i < op->n_request_devices; i++)
                if (strcmp(op->request_devices[i], d->physfn) == 0)
                        return true;
        return false;
}

/* The PF's sriov_numvfs now, for the lease; it must still be what the policy judged. */
static int read_numvfs(const Operation *op, const PciDevice *pf, unsigned *ret) {
        unsigned requested = 0;
        int r;

        r = binder_read_sriov_numvfs(pf->address, ret);
        if (r < 0)
                return r;
        for (size_t i = 0; *ret > 0 && i < op->n_request_devices; i++) {
                const PciDevice *d = topology_find_device(&op->broker->topology, op->request_devices[i]);
                if (d && d->physfn && strcmp(d->physfn, pf->address) == 0)
                        requested++;
        }
        return *ret > requested ? -ESTALE : 0;
}

static void on_bind_progress(Worker *w, size_t done, size_t total, void *userdata) {
        Operation *op = userdata;

        log_info("Lease %s: %zu of %zu IOMMU group(s) on vfio-pci.", op->lease->id, done, total);
}

static int restore_on_release_for(const Broker *b, const Verdict *v) {
        for (size_t i = 0; v->rule && i < b->policy.n_rules; i++)
                if (strcmp(b->policy.rules[i].name, v->rule) == 0)
                        return b->policy.rules[i].restore_on_release;
        return true;
}

/* The refusal for a caller in another user namespace: a Denied like any other, with its check. */
static void deny_userns(Operation *op, int userns) {
        const char *sentence = userns > 0
                ? "the caller runs in a user namespace other than the host's, whose ids its creator chose; "
                  "ask from the host's user namespace"
                : "cannot tell the caller's user namespace; ask again from a process that stays alive until the reply";
        Check *c = calloc(1, sizeof(Check));

        if (userns < 0)
                log_debug_errno(userns, "Failed to read the caller's user namespace: %m");
        if (c) {
                *c = (Check) { .code = "user-namespace", .passed = false,
                               .subject = strdup("caller"), .sentence = strdup(sentence) };
                op->verdict.checks = c;
                op->verdict.n_checks = 1;
        }
        fail(op, BROKER_ERROR_DENIED, NULL, "%s", sentence);
}

int broker_decide(Broker *b, const Request *req, const Caller *c, Verdict *ret) {
        int r;

        r = policy_evaluate(&b->policy, &b->topology, req, c, ret);
        if (r >= 0 && ret->allowed) {
                /* Allowed on the kept facts; this changes the host, so judge again on facts read
                 * now (only now: a denied caller must not make us re-read the host per call). */
                r = broker_refresh_facts_now(b);
                if (r >= 0) {
                        verdict_done(ret);
                        r = policy_evaluate(&b->policy, &b->topology, req, c, ret);
                }
        }
        return r;
}

int broker_request(Broker *b, const CallerInfo *caller, const BrokerRequest *req, OperationDone done, void *userdata) {
        _cleanup_close_ int pidfd_owned = -EBADF;
        _cleanup_(lease_freep) Lease *l = NULL;
        _cleanup_free_ int *moved_groups = NULL;
        LeaseKind kind = req->kind;
        const char *operation = kind == LEASE_ACQUIRE ? "acquire" : "bind";
        uid_t uid = caller->uid;
        pid_t pid = caller->pid;
        size_t n_iova = req->n_iova;
        size_t cap = 0;
        Operation *op;
        int r;

        /* The owner is a label others read (ListLeases, the journal): only root writes one. */
        if (req->owner && lease_owner_is_set(req->owner) && uid != 0)
                return -EPERM;

        op = calloc(1, sizeof(Operation));
        if (!op)
                return -ENOMEM;
        *op = (Operation) { .broker = b, .kind = kind, .uid = uid, .pid = pid, .done = done, .userdata = userdata };
        for (size_t i = 0; req->devices[i]; i++) {
                r = strv_push_n(&op->request_devices, &op->n_request_devices, req->devices[i]);
                if (r < 0) {
                        operation_free(op);
                        return r;
                }
        }
        if (n_iova > 0) {
                op->iova = calloc(n_iova, sizeof(IovaRange));
                if (!op->iova) {
                        operation_free(op);
                        return -ENOMEM;
                }
                memcpy(op->iova, req->iova, n_iova * sizeof(IovaRange));
        }
        op->request = (Request) {
                .devices = (const char *const *) op->request_devices,
                .min_aperture_bits = req->min_aperture_bits,
                .iova_ranges = op->iova,
                .n_iova_ranges = n_iova,
                .persistent = kind == LEASE_BIND,
        };

        /* A caller in a user namespace presents whichever of its subordinate ids it likes: no Bind
         * or Acquire from there (and when it cannot be told, none either). Queries stay open. */
        if (caller->userns != 0) {
                deny_userns(op, caller->userns);
                return 0;
        }
        /* An Acquire lease lives as long as the caller's process, known by the pidfd the kernel
         * gave the front-end. A pid number could be reused, so without a pidfd there is no lease. */
        if (kind == LEASE_ACQUIRE) {
                pidfd_owned = caller->pidfd >= 0 ? fcntl(caller->pidfd, F_DUPFD_CLOEXEC, 3) : -EBADF;
                if (pidfd_owned < 0) {
                        log_warning("Refusing Acquire from pid %d: no pidfd for the caller.", (int) pid);
                        fail(op, BROKER_ERROR_NOT_SUPPORTED, NULL,
                             "vfiod cannot pin the calling process: there is no pidfd for this caller (SO_PEERPIDFD "
                             "needs Linux 6.5 or later, the D-Bus daemon must pass ProcessFD, and the process that "
                             "connected must still be running). A lease lives as long as that process; call Acquire "
                             "from the process that holds the connection, on Linux 6.5 or later");
                        return 0;
                }
        }

        /* Decide on the groups as sysfs has them now, not as the last uevent left them. */
        r = broker_refresh_groups(b, op->request.devices);
        if (r < 0)
                goto fail_errno;
        r = broker_refresh_facts(b);
        if (r < 0)
                goto fail_errno;

        for (size_t i = 0; i < op->n_request_devices; i++)
                if (!topology_find_device(&b->topology, op->request_devices[i])) {
                        fail(op, BROKER_ERROR_NO_SUCH_DEVICE, op->request_devices[i], "no PCI device %s", op->request_devices[i]);
                        return 0;
                }

        /* Held by someone (or an operation in flight)? Exactly one of two racing callers gets here
         * first: the lease below is in the table before we return to the event loop. */
        for (size_t i = 0; i < op->n_request_devices; i++) {
                const PciDevice *d = topology_find_device(&b->topology, op->request_devices[i]);
                const Lease *h = broker_lease_holding(b, d->address, d->iommu_group);
                if (h) {
                        /* Which lease, whose and which process: only for the lease's own uid and root. */
                        if (uid == 0 || uid == h->uid) {
                                strcpy(op->busy_lease_id, h->id);
                                op->busy_uid = h->uid;
                                op->busy_pid = h->pid;
                        }
                        if (journal_denied(&b->denials, operation, op->request.devices, &b->topology, NULL, uid, pid,
                                           req->owner, "in-use"))
                                broker_emit(b, "denied", d->address, NULL, d->iommu_group);
                        if (op->busy_lease_id[0])
                                fail(op, BROKER_ERROR_BUSY, d->address, "%s is held by lease %s of uid %u", d->address, h->id, (unsigned) h->uid);
                        else
                                fail(op, BROKER_ERROR_BUSY, d->address, "%s is held by another user's lease", d->address);
                        return 0;
                }
        }

        /* What the host cannot do at all comes before the checks, whose answers (type1's switches,
         * for one) are only known once VFIO is loaded. */
        r = binder_vfio_pci_available();
        if (r < 0) {
                fail(op, BROKER_ERROR_NOT_SUPPORTED, NULL, "vfio-pci is not loaded; load it (modules-load.d/vfiod.conf does at boot)");
                return 0;
        }
        if (kind == LEASE_ACQUIRE && access("/dev/vfio/vfio", F_OK) < 0) {
                fail(op, BROKER_ERROR_NOT_SUPPORTED, NULL, "/dev/vfio/vfio is missing: the VFIO container interface is not available");
                return 0;
        }
        for (size_t i = 0; kind == LEASE_ACQUIRE && i < op->n_request_devices; i++) {
                const PciDevice *d = topology_find_device(&b->topology, op->request_devices[i]);
                if (destroyed_with_pf(op, d)) {
                        fail(op, BROKER_ERROR_NOT_SUPPORTED, d->address,
                             "%s is an SR-IOV VF of %s, which binding the PF destroys, so there is no fd to hand out; "
                             "use Bind for the PF with its VFs, or set sriov_numvfs of %s to 0 and acquire the PF alone",
                             d->address, d->physfn, d->physfn);
                        return 0;
                }
        }

        r = broker_decide(b, &op->request, &caller->caller, &op->verdict);
        if (r < 0)
                goto fail_errno;
        if (!op->verdict.allowed) {
                if (journal_denied(&b->denials, operation, op->request.devices, &b->topology, &op->verdict, uid, pid,
                                   req->owner, NULL))
                        broker_emit(b, "denied", op->request.devices[0], NULL, -1);
                fail(op, BROKER_ERROR_DENIED, NULL, "denied by vfiod's checks");
                return 0;
        }

        /* The lease: the requested devices, their groups, and every endpoint of those groups not
         * yet on vfio-pci, with the driver it is on now — read fresh from sysfs. */
        r = lease_new(kind, uid, kind == LEASE_ACQUIRE ? pid : 0, &l);
        if (r < 0)
                goto fail_errno;
        /* The start time only serves to re-adopt the lease after a restart (see adopt_holder()). It
         * is read while the pidfd pins the process: if the process has not exited after the read,
         * the pid was still its own. */
        if (kind == LEASE_ACQUIRE && (pid_get_starttime(pid, &l->pid_starttime) < 0 || pidfd_exited(pidfd_owned)))
                l->pid_starttime = 0;
        l->restore_on_release = kind == LEASE_BIND || restore_on_release_for(b, &op->verdict);
        if (req->owner)
                l->owner = *req->owner;
        l->groups = calloc(op->n_request_devices, sizeof(int));
        if (!l->groups) {
                r = -ENOMEM;
                goto fail_errno;
        }
        for (size_t i = 0; i < op->n_request_devices; i++) {
                const PciDevice *d = topology_find_device(&b->topology, op->request_devices[i]);
                r = strv_push_n(&l->devices, &l->n_devices, d->address);
                if (r < 0)
                        goto fail_errno;
                if (!destroyed_with_pf(op, d) && !lease_has_group(l, d->iommu_group))
                        l->groups[l->n_groups++] = d->iommu_group;
        }

        for (size_t gi = 0; gi < l->n_groups; gi++) {
                const IommuGroup *g = topology_find_group(&b->topology, l->groups[gi]);
                for (size_t k = 0; g && k < g->n_members; k++) {
                        const PciDevice *d = topology_find_device(&b->topology, g->members[k]);
                        BindDevice bd = {};

                        if (!d || pci_device_is_bridge(d) || destroyed_with_pf(op, d))
                                continue;
                        strcpy(bd.address, d->address);
                        bd.vendor = d->vendor;
                        bd.device = d->device;
                        bd.group = g->id;
                        r = binder_read_state(d->address, bd.original_driver, bd.original_override);
                        if (r < 0) {
                                fail(op, BROKER_ERROR_BIND_FAILED, d->address, "cannot read the driver of %s: %s", d->address, strerror(-r));
                                return 0;
                        }
                        if (strcmp(bd.original_driver, "vfio-pci") == 0)
                                continue;
                        /* Held for this bind (vfiod-hold): giving it back is as if it never was. */
                        if (strcmp(bd.original_override, BINDER_HOLD_OVERRIDE) == 0) {
                                bd.original_override[0] = '\0';
                                bd.reprobe = true;
                        }
                        /* Journalled before the bind, so a crash at any point still recreates the VFs. */
                        r = read_numvfs(op, d, &bd.sriov_numvfs);
                        if (r < 0) {
                                fail(op, BROKER_ERROR_BIND_FAILED, d->address, r == -ESTALE ?
                                     "%s has more SR-IOV VFs now than the request names; ask again" :
                                     "cannot read sriov_numvfs of %s", d->address);
                                return 0;
                        }
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
                        l->moved[l->n_moved++] = bd;
                }
        }

        r = lease_add(b, l);
        if (r < 0)
                goto fail_errno;
        op->lease = TAKE_PTR(l);
        op->lease->busy = true;
        if (kind == LEASE_ACQUIRE && pidfd_owned >= 0) {
                r = watch_holder(b, op->lease, TAKE_FD(pidfd_owned));
                if (r < 0)
                        log_warning_errno(r, "Failed to watch the holder of lease %s: %m", op->lease->id);
        }

        /* Journal first: a crash from here on is undone at the next start. */
        r = broker_save_state(b);
        if (r < 0) {
                Lease *x = op->lease;
                op->lease = NULL;
                lease_remove(b, x);
                goto fail_errno;
        }

        if (op->lease->n_moved == 0) {
                op->lease->phase = LEASE_PHASE_ACTIVE;
                (void) broker_save_state(b);
                bound(op);
                return 0;
        }

        r = worker_start(&b->workers, op->lease->id, WORKER_BIND, op->lease->moved, moved_groups, op->lease->n_moved,
                         BINDER_TIMEOUT_USEC, on_bind_worker, on_bind_progress, op, &op->worker);
        if (r < 0) {
                Lease *x = op->lease;
                op->lease = NULL;
                lease_remove(b, x);
                (void) broker_save_state(b);
                goto fail_errno;
        }
        return 0;

fail_errno:
        fail(op, BROKER_ERROR_SYSTEM, NULL, "%s", strerror(-r));
        return 0;
}

/* ---- start: reconcile with the journal ---- */

/* After a restart no connection is left to give a pidfd, so this is the one place a pid number is
 * used: open a pidfd for it first, then compare the start time recorded when the lease began
 * (read while the holder's own pidfd pinned it) with what /proc says now, then make sure the new
 * pidfd's process had not exited by then. A reused pid fails the comparison; a holder that died
 * in between, or is a zombie, is seen by the pidfd. */
static int adopt_holder(const Lease *l) {
        _cleanup_close_ int pidfd = -EBADF;
        uint64_t st;

        if (l->pid <= 0 || l->pid_starttime == 0)
                return -ESRCH;
        pidfd = (int) syscall(SYS_pidfd_open, l->pid, 0);
        if (pidfd < 0)
                return negative_errno();
        if (pid_get_starttime(l->pid, &st) < 0 || st != l->pid_starttime || pidfd_exited(pidfd))
                return -ESRCH;
        return TAKE_FD(pidfd);
}

int broker_load_state(Broker *b) {
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
                if (r == -ENODATA) {
                        log_error(VFIOD_STATE_FILE ": lease %zu names no device and moved none; dropping it.", i);
                        continue;
                }
                if (r < 0)
                        return log_error_errno(r, VFIOD_STATE_FILE ": lease %zu is damaged; refusing to start.", i);
                r = lease_add(b, l);
                if (r < 0) {
                        lease_free(l);
                        return r;
                }
        }

        /* Leases are ended back to front: ending one removes it from the table. */
        for (size_t i = b->n_leases; i > 0; i--) {
                Lease *l = b->leases[i - 1];

                if (l->phase == LEASE_PHASE_ACTIVE && l->kind == LEASE_BIND) {
                        log_info("Lease %s (bind) re-adopted.", l->id);
                        continue;
                }
                if (l->phase == LEASE_PHASE_ACTIVE && l->kind == LEASE_ACQUIRE) {
                        int pidfd = adopt_holder(l);
                        if (pidfd >= 0) {
                                if (watch_holder(b, l, pidfd) >= 0) {
                                        log_info("Lease %s re-adopted: holder %d is alive.", l->id, (int) l->pid);
                                        continue;
                                }
                                l->pidfd = -EBADF;
                                close(pidfd);
                        }
                }
                log_info("Lease %s was %s when vfiod stopped; giving its devices back.", l->id, lease_phase_to_string(l->phase));
                r = broker_end_lease(b, l, NULL, NULL);
                if (r < 0)
                        return log_error_errno(r, "Failed to give back the devices of lease %s: %m", l->id);
        }
        return 0;
}

void broker_leases_done(Broker *b) {
        for (size_t i = 0; i < b->n_leases; i++)
                lease_free(b->leases[i]);
        free(b->leases);
        b->leases = NULL;
        b->n_leases = 0;
}
