/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

#include <systemd/sd-event.h>
#include <systemd/sd-varlink.h>

struct Manager;

/* Connections held at once by users other than root, in all; more are closed at once. */
#define CONNECTIONS_MAX 512U
/* Beyond that, for root only, so that users filling CONNECTIONS_MAX do not lock root out. When
 * these are taken too, vfiod stops accepting (new clients wait in the socket's backlog). */
#define CONNECTIONS_ROOT_RESERVE 64U
#define CONNECTIONS_TABLE_MAX (CONNECTIONS_MAX + CONNECTIONS_ROOT_RESERVE)
/* Connections one user may hold at once; a user namespace's uids all count as its owner's.
 * Root is not limited beyond CONNECTIONS_MAX. */
#define CONNECTIONS_PER_UID_MAX 16U
/* Monitor subscriptions one user may hold (root: up to MONITORS_MAX). */
#define MONITORS_PER_UID_MAX 8U

typedef struct Connection {
        sd_varlink *link;             /* NULL: a free slot */
        uid_t uid;                    /* charged to: the peer, or its user namespace's owner */
        bool monitor;
        unsigned lagging;             /* calls or events in a row with the peer's queue full */
} Connection;

typedef struct Listener {
        int fds[4];                   /* listening sockets */
        sd_event_source *sources[4];
        size_t n_fds;
        size_t n_passed;              /* sockets passed in, listening or connected */
        sd_event_source *retry;       /* re-enables accepting after accept() failed */
        uint64_t retry_usec;          /* backoff; 0 once an accept() succeeds */
        bool retrying;                /* waiting for retry */
        bool paused;                  /* CONNECTIONS_TABLE_MAX reached */
        uint64_t refused_logged_usec; /* last "refusing more" notice */

        Connection connections[CONNECTIONS_TABLE_MAX];
        size_t n_connections;
        ino_t userns_ino;             /* our own user namespace */
        dev_t userns_dev;
} Listener;

/* Take the sockets passed in (listening or connected, named "varlink"), or listen on
 * VFIOD_VARLINK_ADDRESS; accept on them ourselves and hand each connection to the server. */
int listener_start(struct Manager *m);
void listener_done(Listener *l);
/* From the server's disconnect callback: forget the connection, accept again if paused. */
void listener_forget(struct Manager *m, sd_varlink *link);

/* Check the peer's unread bytes when it makes a call (or gets an event): a peer that leaves
 * its queue full max times in a row is disconnected, so that no connection buffers without
 * bound. Returns true if link was closed. */
bool listener_close_if_lagging(struct Manager *m, sd_varlink *link, unsigned max);

/* Monitor: may link's user subscribe one more time? Marks it a subscriber if so. */
bool listener_monitor_admit(struct Manager *m, sd_varlink *link);

/* The uid a user namespace's caller is charged to: the owner of the outermost namespace below
 * ours, or uid itself in our namespace. Falls back to uid when the kernel cannot tell. */
uid_t listener_account_uid(Listener *l, int pidfd, pid_t pid, uid_t uid);
