/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <dirent.h>
#include <errno.h>
#include <libudev.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/nexthop.h>
#include <linux/rtnetlink.h>
#include <net/if.h>

#include "host-use-internal.h"
#include "log.h"
#include "macro.h"
#include "rtnl-dump.h"
#include "udev-util.h"

/* Network interfaces the host needs: those with an address or a configured route (in any
 * routing table, directly or through nexthop objects), and every device below them (bridge
 * ports, bond and team slaves, VRF members, the lower device of a VLAN, macvlan or ipvlan),
 * whatever their ifindex. Everything comes from rtnetlink in vfiod's own network namespace;
 * NICs whose netdev lives in another namespace are found through sysfs (see
 * mark_other_netns). */

/* Far above any host, but a bound on memory. More fails closed. */
#define NET_LINKS_MAX (256 * 1024)
#define NET_NEXTHOPS_MAX (1024 * 1024)
/* The kernel refuses stacks deeper than 8 (MAX_NEST_DEV); a few more passes cost nothing. */
#define NET_NEST_MAX 16
/* The daemon re-reads when a dump was interrupted by a change; after this many it gives up. */
#define NET_TRIES 3

typedef enum NetRel {
        NET_REL_NONE,
        NET_REL_PORT,      /* bridge, team or Open vSwitch port */
        NET_REL_SLAVE,     /* bond slave */
        NET_REL_MEMBER,    /* any other master: VRF, ... */
        NET_REL_LOWER,     /* lower device of a VLAN, macvlan, ipvlan, tunnel bound to it */
} NetRel;

typedef struct NetLink {
        int ifindex;
        int master;                /* IFLA_MASTER; 0 if none */
        int lower;                 /* IFLA_LINK in this namespace; 0 if none */
        char name[IF_NAMESIZE];
        char kind[16];             /* IFLA_INFO_KIND, "" for physical devices */
        bool addr, route;          /* has an address / a route of its own */
        size_t via;                /* 1 + index of the upper it is needed for; 0 if none */
        NetRel rel;                /* how it sits below links[via - 1] */
} NetLink;

typedef struct Nexthop {
        uint32_t id;
        int oif;                   /* 0 for groups and blackholes */
        uint32_t *group;           /* member ids of a group */
        size_t n_group;
} Nexthop;

typedef struct NetState {
        NetLink *links;
        size_t n_links, n_links_alloc;
        Nexthop *nhs;
        size_t n_nhs, n_nhs_alloc;
} NetState;

static void net_state_done(NetState *s) {
        for (size_t i = 0; i < s->n_nhs; i++)
                free(s->nhs[i].group);
        free(s->nhs);
        free(s->links);
        *s = (NetState) {};
}

static int grow(void **p, size_t *alloc, size_t n, size_t size, size_t max) {
        size_t a;
        void *q;

        if (n < *alloc)
                return 0;
        if (n >= max)
                return -E2BIG;
        a = *alloc ? *alloc * 2 : 64;
        if (a > max)
                a = max;
        q = reallocarray(*p, a, size);
        if (!q)
                return -ENOMEM;
        *p = q;
        *alloc = a;
        return 0;
}

static int cmp_link(const void *a, const void *b) {
        const NetLink *x = a, *y = b;
        return (x->ifindex > y->ifindex) - (x->ifindex < y->ifindex);
}

static int cmp_nh(const void *a, const void *b) {
        const Nexthop *x = a, *y = b;
        return (x->id > y->id) - (x->id < y->id);
}

static NetLink *find_link(NetState *s, int ifindex) {
        NetLink key = { .ifindex = ifindex };
        return ifindex > 0 && s->n_links > 0 ? bsearch(&key, s->links, s->n_links, sizeof(NetLink), cmp_link) : NULL;
}

static const Nexthop *find_nh(NetState *s, uint32_t id) {
        Nexthop key = { .id = id };
        return s->n_nhs > 0 ? bsearch(&key, s->nhs, s->n_nhs, sizeof(Nexthop), cmp_nh) : NULL;
}

