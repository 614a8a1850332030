/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "boot-bind.h"
#include "caller.h"
#include "log.h"
#include "macro.h"
#include "pci-device.h"
#include "worker.h"
#include "strv.h"

/* Binds are queued, at most BOOT_BIND_PARALLEL in flight: each forks a worker, and the unit's
 * TasksMax= would refuse the forks of a host with many groups if they all started at once. */
#define BOOT_BIND_PARALLEL 4
/* Devices that appear are bound a moment later, together: the functions of a card and a PF's VFs
 * arrive in a burst, and binding the first function alone would be refused as a partial group. */
#define HOTPLUG_SETTLE_USEC (500ULL * 1000)
/* Bounds a uevent storm; beyond it the rest wait for the next settle. */
#define HOTPLUG_PENDING_MAX 65536
#define HOLD_RELEASE_TIMEOUT_USEC (10ULL * 1000 * 1000)

struct BootBinder {
        Broker *broker;
        CallerInfo root;

        char ***jobs;                 /* FIFO of device lists (one IOMMU group each), NULL-terminated */
        size_t n_jobs, first_job;
        unsigned in_flight;

        bool boot_pending;            /* the boot's binds are queued or running */
        BootBindDone done;
        void *userdata;

        char **hotplug;               /* addresses that appeared, bound when they settle */
        size_t n_hotplug;
        sd_event_source *settle;
};


BootBinder *boot_binder_free(BootBinder *bb) {
        if (!bb)
                return NULL;
        for (size_t i = bb->first_job; i < bb->n_jobs; i++)
                strv_free(bb->jobs[i]);
        free(bb->jobs);
        for (size_t i = 0; i < bb->n_hotplug; i++)
                free(bb->hotplug[i]);
        free(bb->hotplug);
        sd_event_source_disable_unref(bb->settle);
        caller_info_done(&bb->root);
        free(bb);
        return NULL;
}

static int binder_get(Broker *b, BootBinder **ret) {
        _cleanup_(boot_binder_freep) BootBinder *bb = NULL;
        int r;

        if (b->boot_binder) {
                *ret = b->boot_binder;
                return 0;
        }
        bb = calloc(1, sizeof(BootBinder));
        if (!bb)
                return -ENOMEM;
        bb->broker = b;
        r = caller_from_uid(0, &bb->root);
        if (r < 0)
                return log_error_errno(r, "Cannot make root's caller for the boot bindings: %m");
        *ret = b->boot_binder = TAKE_PTR(bb);
        return 0;
}

static bool wanted(const Broker *b, const PciDevice *d) {
        return policy_binds_at_boot(&b->policy, d);
}

static void kick(BootBinder *bb);

static bool held(const PciDevice *d) {
        return !d->driver && d->driver_override && strcmp(d->driver_override, BINDER_HOLD_OVERRIDE) == 0;
}

static void on_released(Worker *w, int r, const char *message, void *userdata) {
        char *address = userdata;

        if (r < 0)
                log_warning_errno(r, "Could not give %s back to the host after its hold: %s", address, strna(message));
        else
                log_info("%s is no longer held; the host's drivers may take it.", address);
        worker_free(w);
        free(address);
}

/* The udev rule held d from its host driver for a bindAtBoot binding that is not going to happen
 * (refused, or its rule no longer says so): clear the hold and let the bus pick its driver, in a
 * worker, since a driver's probe may block. */
static void release_hold(Broker *b, const PciDevice *d) {
        BindDevice bd = { .vendor = d->vendor, .device = d->device, .group = d->iommu_group, .reprobe = true };
        char tag[WORKER_TAG_MAX];
        char *address;
        Worker *w;
        int r;

        if (!held(d))
                return;
        strcpy(bd.address, d->address);
        snprintf(tag, sizeof(tag), "hold:%s", bd.address);
        if (worker_set_has_tag(&b->workers, tag))
                return;
        address = strdup(d->address);
        if (!address)
                return (void) log_warning("Out of memory releasing the hold of %s.", d->address);
        r = worker_start(&b->workers, tag, WORKER_RESTORE, &bd, &bd.group, 1, HOLD_RELEASE_TIMEOUT_USEC,
                         on_released, NULL, address, &w);
        if (r < 0) {
                log_warning_errno(r, "Cannot give %s back to the host after its hold: %m", d->address);
                free(address);
        }
}

