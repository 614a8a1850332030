/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The read-only calls and Reload, decided here for every front-end: who may see what, who may
 * ask on someone else's behalf, who may reload. The front-ends only translate. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "broker.h"
#include "info.h"
#include "log.h"
#include "macro.h"
#include "query.h"

int broker_get_info(Broker *b, const CallerInfo *caller, sd_json_variant **ret) {
        int r;

        r = broker_refresh_facts(b);
        if (r < 0)
                return r;
        /* Policy paths, rule names and load errors are root's to read; others get a summary. */
        return info_build(b, caller->uid == 0, ret);
}

int broker_list_devices(Broker *b, const CallerInfo *caller, sd_json_variant **ret) {
        int r;

        r = broker_refresh_facts(b);
        if (r < 0)
                return r;
        return query_list_devices(&b->topology, &b->policy, &caller->caller, ret);
}

int broker_list_groups(Broker *b, const CallerInfo *caller, sd_json_variant **ret) {
        int r;

        r = broker_refresh_facts(b);
        if (r < 0)
                return r;
        return query_list_groups(&b->topology, &b->policy, &caller->caller, ret);
}

int broker_explain(Broker *b, const CallerInfo *caller, const char *const *devices, uid_t as_uid,
                   sd_json_variant **ret, const char **ret_missing) {
        _cleanup_(caller_info_done) CallerInfo as = { .pidfd = -EBADF };
        const Caller *judged = &caller->caller;
        int r;

        /* Asking on someone else's behalf reveals what they may do: root only. */
        if (as_uid != (uid_t) -1 && as_uid != caller->uid) {
                if (caller->uid != 0)
                        return -EPERM;
                r = caller_from_uid(as_uid, &as);
                if (r < 0)
                        return r;
                judged = &as.caller;
        }

        /* Membership first: it may re-read devices, and the facts are marked on what it read. */
        r = broker_refresh_groups(b, devices);
        if (r < 0)
                return r;
        r = broker_refresh_facts(b);
        if (r < 0)
                return r;
        return query_explain(&b->topology, &b->policy, judged, devices, ret, ret_missing);
}

int broker_list_leases(Broker *b, const CallerInfo *caller, sd_json_variant **ret) {
        _cleanup_(sd_json_variant_unrefp) sd_json_variant *a = NULL;
        int r;

        r = sd_json_variant_new_array(&a, NULL, 0);
        if (r < 0)
                return r;
        for (size_t i = 0; i < b->n_leases; i++) {
                const Lease *l = b->leases[i];
                _cleanup_(sd_json_variant_unrefp) sd_json_variant *groups = NULL, *owner = NULL;

                /* Other users' lease ids, uids and pids are theirs. */
                if (caller->uid != 0 && caller->uid != l->uid)
                        continue;
                r = lease_owner_is_set(&l->owner) ? lease_owner_to_json(&l->owner, &owner) : 0;
                if (r >= 0)
                        r = sd_json_variant_new_array(&groups, NULL, 0);
                for (size_t k = 0; r >= 0 && k < l->n_groups; k++)
                        r = sd_json_variant_append_arrayb(&groups, SD_JSON_BUILD_INTEGER(l->groups[k]));
                if (r >= 0)
                        r = sd_json_variant_append_arraybo(
                                        &a,
                                        SD_JSON_BUILD_PAIR_STRING("id", l->id),
                                        SD_JSON_BUILD_PAIR_STRING("kind", lease_kind_to_string(l->kind)),
                                        SD_JSON_BUILD_PAIR_STRING("state", lease_state_to_string(l)),
                                        SD_JSON_BUILD_PAIR_UNSIGNED("uid", l->uid),
                                        SD_JSON_BUILD_PAIR_CONDITION(l->pid > 0, "pid", SD_JSON_BUILD_INTEGER(l->pid)),
                                        SD_JSON_BUILD_PAIR_STRV("devices", l->devices),
                                        SD_JSON_BUILD_PAIR_VARIANT("groups", groups),
                                        SD_JSON_BUILD_PAIR_UNSIGNED("since", l->since_usec),
                                        SD_JSON_BUILD_PAIR_BOOLEAN("restoreOnRelease", l->restore_on_release),
                                        SD_JSON_BUILD_PAIR_CONDITION(!!owner, "owner", SD_JSON_BUILD_VARIANT(owner)));
                if (r < 0)
                        return r;
        }
        return sd_json_buildo(ret, SD_JSON_BUILD_PAIR_VARIANT("leases", a));
}

int broker_reload(Broker *b, const CallerInfo *caller, sd_json_variant **ret, char **ret_error) {
        _cleanup_(sd_json_variant_unrefp) sd_json_variant *files = NULL;
        int r;

        *ret_error = NULL;
        if (caller->uid != 0)
                return -EPERM;
        r = broker_reload_policy(b, ret_error);
        if (r < 0) {
                if (!*ret_error)
                        *ret_error = strdup(strerror(-r));
                return r == -EPERM ? -EINVAL : r;   /* -EPERM means the caller; a file's mode is a bad policy */
        }
        r = query_policy_files(&b->policy, &files);
        if (r < 0)
                return r;
        return sd_json_buildo(ret, SD_JSON_BUILD_PAIR_VARIANT("files", files));
}