static bool rta_u32(const struct rtattr *a, uint32_t *ret) {
        if (!a || RTA_PAYLOAD(a) < sizeof(uint32_t))
                return false;
        memcpy(ret, RTA_DATA(a), sizeof(uint32_t));
        return true;
}

static int on_link(const struct nlmsghdr *h, void *ud) {
        NetState *s = ud;
        const struct ifinfomsg *ifi = NLMSG_DATA(h);
        const struct rtattr *tb[IFLA_MAX + 1];
        NetLink *l;
        uint32_t v;
        int r;

        if (h->nlmsg_type != RTM_NEWLINK || h->nlmsg_len < NLMSG_LENGTH(sizeof(*ifi)) || ifi->ifi_index <= 0)
                return 0;
        rtnl_parse_attrs(tb, IFLA_MAX, IFLA_RTA(ifi), IFLA_PAYLOAD(h));

        r = grow((void **) &s->links, &s->n_links_alloc, s->n_links, sizeof(NetLink), NET_LINKS_MAX);
        if (r < 0)
                return r;
        l = &s->links[s->n_links++];
        *l = (NetLink) { .ifindex = ifi->ifi_index };

        if (tb[IFLA_IFNAME]) {
                size_t n = strnlen(RTA_DATA(tb[IFLA_IFNAME]), RTA_PAYLOAD(tb[IFLA_IFNAME]));
                if (n < sizeof(l->name))
                        memcpy(l->name, RTA_DATA(tb[IFLA_IFNAME]), n);
        }
        if (rta_u32(tb[IFLA_MASTER], &v))
                l->master = (int) v;
        if (tb[IFLA_LINKINFO]) {
                const struct rtattr *li[IFLA_INFO_MAX + 1];

                rtnl_parse_attrs(li, IFLA_INFO_MAX, RTA_DATA(tb[IFLA_LINKINFO]), RTA_PAYLOAD(tb[IFLA_LINKINFO]));
                if (li[IFLA_INFO_KIND]) {
                        size_t n = strnlen(RTA_DATA(li[IFLA_INFO_KIND]), RTA_PAYLOAD(li[IFLA_INFO_KIND]));
                        if (n < sizeof(l->kind))
                                memcpy(l->kind, RTA_DATA(li[IFLA_INFO_KIND]), n);
                }
        }
        /* IFLA_LINK is an ifindex in the namespace IFLA_LINK_NETNSID names, if that is given:
         * a VLAN here on a NIC over there. Looking it up here would mark the wrong device; the
         * NIC over there is caught by mark_other_netns(). A veth's IFLA_LINK is its peer, which
         * does not carry its traffic. */
        if (rta_u32(tb[IFLA_LINK], &v) && (int) v != ifi->ifi_index && !tb[IFLA_LINK_NETNSID] && strcmp(l->kind, "veth") != 0)
                l->lower = (int) v;
        return 0;
}

static int on_nexthop(const struct nlmsghdr *h, void *ud) {
        NetState *s = ud;
        const struct nhmsg *nhm = NLMSG_DATA(h);
        const struct rtattr *tb[NHA_MAX + 1];
        Nexthop *nh;
        uint32_t v;
        int r;

        if (h->nlmsg_type != RTM_NEWNEXTHOP || h->nlmsg_len < NLMSG_LENGTH(sizeof(*nhm)))
                return 0;
        rtnl_parse_attrs(tb, NHA_MAX, (const struct rtattr *) ((const char *) nhm + NLMSG_ALIGN(sizeof(*nhm))),
                         (int) h->nlmsg_len - NLMSG_LENGTH(sizeof(*nhm)));
        if (!rta_u32(tb[NHA_ID], &v))
                return 0;

        r = grow((void **) &s->nhs, &s->n_nhs_alloc, s->n_nhs, sizeof(Nexthop), NET_NEXTHOPS_MAX);
        if (r < 0)
                return r;
        nh = &s->nhs[s->n_nhs++];
        *nh = (Nexthop) { .id = v };
        if (rta_u32(tb[NHA_OIF], &v))
                nh->oif = (int) v;
        if (tb[NHA_GROUP]) {
                size_t n = RTA_PAYLOAD(tb[NHA_GROUP]) / sizeof(struct nexthop_grp);
                const struct nexthop_grp *g = RTA_DATA(tb[NHA_GROUP]);

                nh->group = calloc(n ?: 1, sizeof(uint32_t));
                if (!nh->group)
                        return -ENOMEM;
                for (size_t i = 0; i < n; i++) {
                        struct nexthop_grp e;
                        memcpy(&e, g + i, sizeof(e));
                        nh->group[i] = e.id;
                }
                nh->n_group = n;
        }
        return 0;
}

