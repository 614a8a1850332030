/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <systemd/sd-event.h>

#include "lease.h"
#include "policy.h"

/* Structured journal entries, one MESSAGE_ID each; data/vfiod.catalog explains them. */
#define VFIOD_MESSAGE_DENIED        "c45757b8c4734020b47e0bb91e99abb1"
#define VFIOD_MESSAGE_BOUND         "5e7d19e4934e430aa1840683323c665a"
#define VFIOD_MESSAGE_RESTORED      "9a7b680760004680b599a2c1e024b87a"
#define VFIOD_MESSAGE_LEASE_START   "a2a90d80529345a791c5f1d4bd1b739c"
#define VFIOD_MESSAGE_LEASE_END     "cfa61d8d517f4e42994a85288dc1159a"
#define VFIOD_MESSAGE_BIND_FAILED   "4c48382affda4c178143e8b9dc3c66b0"
#define VFIOD_MESSAGE_DENIALS_SUPPRESSED "0f4d5e2b8a6c4e1f9b3d7a5c2e8f1b46"
#define VFIOD_MESSAGE_DOMAIN_UNCHECKED "bba4aa5cbd264ab2923b65b7da808cc1"

/* Identical denials (same uid, operation, devices and reasons) are logged once per window; the
 * ones left out are counted and logged when the window ends, so a loop of denied calls cannot
 * fill journald's rate limit for the unit and crowd out the lease and bind records. */
#define DENIALS_WINDOW_USEC (10 * 1000000ULL)
#define DENIALS_KEYS_MAX 256

typedef struct DenialKey {
        uid_t uid;
        char *operation;
        char *devices;
        char *reasons;
        uint64_t window_end;          /* CLOCK_MONOTONIC */
        unsigned suppressed;
} DenialKey;

typedef struct DenialLimit {
        DenialKey keys[DENIALS_KEYS_MAX];
        size_t n_keys;
        sd_event_source *timer;       /* logs the counts when windows end */
        void (*report)(const DenialKey *k);  /* NULL: the journal (tests set their own) */
} DenialLimit;

int denial_limit_start(DenialLimit *l, sd_event *e);
/* Logs the counts still pending. */
void denial_limit_done(DenialLimit *l);
/* Whether this denial is to be logged now (true) or only counted (false). */
bool denial_limit_admit(DenialLimit *l, uid_t uid, const char *operation, const char *devices,
                        const char *reasons, uint64_t now);
/* Log the counts of the windows ended by now and forget them. */
void denial_limit_expire(DenialLimit *l, uint64_t now);

/* l may be NULL: log every denial. Returns whether it was logged (false: only counted, and so
 * not announced to Monitor subscribers and D-Bus listeners either, which a loop of refused
 * requests would flood). */
bool journal_denied(DenialLimit *l, const char *operation, const char *const *devices, const Topology *t, const Verdict *v,
                    uid_t uid, pid_t pid, const LeaseOwner *owner, const char *extra);
/* A running libvirt domain (owner) uses devices that vfiod did not bind and whose Bind for it the
 * checks refuse (a hotplug): a warning, as nothing can be vetoed any more. */
void journal_domain_unchecked(const char *const *devices, const Topology *t, const Verdict *v, const LeaseOwner *owner);
void journal_lease(const char *message_id, const Lease *l, const char *what);
void journal_device(const char *message_id, const char *device, int group, const char *driver, const char *what);
