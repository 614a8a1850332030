/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <systemd/sd-journal.h>
#include <time.h>

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

static uint64_t now_monotonic(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void report_suppressed(const DenialKey *k) {
        sd_journal_send("MESSAGE_ID=" VFIOD_MESSAGE_DENIALS_SUPPRESSED,
                        "PRIORITY=%d", LOG_WARNING,
                        "MESSAGE=Suppressed %u identical denials of %s of %s to uid %u (%s) in the last %llu s.",
                        k->suppressed, k->operation, k->devices, (unsigned) k->uid, k->reasons,
                        (unsigned long long) (DENIALS_WINDOW_USEC / 1000000),
                        "VFIOD_OPERATION=%s", k->operation,
                        "VFIOD_DEVICE=%s", k->devices,
                        "VFIOD_REASONS=%s", k->reasons,
                        "VFIOD_CALLER_UID=%u", (unsigned) k->uid,
                        "VFIOD_SUPPRESSED=%u", k->suppressed,
                        NULL);
}

/* Report (if anything was left out) and forget key i. */
static void key_drop(DenialLimit *l, size_t i) {
        DenialKey *k = &l->keys[i];

        if (k->suppressed > 0)
                (l->report ?: report_suppressed)(k);
        free(k->operation);
        free(k->devices);
        free(k->reasons);
        l->keys[i] = l->keys[--l->n_keys];
        l->keys[l->n_keys] = (DenialKey) {};
}

static void arm_timer(DenialLimit *l) {
        uint64_t next = UINT64_MAX;

        if (!l->timer)
                return;
        for (size_t i = 0; i < l->n_keys; i++)
                if (l->keys[i].suppressed > 0 && l->keys[i].window_end < next)
                        next = l->keys[i].window_end;
        if (next == UINT64_MAX) {
                (void) sd_event_source_set_enabled(l->timer, SD_EVENT_OFF);
                return;
        }
        if (sd_event_source_set_time(l->timer, next) < 0 ||
            sd_event_source_set_enabled(l->timer, SD_EVENT_ONESHOT) < 0)
                /* The count is then logged with the next denial of any kind, or at exit. */
                (void) sd_event_source_set_enabled(l->timer, SD_EVENT_OFF);
}

void denial_limit_expire(DenialLimit *l, uint64_t now) {
        for (size_t i = l->n_keys; i > 0; i--)
                if (l->keys[i - 1].window_end <= now)
                        key_drop(l, i - 1);
}

bool denial_limit_admit(DenialLimit *l, uid_t uid, const char *operation, const char *devices,
                        const char *reasons, uint64_t now) {
        DenialKey *k;

        denial_limit_expire(l, now);
        for (size_t i = 0; i < l->n_keys; i++) {
                k = &l->keys[i];
                if (k->uid == uid && streq_ptr(k->operation, operation) && streq_ptr(k->devices, devices) &&
                    streq_ptr(k->reasons, reasons)) {
                        k->suppressed++;
                        arm_timer(l);
                        return false;
                }
        }

        if (l->n_keys >= DENIALS_KEYS_MAX) {
                /* Full: the window that ends first ends now. */
                size_t oldest = 0;
                for (size_t i = 1; i < l->n_keys; i++)
                        if (l->keys[i].window_end < l->keys[oldest].window_end)
                                oldest = i;
                key_drop(l, oldest);
        }
        k = &l->keys[l->n_keys];
        *k = (DenialKey) {
                .uid = uid,
                .operation = strdup(operation),
                .devices = strdup(devices),
                .reasons = strdup(reasons),
                .window_end = now + DENIALS_WINDOW_USEC,
        };
        if (!k->operation || !k->devices || !k->reasons) {
                free(k->operation);
                free(k->devices);
                free(k->reasons);
                *k = (DenialKey) {};
                return true;   /* log it rather than lose it */
        }
        l->n_keys++;
        return true;
}

static int on_window_end(sd_event_source *s, uint64_t usec, void *userdata) {
        DenialLimit *l = userdata;

        denial_limit_expire(l, now_monotonic());
        arm_timer(l);
        return 0;
}

int denial_limit_start(DenialLimit *l, sd_event *e) {
        int r;

        r = sd_event_add_time(e, &l->timer, CLOCK_MONOTONIC, UINT64_MAX, 0, on_window_end, l);
        if (r < 0)
                return r;
        return sd_event_source_set_enabled(l->timer, SD_EVENT_OFF);
}

void denial_limit_done(DenialLimit *l) {
        while (l->n_keys > 0)
                key_drop(l, l->n_keys - 1);
        l->timer = sd_event_source_disable_unref(l->timer);
}

/* What a journal entry says of a verdict: the devices, their groups (for journalctl VFIOD_GROUP=N),
 * the failed checks' codes and the first failed sentence, which says what to do (the rest is in
 * VFIOD_REASONS and Explain). */
typedef struct VerdictText {
        char *devs, *groups, *reasons, *why;
} VerdictText;

static void verdict_text_done(VerdictText *x) {
        free(x->devs);
        free(x->groups);
        free(x->reasons);
        free(x->why);
}

static void verdict_text(const char *const *devices, const Topology *t, const Verdict *v, VerdictText *ret) {
        const char *codes[64] = {};
        size_t n = 0, len = 0;

        *ret = (VerdictText) {};
        ret->devs = join(devices, 256);
        for (size_t i = 0; v && i < v->n_checks && n < ELEMENTSOF(codes) - 1; i++) {
                bool seen = false;
                if (v->checks[i].passed)
                        continue;
                for (size_t j = 0; j < n; j++)
                        seen = seen || strcmp(codes[j], v->checks[i].code) == 0;
                if (!seen)
                        codes[n++] = v->checks[i].code;
        }
        ret->reasons = join(codes, ELEMENTSOF(codes));

        ret->groups = calloc(1, 16 * 64);
        for (size_t i = 0; ret->groups && devices && devices[i] && i < 64; i++) {
                const PciDevice *d = topology_find_device(t, devices[i]);
                if (d && d->iommu_group >= 0)
                        len += snprintf(ret->groups + len, 16 * 64 - len, "%s%d", len ? " " : "", d->iommu_group);
        }

        for (size_t i = 0; v && i < v->n_checks; i++)
                if (!v->checks[i].passed) {
                        ret->why = strdup(strna(v->checks[i].sentence));
                        break;
                }
}

bool journal_denied(DenialLimit *l, const char *operation, const char *const *devices, const Topology *t, const Verdict *v,
                    uid_t uid, pid_t pid, const LeaseOwner *owner, const char *extra) {
        const LeaseOwner none = {};
        _cleanup_(verdict_text_done) VerdictText x = {};

        verdict_text(devices, t, v, &x);
        if (l && x.devs && x.reasons &&
            !denial_limit_admit(l, uid, operation, x.devs, extra ? extra : x.reasons, now_monotonic()))
                return false;

        sd_journal_send("MESSAGE_ID=" VFIOD_MESSAGE_DENIED,
                        "PRIORITY=%d", LOG_WARNING,
                        "MESSAGE=Denied %s of %s to uid %u: %s (%s)", operation, strna(x.devs), (unsigned) uid,
                        strna(x.reasons), strna(extra ?: x.why),
                        "VFIOD_OPERATION=%s", operation,
                        "VFIOD_DEVICE=%s", strna(x.devs),
                        "VFIOD_GROUP=%s", strempty(x.groups),
                        "VFIOD_REASONS=%s", strna(x.reasons),
                        "VFIOD_CALLER_UID=%u", (unsigned) uid,
                        "VFIOD_CALLER_PID=%d", (int) pid,
                        /* Whom the request was for, as root's caller labelled it (the libvirt hook). */
                        "VFIOD_OWNER_KIND=%s", (owner ?: &none)->kind,
                        "VFIOD_OWNER_NAME=%s", (owner ?: &none)->name,
                        "VFIOD_OWNER_UUID=%s", (owner ?: &none)->uuid,
                        NULL);
        return true;
}

void journal_domain_unchecked(const char *const *devices, const Topology *t, const Verdict *v, const LeaseOwner *owner) {
        _cleanup_(verdict_text_done) VerdictText x = {};

        verdict_text(devices, t, v, &x);
        sd_journal_send("MESSAGE_ID=" VFIOD_MESSAGE_DOMAIN_UNCHECKED,
                        "PRIORITY=%d", LOG_WARNING,
                        "MESSAGE=libvirt domain '%s' uses %s, which vfiod's checks refuse: %s (%s)",
                        owner->name, strna(x.devs), strna(x.reasons), strna(x.why),
                        "VFIOD_OPERATION=hotplug",
                        "VFIOD_DEVICE=%s", strna(x.devs),
                        "VFIOD_GROUP=%s", strempty(x.groups),
                        "VFIOD_REASONS=%s", strna(x.reasons),
                        "VFIOD_OWNER_KIND=%s", owner->kind,
                        "VFIOD_OWNER_NAME=%s", owner->name,
                        "VFIOD_OWNER_UUID=%s", owner->uuid,
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
                        "MESSAGE=Lease %s (%s) of %s for uid %u%s%s%s%s: %s", l->id, lease_kind_to_string(l->kind),
                        strna(devs), (unsigned) l->uid, l->owner.kind[0] ? ", " : "", l->owner.kind,
                        l->owner.kind[0] ? " " : "", l->owner.name, what,
                        "VFIOD_OWNER_KIND=%s", l->owner.kind,
                        "VFIOD_OWNER_NAME=%s", l->owner.name,
                        "VFIOD_OWNER_UUID=%s", l->owner.uuid,
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
