/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The daemon: the event loop, the broker, and what translates for it: the udev watcher, the
 * varlink and D-Bus front-ends. */

#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>
#include <systemd/sd-varlink.h>

#include "broker.h"
#include "libvirt.h"
#include "listener.h"

struct udev_monitor;

#define VFIOD_VARLINK_ADDRESS VFIOD_RUNTIME_DIR "/io.vfiod.Broker"
#define MONITORS_MAX 256

/* The daemon's only mutable state. */
typedef struct Manager {
        sd_event *event;
        Broker *broker;               /* leases, topology, policy, every operation */

        struct udev_monitor *udev_monitor;
        sd_event_source *udev_event_source;

        sd_varlink_server *varlink_server;
        Listener listener;            /* accepts connections, accounts them per user */
        sd_varlink *monitors[MONITORS_MAX];
        size_t n_monitors;

        LibvirtWatch *libvirt;        /* running domains and their devices; NULL if not built */

        sd_bus *bus;                  /* the system bus; NULL where none runs */
        char *bus_error;              /* why not, for GetInfo */

        bool stopping;                /* SIGTERM: waiting (bounded) for the workers */
        sd_event_source *stop_timer;
        bool stop_killed;             /* the workers were sent SIGKILL */
} Manager;

int manager_new(Manager **ret);
Manager *manager_free(Manager *m);
int manager_start(Manager *m);
int manager_run(Manager *m);

/* GetInfo for both front-ends: the broker's answer and which front-ends serve. */
int manager_get_info(Manager *m, const CallerInfo *caller, sd_json_variant **ret);

static inline void manager_freep(Manager **m) {
        manager_free(*m);
}
