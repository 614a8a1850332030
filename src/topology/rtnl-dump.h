/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdint.h>

struct nlmsghdr;

/* One rtnetlink dump of TYPE (RTM_GETLINK, RTM_GETADDR, RTM_GETROUTE, RTM_GETNEXTHOP) for all
 * address families, on a socket of its own in the caller's network namespace. cb gets every
 * message of the dump (never NLMSG_DONE or NLMSG_ERROR) and may stop it with a negative errno.
 * Returns -EAGAIN when the kernel says the dump was interrupted by a change (NLM_F_DUMP_INTR):
 * what was seen may be incomplete, so the caller starts over. */
int rtnl_dump(uint16_t type, int (*cb)(const struct nlmsghdr *h, void *ud), void *ud);

/* The attributes of one rtnetlink message, by type; tb[] has max+1 entries, unset ones NULL. */
struct rtattr;
void rtnl_parse_attrs(const struct rtattr **tb, unsigned max, const struct rtattr *a, int len);
