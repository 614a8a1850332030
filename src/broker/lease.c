/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-id128.h>
#include <time.h>
#include <unistd.h>

#include "fileio.h"
#include "lease.h"
#include "macro.h"
#include "pci-address.h"
#include "strv.h"

static const char *const kind_table[_LEASE_KIND_MAX] = {
        [LEASE_ACQUIRE] = "acquire",
        [LEASE_BIND] = "bind",
};

static const char *const phase_table[_LEASE_PHASE_MAX] = {
        [LEASE_PHASE_BINDING] = "binding",
        [LEASE_PHASE_ACTIVE] = "active",
        [LEASE_PHASE_RESTORING] = "restoring",
};

const char *lease_kind_to_string(LeaseKind k) {
        return k >= 0 && k < _LEASE_KIND_MAX ? kind_table[k] : NULL;
}

const char *lease_phase_to_string(LeasePhase p) {
        return p >= 0 && p < _LEASE_PHASE_MAX ? phase_table[p] : NULL;
}

const char *lease_state_to_string(const Lease *l) {
        return l->orphaned ? "orphaned" : lease_phase_to_string(l->phase);
}

/* sd-json 257 has no public array iterator. */
#define VARIANT_ARRAY_FOREACH(e, a) \
        for (size_t _i = 0; _i < sd_json_variant_elements(a) && ((e) = sd_json_variant_by_index((a), _i)); _i++)

static int from_table(const char *const *table, int n, const char *s) {
        for (int i = 0; i < n; i++)
                if (s && strcmp(table[i], s) == 0)
                        return i;
        return -EINVAL;
}

Lease *lease_free(Lease *l) {
        if (!l)
                return NULL;
        sd_event_source_disable_unref(l->pidfd_source);
        sd_event_source_disable_unref(l->retry_source);
        if (l->pidfd >= 0)
                close(l->pidfd);
        strv_free_n(l->devices, l->n_devices);
        free(l->groups);
        free(l->moved);
        free(l);
        return NULL;
}

