/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include <systemd/sd-event.h>

/* The decision-time facts that change without a uevent on the PCI device (addresses, routes,
 * mounts, swaps; kernel switches; the console) are read when something says they changed, not
 * per call: rtnetlink (link, address, route, nexthop groups), /proc/self/mountinfo and
 * /proc/swaps (POLLPRI) mark them dirty. What has no notification (module parameters,
 * /proc/interrupts, mounts in other mount namespaces, the console) is read again once the
 * facts are older than FACTS_MAX_AGE_USEC. */
#define FACTS_MAX_AGE_USEC (1000 * 1000ULL)

typedef struct Facts {
        int rtnl_fd;
        int mountinfo_fd;
        int swaps_fd;
        sd_event_source *rtnl_source;
        sd_event_source *mountinfo_source;
        sd_event_source *swaps_source;
        bool watched;                 /* every notification is in place; otherwise read per call */
        bool dirty;                   /* a notification came since the last read */
        uint64_t read_usec;           /* CLOCK_MONOTONIC of the last read; 0: never */
} Facts;

void facts_init(Facts *f);
int facts_start(Facts *f, sd_event *e);
void facts_done(Facts *f);
void facts_mark_dirty(Facts *f);
/* Collect the notifications already queued (not waiting for the event loop to get to them),
 * then say whether the facts must be read again at now. */
bool facts_stale(Facts *f, uint64_t now);
/* The facts were read at now. */
void facts_read_done(Facts *f, uint64_t now);
