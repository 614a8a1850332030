/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <systemd/sd-journal.h>

#include "journal.h"
#include "macro.h"

/* "a b c" from a NULL-terminated list, bounded. */
static char *join(const char *const *l, size_t max) {
        size_t len = 0;
        char *s;

        for (size_t i = 0; l && l[i] && i < max; i++)
                len += strlen(l[i]) + 1;
        s = malloc(len + 1);
        if (!s)
                return NULL;
        s[0] = '\0';
        for (size_t i = 0; l && l[i] && i < max; i++) {
                if (i > 0)
                        strcat(s, " ");
                strcat(s, l[i]);
        }
        return s;
}

void journal_denied(const char *operation, const char *const *devices, const Topology *t, const Verdict *v,
                    uid_t uid, pid_t pid, const char *extra) {
        _cleanup_free_ char *devs = NULL, *groups = NULL, *reasons = NULL, *why = NULL;
        const char *codes[64] = {};
        size_t n = 0, len = 0;

        devs = join(devices, 256);
        for (size_t i = 0; v && i < v->n_checks && n < ELEMENTSOF(codes) - 1; i++) {
                bool seen = false;
                if (v->checks[i].passed)
                        continue;
                for (size_t j = 0; j < n; j++)
                        seen = seen || strcmp(codes[j], v->checks[i].code) == 0;
                if (!seen)
                        codes[n++] = v->checks[i].code;
        }
        reasons = join(codes, ELEMENTSOF(codes));

        /* Groups of the devices, for journalctl VFIOD_GROUP=N. */
        groups = calloc(1, 16 * 64);
        for (size_t i = 0; groups && devices && devices[i] && i < 64; i++) {
                const PciDevice *d = topology_find_device(t, devices[i]);
                if (d && d->iommu_group >= 0)
                        len += snprintf(groups + len, 16 * 64 - len, "%s%d", len ? " " : "", d->iommu_group);
        }

        /* The first failed sentence says what to do; the rest is in VFIOD_REASONS and Explain. */
        for (size_t i = 0; v && i < v->n_checks; i++)
                if (!v->checks[i].passed) {
                        why = strdup(strna(v->checks[i].sentence));
                        break;
                }

        sd_journal_send("MESSAGE_ID=" VFIOD_MESSAGE_DENIED,
                        "PRIORITY=%d", LOG_WARNING,
                        "MESSAGE=Denied %s of %s to uid %u: %s (%s)", operation, strna(devs), (unsigned) uid,
                        strna(reasons), strna(extra ?: why),
                        "VFIOD_OPERATION=%s", operation,
                        "VFIOD_DEVICE=%s", strna(devs),
                        "VFIOD_GROUP=%s", groups ? groups : "",
                        "VFIOD_REASONS=%s", strna(reasons),
                        "VFIOD_CALLER_UID=%u", (unsigned) uid,
                        "VFIOD_CALLER_PID=%d", (int) pid,
                        NULL);
}

void journal_lease(const char *message_id, const Lease *l, const char *what) {
        _cleanup_free_ char *devs = join((const char *const *) l->devices, 256);
        char groups[16 * 64] = "";
        size_t len = 0;

        for (size_t i = 0; i < l->n_groups && i < 64; i++)
                len += snprintf(groups + len, sizeof(groups) - len, "%s%d", len ? " " : "", l->groups[i]);

        sd_journal_send("MESSAGE_ID=%s", message_id,
                        "PRIORITY=%d", LOG_INFO,
                        "MESSAGE=Lease %s (%s) of %s for uid %u: %s", l->id, lease_kind_to_string(l->kind),
                        strna(devs), (unsigned) l->uid, what,
                        "VFIOD_LEASE=%s", l->id,
                        "VFIOD_OPERATION=%s", lease_kind_to_string(l->kind),
                        "VFIOD_DEVICE=%s", strna(devs),
                        "VFIOD_GROUP=%s", groups,
                        "VFIOD_CALLER_UID=%u", (unsigned) l->uid,
                        "VFIOD_CALLER_PID=%d", (int) l->pid,
                        NULL);
}

void journal_device(const char *message_id, const char *device, int group, const char *driver, const char *what) {
        sd_journal_send("MESSAGE_ID=%s", message_id,
                        "PRIORITY=%d", strcmp(message_id, VFIOD_MESSAGE_BIND_FAILED) == 0 ? LOG_ERR : LOG_INFO,
                        "MESSAGE=%s: %s", device, what,
                        "VFIOD_DEVICE=%s", device,
                        "VFIOD_GROUP=%d", group,
                        "VFIOD_DRIVER=%s", strna(driver),
                        NULL);
}