/* An address or route on an interface the link dump did not show: it appeared in between,
 * and what we saw is stale. Start over. */
static int mark_ifindex(NetState *s, int ifindex, bool route) {
        NetLink *l = find_link(s, ifindex);

        if (!l)
                return -EAGAIN;
        if (route)
                l->route = true;
        else
                l->addr = true;
        return 0;
}

static int on_addr(const struct nlmsghdr *h, void *ud) {
        const struct ifaddrmsg *a = NLMSG_DATA(h);

        if (h->nlmsg_type != RTM_NEWADDR || h->nlmsg_len < NLMSG_LENGTH(sizeof(*a)))
                return 0;
        /* Link-local (every up IPv6 interface has one) and host scope do not make a NIC busy. */
        if (a->ifa_scope >= RT_SCOPE_LINK)
                return 0;
        return mark_ifindex(ud, (int) a->ifa_index, false);
}

static int mark_nexthop(NetState *s, uint32_t id) {
        const Nexthop *nh = find_nh(s, id);

        /* Deleting a nexthop deletes its routes: one we cannot find was added after the dump. */
        if (!nh)
                return -EAGAIN;
        if (nh->oif > 0)
                return mark_ifindex(s, nh->oif, true);
        /* Groups hold plain nexthops only (the kernel refuses nested groups): one level. */
        for (size_t i = 0; i < nh->n_group; i++) {
                const Nexthop *m = find_nh(s, nh->group[i]);
                int r;

                if (!m)
                        return -EAGAIN;
                if (m->oif > 0) {
                        r = mark_ifindex(s, m->oif, true);
                        if (r < 0)
                                return r;
                }
        }
        return 0;
}

static int on_route(const struct nlmsghdr *h, void *ud) {
        NetState *s = ud;
        const struct rtmsg *m = NLMSG_DATA(h);
        const struct rtattr *tb[RTA_MAX + 1];
        uint32_t v;
        int r;

        if (h->nlmsg_type != RTM_NEWROUTE || h->nlmsg_len < NLMSG_LENGTH(sizeof(*m)))
                return 0;
        /* Every table: main, policy-routing tables, VRFs. Routes the kernel adds for an address
         * are covered by the address; we want the ones someone configured (default routes,
         * static routes, routes from a routing daemon or router advertisements). */
        if (m->rtm_type != RTN_UNICAST || m->rtm_protocol == RTPROT_KERNEL)
                return 0;
        rtnl_parse_attrs(tb, RTA_MAX, RTM_RTA(m), RTM_PAYLOAD(h));

        if (rta_u32(tb[RTA_OIF], &v)) {
                r = mark_ifindex(s, (int) v, true);
                if (r < 0)
                        return r;
        }
        if (tb[RTA_MULTIPATH]) {
                int rem = RTA_PAYLOAD(tb[RTA_MULTIPATH]);
                for (const struct rtnexthop *nh = RTA_DATA(tb[RTA_MULTIPATH]); RTNH_OK(nh, rem);
                     rem -= NLMSG_ALIGN(nh->rtnh_len), nh = RTNH_NEXT(nh)) {
                        r = mark_ifindex(s, nh->rtnh_ifindex, true);
                        if (r < 0)
                                return r;
                }
        }
        /* A route through a nexthop object names no device itself (unless the sysctl
         * nexthop_compat_mode repeats it): resolve the object. */
        if (rta_u32(tb[RTA_NH_ID], &v))
                return mark_nexthop(s, v);
        return 0;
}

