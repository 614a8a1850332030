/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <systemd/sd-event.h>
#include <systemd/sd-json.h>

#include "binder.h"

typedef enum LeaseKind {
        LEASE_ACQUIRE,           /* fds handed out; ends with the holder's process or Release */
        LEASE_BIND,              /* no fds; ends with Unbind or Release */
        _LEASE_KIND_MAX,
} LeaseKind;

/* Where a lease is in its life; written to the state journal before each kernel change, so a
 * restart knows what to finish or undo. */
typedef enum LeasePhase {
        LEASE_PHASE_BINDING,     /* moving devices to vfio-pci: undo on restart */
        LEASE_PHASE_ACTIVE,      /* held */
        LEASE_PHASE_RESTORING,   /* giving devices back: finish on restart */
        _LEASE_PHASE_MAX,
} LeasePhase;

#define LEASE_ID_STRLEN 32
#define LEASE_DEVICES_MAX 256

/* A label naming what the lease is for, e.g. {"kind": "libvirt-domain", "name": "vm1", "uuid":
 * "..."} from the libvirt hook. Only root may set it, and it is a label: nothing is authorized by
 * it. kind: 1..32 of [a-z0-9-]; name: 1..255 bytes of valid UTF-8 without control characters;
 * uuid: 8-4-4-4-12 hex digits, kept in lowercase. kind[0] == 0: no owner. */
#define LEASE_OWNER_KIND_MAX 32
#define LEASE_OWNER_NAME_MAX 255
#define LEASE_OWNER_UUID_STRLEN 36

typedef struct LeaseOwner {
        char kind[LEASE_OWNER_KIND_MAX + 1];
        char name[LEASE_OWNER_NAME_MAX + 1];
        char uuid[LEASE_OWNER_UUID_STRLEN + 1];
} LeaseOwner;

/* -EINVAL if any part is malformed (see above). */
int lease_owner_set(LeaseOwner *o, const char *kind, const char *name, const char *uuid);
bool lease_owner_is_set(const LeaseOwner *o);
/* {"kind":...,"name":...,"uuid":...} */
int lease_owner_to_json(const LeaseOwner *o, sd_json_variant **ret);
/* Strict: exactly those three string fields. */
int lease_owner_from_json(sd_json_variant *v, LeaseOwner *ret);
/* Valid UTF-8 without control characters (C0, DEL, C1). */
bool utf8_is_printable(const char *s, size_t max);

typedef struct Lease {
        char id[LEASE_ID_STRLEN + 1];
        LeaseKind kind;
        LeasePhase phase;
        uid_t uid;
        pid_t pid;                       /* 0 for bind leases */
        uint64_t pid_starttime;          /* /proc/PID/stat field 22, to tell a reused pid */
        uint64_t since_usec;             /* CLOCK_REALTIME */
        bool restore_on_release;
        char **devices;                  /* as requested, NULL-terminated */
        size_t n_devices;
        int *groups;
        size_t n_groups;
        BindDevice *moved;               /* devices this lease moved to vfio-pci, with their origin */
        size_t n_moved;
        LeaseOwner owner;                /* a label, e.g. the libvirt domain; unset: kind "" */

        /* Runtime only, not journalled. */
        struct Broker *broker;
        int pidfd;                       /* the holder; its liveness is judged by this alone */
        sd_event_source *pidfd_source;
        bool holder_gone;                /* the pidfd said the holder exited */
        bool busy;                       /* a worker is acting on it */
        bool orphaned;                   /* to end, but its VFIO fds are still open elsewhere */
        sd_event_source *retry_source;   /* the next try at ending it (orphaned, or a restore failed) */
        uint64_t retry_usec;             /* the current backoff */
        unsigned restore_failures;       /* restores that failed in a row */
} Lease;

const char *lease_kind_to_string(LeaseKind k);
const char *lease_phase_to_string(LeasePhase p);
/* What ListLeases shows: the phase, or "orphaned" (holder gone or released, fds still open). */
const char *lease_state_to_string(const Lease *l);

Lease *lease_free(Lease *l);
int lease_new(LeaseKind kind, uid_t uid, pid_t pid, Lease **ret);
/* 32 lowercase hex digits, as lease_new() makes them. */
bool lease_id_is_valid(const char *id);
bool lease_has_device(const Lease *l, const char *address);
bool lease_has_group(const Lease *l, int group);

/* The state journal's JSON form of a lease, and back (strict: a damaged journal is refused;
 * -ENODATA for a lease that names no device and moved none, which is safe to drop). */
int lease_to_json(const Lease *l, sd_json_variant **ret);
int lease_from_json(sd_json_variant *v, Lease **ret);

/* /proc/PID/stat start time; -ESRCH if the process is gone. Only good together with a pidfd that
 * pins the process (see broker.c): a pid number alone may have been reused. */
int pid_get_starttime(pid_t pid, uint64_t *ret);

static inline void lease_freep(Lease **l) {
        lease_free(*l);
}
