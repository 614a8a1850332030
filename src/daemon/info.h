/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <systemd/sd-json.h>

#include "manager.h"

/* The GetInfo reply, built from what the running system says right now. */
int info_build(Manager *m, bool full, sd_json_variant **ret);
