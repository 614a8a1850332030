/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "facts.h"
#include "test-hooks.h"
#include "log.h"
#include "macro.h"

/* Messages taken per wakeup; the rest waits for the next one (the facts are dirty anyway). */
#define RTNL_DRAIN_MAX 1024

void facts_mark_dirty(Facts *f) {
        f->dirty = true;
}

/* Any message means something changed: which one does not matter, the collectors read it all. */
static void rtnl_drain(Facts *f) {
        char buf[4096];

        for (unsigned i = 0; f->rtnl_fd >= 0 && i < RTNL_DRAIN_MAX; i++) {
                ssize_t n = recv(f->rtnl_fd, buf, sizeof(buf), MSG_DONTWAIT | MSG_TRUNC);

                if (n < 0 && errno == EAGAIN)
                        return;
                if (n < 0 && errno == EINTR)
                        continue;
                /* ENOBUFS: the kernel dropped notifications; we read everything anyway. */
                f->dirty = true;
                if (n < 0 && errno != ENOBUFS) {
                        log_debug_errno(errno, "Failed to read rtnetlink notifications: %m");
                        return;
                }
        }
}

static int on_rtnl(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        rtnl_drain(userdata);
        return 0;
}

/* mountinfo and swaps: POLLPRI once per change since the last poll of this fd. */
static int on_proc_change(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        facts_mark_dirty(userdata);
        return 0;
}

static void proc_poll(Facts *f, int fd) {
        struct pollfd p = { .fd = fd, .events = POLLPRI };

        if (fd >= 0 && poll(&p, 1, 0) > 0 && (p.revents & (POLLPRI | POLLERR)))
                f->dirty = true;
}

bool facts_stale(Facts *f, uint64_t now) {
        rtnl_drain(f);
        proc_poll(f, f->mountinfo_fd);
        proc_poll(f, f->swaps_fd);
        return !f->watched || f->dirty || f->read_usec == 0 || now >= f->read_usec + FACTS_MAX_AGE_USEC;
}

void facts_read_done(Facts *f, uint64_t now) {
        f->dirty = false;
        f->read_usec = now;
}

static int rtnl_open(void) {
        _cleanup_close_ int fd = -EBADF;
        struct sockaddr_nl sa = {
                .nl_family = AF_NETLINK,
                .nl_groups = RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR |
                             RTMGRP_IPV4_ROUTE | RTMGRP_IPV6_ROUTE,
        };
        int group = RTNLGRP_NEXTHOP, size = 1024 * 1024;

        fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_ROUTE);
        if (fd < 0)
                return negative_errno();
        /* A burst (a routing daemon loading its table) may overflow it: ENOBUFS, handled. */
        (void) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
        if (bind(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0)
                return negative_errno();
        /* Nexthop objects (group 32) are past the legacy bitmask. */
        if (setsockopt(fd, SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, &group, sizeof(group)) < 0)
                return negative_errno();
        return TAKE_FD(fd);
}

static int watch_proc(sd_event *e, Facts *f, const char *path, int *ret_fd, sd_event_source **ret_source) {
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        int r;

        if (fd < 0)
                return negative_errno();
        r = sd_event_add_io(e, ret_source, fd, EPOLLPRI, on_proc_change, f);
        if (r < 0)
                return r;
        *ret_fd = TAKE_FD(fd);
        return 0;
}

void facts_init(Facts *f) {
        *f = (Facts) { .rtnl_fd = -EBADF, .mountinfo_fd = -EBADF, .swaps_fd = -EBADF };
}

int facts_start(Facts *f, sd_event *e) {
        int r;

        facts_init(f);

        /* Tests give the collectors recorded /proc files, which never notify: read per call. */
        if (test_hook_getenv("VFIOD_TEST_PROC"))
                return 0;

        r = rtnl_open();
        if (r >= 0) {
                f->rtnl_fd = r;
                r = sd_event_add_io(e, &f->rtnl_source, f->rtnl_fd, EPOLLIN, on_rtnl, f);
        }
        if (r >= 0)
                r = watch_proc(e, f, "/proc/self/mountinfo", &f->mountinfo_fd, &f->mountinfo_source);
        if (r >= 0)
                r = watch_proc(e, f, "/proc/swaps", &f->swaps_fd, &f->swaps_source);
        if (r < 0) {
                /* Not fatal: without notifications every decision reads the facts, as before. */
                log_warning_errno(r, "Failed to watch routes and mounts, reading them for every call: %m");
                facts_done(f);
                return 0;
        }

        /* Before any call on the same iteration, so a change made just before a call is seen. */
        (void) sd_event_source_set_priority(f->rtnl_source, SD_EVENT_PRIORITY_IMPORTANT);
        (void) sd_event_source_set_priority(f->mountinfo_source, SD_EVENT_PRIORITY_IMPORTANT);
        (void) sd_event_source_set_priority(f->swaps_source, SD_EVENT_PRIORITY_IMPORTANT);
        f->watched = true;
        return 0;
}

void facts_done(Facts *f) {
        f->rtnl_source = sd_event_source_disable_unref(f->rtnl_source);
        f->mountinfo_source = sd_event_source_disable_unref(f->mountinfo_source);
        f->swaps_source = sd_event_source_disable_unref(f->swaps_source);
        closep(&f->rtnl_fd);
        closep(&f->mountinfo_fd);
        closep(&f->swaps_fd);
        f->rtnl_fd = f->mountinfo_fd = f->swaps_fd = -EBADF;
        f->watched = false;
}
