/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <systemd/sd-event.h>
#include <systemd/sd-varlink.h>

struct udev;

#define VFIOD_RUNTIME_DIR "/run/vfiod"
#define VFIOD_VARLINK_ADDRESS VFIOD_RUNTIME_DIR "/io.vfiod.Broker"

/* The daemon's only mutable state. */
typedef struct Manager {
        sd_event *event;
        sd_varlink_server *varlink_server;
        struct udev *udev;
} Manager;

int manager_new(Manager **ret);
Manager *manager_free(Manager *m);
int manager_start(Manager *m);
int manager_run(Manager *m);

static inline void manager_freep(Manager **m) {
        manager_free(*m);
}