static void maybe_boot_done(BootBinder *bb) {
        if (!bb->boot_pending || bb->in_flight > 0 || bb->first_job < bb->n_jobs)
                return;
        bb->boot_pending = false;
        bb->done(bb->broker, bb->userdata);
}

static void on_bound(Broker *b, Operation *op, void *userdata) {
        BootBinder *bb = userdata;
        const char *first = op->n_request_devices > 0 ? op->request_devices[0] : "?";

        if (!op->error_id)
                log_info("Bound by bindAtBoot: %s%s, lease %s.", first,
                         op->n_request_devices > 1 ? " and the rest of its group" : "",
                         op->lease ? op->lease->id : "?");
        else
                /* A Denied is journalled with its reasons by broker_request() itself. */
        {
                log_warning("Not bound by bindAtBoot: %s%s: %s%s%s", first,
                            op->n_request_devices > 1 ? " and the rest of its group" : "",
                            op->error_id, op->message ? ": " : "", strempty(op->message));
                for (size_t i = 0; i < op->n_request_devices; i++) {
                        const PciDevice *d = topology_find_device(&b->topology, op->request_devices[i]);
                        if (d)
                                release_hold(b, d);
                }
        }
        operation_free(op);
        bb->in_flight--;
        kick(bb);
        maybe_boot_done(bb);
}

static void kick(BootBinder *bb) {
        while (bb->in_flight < BOOT_BIND_PARALLEL && bb->first_job < bb->n_jobs) {
                char **devices = bb->jobs[bb->first_job];
                int r;

                bb->jobs[bb->first_job++] = NULL;
                bb->in_flight++;
                r = broker_request(bb->broker, &bb->root,
                                   &(BrokerRequest) { .kind = LEASE_BIND, .devices = (const char *const *) devices },
                                   on_bound, bb);
                if (r < 0) {
                        bb->in_flight--;
                        log_warning_errno(r, "Cannot start the bindAtBoot binding of %s: %m", devices[0]);
                }
                /* broker_request() copied the list. */
                strv_free(devices);
        }
        if (bb->first_job == bb->n_jobs) {
                bb->first_job = bb->n_jobs = 0;
                free(bb->jobs);
                bb->jobs = NULL;
        }
}

static bool group_queued(const BootBinder *bb, const Broker *b, int group) {
        for (size_t i = bb->first_job; i < bb->n_jobs; i++) {
                const PciDevice *d = topology_find_device(&b->topology, bb->jobs[i][0]);
                if (d && d->iommu_group == group)
                        return true;
        }
        return false;
}

/* One Bind per IOMMU group, of the group's wanted devices: a group the rules cover only in part
 * is refused (partial-group) as a Bind of it would be, and does not hold up the others. */
static int queue_group(BootBinder *bb, size_t i) {
        Broker *b = bb->broker;
        const PciDevice *d = &b->topology.devices[i];
        char **devices, ***jobs;
        size_t n = 0;

        if (d->iommu_group >= 0 && group_queued(bb, b, d->iommu_group))
                return 0;
        jobs = reallocarray(bb->jobs, bb->n_jobs + 1, sizeof(char **));
        if (!jobs)
                return -ENOMEM;
        bb->jobs = jobs;
        devices = calloc(REQUEST_DEVICES_MAX + 1, sizeof(char *));
        if (!devices)
                return -ENOMEM;
        for (size_t j = 0; j < b->topology.n_devices && n < REQUEST_DEVICES_MAX; j++) {
                const PciDevice *e = &b->topology.devices[j];
                if (j == i || (d->iommu_group >= 0 && e->iommu_group == d->iommu_group && wanted(b, e))) {
                        devices[n] = strdup(e->address);
                        if (!devices[n]) {
                                strv_free(devices);
                                return -ENOMEM;
                        }
                        n++;
                }
        }
        bb->jobs[bb->n_jobs++] = devices;
        return 0;
}

