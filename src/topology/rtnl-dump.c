/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <linux/netlink.h>
#include <linux/nexthop.h>
#include <linux/rtnetlink.h>

#include "macro.h"
#include "rtnl-dump.h"

/* Larger than any message the kernel makes for these dumps (a link with many VFs is the
 * largest); beyond this the message is refused rather than read in part. */
#define RTNL_MSG_MAX (1024 * 1024)
/* Far above any real host, but a bound: a dump that never ends is an error. */
#define RTNL_DUMP_MSGS_MAX (16 * 1024 * 1024)
/* A fresh socket per dump, so replies to it carry this number and nothing else should. */
#define RTNL_DUMP_SEQ 0x76666964U

void rtnl_parse_attrs(const struct rtattr **tb, unsigned max, const struct rtattr *a, int len) {
        memset(tb, 0, sizeof(*tb) * (max + 1));
        for (; RTA_OK(a, len); a = RTA_NEXT(a, len))
                if (a->rta_type <= max && !tb[a->rta_type])
                        tb[a->rta_type] = a;
}

int rtnl_dump(uint16_t type, int (*cb)(const struct nlmsghdr *h, void *ud), void *ud) {
        _cleanup_close_ int fd = -EBADF;
        /* Each type's own header, all zero: the family (AF_UNSPEC, every family) comes first in
         * each. A header of the wrong size makes the kernel warn about leftover bytes. */
        struct {
                struct nlmsghdr h;
                union {
                        struct ifinfomsg link;
                        struct ifaddrmsg addr;
                        struct rtmsg route;
                        struct nhmsg nh;
                };
        } req = {
                .h.nlmsg_type = type,
                .h.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP,
                .h.nlmsg_seq = RTNL_DUMP_SEQ,
        };
        struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
        _cleanup_free_ char *buf = NULL;
        size_t bufsize = 32768, n_msgs = 0;

        switch (type) {
        case RTM_GETLINK:
                req.h.nlmsg_len = NLMSG_LENGTH(sizeof(struct ifinfomsg));
                break;
        case RTM_GETADDR:
                req.h.nlmsg_len = NLMSG_LENGTH(sizeof(struct ifaddrmsg));
                break;
        case RTM_GETROUTE:
                req.h.nlmsg_len = NLMSG_LENGTH(sizeof(struct rtmsg));
                break;
        case RTM_GETNEXTHOP:
                req.h.nlmsg_len = NLMSG_LENGTH(sizeof(struct nhmsg));
                break;
        default:
                return -EINVAL;
        }

        fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
        if (fd < 0)
                return -errno;
        if (sendto(fd, &req, req.h.nlmsg_len, 0, (struct sockaddr *) &kernel, sizeof(kernel)) < 0)
                return -errno;
        buf = malloc(bufsize);
        if (!buf)
                return -ENOMEM;

        for (;;) {
                struct sockaddr_nl from = {};
                struct iovec iov;
                struct msghdr mh = { .msg_name = &from, .msg_namelen = sizeof(from), .msg_iov = &iov, .msg_iovlen = 1 };
                ssize_t n;

                /* The size of the next datagram, so that no message is ever cut. */
                n = recv(fd, NULL, 0, MSG_PEEK | MSG_TRUNC);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if ((size_t) n > bufsize) {
                        char *b;

                        if ((size_t) n > RTNL_MSG_MAX)
                                return -EMSGSIZE;
                        b = realloc(buf, n);
                        if (!b)
                                return -ENOMEM;
                        buf = b;
                        bufsize = n;
                }
                iov = (struct iovec) { .iov_base = buf, .iov_len = bufsize };
                n = recvmsg(fd, &mh, 0);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (n == 0)
                        return -EIO;
                if (mh.msg_flags & MSG_TRUNC)
                        return -EMSGSIZE;
                if (from.nl_pid != 0)   /* not from the kernel */
                        continue;

                int left = (int) n;
                /* The uapi NLMSG_OK() compares the u32 length with an int: fine here, noisy for clang. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wsign-compare"
                for (const struct nlmsghdr *h = (const struct nlmsghdr *) buf; NLMSG_OK(h, left); h = NLMSG_NEXT(h, left)) {
#pragma GCC diagnostic pop
                        int r;

                        if (h->nlmsg_seq != RTNL_DUMP_SEQ)
                                continue;
                        if (h->nlmsg_flags & NLM_F_DUMP_INTR)
                                return -EAGAIN;
                        if (h->nlmsg_type == NLMSG_DONE)
                                return 0;
                        if (h->nlmsg_type == NLMSG_ERROR) {
                                const struct nlmsgerr *e = NLMSG_DATA(h);

                                if (h->nlmsg_len < NLMSG_LENGTH(sizeof(*e)))
                                        return -EBADMSG;
                                return e->error < 0 ? e->error : -EIO;
                        }
                        if (++n_msgs > RTNL_DUMP_MSGS_MAX)
                                return -E2BIG;
                        r = cb(h, ud);
                        if (r < 0)
                                return r;
                }
                /* A datagram holds whole messages; a header left over means a malformed one. */
                if (left >= (int) sizeof(struct nlmsghdr))
                        return -EBADMSG;
        }
}
