/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The broker: the lease table, the topology, the policy and every operation, below the
 * front-ends (varlink, D-Bus, whatever comes next), which only translate. A front-end fills a
 * CallerInfo from its transport's credentials and a BrokerRequest from its parameters, calls
 * one function here, and turns the outcome (an Operation, or a JSON reply and an errno) into its
 * reply. Every decision, root-only rules included, is made here, once. No file of src/broker/
 * knows a front-end. */

#include <systemd/sd-event.h>
#include <systemd/sd-json.h>

#include "caller.h"
#include "domain-xml.h"
#include "pci-address.h"
#include "facts.h"
#include "journal.h"
#include "lease.h"
#include "policy.h"
#include "topology.h"
#include "vfio.h"
#include "worker.h"

struct udev;
struct udev_device;

#define VFIOD_RUNTIME_DIR "/run/vfiod"
#define VFIOD_STATE_FILE VFIOD_RUNTIME_DIR "/state.json"

/* Error names: the same on every front-end (varlink error ids, D-Bus error names). */
#define BROKER_ERROR_DENIED         "io.vfiod.Broker.Denied"
#define BROKER_ERROR_BUSY           "io.vfiod.Broker.Busy"
#define BROKER_ERROR_BIND_FAILED    "io.vfiod.Broker.BindFailed"
#define BROKER_ERROR_TIMEOUT        "io.vfiod.Broker.Timeout"
#define BROKER_ERROR_NOT_SUPPORTED  "io.vfiod.Broker.NotSupported"
#define BROKER_ERROR_NO_SUCH_DEVICE "io.vfiod.Broker.NoSuchDevice"
#define BROKER_ERROR_NO_SUCH_LEASE  "io.vfiod.Broker.NoSuchLease"
#define BROKER_ERROR_POLICY_INVALID "io.vfiod.Broker.PolicyInvalid"
#define BROKER_ERROR_SYSTEM         "io.systemd.System"

typedef struct Broker Broker;
typedef struct BootBinder BootBinder;

/* A PCI hostdev that a running libvirt domain uses and vfiod did not bind (hotplugged; or the
 * domain started while vfiod was not asked), whose group a Bind for that domain would be refused:
 * libvirt cannot be stopped (no hook runs for a hotplug), so it is journalled and shown. */
typedef struct DomainWarning {
        char uuid[37];                /* the domain's */
        char name[DOMAIN_NAME_MAX + 1];
        char device[PCI_ADDRESS_STRLEN_MAX + 1];
        char **failed;                /* the reason codes of the failed checks, NULL-terminated */
} DomainWarning;

/* Something happened that subscribers (Monitor, D-Bus signals) hear of: "added", "removed",
 * "bound", "unbound", "changed", "rescanned", "policy-reloaded", "leased", "released", "denied". */
typedef void (*BrokerEventFunc)(const char *event, const char *device, const char *driver, int group, void *userdata);

struct Broker {
        sd_event *event;
        struct udev *udev;

        Topology topology;            /* kept current by device events */
        Policy policy;                /* the policy in force */
        char *policy_last_error;      /* why the last reload was refused, NULL if it was not */

        Facts facts;                  /* when the host-use facts must be read again */
        DenialLimit denials;          /* identical denials logged once per window */

        Lease **leases;               /* every lease, journalled in VFIOD_STATE_FILE */
        size_t n_leases;

        WorkerSet workers;            /* every worker not yet reaped */

        BootBinder *boot_binder;      /* bindAtBoot's queue, at boot and for devices that appear */

        DomainXml *domains;           /* the running libvirt domains and their PCI hostdevs */
        size_t n_domains;
        DomainWarning *domain_warnings;
        size_t n_domain_warnings;

        BrokerEventFunc on_event;
        void *event_userdata;
};

int broker_new(sd_event *e, Broker **ret);
Broker *broker_free(Broker *b);
/* Read the topology, the policy and the state journal; finish, undo or re-adopt what it says. */
int broker_start(Broker *b);
static inline void broker_freep(Broker **b) {
        broker_free(*b);
}

/* ---- requests ---- */

#define REQUEST_DEVICES_MAX 256
#define IOVA_RANGES_MAX 64

/* The devices of a request, canonical PCI addresses, no duplicates, NULL-terminated. */
typedef struct DeviceList {
        char (*buf)[PCI_ADDRESS_STRLEN_MAX + 1];
        const char **list;
        size_t n;
} DeviceList;

/* -EINVAL: empty, more than REQUEST_DEVICES_MAX, a malformed address or a duplicate. */
int device_list_parse(const char *const *in, size_t n, DeviceList *ret);
void device_list_done(DeviceList *l);

typedef struct BrokerRequest {
        LeaseKind kind;
        const char *const *devices;     /* from device_list_parse() */
        unsigned min_aperture_bits;     /* 0..64 */
        const IovaRange *iova;          /* at most IOVA_RANGES_MAX, start <= end */
        size_t n_iova;
        const LeaseOwner *owner;        /* NULL or a validated label; root only (-EPERM) */
} BrokerRequest;

typedef struct Operation Operation;
/* Called once with the outcome; it owns op from then on (operation_free()). */
typedef void (*OperationDone)(Broker *b, Operation *op, void *userdata);

struct Operation {
        Broker *broker;
        LeaseKind kind;
        Lease *lease;                   /* owned by broker->leases */
        Worker *worker;
        Request request;                /* devices point into request_devices */
        char **request_devices;
        size_t n_request_devices;
        IovaRange *iova;
        uid_t uid;
        pid_t pid;

