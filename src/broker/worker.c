/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/close_range.h>

#include "macro.h"
#include "worker.h"

#define MESSAGE_MAX 4096

struct Worker {
        pid_t pid;
        int pipe_fd;
        sd_event_source *child_source, *timer_source;
        WorkerDone done;
        void *userdata;
        bool finished;
};

Worker *worker_free(Worker *w) {
        if (!w)
                return NULL;
        sd_event_source_disable_unref(w->child_source);
        sd_event_source_disable_unref(w->timer_source);
        if (w->pipe_fd >= 0)
                close(w->pipe_fd);
        free(w);
        return NULL;
}

/* In the child: do the work, report a sentence on the pipe, exit with the errno. */
_Noreturn static void child_run(int fd, WorkerKind kind, const BindDevice *devices, const int *groups, size_t n,
                                uint64_t timeout_usec) {
        _cleanup_free_ char *error = NULL;
        int r = 0, first = 0;

        if (kind == WORKER_BIND) {
                size_t start = 0;

                while (start < n) {
                        size_t end = start;
                        while (end < n && groups[end] == groups[start])
                                end++;
                        r = binder_bind_group(devices + start, end - start, groups[start], timeout_usec, &error);
                        if (r < 0) {
                                /* The binder undid this group; undo the groups before it. */
                                for (size_t i = 0; i < start; i++)
                                        (void) binder_restore_device(&devices[i], timeout_usec, NULL);
                                break;
                        }
                        start = end;
                }
        } else
                for (size_t i = 0; i < n; i++) {
                        _cleanup_free_ char *e = NULL;
                        r = binder_restore_device(&devices[i], timeout_usec, &e);
                        if (r < 0 && first == 0) {
                                first = r;
                                free(error);
                                error = TAKE_PTR(e);
                        }
                }
        if (first < 0)
                r = first;

        if (error)
                (void) !write(fd, error, strnlen(error, MESSAGE_MAX - 1));
        _exit(r < 0 ? (-r > 255 ? EIO : -r) : 0);
}

static void finish(Worker *w, int r, const char *message) {
        if (w->finished)
                return;
        w->finished = true;
        w->child_source = sd_event_source_disable_unref(w->child_source);
        w->timer_source = sd_event_source_disable_unref(w->timer_source);
        w->done(w, r, message, w->userdata);
}

static int on_child(sd_event_source *s, const siginfo_t *si, void *userdata) {
        Worker *w = userdata;
        char buf[MESSAGE_MAX];
        ssize_t n;
        int r;

        if (!w)
                return 0;  /* a worker we gave up on, reaped at last */

        n = read(w->pipe_fd, buf, sizeof(buf) - 1);
        buf[n > 0 ? n : 0] = '\0';

        if (si->si_code == CLD_EXITED)
                r = si->si_status == 0 ? 0 : -si->si_status;
        else
                r = -EINTR;  /* killed: by a test's crash point, or by something else */
        finish(w, r, n > 0 ? buf : NULL);
        return 0;
}

static int on_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        Worker *w = userdata;

        /* A worker stuck in the kernel may not die at once; leave its child source to the event
         * loop, which reaps it whenever it does. */
        (void) kill(w->pid, SIGKILL);
        if (w->child_source) {
                (void) sd_event_source_set_userdata(w->child_source, NULL);
                (void) sd_event_source_set_floating(w->child_source, true);
                w->child_source = sd_event_source_unref(w->child_source);
        }
        finish(w, -ETIMEDOUT, "the kernel did not finish rebinding in time (a driver's unbind may be stuck)");
        return 0;
}

int worker_start(sd_event *e, WorkerKind kind, const BindDevice *devices, const int *groups, size_t n,
                 uint64_t timeout_usec, WorkerDone done, void *userdata, Worker **ret) {
        Worker *w;
        int fds[2], r;
        pid_t pid;

        if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) < 0)
                return negative_errno();

        pid = fork();
        if (pid < 0) {
                r = negative_errno();
                close(fds[0]);
                close(fds[1]);
                return r;
        }
        if (pid == 0) {
                /* Keep nothing of the daemon's: a VFIO device fd held here would make the very unbind
                 * we are about to do wait for us forever; client sockets are not ours to hold either. */
                if (fds[1] != 3) {
                        if (dup2(fds[1], 3) < 0)
                                _exit(EBADF);
                }
                (void) close_range(4, ~0U, 0);
                (void) fcntl(3, F_SETFL, 0);
                child_run(3, kind, devices, groups, n, timeout_usec);
        }
        close(fds[1]);

        w = calloc(1, sizeof(Worker));
        if (!w) {
                (void) kill(pid, SIGKILL);
                close(fds[0]);
                return -ENOMEM;
        }
        *w = (Worker) { .pid = pid, .pipe_fd = fds[0], .done = done, .userdata = userdata };

        r = sd_event_add_child(e, &w->child_source, pid, WEXITED, on_child, w);
        if (r >= 0)
                r = sd_event_add_time_relative(e, &w->timer_source, CLOCK_MONOTONIC, timeout_usec + 5 * 1000 * 1000,
                                               0, on_timeout, w);
        if (r < 0) {
                (void) kill(pid, SIGKILL);
                worker_free(w);
                return r;
        }
        *ret = w;
        return 0;
}
