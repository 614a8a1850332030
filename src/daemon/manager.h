/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <systemd/sd-event.h>
#include <systemd/sd-varlink.h>

#include "facts.h"
#include "journal.h"
#include "listener.h"
#include "policy.h"
#include "topology.h"
#include "worker.h"

struct udev;
struct udev_monitor;

#define VFIOD_RUNTIME_DIR "/run/vfiod"
#define VFIOD_VARLINK_ADDRESS VFIOD_RUNTIME_DIR "/io.vfiod.Broker"
#define VFIOD_STATE_FILE VFIOD_RUNTIME_DIR "/state.json"
#define MONITORS_MAX 256

/* The daemon's only mutable state. */
typedef struct Manager {
        sd_event *event;
        sd_varlink_server *varlink_server;
        struct udev *udev;
        struct udev_monitor *udev_monitor;
        sd_event_source *udev_event_source;

        Topology topology;            /* kept current by uevents */
        Policy policy;                /* the policy in force */
        char *policy_last_error;      /* why the last Reload was refused, NULL if it was not */

        sd_varlink *monitors[MONITORS_MAX];
        size_t n_monitors;

        Listener listener;            /* accepts connections, accounts them per user */
        Facts facts;                  /* when the host-use facts must be read again */
        DenialLimit denials;          /* identical denials logged once per window */

        struct Lease **leases;        /* every lease, journalled in VFIOD_STATE_FILE */
        size_t n_leases;

        WorkerSet workers;            /* every worker not yet reaped */
        bool stopping;                /* SIGTERM: waiting (bounded) for the workers */
        sd_event_source *stop_timer;
        bool stop_killed;             /* the workers were sent SIGKILL */
} Manager;

int manager_new(Manager **ret);
Manager *manager_free(Manager *m);
int manager_start(Manager *m);
int manager_run(Manager *m);

/* Make the facts that change without uevents (switches, mounts, routes) current before a
 * decision: read them again if a notification said they changed or they are older than
 * FACTS_MAX_AGE_USEC. */
int manager_refresh_facts(Manager *m);
/* Re-read from sysfs the requested devices and the members of their IOMMU groups (decision time). */
int manager_refresh_groups(Manager *m, const char *const *devices);
/* Read them now, whatever their age: for a decision that changes the host. */
int manager_refresh_facts_now(Manager *m);
/* Load the policy afresh; on failure the previous policy stays and *ret_error says why. */
int manager_reload_policy(Manager *m, char **ret_error);
/* Send a Monitor event to every subscriber. */
void manager_broadcast(Manager *m, const char *event, const char *device, const char *driver, int group);

static inline void manager_freep(Manager **m) {
        manager_free(*m);
}