int broker_bind_at_boot(Broker *b, const char *marker, BootBindDone done, void *userdata) {
        _cleanup_close_ int fd = -EBADF;
        BootBinder *bb = NULL;
        int r;

        /* Once per boot: /run is empty after a reboot, and after a restart of vfiod the state
         * journal holds the leases made then. */
        fd = open(marker, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0) {
                if (errno == ENOENT)    /* not started by its unit: no runtime directory */
                        log_debug_errno(errno, "No %s, so no boot bindings: %m", marker);
                else if (errno != EEXIST)
                        log_warning_errno(errno, "Cannot create %s, so no boot bindings: %m", marker);
        }

        r = binder_get(b, &bb);
        if (r < 0)
                return r;
        bb->done = done;
        bb->userdata = userdata;
        bb->boot_pending = true;

        for (size_t i = 0; i < b->topology.n_devices; i++) {
                const PciDevice *d = &b->topology.devices[i];

                /* Devices the udev rule held are decided at every start (they may have appeared
                 * while vfiod was stopped); the rest once per boot. */
                if (!(fd >= 0 || (held(d) && !broker_lease_holding(b, d->address, -1))))
                        continue;
                if (!wanted(b, d)) {
                        release_hold(b, d);
                        continue;
                }
                r = queue_group(bb, i);
                if (r < 0) {
                        log_warning_errno(r, "Cannot queue the boot binding of %s: %m", d->address);
                        break;
                }
        }
        kick(bb);
        maybe_boot_done(bb);
        return 0;
}

static int on_settled(sd_event_source *s, uint64_t usec, void *userdata) {
        BootBinder *bb = userdata;
        Broker *b = bb->broker;
        char **hotplug = TAKE_PTR(bb->hotplug);
        size_t n = bb->n_hotplug;
        int r;

        (void) s, (void) usec;
        bb->n_hotplug = 0;
        for (size_t k = 0; k < n; k++) {
                const PciDevice *d = topology_find_device(&b->topology, hotplug[k]);

                /* Gone again, no longer wanted (a reload), or already someone's. */
                if (!d || broker_lease_holding(b, d->address, -1))
                        continue;
                if (!wanted(b, d)) {
                        release_hold(b, d);
                        continue;
                }
                r = queue_group(bb, (size_t) (d - b->topology.devices));
                if (r < 0)
                        log_warning_errno(r, "Cannot queue the binding of %s, which appeared: %m", d->address);
                else
                        log_info("%s appeared and its rule says bindAtBoot: binding its group.", d->address);
        }
        for (size_t k = 0; k < n; k++)
                free(hotplug[k]);
        free(hotplug);
        kick(bb);
        return 0;
}

int broker_bind_when_settled(Broker *b, const char *address) {
        const PciDevice *d = topology_find_device(&b->topology, address);
        BootBinder *bb = NULL;
        char **l;
        int r;

        if (!d || (!wanted(b, d) && !held(d)))
                return 0;
        r = binder_get(b, &bb);
        if (r < 0)
                return r;
        if (bb->n_hotplug >= HOTPLUG_PENDING_MAX)
                return log_warning_errno(-ENOBUFS, "%s appeared, but %d devices already wait to be bound; not binding it.",
                                         address, HOTPLUG_PENDING_MAX);
        l = reallocarray(bb->hotplug, bb->n_hotplug + 1, sizeof(char *));
        if (!l)
                return -ENOMEM;
        bb->hotplug = l;
        l[bb->n_hotplug] = strdup(address);
        if (!l[bb->n_hotplug])
                return -ENOMEM;
        bb->n_hotplug++;

        /* The first arrival of a burst sets the time; later ones join it. */
        if (!bb->settle)
                return sd_event_add_time_relative(b->event, &bb->settle, CLOCK_MONOTONIC, HOTPLUG_SETTLE_USEC, 0,
                                                  on_settled, bb);
        r = sd_event_source_get_enabled(bb->settle, NULL);
        if (r < 0)
                return r;
        if (r == 0) {
                r = sd_event_source_set_time_relative(bb->settle, HOTPLUG_SETTLE_USEC);
                if (r < 0)
                        return r;
                return sd_event_source_set_enabled(bb->settle, SD_EVENT_ONESHOT);
        }
        return 0;
}
