/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

/* <linux/pidfd.h> clashes with <fcntl.h>; the value is ABI (Linux 6.11). */
#ifndef PIDFD_GET_USER_NAMESPACE
#define PIDFD_GET_USER_NAMESPACE _IO(0xFF, 9)
#endif

#include "caller.h"
#include "macro.h"
#include "strv.h"

void caller_info_done(CallerInfo *c) {
        free(c->user_name);
        strv_free_n(c->group_names, c->n_group_names);
        *c = (CallerInfo) { .pidfd = -EBADF };
}

static int add_group_name(CallerInfo *c, gid_t gid) {
        struct group gr, *res = NULL;
        char buf[16384];

        if (getgrgid_r(gid, &gr, buf, sizeof(buf), &res) != 0 || !res)
                return 0;  /* a gid without a name cannot match a rule by name */
        for (size_t i = 0; i < c->n_group_names; i++)
                if (strcmp(c->group_names[i], res->gr_name) == 0)
                        return 0;
        return strv_push_n(&c->group_names, &c->n_group_names, res->gr_name);
}

static int finish(CallerInfo *c, const gid_t *groups, size_t n_groups) {
        struct passwd pw, *res = NULL;
        char buf[16384];
        int r;

        if (getpwuid_r(c->uid, &pw, buf, sizeof(buf), &res) == 0 && res) {
                c->user_name = strdup(res->pw_name);
                if (!c->user_name)
                        return -ENOMEM;
        }
        r = add_group_name(c, c->gid);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n_groups && i < CALLER_GROUPS_MAX; i++) {
                r = add_group_name(c, groups[i]);
                if (r < 0)
                        return r;
        }

        c->caller = (Caller) {
                .uid = c->uid,
                .user_name = c->user_name,
                .group_names = (const char *const *) c->group_names,
        };
        return 0;
}

/* Is the caller in a user namespace other than vfiod's own (the host's)? Such a caller's uid and
 * groups were picked, within its subordinate ranges, by whoever made the namespace. */
static int in_other_userns(int pidfd, pid_t pid) {
        struct stat ours, theirs;
        char path[64];

        if (stat("/proc/self/ns/user", &ours) < 0)
                return -errno;

        if (pidfd >= 0) {
                /* Linux >= 6.11: straight from the process the connection pinned. */
                _cleanup_close_ int ns = ioctl(pidfd, PIDFD_GET_USER_NAMESPACE, 0);

                if (ns >= 0) {
                        if (fstat(ns, &theirs) < 0)
                                return -errno;
                        return theirs.st_dev != ours.st_dev || theirs.st_ino != ours.st_ino;
                }
                if (errno != ENOTTY && errno != EINVAL && errno != EOPNOTSUPP)
                        return -errno;
        }

        /* Older kernels: by pid, and the pidfd (if any) proves afterwards that the pid was not reused. */
        if (pid <= 0)
                return -ESRCH;
        snprintf(path, sizeof(path), "/proc/%d/ns/user", (int) pid);
        if (stat(path, &theirs) < 0)
                return -errno;
        if (pidfd >= 0 && syscall(SYS_pidfd_send_signal, pidfd, 0, NULL, 0) < 0)
                return -errno;
        return theirs.st_dev != ours.st_dev || theirs.st_ino != ours.st_ino;
}

int caller_info_init(CallerInfo *ret, uid_t uid, gid_t gid, pid_t pid, int pidfd, const gid_t *groups, size_t n_groups) {
        _cleanup_(caller_info_done) CallerInfo c = { .uid = uid, .gid = gid, .pid = pid, .pidfd = pidfd };
        int r;

        if (n_groups > CALLER_GROUPS_MAX)
                return -E2BIG;
        c.userns = in_other_userns(pidfd, pid);
        r = finish(&c, groups, n_groups);
        if (r < 0)
                return r;
        *ret = c;
        c = (CallerInfo) {};
        return 0;
}

int caller_from_uid(uid_t uid, CallerInfo *ret) {
        _cleanup_(caller_info_done) CallerInfo c = { .uid = uid, .gid = (gid_t) -1, .pidfd = -EBADF };
        struct passwd pw, *res = NULL;
        char buf[16384];
        gid_t groups[CALLER_GROUPS_MAX];
        int n = CALLER_GROUPS_MAX, r;

        if (getpwuid_r(uid, &pw, buf, sizeof(buf), &res) == 0 && res) {
                c.gid = res->pw_gid;
                if (getgrouplist(res->pw_name, res->pw_gid, groups, &n) < 0)
                        return -E2BIG;
        } else
                n = 0;

        r = finish(&c, groups, n);
        if (r < 0)
                return r;
        *ret = c;
        c = (CallerInfo) {};
        return 0;
}
