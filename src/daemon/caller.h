/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <systemd/sd-varlink.h>

#include "policy.h"

#define CALLER_GROUPS_MAX 256

/* Who is asking, as the kernel tells it (SO_PEERCRED / SO_PEERGROUPS), with names resolved
 * for the policy (which matches names and must not do I/O itself). */
typedef struct CallerInfo {
        Caller caller;
        uid_t uid;
        gid_t gid;
        pid_t pid;
        char *user_name;
        char **group_names;       /* NULL-terminated */
        size_t n_group_names;
} CallerInfo;

int caller_from_link(sd_varlink *link, CallerInfo *ret);
/* For Explain(uid): judge as that user would be judged, with the groups the user database gives. */
int caller_from_uid(uid_t uid, CallerInfo *ret);
void caller_info_done(CallerInfo *c);
/* Is the peer in a user namespace other than vfiod's own (the host's)? 1 yes, 0 no, negative errno
 * when it cannot be told (then refuse). Such a caller's uid and groups were picked, within its
 * subordinate ranges, by whoever made the namespace. */
int caller_in_other_userns(sd_varlink *link);
