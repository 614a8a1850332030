/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "broker.h"

/* bindAtBoot: once per boot (the first start of vfiod after it), bind every IOMMU group with
 * devices whose deciding rule says "bindAtBoot": true, as Bind leases of root, through
 * broker_request(): every check of a Bind applies and a refusal is journalled like any other.
 * done is called once, when every request has finished (maybe before returning); a negative
 * errno means nothing was started and done is not called. The binds are queued, a few at a
 * time; devices that appear later (hotplug, new VFs) join the same queue. */
typedef void (*BootBindDone)(Broker *b, void *userdata);

#define BOOT_BIND_MARKER VFIOD_RUNTIME_DIR "/boot-bound"

int broker_bind_at_boot(Broker *b, const char *marker, BootBindDone done, void *userdata);

/* A device appeared: if its deciding rule says bindAtBoot, bind its group once the burst it came
 * in has settled (a card's functions, a PF's new VFs), unless a lease holds it by then. */
int broker_bind_when_settled(Broker *b, const char *address);

BootBinder *boot_binder_free(BootBinder *bb);
static inline void boot_binder_freep(BootBinder **bb) {
        boot_binder_free(*bb);
}