static int net_collect(NetState *s) {
        int r;

        r = rtnl_dump(RTM_GETLINK, on_link, s);
        if (r < 0)
                return r;
        if (s->n_links > 0)
                qsort(s->links, s->n_links, sizeof(NetLink), cmp_link);
        for (size_t i = 1; i < s->n_links; i++)
                if (s->links[i].ifindex == s->links[i - 1].ifindex)
                        return -EAGAIN;

        r = rtnl_dump(RTM_GETNEXTHOP, on_nexthop, s);
        /* Kernels before 5.3 have no nexthop objects, so no route can use one. */
        if (r == -EOPNOTSUPP)
                r = 0;
        if (r < 0)
                return r;
        if (s->n_nhs > 0)
                qsort(s->nhs, s->n_nhs, sizeof(Nexthop), cmp_nh);

        r = rtnl_dump(RTM_GETADDR, on_addr, s);
        if (r < 0)
                return r;
        return rtnl_dump(RTM_GETROUTE, on_route, s);
}

static bool needed(const NetLink *l) {
        return l->addr || l->route || l->via;
}

static NetRel master_rel(const NetLink *m) {
        if (strcmp(m->kind, "bond") == 0)
                return NET_REL_SLAVE;
        if (strcmp(m->kind, "bridge") == 0 || strcmp(m->kind, "team") == 0 || strcmp(m->kind, "openvswitch") == 0)
                return NET_REL_PORT;
        return NET_REL_MEMBER;
}

/* Hand the need down from every interface that has an address or a route to the devices it
 * runs over, level by level. Each device remembers the first upper that reached it. */
static void net_propagate(NetState *s) {
        for (unsigned pass = 0; pass < NET_NEST_MAX; pass++) {
                bool changed = false;

                for (size_t i = 0; i < s->n_links; i++) {
                        NetLink *l = &s->links[i], *up;

                        if (needed(l))
                                continue;
                        up = find_link(s, l->master);
                        if (up && needed(up)) {
                                l->via = (size_t) (up - s->links) + 1;
                                l->rel = master_rel(up);
                                changed = true;
                        }
                }
                for (size_t i = 0; i < s->n_links; i++) {
                        NetLink *l = &s->links[i], *low;

                        if (!needed(l))
                                continue;
                        low = find_link(s, l->lower);
                        if (low && low != l && !needed(low)) {
                                low->via = i + 1;
                                low->rel = NET_REL_LOWER;
                                changed = true;
                        }
                }
                if (!changed)
                        return;
        }
        log_warning("Network devices stacked deeper than %d levels; the lowest may not be protected.", NET_NEST_MAX);
}

static const char *rel_words(NetRel rel) {
        switch (rel) {
        case NET_REL_PORT:
                return "a port of";
        case NET_REL_SLAVE:
                return "a slave of";
        case NET_REL_LOWER:
                return "the lower device of";
        default:
                return "enslaved to";
        }
}

/* "enp0s3 is a slave of bond0, which is a port of br0", and the interface at the top. */
static int describe_chain(NetState *s, const NetLink *l, char **ret, const NetLink **ret_top) {
        _cleanup_free_ char *str = NULL;
        unsigned depth = 0;

        while (l->via && depth++ < NET_NEST_MAX) {
                const NetLink *up = &s->links[l->via - 1];
                char *n;
                int k;

                if (str)
                        k = asprintf(&n, "%s, which is %s %s", str, rel_words(l->rel), up->name);
                else
                        k = asprintf(&n, "%s is %s %s", l->name, rel_words(l->rel), up->name);
                if (k < 0)
                        return -ENOMEM;
                free(str);
                str = n;
                l = up;
        }
        *ret_top = l;
        *ret = str;
        str = NULL;
        return 0;
}