int lease_new(LeaseKind kind, uid_t uid, pid_t pid, Lease **ret) {
        Lease *l;
        sd_id128_t id;
        struct timespec ts;
        int r;

        r = sd_id128_randomize(&id);
        if (r < 0)
                return r;
        l = calloc(1, sizeof(Lease));
        if (!l)
                return -ENOMEM;
        sd_id128_to_string(id, l->id);
        l->kind = kind;
        l->phase = LEASE_PHASE_BINDING;
        l->uid = uid;
        l->pid = pid;
        l->pidfd = -EBADF;
        l->restore_on_release = true;
        clock_gettime(CLOCK_REALTIME, &ts);
        l->since_usec = (uint64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
        *ret = l;
        return 0;
}

bool lease_id_is_valid(const char *id) {
        return id && strlen(id) == LEASE_ID_STRLEN && strspn(id, "0123456789abcdef") == LEASE_ID_STRLEN;
}

bool lease_has_device(const Lease *l, const char *address) {
        for (size_t i = 0; i < l->n_devices; i++)
                if (strcmp(l->devices[i], address) == 0)
                        return true;
        for (size_t i = 0; i < l->n_moved; i++)
                if (strcmp(l->moved[i].address, address) == 0)
                        return true;
        return false;
}

bool lease_has_group(const Lease *l, int group) {
        for (size_t i = 0; i < l->n_groups; i++)
                if (l->groups[i] == group)
                        return true;
        return false;
}

bool utf8_is_printable(const char *s, size_t max) {
        const unsigned char *p = (const unsigned char *) s;
        size_t n = 0;

        while (*p) {
                uint32_t c;
                unsigned len;

                if (++n > max)
                        return false;
                if (*p < 0x80) {
                        if (*p < 0x20 || *p == 0x7f)
                                return false;
                        p++;
                        continue;
                }
                if ((*p & 0xe0) == 0xc0)
                        len = 2, c = *p & 0x1f;
                else if ((*p & 0xf0) == 0xe0)
                        len = 3, c = *p & 0x0f;
                else if ((*p & 0xf8) == 0xf0)
                        len = 4, c = *p & 0x07;
                else
                        return false;
                for (unsigned i = 1; i < len; i++) {
                        if ((p[i] & 0xc0) != 0x80)
                                return false;
                        c = (c << 6) | (p[i] & 0x3f);
                }
                /* Overlong forms, surrogates, beyond U+10FFFF, C1 controls. */
                if ((len == 2 && c < 0x80) || (len == 3 && c < 0x800) || (len == 4 && c < 0x10000) ||
                    (c >= 0xd800 && c <= 0xdfff) || c > 0x10ffff || (c >= 0x80 && c < 0xa0))
                        return false;
                n += len - 1;
                if (n > max)
                        return false;
                p += len;
        }
        return true;
}

bool lease_owner_is_set(const LeaseOwner *o) {
        return o && o->kind[0];
}

int lease_owner_set(LeaseOwner *o, const char *kind, const char *name, const char *uuid) {
        static const int dashes[] = { 8, 13, 18, 23 };
        LeaseOwner n = {};

        if (!kind || !name || !uuid)
                return -EINVAL;
        if (strlen(kind) == 0 || strlen(kind) > LEASE_OWNER_KIND_MAX ||
            strspn(kind, "abcdefghijklmnopqrstuvwxyz0123456789-") != strlen(kind))
                return -EINVAL;
        if (!*name || strlen(name) > LEASE_OWNER_NAME_MAX || !utf8_is_printable(name, LEASE_OWNER_NAME_MAX))
                return -EINVAL;
        if (strlen(uuid) != LEASE_OWNER_UUID_STRLEN)
                return -EINVAL;
        for (size_t i = 0, d = 0; i < LEASE_OWNER_UUID_STRLEN; i++) {
                if (d < ELEMENTSOF(dashes) && (int) i == dashes[d]) {
                        if (uuid[i] != '-')
                                return -EINVAL;
                        d++;
                } else if (!strchr("0123456789abcdefABCDEF", uuid[i]))
                        return -EINVAL;
                n.uuid[i] = uuid[i] >= 'A' && uuid[i] <= 'F' ? uuid[i] - 'A' + 'a' : uuid[i];
        }
        strcpy(n.kind, kind);
        strcpy(n.name, name);
        *o = n;
        return 0;
}

int lease_owner_to_json(const LeaseOwner *o, sd_json_variant **ret) {
        return sd_json_buildo(ret,
                              SD_JSON_BUILD_PAIR_STRING("kind", o->kind),
                              SD_JSON_BUILD_PAIR_STRING("name", o->name),
                              SD_JSON_BUILD_PAIR_STRING("uuid", o->uuid));
}

int lease_owner_from_json(sd_json_variant *v, LeaseOwner *ret) {
        sd_json_variant *k, *n, *u;

        if (!sd_json_variant_is_object(v) || sd_json_variant_elements(v) != 6)
                return -EINVAL;
        k = sd_json_variant_by_key(v, "kind");
        n = sd_json_variant_by_key(v, "name");
        u = sd_json_variant_by_key(v, "uuid");
        if (!sd_json_variant_is_string(k) || !sd_json_variant_is_string(n) || !sd_json_variant_is_string(u))
                return -EINVAL;
        return lease_owner_set(ret, sd_json_variant_string(k), sd_json_variant_string(n), sd_json_variant_string(u));
}

int pid_get_starttime(pid_t pid, uint64_t *ret) {
        _cleanup_free_ char *path = NULL, *stat = NULL;
        unsigned long long st;
        const char *p;
        int r;

        if (asprintf(&path, "/proc/%d/stat", (int) pid) < 0)
                return -ENOMEM;
        r = read_full_file_bounded(path, 4096, &stat, NULL);
        if (r == -ENOENT)
                return -ESRCH;
        if (r < 0)
                return r;
        /* The command name may contain spaces and parentheses: skip past the last ')'. */
        p = strrchr(stat, ')');
        if (!p)
                return -EBADMSG;
        /* Fields after comm: state(3) ... starttime is field 22, i.e. the 20th after ')'. */
        if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d %*d %*d %llu", &st) != 1)
                return -EBADMSG;
        *ret = st;
        return 0;
}

int lease_to_json(const Lease *l, sd_json_variant **ret) {
        _cleanup_(sd_json_variant_unrefp) sd_json_variant *groups = NULL, *moved = NULL, *owner = NULL;
        int r;

        if (lease_owner_is_set(&l->owner)) {
                r = lease_owner_to_json(&l->owner, &owner);
                if (r < 0)
                        return r;
        }

        r = sd_json_variant_new_array(&groups, NULL, 0);
        if (r < 0)
                return r;
        for (size_t i = 0; i < l->n_groups; i++) {
                r = sd_json_variant_append_arrayb(&groups, SD_JSON_BUILD_INTEGER(l->groups[i]));
                if (r < 0)
                        return r;
        }
        r = sd_json_variant_new_array(&moved, NULL, 0);
        if (r < 0)
                return r;
        for (size_t i = 0; i < l->n_moved; i++) {
                r = sd_json_variant_append_arraybo(
                                &moved,
                                SD_JSON_BUILD_PAIR_STRING("address", l->moved[i].address),
                                SD_JSON_BUILD_PAIR_STRING("originalDriver", l->moved[i].original_driver),
                                SD_JSON_BUILD_PAIR_STRING("originalOverride", l->moved[i].original_override),
                                SD_JSON_BUILD_PAIR_CONDITION(l->moved[i].sriov_numvfs > 0, "sriovNumvfs",
                                                             SD_JSON_BUILD_UNSIGNED(l->moved[i].sriov_numvfs)),
                                SD_JSON_BUILD_PAIR_CONDITION(l->moved[i].vendor != 0, "vendor", SD_JSON_BUILD_UNSIGNED(l->moved[i].vendor)),
                                SD_JSON_BUILD_PAIR_CONDITION(l->moved[i].vendor != 0, "device", SD_JSON_BUILD_UNSIGNED(l->moved[i].device)),
                                SD_JSON_BUILD_PAIR_CONDITION(l->moved[i].vendor != 0, "group", SD_JSON_BUILD_INTEGER(l->moved[i].group)),
                                SD_JSON_BUILD_PAIR_CONDITION(l->moved[i].reprobe, "reprobe", SD_JSON_BUILD_BOOLEAN(true)));
                if (r < 0)
                        return r;
        }

        return sd_json_buildo(
                        ret,
                        SD_JSON_BUILD_PAIR_STRING("id", l->id),
                        SD_JSON_BUILD_PAIR_STRING("kind", lease_kind_to_string(l->kind)),
                        SD_JSON_BUILD_PAIR_STRING("phase", lease_phase_to_string(l->phase)),
                        SD_JSON_BUILD_PAIR_UNSIGNED("uid", l->uid),
                        SD_JSON_BUILD_PAIR_INTEGER("pid", l->pid),
                        SD_JSON_BUILD_PAIR_UNSIGNED("pidStartTime", l->pid_starttime),
                        SD_JSON_BUILD_PAIR_UNSIGNED("since", l->since_usec),
                        SD_JSON_BUILD_PAIR_BOOLEAN("restoreOnRelease", l->restore_on_release),
                        SD_JSON_BUILD_PAIR_STRV("devices", l->devices),
                        SD_JSON_BUILD_PAIR_VARIANT("groups", groups),
                        SD_JSON_BUILD_PAIR_VARIANT("moved", moved),
                        SD_JSON_BUILD_PAIR_CONDITION(!!owner, "owner", SD_JSON_BUILD_VARIANT(owner)));
}

static int copy_driver_name(char dst[static BINDER_DRIVER_MAX], const char *s) {
        if (!s || strlen(s) >= BINDER_DRIVER_MAX || strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") != strlen(s))
                return -EBADMSG;
        strcpy(dst, s);
        return 0;
}

int lease_from_json(sd_json_variant *v, Lease **ret) {
        _cleanup_(lease_freep) Lease *l = NULL;
        sd_json_variant *e, *a;
        const char *s;
        int k, r;

        if (!sd_json_variant_is_object(v))
                return -EBADMSG;
        l = calloc(1, sizeof(Lease));
        if (!l)
                return -ENOMEM;
        l->pidfd = -EBADF;

#define STR(key) (sd_json_variant_is_string(e = sd_json_variant_by_key(v, key)) ? sd_json_variant_string(e) : NULL)
#define UNS(key) (sd_json_variant_is_unsigned(e = sd_json_variant_by_key(v, key)) ? sd_json_variant_unsigned(e) : UINT64_MAX)
        s = STR("id");
        if (!s || strlen(s) != LEASE_ID_STRLEN || strspn(s, "0123456789abcdef") != LEASE_ID_STRLEN)
                return -EBADMSG;
        strcpy(l->id, s);
        if ((k = from_table(kind_table, _LEASE_KIND_MAX, STR("kind"))) < 0)
                return -EBADMSG;
        l->kind = k;
        if ((k = from_table(phase_table, _LEASE_PHASE_MAX, STR("phase"))) < 0)
                return -EBADMSG;
        l->phase = k;
        if (UNS("uid") >= UINT32_MAX || UNS("pid") > INT32_MAX || UNS("since") == UINT64_MAX || UNS("pidStartTime") == UINT64_MAX)
                return -EBADMSG;
        l->uid = (uid_t) UNS("uid");
        l->pid = (pid_t) UNS("pid");
        l->pid_starttime = UNS("pidStartTime");
        l->since_usec = UNS("since");
        e = sd_json_variant_by_key(v, "restoreOnRelease");
        if (!sd_json_variant_is_boolean(e))
                return -EBADMSG;
        l->restore_on_release = sd_json_variant_boolean(e);
#undef STR
#undef UNS
        /* Optional (older journals and most leases have none), strict when present. */
        e = sd_json_variant_by_key(v, "owner");
        if (e && lease_owner_from_json(e, &l->owner) < 0)
                return -EBADMSG;

        a = sd_json_variant_by_key(v, "devices");
        if (!sd_json_variant_is_array(a) || sd_json_variant_elements(a) > LEASE_DEVICES_MAX)
                return -EBADMSG;
        VARIANT_ARRAY_FOREACH(e, a) {
                if (!sd_json_variant_is_string(e) || !pci_address_is_valid(sd_json_variant_string(e)))
                        return -EBADMSG;
                r = strv_push_n(&l->devices, &l->n_devices, sd_json_variant_string(e));
                if (r < 0)
                        return r;
        }

        a = sd_json_variant_by_key(v, "groups");
        if (!sd_json_variant_is_array(a) || sd_json_variant_elements(a) > LEASE_DEVICES_MAX)
                return -EBADMSG;
        l->groups = calloc(sd_json_variant_elements(a) + 1, sizeof(int));
        if (!l->groups)
                return -ENOMEM;
        VARIANT_ARRAY_FOREACH(e, a) {
                if (!sd_json_variant_is_unsigned(e) || sd_json_variant_unsigned(e) > INT32_MAX)
                        return -EBADMSG;
                l->groups[l->n_groups++] = sd_json_variant_unsigned(e);
        }

        a = sd_json_variant_by_key(v, "moved");
        if (!sd_json_variant_is_array(a) || sd_json_variant_elements(a) > LEASE_DEVICES_MAX)
                return -EBADMSG;
        l->moved = calloc(sd_json_variant_elements(a) + 1, sizeof(BindDevice));
        if (!l->moved)
                return -ENOMEM;
        VARIANT_ARRAY_FOREACH(e, a) {
                BindDevice *b = &l->moved[l->n_moved];
                sd_json_variant *f;

                f = sd_json_variant_by_key(e, "address");
                if (!sd_json_variant_is_string(f) || !pci_address_is_valid(sd_json_variant_string(f)))
                        return -EBADMSG;
                strcpy(b->address, sd_json_variant_string(f));
                f = sd_json_variant_by_key(e, "originalDriver");
                if (!sd_json_variant_is_string(f))
                        return -EBADMSG;
                if (*sd_json_variant_string(f) && copy_driver_name(b->original_driver, sd_json_variant_string(f)) < 0)
                        return -EBADMSG;
                f = sd_json_variant_by_key(e, "originalOverride");
                if (!sd_json_variant_is_string(f))
                        return -EBADMSG;
                if (*sd_json_variant_string(f) && copy_driver_name(b->original_override, sd_json_variant_string(f)) < 0)
                        return -EBADMSG;
                /* Journals written before SR-IOV was recorded have no such key: no VFs to recreate. */
                f = sd_json_variant_by_key(e, "sriovNumvfs");
                if (f && (!sd_json_variant_is_unsigned(f) || sd_json_variant_unsigned(f) > BINDER_SRIOV_NUMVFS_MAX))
                        return -EBADMSG;
                b->sriov_numvfs = f ? sd_json_variant_unsigned(f) : 0;
                /* Optional (older journals lack them), but all three or none. */
                f = sd_json_variant_by_key(e, "vendor");
                if (f) {
                        sd_json_variant *fd = sd_json_variant_by_key(e, "device"), *fg = sd_json_variant_by_key(e, "group");

                        if (!sd_json_variant_is_unsigned(f) || sd_json_variant_unsigned(f) == 0 || sd_json_variant_unsigned(f) > UINT16_MAX ||
                            !sd_json_variant_is_unsigned(fd) || sd_json_variant_unsigned(fd) > UINT16_MAX ||
                            !sd_json_variant_is_unsigned(fg) || sd_json_variant_unsigned(fg) > INT32_MAX)
                                return -EBADMSG;
                        b->vendor = sd_json_variant_unsigned(f);
                        b->device = sd_json_variant_unsigned(fd);
                        b->group = sd_json_variant_unsigned(fg);
                } else if (sd_json_variant_by_key(e, "device") || sd_json_variant_by_key(e, "group"))
                        return -EBADMSG;
                f = sd_json_variant_by_key(e, "reprobe");
                if (f && !sd_json_variant_is_boolean(f))
                        return -EBADMSG;
                b->reprobe = f && sd_json_variant_boolean(f);
                l->n_moved++;
        }

        /* A lease that names no device cannot be ended or shown (and once crashed the start).
         * If it moved nothing either, there is nothing to undo: -ENODATA lets the caller drop it. */
        if (l->n_devices == 0 || l->n_groups == 0)
                return l->n_moved == 0 ? -ENODATA : -EBADMSG;

        *ret = TAKE_PTR(l);
        return 0;
}
