/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "boot-bind.h"
#include "caller.h"
#include "log.h"
#include "macro.h"
#include "pci-device.h"

typedef struct BootBind {
        Broker *broker;
        size_t pending;
        BootBindDone done;
        void *userdata;
} BootBind;

static void finish_one(BootBind *bb) {
        if (--bb->pending > 0)
                return;
        bb->done(bb->broker, bb->userdata);
        free(bb);
}

static void on_bound(Broker *b, Operation *op, void *userdata) {
        BootBind *bb = userdata;
        const char *first = op->n_request_devices > 0 ? op->request_devices[0] : "?";

        if (!op->error_id)
                log_info("Bound at boot (bindAtBoot): %s%s, lease %s.", first,
                         op->n_request_devices > 1 ? " and the rest of its group" : "",
                         op->lease ? op->lease->id : "?");
        else
                /* A Denied is journalled with its reasons by broker_request() itself. */
                log_warning("Not bound at boot (bindAtBoot): %s%s: %s%s%s", first,
                            op->n_request_devices > 1 ? " and the rest of its group" : "",
                            op->error_id, op->message ? ": " : "", strempty(op->message));
        operation_free(op);
        finish_one(bb);
}

/* The deciding rule (the first that matches) asks for it; bridges are never requested. */
static bool wanted(const Broker *b, const PciDevice *d) {
        const PolicyRule *rule;

        if (pci_device_is_bridge(d))
                return false;
        rule = policy_rule_for_device(&b->policy, d);
        return rule && rule->bind_at_boot && !rule->deny;
}

static bool group_started_before(const Broker *b, size_t i) {
        const PciDevice *d = &b->topology.devices[i];

        if (d->iommu_group < 0)
                return false;
        for (size_t j = 0; j < i; j++)
                if (b->topology.devices[j].iommu_group == d->iommu_group && wanted(b, &b->topology.devices[j]))
                        return true;
        return false;
}

/* One Bind per IOMMU group, of the group's wanted devices: a group the rules cover only in part
 * is refused (partial-group) as a Bind of it would be, and does not hold up the others. */
static int request_group(Broker *b, const CallerInfo *root, size_t i, BootBind *bb) {
        const PciDevice *d = &b->topology.devices[i];
        _cleanup_free_ const char **devices = NULL;
        size_t n = 0;
        int r;

        devices = calloc(b->topology.n_devices + 1, sizeof(char *));
        if (!devices)
                return -ENOMEM;
        for (size_t j = i; j < b->topology.n_devices; j++) {
                const PciDevice *e = &b->topology.devices[j];
                if (j == i || (d->iommu_group >= 0 && e->iommu_group == d->iommu_group && wanted(b, e)))
                        devices[n++] = e->address;
                if (d->iommu_group < 0)
                        break;
        }

        bb->pending++;
        r = broker_request(b, root, &(BrokerRequest) { .kind = LEASE_BIND, .devices = devices }, on_bound, bb);
        if (r < 0) {
                bb->pending--;
                return log_warning_errno(r, "Cannot start the boot binding of %s: %m", d->address);
        }
        return 0;
}

int broker_bind_at_boot(Broker *b, const char *marker, BootBindDone done, void *userdata) {
        _cleanup_(caller_info_done) CallerInfo root = {};
        _cleanup_close_ int fd = -EBADF;
        BootBind *bb;
        int r;

        /* Once per boot: /run is empty after a reboot, and after a restart of vfiod the state
         * journal holds the leases made then. */
        fd = open(marker, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0) {
                if (errno == ENOENT)    /* not started by its unit: no runtime directory */
                        log_debug_errno(errno, "No %s, so no boot bindings: %m", marker);
                else if (errno != EEXIST)
                        log_warning_errno(errno, "Cannot create %s, so no boot bindings: %m", marker);
                done(b, userdata);
                return 0;
        }

        r = caller_from_uid(0, &root);
        if (r < 0)
                return log_error_errno(r, "Cannot make root's caller for the boot bindings: %m");

        bb = calloc(1, sizeof(BootBind));
        if (!bb)
                return -ENOMEM;
        /* One for this loop, so that requests finishing at once do not end it early. */
        *bb = (BootBind) { .broker = b, .pending = 1, .done = done, .userdata = userdata };

        for (size_t i = 0; i < b->topology.n_devices; i++) {
                if (!wanted(b, &b->topology.devices[i]) || group_started_before(b, i))
                        continue;
                r = request_group(b, &root, i, bb);
                if (r == -ENOMEM)
                        break;
        }
        finish_one(bb);
        return 0;
}
