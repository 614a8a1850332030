/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The state-changing operations (Bind, Acquire, Unbind, Release), the lease table and its
 * crash-safe journal. One implementation, reached from every front-end: a front-end passes the
 * request and a completion callback, and turns the finished Operation into its reply. */

#include <systemd/sd-json.h>

#include "lease.h"
#include "manager.h"
#include "policy.h"
#include "vfio.h"
#include "worker.h"

typedef struct Operation Operation;
typedef void (*OperationDone)(Manager *m, Operation *op, void *userdata);

struct Operation {
        Manager *manager;
        LeaseKind kind;
        Lease *lease;                   /* owned by manager->leases */
        Worker *worker;
        Request request;                /* devices point into request_devices */
        char **request_devices;
        size_t n_request_devices;
        IovaRange *iova;
        uid_t uid;
        pid_t pid;

        /* Outcome: error_id NULL means success. */
        const char *error_id;           /* io.vfiod.Broker.Denied, .Busy, .BindFailed, ... */
        char *message;
        char *error_device;
        const Lease *busy_lease;
        char busy_lease_id[LEASE_ID_STRLEN + 1];  /* Release/Unbind: a lease that cannot end yet (orphaned) */
        uid_t busy_uid;
        Verdict verdict;                /* the checks, for Denied */

        /* Acquire's result: fds are owned here until a front-end takes them (sets them to -1). */
        VfioContainer *containers;
        size_t n_containers;
        int *device_fds;                /* parallel to request_devices */

        OperationDone done;
        void *userdata;
        size_t pending;                 /* Unbind/Release: lease ends still to finish */
};

void operation_free(Operation *op);

/* Start Bind or Acquire for the caller. Returns 0 and calls done exactly once (maybe before
 * returning), or returns a negative errno without calling done (no memory to start with), in
 * which case userdata is still the caller's to release.
 * pidfd: the caller's process (Acquire leases end with it); taken over, may be -1. */
int broker_request(Manager *m, LeaseKind kind, const Caller *caller, uid_t uid, pid_t pid, int pidfd,
                   const char *const *devices, unsigned min_aperture_bits, const IovaRange *iova, size_t n_iova,
                   OperationDone done, void *userdata);

/* End a lease: give the devices back where the policy says so, then forget it. done may be NULL.
 * While a group of the lease is still open elsewhere nothing is touched: the lease stays, orphaned,
 * ends by itself once the fds are closed, and done hears io.vfiod.Broker.Busy. -EBUSY while a
 * worker acts on the lease (or one given up on is still alive). */
int broker_end_lease(Manager *m, Lease *l, OperationDone done, void *userdata);

/* Release: end lease id for uid (its holder, or root). -ENOENT: no such lease, or not the caller's
 * (ids are not to be probed); -EBUSY: an operation on it is in flight (*ret_busy). */
int broker_release(Manager *m, uid_t uid, const char *id, OperationDone done, void *userdata, const Lease **ret_busy);

/* Unbind: end the Bind leases that hold devices, for uid; done once, after the last. Checks all
 * before changing anything: -ENOENT with *ret_device when a device is not bound by a Bind of the
 * caller's (root: of anyone's), -EBUSY with *ret_busy when one is in flight. On success the
 * Operation's request_devices lists every device given back. */
int broker_unbind(Manager *m, uid_t uid, const char *const *devices, OperationDone done, void *userdata,
                  const char **ret_device, const Lease **ret_busy);

Lease *broker_find_lease(Manager *m, const char *id);
const Lease *broker_lease_holding(Manager *m, const char *address, int group);

/* Mark the devices of every leased group in the topology (PciDevice.held_by). */
int broker_mark_holders(Manager *m);

/* Read the journal at start and finish, undo or re-adopt what it says. */
int broker_start(Manager *m);
int broker_save_state(Manager *m);
void broker_done(Manager *m);
