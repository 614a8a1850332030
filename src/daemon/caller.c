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
        *c = (CallerInfo) {};
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

int caller_from_link(sd_varlink *link, CallerInfo *ret) {
        _cleanup_(caller_info_done) CallerInfo c = {};
        gid_t groups[CALLER_GROUPS_MAX];
        socklen_t len = sizeof(groups);
        int fd, r;

        r = sd_varlink_get_peer_uid(link, &c.uid);
        if (r < 0)
                return r;
        r = sd_varlink_get_peer_gid(link, &c.gid);
        if (r < 0)
                return r;
        (void) sd_varlink_get_peer_pid(link, &c.pid);

        /* The supplementary groups the peer had when it connected; more than we accept means we
         * cannot judge by group fairly, so refuse rather than judge on a truncated list. */
        fd = sd_varlink_get_fd(link);
        if (fd < 0)
                return fd;
        if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) < 0) {
                if (errno == ERANGE)
                        return -E2BIG;
                return negative_errno();
        }

        r = finish(&c, groups, len / sizeof(gid_t));
        if (r < 0)
                return r;
        *ret = c;
        c = (CallerInfo) {};
        return 0;
}

int caller_from_uid(uid_t uid, CallerInfo *ret) {
        _cleanup_(caller_info_done) CallerInfo c = { .uid = uid, .gid = (gid_t) -1 };
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

int caller_in_other_userns(sd_varlink *link) {
        struct stat ours, theirs;
        char path[64];
        pid_t pid = 0;
        int pidfd, r;

        if (stat("/proc/self/ns/user", &ours) < 0)
                return -errno;

        pidfd = sd_varlink_get_peer_pidfd(link);
        if (pidfd >= 0) {
                /* Linux ≥ 6.11: straight from the process the connection pinned. */
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
        r = sd_varlink_get_peer_pid(link, &pid);
        if (r < 0)
                return r;
        if (pid <= 0)
                return -ESRCH;
        snprintf(path, sizeof(path), "/proc/%d/ns/user", (int) pid);
        if (stat(path, &theirs) < 0)
                return -errno;
        if (pidfd >= 0 && syscall(SYS_pidfd_send_signal, pidfd, 0, NULL, 0) < 0)
                return -errno;
        return theirs.st_dev != ours.st_dev || theirs.st_ino != ours.st_ino;
}