_printf_(4, 5)
static void mark_what(Topology *t, struct udev_device *d, HostUse use, const char *fmt, ...) {
        _cleanup_free_ char *what = NULL;
        va_list ap;
        int k;

        va_start(ap, fmt);
        k = vasprintf(&what, fmt, ap);
        va_end(ap);
        /* Without words the device is still marked: the check fails closed. */
        host_use_mark(t, d, use, k >= 0 ? what : "in use by the host");
}

static void mark_link(struct udev *udev, Topology *t, NetState *s, const NetLink *l) {
        _cleanup_(udev_device_unrefp) struct udev_device *d = NULL;
        _cleanup_free_ char *chain = NULL;
        const NetLink *top;

        if (!l->name[0])
                return;
        d = udev_device_new_from_subsystem_sysname(udev, "net", l->name);
        log_debug("Interface %d (%s) is needed by the host; sysfs device %s", l->ifindex, l->name, d ? "found" : "missing");
        if (!d)
                return;

        if (l->addr)
                mark_what(t, d, HOST_USE_ROUTED_IFACE, "%s has an address", l->name);
        if (l->route)
                mark_what(t, d, HOST_USE_ROUTED_IFACE, "%s has a route", l->name);
        if (!l->via)
                return;
        if (describe_chain(s, l, &chain, &top) < 0) {
                mark_what(t, d, HOST_USE_ROUTED_IFACE, "%s carries an interface that is in use", l->name);
                return;
        }
        if (top->addr)
                mark_what(t, d, HOST_USE_ROUTED_IFACE, "%s, which has an address", chain);
        if (top->route)
                mark_what(t, d, HOST_USE_ROUTED_IFACE, "%s, which has a route", chain);
}

/* sysfs is filtered by network namespace: a netdev that was moved into another one (a
 * container's, `ip netns`) vanishes from its device's net/ directory here, while the
 * directory itself stays (the kernel removes it with its last netdev, in whichever namespace
 * that is). So an empty net/ under a PCI device means its interfaces live elsewhere. Their
 * addresses and routes are out of reach from here (that needs entering every namespace), and
 * a NIC someone moved into a namespace is by construction in use there: it counts as needed.
 * Freeing it means moving it back (or stopping the container), after which the usual checks
 * apply. */
static void mark_other_netns(Topology *t) {
        for (size_t i = 0; i < t->n_devices; i++) {
                PciDevice *p = &t->devices[i];
                _cleanup_closedir_ DIR *dir = NULL;
                _cleanup_free_ char *path = NULL;
                struct dirent *de;
                bool any = false;

                if (asprintf(&path, "/sys/bus/pci/devices/%s/net", p->address) < 0)
                        return;
                dir = opendir(path);
                if (!dir)
                        continue;
                while ((de = readdir(dir)))
                        if (de->d_name[0] != '.') {
                                any = true;
                                break;
                        }
                if (!any)
                        host_use_mark_pci(p, HOST_USE_ROUTED_IFACE, "its network interface is in another network namespace");
        }
}

int host_use_apply_net(struct udev *udev, Topology *t) {
        _cleanup_(net_state_done) NetState s = {};
        int r;

        mark_other_netns(t);

        for (unsigned try = 0; try < NET_TRIES; try++) {
                net_state_done(&s);
                r = net_collect(&s);
                if (r != -EAGAIN)
                        break;
                log_debug("Network configuration changed while reading it; reading again.");
        }
        if (r < 0)
                return r;

        net_propagate(&s);
        for (size_t i = 0; i < s.n_links; i++)
                if (needed(&s.links[i]))
                        mark_link(udev, t, &s, &s.links[i]);
        return 0;
}
