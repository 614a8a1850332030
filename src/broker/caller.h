/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <sys/types.h>

#include "policy.h"

#define CALLER_GROUPS_MAX 256

/* Who is asking, as the kernel tells the front-end (SO_PEERCRED, SO_PEERGROUPS, SO_PEERPIDFD on
 * varlink; the bus daemon's credentials on D-Bus), with names resolved for the policy (which
 * matches names and must not do I/O itself). Nothing in it comes from what the caller says. */
typedef struct CallerInfo {
        Caller caller;
        uid_t uid;
        gid_t gid;
        pid_t pid;                /* 0: unknown */
        int pidfd;                /* the kernel's pidfd for the caller, borrowed; -EBADF: none */
        int userns;               /* 1: in a user namespace other than ours, 0: ours, <0: cannot tell */
        char *user_name;
        char **group_names;       /* NULL-terminated */
        size_t n_group_names;
} CallerInfo;

/* From the transport's credentials. -E2BIG: more supplementary groups than CALLER_GROUPS_MAX
 * (judging by a truncated list would not be fair: refuse). pidfd is borrowed, not taken. */
int caller_info_init(CallerInfo *ret, uid_t uid, gid_t gid, pid_t pid, int pidfd, const gid_t *groups, size_t n_groups);
/* For Explain(uid): judge as that user would be judged, with the groups the user database gives. */
int caller_from_uid(uid_t uid, CallerInfo *ret);
void caller_info_done(CallerInfo *c);
