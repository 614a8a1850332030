/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The broker's view of the host, kept current: the topology from device events (which a
 * front-end's watcher passes in), the decision-time facts, the policy. */
#include <errno.h>
#include <libudev.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "boot-bind.h"
#include "broker.h"
#include "host-use.h"
#include "log.h"
#include "macro.h"
#include "switches.h"
#include "test-hooks.h"
#include "topology-scan.h"


static uint64_t now_usec(clockid_t c) {
        struct timespec ts;
        clock_gettime(c, &ts);
        return (uint64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int broker_new(sd_event *e, Broker **ret) {
        _cleanup_(broker_freep) Broker *b = NULL;

        b = calloc(1, sizeof(Broker));
        if (!b)
                return -ENOMEM;
        policy_init_defaults(&b->policy);
        facts_init(&b->facts);
        b->event = sd_event_ref(e);
        b->workers.event = e;
        b->udev = udev_new();
        if (!b->udev)
                return -ENOMEM;
        *ret = TAKE_PTR(b);
        return 0;
}

Broker *broker_free(Broker *b) {
        if (!b)
                return NULL;
        boot_binder_free(b->boot_binder);
        facts_done(&b->facts);
        denial_limit_done(&b->denials);
        broker_leases_done(b);
        worker_set_done(&b->workers);
        topology_done(&b->topology);
        policy_done(&b->policy);
        free(b->policy_last_error);
        broker_domains_done(b);
        udev_unref(b->udev);
        sd_event_unref(b->event);
        free(b);
        return NULL;
}

void broker_emit(Broker *b, const char *event, const char *device, const char *driver, int group) {
        if (b->on_event)
                b->on_event(event, device, driver, group, b->event_userdata);
}

int broker_start(Broker *b) {
        uint64_t t0, t1;
        int r;

        r = denial_limit_start(&b->denials, b->event);
        if (r < 0)
                return log_error_errno(r, "Failed to set up the denial rate limit: %m");
        r = facts_start(&b->facts, b->event);
        if (r < 0)
                return r;

        t0 = now_usec(CLOCK_MONOTONIC);
        r = topology_scan(b->udev, &b->topology);
        if (r < 0)
                return log_error_errno(r, "Failed to read the PCI topology: %m");
        t1 = now_usec(CLOCK_MONOTONIC);
        log_info("Found %zu PCI devices in %zu IOMMU groups, %zu IOMMU units, in %llu ms.",
                 b->topology.n_devices, b->topology.n_groups, b->topology.units.n_units,
                 (unsigned long long) (t1 - t0) / 1000);

        /* A bad policy at start leaves the strict built-in defaults in force: fail closed. */
        (void) broker_reload_policy(b, NULL);

        /* Finish, undo or re-adopt what the state journal says was going on before. */
        return broker_load_state(b);
}

int broker_rescan(Broker *b) {
        Topology t = {};
        int r;

        log_warning("Device events were lost (the udev monitor overflowed); reading the whole topology again.");
        r = topology_scan(b->udev, &t);
        if (r < 0)
                return log_error_errno(r, "Failed to read the PCI topology again: %m");
        /* The switches and host-use marks are facts of the old snapshot; read them again too. */
        topology_done(&b->topology);
        b->topology = t;
        facts_mark_dirty(&b->facts);
        r = broker_refresh_facts(b);
        broker_emit(b, "rescanned", NULL, NULL, -1);
        return r;
}

void broker_device_event(Broker *b, struct udev_device *d, const char *action) {
        const char *event;
        int r;

        r = topology_update_device(&b->topology, d, action);
        if (r != 0)
                /* A device came, went or changed: what the host uses must be marked afresh. */
                facts_mark_dirty(&b->facts);
        if (r < 0) {
                log_warning_errno(r, "Failed to update %s after '%s': %m", udev_device_get_sysname(d), action);
                return;
        }
        if (r == 0)
                return;

        const PciDevice *p = topology_find_device(&b->topology, udev_device_get_sysname(d));
        event = strcmp(action, "add") == 0 ? "added" :
                strcmp(action, "remove") == 0 ? "removed" :
                strcmp(action, "bind") == 0 ? "bound" :
                strcmp(action, "unbind") == 0 ? "unbound" : "changed";
        broker_emit(b, event, udev_device_get_sysname(d), p ? p->driver : NULL, p ? p->iommu_group : -1);
        if (p && strcmp(action, "add") == 0)
                (void) broker_bind_when_settled(b, p->address);
}

int broker_reload_policy(Broker *b, char **ret_error) {
        _cleanup_free_ char *error = NULL;
        Policy p;
        int r;

        r = policy_load_standard(&p, &error);
        if (r < 0) {
                log_warning("Policy rejected, the previous policy stays: %s", strna(error));
                free(b->policy_last_error);
                b->policy_last_error = error ? strdup(error) : NULL;
                if (ret_error)
                        *ret_error = TAKE_PTR(error);
                return r;
        }

        policy_done(&b->policy);
        b->policy = p;
        free(b->policy_last_error);
        b->policy_last_error = NULL;
        log_info("Policy loaded: %zu file(s), %zu rule(s).", b->policy.n_files, b->policy.n_rules);
        broker_emit(b, "policy-reloaded", NULL, NULL, -1);
        return 0;
}

static int read_facts(Broker *b) {
        uint64_t now = now_usec(CLOCK_MONOTONIC);
        KernelSwitches s;
        int r;

        log_debug("Reading the host's facts (%s).", b->facts.dirty ? "changed" : "aged");
        /* Until a read succeeds, every decision tries again: partial facts are never kept. */
        facts_mark_dirty(&b->facts);
        r = kernel_switches_read(&s);
        if (r < 0)
                return log_error_errno(r, "Failed to read the kernel's switches: %m");
        kernel_switches_done(&b->topology.switches);
        b->topology.switches = s;

        r = host_use_apply(b->udev, &b->topology);
        if (r < 0)
                return log_error_errno(r, "Failed to find the devices the host uses: %m");
        facts_read_done(&b->facts, now);
        return 0;
}

int broker_refresh_facts(Broker *b) {
        int r;

        if (facts_stale(&b->facts, now_usec(CLOCK_MONOTONIC))) {
                r = read_facts(b);
                if (r < 0)
                        return r;
        }
        return broker_mark_holders(b);
}

int broker_refresh_facts_now(Broker *b) {
        int r;

        r = read_facts(b);
        if (r < 0)
                return r;
        return broker_mark_holders(b);
}

int broker_refresh_groups(Broker *b, const char *const *devices) {
        int seen[LEASE_DEVICES_MAX];
        size_t n_seen = 0;
        int r;

        for (size_t i = 0; devices && devices[i]; i++) {
                const PciDevice *d = topology_find_device(&b->topology, devices[i]);
                bool changed = false, dup = false;
                int g;

                /* A device that appeared without a uevent is read now, not refused as unknown. */
                if (!d) {
                        r = topology_reread_device(b->udev, &b->topology, devices[i]);
                        if (r < 0)
                                return log_error_errno(r, "Failed to read %s: %m", devices[i]);
                        d = topology_find_device(&b->topology, devices[i]);
                        if (!d)
                                continue;       /* really not there: the caller hears NoSuchDevice */
                        facts_mark_dirty(&b->facts);    /* a new device has no host-use marks yet */
                }
                g = d->iommu_group;
                if (g < 0)
                        continue;
                for (size_t j = 0; j < n_seen && !dup; j++)
                        dup = seen[j] == g;
                if (dup || n_seen >= ELEMENTSOF(seen))
                        continue;
                seen[n_seen++] = g;

                r = topology_refresh_group(b->udev, &b->topology, g, &changed);
                if (r < 0)
                        return log_error_errno(r, "Failed to re-read IOMMU group %d: %m", g);
                if (changed) {
                        facts_mark_dirty(&b->facts);
                        log_warning("IOMMU group %d had changed without an event reaching vfiod; "
                                    "re-read its members from sysfs.", g);
                }
        }
        return 0;
}
