/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdint.h>
#include <sys/types.h>
#include <systemd/sd-event.h>

#include "binder.h"

/* Kernel writes that may block (a driver's unbind can hang) run in a forked worker, so the
 * event loop keeps answering; the parent learns the result when the worker exits, or gives up
 * after a timeout. */

typedef enum WorkerKind {
        WORKER_BIND,       /* binder_bind_group per group, in order; undo earlier groups on failure */
        WORKER_RESTORE,    /* binder_restore_device for each device, carrying on past failures */
} WorkerKind;

typedef struct Worker Worker;
/* r: 0, a negative errno from the binder, or -ETIMEDOUT. message: the binder's sentence or NULL. */
typedef void (*WorkerDone)(Worker *w, int r, const char *message, void *userdata);

#define WORKER_TIMEOUT_USEC (30ULL * 1000 * 1000)

/* devices with group[i] the IOMMU group of devices[i] (same groups adjacent). */
int worker_start(sd_event *e, WorkerKind kind, const BindDevice *devices, const int *groups, size_t n,
                 uint64_t timeout_usec, WorkerDone done, void *userdata, Worker **ret);
Worker *worker_free(Worker *w);
