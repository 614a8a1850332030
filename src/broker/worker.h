/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <systemd/sd-event.h>

#include "binder.h"

/* Kernel writes that may block (a driver's unbind can hang) run in a forked worker, so the
 * event loop keeps answering. The worker reports each finished step (a group bound, a device
 * given back) over its pipe; the parent's deadline is per step and moves on with every report,
 * so long work is not cut short while stuck work still is. */

typedef enum WorkerKind {
        WORKER_BIND,       /* binder_bind_group per group, in order; undo earlier groups on failure */
        WORKER_RESTORE,    /* binder_restore_device for each device, carrying on past failures */
} WorkerKind;

typedef struct Worker Worker;

/* Every worker not yet reaped, including those given up on after a timeout (one stuck in the
 * kernel cannot be made to exit): the daemon starts no second worker for the same tag while one
 * lives, and waits for them (bounded) when it stops. Part of the Manager. */
typedef struct WorkerSet {
        sd_event *event;
        Worker *head;
        size_t n;
        bool stopping;                         /* no new workers */
        void (*on_empty)(void *userdata);      /* the last one was reaped */
        void *userdata;
} WorkerSet;

/* r: 0, a negative errno from the binder, or -ETIMEDOUT. message: the binder's sentence or NULL. */
typedef void (*WorkerDone)(Worker *w, int r, const char *message, void *userdata);
/* done of total steps are finished. */
typedef void (*WorkerProgress)(Worker *w, size_t done, size_t total, void *userdata);

/* The parent's limit per step is this much beyond the binder's own per-device bound. */
#define WORKER_SLACK_USEC (5ULL * 1000 * 1000)
#define WORKER_TAG_MAX 64

/* devices with group[i] the IOMMU group of devices[i] (same groups adjacent). step_timeout_usec
 * bounds one device; a step of several devices (a group) gets as many times that. tag names what
 * the worker acts on (a lease id). -ESHUTDOWN once the set is stopping. */
int worker_start(WorkerSet *set, const char *tag, WorkerKind kind, const BindDevice *devices, const int *groups,
                 size_t n, uint64_t step_timeout_usec, WorkerDone done, WorkerProgress progress, void *userdata,
                 Worker **ret);
/* The owner lets go; a worker still running stays in its set until it is reaped. */
Worker *worker_free(Worker *w);

bool worker_set_has_tag(const WorkerSet *set, const char *tag);
/* SIGKILL to every worker not reaped yet. */
void worker_set_kill_all(WorkerSet *set);
/* Forget every worker (at exit). */
void worker_set_done(WorkerSet *set);
