/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <systemd/sd-event.h>
#include <systemd/sd-json.h>

#include "broker.h"

/* The libvirt watch: which running domain holds which PCI device, passed to the broker
 * (broker_set_domains()). It only translates, like the udev monitor. libvirt's event loop runs in
 * a thread of its own (libvirt's default implementation, which its remote driver is written and
 * tested against), which talks to libvirt only and hands whole snapshots to the sd-event loop
 * through an eventfd; no libvirt call ever blocks the event loop, and the broker is only touched
 * from the event loop. */
typedef struct LibvirtWatch LibvirtWatch;

#define LIBVIRT_WATCH_URI "qemu:///system"

/* Starts the thread, watching uri (LIBVIRT_WATCH_URI; the unit test uses libvirt's test driver); vfiod without libvirt (not built, not installed, not running) works the same,
 * minus the domain facts. */
int libvirt_watch_new(sd_event *e, Broker *b, const char *uri, LibvirtWatch **ret);
LibvirtWatch *libvirt_watch_free(LibvirtWatch *w);
/* For GetInfo: { "state": "connected" | "connecting" | "disconnected" | "not-built", "uri", "domains",
 * "error" }. */
int libvirt_watch_info(LibvirtWatch *w, sd_json_variant **ret);
