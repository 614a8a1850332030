/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "broker.h"

/* bindAtBoot: once per boot (the first start of vfiod after it), bind every IOMMU group with
 * devices whose deciding rule says "bindAtBoot": true, as Bind leases of root, through
 * broker_request(): every check of a Bind applies and a refusal is journalled like any other.
 * done is called once, when every request has finished (maybe before returning); a negative
 * errno means nothing was started and done is not called. */
typedef void (*BootBindDone)(Broker *b, void *userdata);

#define BOOT_BIND_MARKER VFIOD_RUNTIME_DIR "/boot-bound"

int broker_bind_at_boot(Broker *b, const char *marker, BootBindDone done, void *userdata);
