/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The read-only operations (ListDevices, ListGroups, Explain, the policy and switch parts of
 * GetInfo), as JSON, shared by every front-end. The caller refreshes the decision-time facts
 * (switches, host use) in the topology first. */

#include <systemd/sd-json.h>

#include "policy.h"
#include "topology.h"

int query_list_devices(const Topology *t, const Policy *p, const Caller *c, sd_json_variant **ret);
int query_list_groups(const Topology *t, const Policy *p, const Caller *c, sd_json_variant **ret);
/* devices: canonical PCI addresses, NULL-terminated. -ENXIO: no such device (*ret_missing names it). */
int query_explain(const Topology *t, const Policy *p, const Caller *c, const char *const *devices,
                  sd_json_variant **ret, const char **ret_missing);
int query_switches(const KernelSwitches *s, sd_json_variant **ret);
/* full: files, rules and the last error; otherwise only their counts and what is relaxed. */
int query_policy(const Policy *p, const char *last_error, bool full, sd_json_variant **ret);
int query_policy_files(const Policy *p, sd_json_variant **ret);
