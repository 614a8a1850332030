/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <linux/nsfs.h>
#include <linux/sockios.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <systemd/sd-daemon.h>
#include <time.h>
#include <unistd.h>

#include "listener.h"
#include "log.h"
#include "macro.h"
#include "manager.h"
#include "strv.h"

/* <linux/pidfd.h> clashes with <fcntl.h>; from Linux 6.11. */
#ifndef PIDFD_GET_USER_NAMESPACE
#define PIDFD_GET_USER_NAMESPACE _IO(0xFF, 9)
#endif

/* accept() fails for want of fds or memory: try again after this, doubling up to the max.
 * sd-varlink would return the error to sd-event, which switches the socket off for good. */
#define RETRY_FIRST_USEC (100 * 1000ULL)
#define RETRY_MAX_USEC (3200 * 1000ULL)
/* Connections taken per wakeup, so one busy socket cannot hold up the loop. */
#define ACCEPT_BURST 32
/* User namespaces nest at most 32 deep (kernel limit). */
#define USERNS_DEPTH_MAX 33

static uint64_t now_usec(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static Listener *listener(Manager *m) {
        return &m->listener;
}

static Connection *find_connection(Listener *l, sd_varlink *link) {
        for (size_t i = 0; link && i < CONNECTIONS_TABLE_MAX; i++)
                if (l->connections[i].link == link)
                        return &l->connections[i];
        return NULL;
}

static size_t count_uid(Listener *l, uid_t uid, bool monitors) {
        size_t n = 0;

        for (size_t i = 0; i < CONNECTIONS_TABLE_MAX; i++)
                if (l->connections[i].link && l->connections[i].uid == uid && (!monitors || l->connections[i].monitor))
                        n++;
        return n;
}

/* Accept while not paused (CONNECTIONS_TABLE_MAX held) and not waiting for a retry. */
static void update_accepting(Listener *l) {
        bool on = !l->paused && !l->retrying;

        for (size_t i = 0; i < l->n_fds; i++)
                (void) sd_event_source_set_enabled(l->sources[i], on ? SD_EVENT_ON : SD_EVENT_OFF);
}

static bool same_ns(const struct stat *st, const Listener *l) {
        return st->st_ino == l->userns_ino && st->st_dev == l->userns_dev;
}

uid_t listener_account_uid(Listener *l, int pidfd, pid_t pid, uid_t uid) {
        _cleanup_close_ int ns = -EBADF;
        struct stat st;

        if (l->userns_ino == 0)
                return uid;
        if (pidfd >= 0)
                ns = ioctl(pidfd, PIDFD_GET_USER_NAMESPACE, 0);
        if (ns < 0 && pid > 0) {
                /* Kernels before 6.11. The pid may be reused since connect(); at worst the
                 * connection is charged to the wrong user, it gains no rights. */
                char p[sizeof("/proc//ns/user") + 12];

                snprintf(p, sizeof(p), "/proc/%d/ns/user", (int) pid);
                ns = open(p, O_RDONLY | O_CLOEXEC);
        }
        if (ns < 0 || fstat(ns, &st) < 0 || same_ns(&st, l))
                return uid;

        /* Walk up to the namespace right below ours: its owner is the user who made the tree. */
        for (unsigned depth = 0; depth < USERNS_DEPTH_MAX; depth++) {
                _cleanup_close_ int parent = ioctl(ns, NS_GET_PARENT);
                uid_t owner;

                if (parent < 0 || fstat(parent, &st) < 0)
                        return uid;   /* not below ours */
                if (same_ns(&st, l))
                        return ioctl(ns, NS_GET_OWNER_UID, &owner) < 0 ? uid : owner;
                close(ns);
                ns = TAKE_FD(parent);
        }
        return uid;
}

/* Takes fd. Refuses (closes) a connection over its user's share. */
static int add_connection(Manager *m, int fd) {
        _cleanup_close_ int cfd = fd, pidfd = -EBADF;
        Listener *l = listener(m);
        struct ucred ucred;
        socklen_t len = sizeof(ucred);
        Connection *c = NULL;
        sd_varlink *link;
        uid_t uid;
        int r;

        if (getsockopt(cfd, SOL_SOCKET, SO_PEERCRED, &ucred, &len) < 0)
                return log_debug_errno(errno, "Failed to read the peer's credentials, dropping it: %m");
        len = sizeof(int);
        if (getsockopt(cfd, SOL_SOCKET, SO_PEERPIDFD, &pidfd, &len) < 0)
                pidfd = -EBADF;
        uid = listener_account_uid(l, pidfd, ucred.pid, ucred.uid);

        for (size_t i = 0; !c && i < CONNECTIONS_TABLE_MAX; i++)
                if (!l->connections[i].link)
                        c = &l->connections[i];
        if (!c)
                return log_debug_errno(-EBUSY, "Connection limit reached, dropping a connection of uid %u.", (unsigned) ucred.uid);
        if (uid != 0 && (l->n_connections >= CONNECTIONS_MAX || count_uid(l, uid, false) >= CONNECTIONS_PER_UID_MAX)) {
                /* A refused client sees the connection closed; say so once in a while. */
                uint64_t now = now_usec();
                if (l->refused_logged_usec == 0 || now >= l->refused_logged_usec + 10 * 1000000ULL) {
                        if (l->n_connections >= CONNECTIONS_MAX)
                                log_notice("%zu connections held, the most for users other than root; refusing more.",
                                           l->n_connections);
                        else
                                log_notice("uid %u (peer uid %u) holds %u connections, the most one user may; refusing more.",
                                           (unsigned) uid, (unsigned) ucred.uid, CONNECTIONS_PER_UID_MAX);
                        l->refused_logged_usec = now;
                }
                return 0;
        }

        r = sd_varlink_server_add_connection(m->varlink_server, cfd, &link);
        if (r < 0)
                return log_debug_errno(r, "Failed to add a connection of uid %u: %m", (unsigned) ucred.uid);
        TAKE_FD(cfd);
        *c = (Connection) { .link = link, .uid = uid };
        l->n_connections++;
        if (l->n_connections >= CONNECTIONS_TABLE_MAX) {
                l->paused = true;
                update_accepting(l);
        }
        return 0;
}

static bool accept_error_is_transient(int e) {
        /* The connection went away before we took it, or a signal: take the next one. */
        switch (e) {
        case EINTR: case ECONNABORTED: case EPROTO: case EPERM: case ENETDOWN: case ENOPROTOOPT:
        case EHOSTDOWN: case ENONET: case EHOSTUNREACH: case EOPNOTSUPP: case ENETUNREACH:
                return true;
        default:
                return false;
        }
}

static int on_retry(sd_event_source *s, uint64_t usec, void *userdata) {
        Listener *l = userdata;

        /* retry_usec stays until an accept() succeeds, so the next failure backs off further. */
        l->retrying = false;
        update_accepting(l);
        return 0;
}

static void back_off(Listener *l, int error) {
        int r;

        l->retry_usec = l->retry_usec == 0 ? RETRY_FIRST_USEC :
                        l->retry_usec * 2 > RETRY_MAX_USEC ? RETRY_MAX_USEC : l->retry_usec * 2;
        if (l->retry_usec == RETRY_FIRST_USEC)
                log_warning_errno(error, "Failed to accept a connection: %m; accepting again in %llu ms.",
                                  (unsigned long long) l->retry_usec / 1000);
        else
                log_debug_errno(error, "Failed to accept a connection: %m; accepting again in %llu ms.",
                                (unsigned long long) l->retry_usec / 1000);

        for (size_t i = 0; i < l->n_fds; i++)
                (void) sd_event_source_set_enabled(l->sources[i], SD_EVENT_OFF);
        /* The timer exists since the start: arming it needs no fd. */
        r = sd_event_source_set_time_relative(l->retry, l->retry_usec);
        if (r >= 0)
                r = sd_event_source_set_enabled(l->retry, SD_EVENT_ONESHOT);
        if (r < 0) {
                /* Never leave the socket off: accept again at once rather than never. */
                log_error_errno(r, "Failed to arm the accept retry timer, accepting again now: %m");
                on_retry(l->retry, 0, l);
                return;
        }
        l->retrying = true;
}

static int on_accept(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Manager *m = userdata;
        Listener *l = listener(m);

        for (unsigned i = 0; i < ACCEPT_BURST && !l->paused && !l->retrying; i++) {
                int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

                if (cfd < 0) {
                        if (errno == EAGAIN)
                                break;
                        if (accept_error_is_transient(errno))
                                continue;
                        back_off(l, errno);
                        break;
                }
                l->retry_usec = 0;
                (void) add_connection(m, cfd);
        }
        /* Never an error: sd-event would switch the socket off for good. */
        return 0;
}

void listener_forget(Manager *m, sd_varlink *link) {
        Listener *l = listener(m);
        Connection *c = find_connection(l, link);

        if (!c)
                return;
        *c = (Connection) {};
        l->n_connections--;
        if (l->paused) {
                l->paused = false;
                if (!l->retrying)
                        update_accepting(l);
        }
}

bool listener_close_if_lagging(Manager *m, sd_varlink *link, unsigned max) {
        Connection *c = find_connection(listener(m), link);
        struct pollfd p = { .events = POLLOUT };
        int queued = 0;

        if (!c)
                return false;
        p.fd = sd_varlink_get_fd(link);
        if (p.fd < 0 || poll(&p, 1, 0) < 0)
                return false;
        /* Not writable: sd-varlink writes only when the kernel says it may (for AF_UNIX that is
         * once the peer has left less than a quarter of the send buffer unread), and until then
         * it buffers in our memory, up to 16 MiB per connection. */
        if (p.revents & POLLOUT) {
                c->lagging = 0;
                return false;
        }
        if (++c->lagging < max)
                return false;

        (void) ioctl(p.fd, SIOCOUTQ, &queued);
        log_info("Disconnecting a client of uid %u that leaves what it is sent unread (%d bytes queued).",
                 (unsigned) c->uid, queued);
        (void) sd_varlink_close(link);
        return true;
}

bool listener_monitor_admit(Manager *m, sd_varlink *link) {
        Listener *l = listener(m);
        Connection *c = find_connection(l, link);

        if (!c)
                return true;
        if (c->uid != 0 && count_uid(l, c->uid, true) >= MONITORS_PER_UID_MAX)
                return false;
        c->monitor = true;
        return true;
}

static int add_listening_fd(Manager *m, int fd) {
        Listener *l = listener(m);
        int r;

        if (l->n_fds >= ELEMENTSOF(l->fds)) {
                log_warning("More than %zu listening sockets passed in; ignoring fd %d.", ELEMENTSOF(l->fds), fd);
                return 0;
        }
        r = fcntl(fd, F_GETFL);
        if (r < 0 || fcntl(fd, F_SETFL, r | O_NONBLOCK) < 0)
                return log_error_errno(errno, "Failed to make the listening socket non-blocking: %m");
        r = sd_event_add_io(m->event, &l->sources[l->n_fds], fd, EPOLLIN, on_accept, m);
        if (r < 0)
                return log_error_errno(r, "Failed to watch the listening socket: %m");
        l->fds[l->n_fds++] = fd;
        return 0;
}

static int listen_address(Manager *m) {
        _cleanup_close_ int fd = -EBADF;
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        mode_t mask;
        int r;

        if (mkdir(VFIOD_RUNTIME_DIR, 0755) < 0 && errno != EEXIST)
                return log_error_errno(errno, "Failed to create " VFIOD_RUNTIME_DIR ": %m");
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return log_error_errno(errno, "Failed to create a socket: %m");
        strncpy(sa.sun_path, VFIOD_VARLINK_ADDRESS, sizeof(sa.sun_path) - 1);
        (void) unlink(VFIOD_VARLINK_ADDRESS);
        /* Everyone may connect (0666), as with vfiod.socket. */
        mask = umask(0111);
        r = bind(fd, (struct sockaddr *) &sa, sizeof(sa));
        umask(mask);
        if (r < 0 || listen(fd, SOMAXCONN) < 0)
                return log_error_errno(errno, "Failed to listen on " VFIOD_VARLINK_ADDRESS ": %m");
        r = add_listening_fd(m, fd);
        if (r < 0)
                return r;
        TAKE_FD(fd);
        return 0;
}

int listener_start(Manager *m) {
        Listener *l = listener(m);
        char **names = NULL;
        struct stat st;
        int n, r;

        for (size_t i = 0; i < ELEMENTSOF(l->fds); i++)
                l->fds[i] = -EBADF;
        if (stat("/proc/self/ns/user", &st) >= 0) {
                l->userns_ino = st.st_ino;
                l->userns_dev = st.st_dev;
        }
        r = sd_event_add_time_relative(m->event, &l->retry, CLOCK_MONOTONIC, RETRY_FIRST_USEC, 0, on_retry, l);
        if (r < 0)
                return log_error_errno(r, "Failed to create the accept retry timer: %m");
        r = sd_event_source_set_enabled(l->retry, SD_EVENT_OFF);
        if (r < 0)
                return log_error_errno(r, "Failed to create the accept retry timer: %m");

        /* As sd_varlink_server_listen_auto(): sockets named "varlink", listening (vfiod.socket)
         * or already connected (varlinkctl exec:). */
        n = sd_listen_fds_with_names(false, &names);
        if (n < 0)
                return log_error_errno(n, "Failed to read the sockets passed in: %m");
        r = 0;
        for (int i = 0; i < n; i++) {
                int fd = SD_LISTEN_FDS_START + i, listening = 0;
                socklen_t len = sizeof(listening);

                if (r < 0 || !names || !streq_ptr(names[i], "varlink"))
                        continue;
                if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) < 0) {
                        r = log_error_errno(errno, "Failed to inspect passed socket %d: %m", fd);
                        continue;
                }
                if (listening)
                        r = add_listening_fd(m, fd);
                else
                        r = add_connection(m, fd);
                l->n_passed++;
        }
        for (int i = 0; names && i < n; i++)
                free(names[i]);
        free(names);
        if (r < 0)
                return r;
        if (l->n_passed == 0)
                /* Started by hand rather than by vfiod.socket: bind the socket ourselves. */
                return listen_address(m);
        return 0;
}

void listener_done(Listener *l) {
        for (size_t i = 0; i < l->n_fds; i++) {
                l->sources[i] = sd_event_source_disable_unref(l->sources[i]);
                if (l->fds[i] >= 0)
                        close(l->fds[i]);
        }
        l->n_fds = 0;
        l->retry = sd_event_source_disable_unref(l->retry);
}