        /* Outcome: error_id NULL means success. */
        const char *error_id;           /* BROKER_ERROR_* */
        char *message;
        char *error_device;
        /* Busy: the lease in the way ("" when it is not the caller's to see); NoSuchLease: the id asked for */
        char busy_lease_id[LEASE_ID_STRLEN + 1];
        uid_t busy_uid;
        pid_t busy_pid;
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
/* The error's parameters, as varlink sends them (and D-Bus clients can read them in JSON). */
int operation_error_json(const Operation *op, sd_json_variant **ret);
/* The error as one text: the message, then one line "code: subject: sentence" per failed check. */
int operation_error_text(const Operation *op, char **ret);

/* The decision on a request that would change the host, the same for every caller: the policy's
 * checks on the kept facts and, if they allow it, again on facts read now. The caller refreshes
 * the request's groups first (broker_refresh_groups()). */
int broker_decide(Broker *b, const Request *req, const Caller *c, Verdict *ret);

/* Bind or Acquire, for the caller. Returns 0 and calls done exactly once (maybe before
 * returning), or returns a negative errno without calling done (no memory to start with; -EPERM:
 * an owner label from a caller other than root), in
 * which case userdata is still the caller's to release. An Acquire lease lives as long as the
 * caller's process, pinned by caller->pidfd (duplicated here; none: NotSupported). */
int broker_request(Broker *b, const CallerInfo *caller, const BrokerRequest *req, OperationDone done, void *userdata);

/* Release: end lease id for the caller (its holder, or root); NoSuchLease also for another
 * user's lease (ids are not to be probed). Unbind: end the Bind leases that hold devices;
 * checks all before changing anything. Both: done exactly once (maybe before returning), or a
 * negative errno without it. While a group of a lease is still open elsewhere nothing is
 * touched: the lease stays, orphaned, ends by itself once the fds are closed, and done hears
 * Busy. On success the Operation's request_devices lists every device given back. */
int broker_release(Broker *b, const CallerInfo *caller, const char *id, OperationDone done, void *userdata);
int broker_unbind(Broker *b, const CallerInfo *caller, const char *const *devices, OperationDone done, void *userdata);

/* A front-end could not hand the caller its new Acquire lease (the reply failed): end it from
 * the event loop, as the broker still uses the lease when done returns. */
void broker_end_lease_later(Broker *b, const char *id);
/* End a lease; done (may be NULL) hears the outcome but does not own it. -EBUSY while a worker
 * acts on it. */
int broker_end_lease(Broker *b, Lease *l, OperationDone done, void *userdata);

Lease *broker_find_lease(Broker *b, const char *id);
const Lease *broker_lease_holding(Broker *b, const char *address, int group);

/* ---- queries: a JSON reply, the same for every front-end ---- */

/* GetInfo: policy paths, rule names and load errors are root's to read; others get a summary. */
int broker_get_info(Broker *b, const CallerInfo *caller, sd_json_variant **ret);
int broker_list_devices(Broker *b, const CallerInfo *caller, sd_json_variant **ret);
int broker_list_groups(Broker *b, const CallerInfo *caller, sd_json_variant **ret);
/* as_uid: judge as that user (root only: -EPERM), or (uid_t) -1. -ENXIO: *ret_missing is unknown. */
int broker_explain(Broker *b, const CallerInfo *caller, const char *const *devices, uid_t as_uid,
                   sd_json_variant **ret, const char **ret_missing);
/* Every lease for root, the caller's own for anyone else: { "leases": [...] }. */
int broker_list_leases(Broker *b, const CallerInfo *caller, sd_json_variant **ret);
/* Root only (-EPERM). A policy that does not load: negative with *ret_error saying why (the old
 * policy stays); negative without it: a system error. On success { "files": [...] }. */
int broker_reload(Broker *b, const CallerInfo *caller, sd_json_variant **ret, char **ret_error);

/* ---- the host, kept current ---- */

/* Load the policy afresh; on failure the previous policy stays and *ret_error says why. */
int broker_reload_policy(Broker *b, char **ret_error);
/* A uevent for a PCI device (action: add, remove, bind, unbind, change, ...). */
void broker_device_event(Broker *b, struct udev_device *d, const char *action);
/* Device events were lost: read the whole topology again, once. */
int broker_rescan(Broker *b);
/* Make the facts that change without uevents (switches, mounts, routes) current before a
 * decision: read them again if a notification said they changed or they are older than
 * FACTS_MAX_AGE_USEC. */
int broker_refresh_facts(Broker *b);
/* Read them now, whatever their age: for a decision that changes the host. */
int broker_refresh_facts_now(Broker *b);
/* Re-read from sysfs the requested devices and the members of their IOMMU groups (decision time). */
int broker_refresh_groups(Broker *b, const char *const *devices);
/* The running libvirt domains and the PCI devices they use, from the libvirt watch: replaces
 * what it said before, takes domains (free()). Their devices' groups are held_by_domain. A hostdev
 * new to its domain that no lease holds (vfiod did not bind it) is judged as a Bind of it for that
 * domain would be; a refusal is journalled (VFIOD_MESSAGE_DOMAIN_UNCHECKED) and kept in
 * domain_warnings for as long as the domain uses the device. */
int broker_set_domains(Broker *b, DomainXml *domains, size_t n);
void broker_domains_done(Broker *b);
/* Mark the groups of the running domains' devices (held_by_domain) and the warnings
 * (domain_failed); part of broker_mark_holders(). */
int broker_mark_domains(Broker *b);
/* Mark the devices of every leased group in the topology (PciDevice.held_by), and of every group
 * a running domain uses (held_by_domain). */
int broker_mark_holders(Broker *b);
int broker_save_state(Broker *b);
/* The state journal at start: finish, undo or re-adopt what it says. */
int broker_load_state(Broker *b);
void broker_leases_done(Broker *b);
void broker_emit(Broker *b, const char *event, const char *device, const char *driver, int group);
