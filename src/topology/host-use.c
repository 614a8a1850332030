/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <dirent.h>
#include <errno.h>
#include <libudev.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/sysmacros.h>

#include "fileio.h"
#include "host-use.h"
#include "log.h"
#include "macro.h"
#include "udev-util.h"


#define BLOCK_DEPTH_MAX 8
#define DETAIL_MAX 256
#define IFINDEX_MAX 4096

static void mark(Topology *t, struct udev_device *d, HostUse use, const char *what) {
        struct udev_device *pci = udev_device_get_parent_with_subsystem_devtype(d, "pci", NULL);
        PciDevice *p;
        size_t l;

        if (!pci)
                return;
        p = (PciDevice *) topology_find_device(t, udev_device_get_sysname(pci));
        if (!p)
                return;
        p->host_use |= use;

        /* Keep the first few reasons; enough for a person to recognise the device. */
        l = p->host_use_detail ? strlen(p->host_use_detail) : 0;
        if (l + strlen(what) + 3 > DETAIL_MAX || (p->host_use_detail && strstr(p->host_use_detail, what)))
                return;
        char *n = realloc(p->host_use_detail, l + strlen(what) + 3);
        if (!n)
                return;
        if (l > 0)
                strcpy(n + l, "; ");
        else
                n[0] = '\0';
        strcat(n, what);
        p->host_use_detail = n;
}

static void mark_block(struct udev *udev, Topology *t, struct udev_device *d, const char *mnt, unsigned depth) {
        _cleanup_free_ char *what = NULL, *slaves = NULL;
        _cleanup_closedir_ DIR *dir = NULL;
        struct udev_device *disk = d;
        struct dirent *de;

        if (depth > BLOCK_DEPTH_MAX)
                return;

        if (asprintf(&what, "%s on %s", mnt, udev_device_get_sysname(d)) < 0)
                return;
        mark(t, d, HOST_USE_ROOT_STORAGE, what);

        /* dm, md and LVM sit on other block devices: follow "slaves" down to the hardware.
         * A partition's slaves are listed on its disk. */
        if (strcmp(udev_device_get_devtype(d) ?: "", "partition") == 0)
                disk = udev_device_get_parent(d) ?: d;
        if (asprintf(&slaves, "%s/slaves", udev_device_get_syspath(disk)) < 0)
                return;
        dir = opendir(slaves);
        if (!dir)
                return;
        while ((de = readdir(dir))) {
                _cleanup_(udev_device_unrefp) struct udev_device *s = NULL;

                if (de->d_name[0] == '.')
                        continue;
                s = udev_device_new_from_subsystem_sysname(udev, "block", de->d_name);
                if (s)
                        mark_block(udev, t, s, mnt, depth + 1);
        }
}

/* mountinfo escapes space, tab, newline and backslash as \ooo. */
static void unescape(char *s) {
        char *w = s;
        for (char *r = s; *r; ) {
                if (r[0] == '\\' && r[1] >= '0' && r[1] <= '3' && r[2] >= '0' && r[2] <= '7' && r[3] >= '0' && r[3] <= '7') {
                        *w++ = (char) ((r[1] - '0') * 64 + (r[2] - '0') * 8 + (r[3] - '0'));
                        r += 4;
                } else
                        *w++ = *r++;
        }
        *w = '\0';
}

static int apply_mounts(struct udev *udev, Topology *t) {
        _cleanup_free_ char *text = NULL;
        char *save = NULL;
        int r;

        r = read_proc_file("self/mountinfo", 16 * 1024 * 1024, &text);
        if (r < 0)
                return r;

        for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                _cleanup_(udev_device_unrefp) struct udev_device *d = NULL;
                unsigned maj, min;
                char mnt[4096];

                /* id parent major:minor root mountpoint ... */
                if (sscanf(line, "%*u %*u %u:%u %*s %4095s", &maj, &min, mnt) != 3)
                        continue;
                if (maj == 0)
                        continue;  /* not backed by a block device */
                unescape(mnt);
                d = udev_device_new_from_devnum(udev, 'b', makedev(maj, min));
                if (d)
                        mark_block(udev, t, d, mnt, 0);
        }
        return 0;
}

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
        mark(t, d, HOST_USE_ROUTED_IFACE, what);
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

static int apply_routes(struct udev *udev, Topology *t) {
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

static bool console_bound(void) {
        _cleanup_closedir_ DIR *dir = opendir("/sys/class/vtconsole");
        struct dirent *de;

        if (!dir)
                return false;
        while ((de = readdir(dir))) {
                _cleanup_free_ char *p = NULL, *bind = NULL, *name = NULL;

                if (de->d_name[0] == '.')
                        continue;
                if (asprintf(&p, "/sys/class/vtconsole/%s/bind", de->d_name) < 0 || read_one_line_file(p, &bind) < 0)
                        continue;
                free(p);
                if (asprintf(&p, "/sys/class/vtconsole/%s/name", de->d_name) < 0 || read_one_line_file(p, &name) < 0)
                        continue;
                /* "dummy device" is the placeholder when no real console driver is bound. */
                if (strcmp(bind, "1") == 0 && !strstr(name, "dummy device"))
                        return true;
        }
        return false;
}

int host_use_apply(struct udev *udev, Topology *t) {
        bool console;
        int r, ret = 0;

        for (size_t i = 0; i < t->n_devices; i++) {
                t->devices[i].host_use = 0;
                free(t->devices[i].host_use_detail);
                t->devices[i].host_use_detail = NULL;
        }

        /* Failing to read mounts or routes must not make a device look free: report it, and
         * the caller fails closed. */
        r = apply_mounts(udev, t);
        if (r < 0)
                ret = r;
        r = apply_routes(udev, t);
        if (r < 0 && ret == 0)
                ret = r;

        console = console_bound();
        for (size_t i = 0; i < t->n_devices; i++)
                if (t->devices[i].boot_vga && console) {
                        t->devices[i].host_use |= HOST_USE_BOOT_CONSOLE;
                        if (!t->devices[i].host_use_detail)
                                t->devices[i].host_use_detail = strdup("boot VGA with a console bound");
                }
        return ret;
}
