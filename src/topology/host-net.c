/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <dirent.h>
#include <errno.h>
#include <libudev.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <sys/socket.h>

#include "host-use-internal.h"
#include "log.h"
#include "macro.h"
#include "udev-util.h"

/* Network interfaces the host needs: those with an address or a configured route. */

#define IFINDEX_MAX 4096

static void mark_ifindex(struct udev *udev, Topology *t, int ifindex, const char *why) {
        _cleanup_(udev_device_unrefp) struct udev_device *d = NULL;
        _cleanup_free_ char *what = NULL;
        char name[IF_NAMESIZE];

        if (ifindex <= 0 || !if_indextoname(ifindex, name))
                return;
        d = udev_device_new_from_subsystem_sysname(udev, "net", name);
        log_debug("Interface %d (%s) has %s; sysfs device %s", ifindex, name, why, d ? "found" : "missing");
        if (!d)
                return;
        if (asprintf(&what, "%s has %s", name, why) < 0)
                return;
        host_use_mark(t, d, HOST_USE_ROUTED_IFACE, what);
}

/* One rtnetlink dump; calls back per message. Bounded by the kernel's own dump. */
static int rtnl_dump(int type, void (*cb)(struct nlmsghdr *h, void *ud), void *ud) {
        _cleanup_close_ int fd = -EBADF;
        struct {
                struct nlmsghdr h;
                struct rtgenmsg g;
        } req = {
                .h.nlmsg_len = NLMSG_LENGTH(sizeof(struct rtgenmsg)),
                .h.nlmsg_type = type,
                .h.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP,
                .h.nlmsg_seq = 1,
                .g.rtgen_family = AF_UNSPEC,
        };
        _cleanup_free_ char *buf = NULL;
        const size_t bufsize = 32768;

        fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
        if (fd < 0)
                return negative_errno();
        if (send(fd, &req, req.h.nlmsg_len, 0) < 0)
                return negative_errno();
        buf = malloc(bufsize);
        if (!buf)
                return -ENOMEM;

        for (;;) {
                ssize_t n = recv(fd, buf, bufsize, 0);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return negative_errno();
                }
                if (n == 0)
                        return -EIO;
                for (struct nlmsghdr *h = (struct nlmsghdr *) buf; NLMSG_OK(h, (size_t) n); h = NLMSG_NEXT(h, n)) {
                        if (h->nlmsg_type == NLMSG_DONE)
                                return 0;
                        if (h->nlmsg_type == NLMSG_ERROR)
                                return -EIO;
                        cb(h, ud);
                }
        }
}

typedef struct NetCtx {
        bool *addr, *route;   /* indexed by ifindex, IFINDEX_MAX entries */
} NetCtx;

static void on_addr(struct nlmsghdr *h, void *ud) {
        NetCtx *c = ud;
        struct ifaddrmsg *a = NLMSG_DATA(h);

        if (h->nlmsg_type != RTM_NEWADDR || h->nlmsg_len < NLMSG_LENGTH(sizeof(*a)))
                return;
        /* Link-local (every up IPv6 interface has one) and host scope do not make a NIC busy. */
        if (a->ifa_scope >= RT_SCOPE_LINK)
                return;
        if (a->ifa_index < IFINDEX_MAX)
                c->addr[a->ifa_index] = true;
}

static void on_route(struct nlmsghdr *h, void *ud) {
        NetCtx *c = ud;
        struct rtmsg *m = NLMSG_DATA(h);
        int len;

        if (h->nlmsg_type != RTM_NEWROUTE || h->nlmsg_len < NLMSG_LENGTH(sizeof(*m)))
                return;
        /* Routes the kernel adds for an address are covered by the address; we want the
         * ones someone configured (default routes, static routes). */
        if (m->rtm_table != RT_TABLE_MAIN || m->rtm_type != RTN_UNICAST || m->rtm_protocol == RTPROT_KERNEL)
                return;

        len = RTM_PAYLOAD(h);
        for (struct rtattr *a = RTM_RTA(m); RTA_OK(a, len); a = RTA_NEXT(a, len)) {
                if (a->rta_type == RTA_OIF && RTA_PAYLOAD(a) >= sizeof(int)) {
                        int idx = *(int *) RTA_DATA(a);
                        if (idx > 0 && idx < IFINDEX_MAX)
                                c->route[idx] = true;
                } else if (a->rta_type == RTA_MULTIPATH) {
                        int rem = RTA_PAYLOAD(a);
                        for (struct rtnexthop *nh = RTA_DATA(a); RTNH_OK(nh, rem); rem -= NLMSG_ALIGN(nh->rtnh_len), nh = RTNH_NEXT(nh))
                                if (nh->rtnh_ifindex > 0 && nh->rtnh_ifindex < IFINDEX_MAX)
                                        c->route[nh->rtnh_ifindex] = true;
                }
        }
}

int host_use_apply_net(struct udev *udev, Topology *t) {
        _cleanup_free_ bool *addr = calloc(IFINDEX_MAX, sizeof(bool));
        _cleanup_free_ bool *route = calloc(IFINDEX_MAX, sizeof(bool));
        NetCtx c = { .addr = addr, .route = route };
        int r;

        if (!addr || !route)
                return -ENOMEM;
        r = rtnl_dump(RTM_GETADDR, on_addr, &c);
        if (r < 0)
                return r;
        r = rtnl_dump(RTM_GETROUTE, on_route, &c);
        if (r < 0)
                return r;

        for (int i = 1; i < IFINDEX_MAX; i++) {
                if (addr[i])
                        mark_ifindex(udev, t, i, "an address");
                if (route[i])
                        mark_ifindex(udev, t, i, "a route");
        }
        return 0;
}

