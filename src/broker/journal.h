/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <sys/types.h>

#include "lease.h"
#include "policy.h"

/* Structured journal entries, one MESSAGE_ID each; data/vfiod.catalog explains them. */
#define VFIOD_MESSAGE_DENIED        "c45757b8c4734020b47e0bb91e99abb1"
#define VFIOD_MESSAGE_BOUND         "5e7d19e4934e430aa1840683323c665a"
#define VFIOD_MESSAGE_RESTORED      "9a7b680760004680b599a2c1e024b87a"
#define VFIOD_MESSAGE_LEASE_START   "a2a90d80529345a791c5f1d4bd1b739c"
#define VFIOD_MESSAGE_LEASE_END     "cfa61d8d517f4e42994a85288dc1159a"
#define VFIOD_MESSAGE_BIND_FAILED   "4c48382affda4c178143e8b9dc3c66b0"

void journal_denied(const char *operation, const char *const *devices, const Topology *t, const Verdict *v,
                    uid_t uid, pid_t pid, const char *extra);
void journal_lease(const char *message_id, const Lease *l, const char *what);
void journal_device(const char *message_id, const char *device, int group, const char *driver, const char *what);
