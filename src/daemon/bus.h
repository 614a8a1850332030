/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "manager.h"

#define VFIOD_BUS_NAME "io.vfiod.Broker1"
#define VFIOD_BUS_PATH "/io/vfiod/Broker1"
#define VFIOD_BUS_INTERFACE "io.vfiod.Broker1"

/* Connect to the system bus, export the object, take the name. Negative where there is no
 * system bus (m->bus stays NULL and m->bus_error says why): varlink serves alone then. */
int manager_bus_init(Manager *m);
void manager_bus_done(Manager *m);
/* A broker event as a D-Bus signal. */
void manager_bus_emit(Manager *m, const char *event, const char *device, const char *driver, int group);
