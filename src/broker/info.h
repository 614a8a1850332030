/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <systemd/sd-json.h>

#include "broker.h"

/* The GetInfo reply, built from what the running system says right now. */
int info_build(Broker *b, bool full, sd_json_variant **ret);
