/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/close_range.h>

#include "macro.h"
#include "worker.h"

#define MESSAGE_MAX 4096

/* The pipe carries one PROGRESS byte per finished step, then MESSAGE and the binder's sentence. */
#define PROGRESS '+'
#define MESSAGE '!'

struct Worker {
        WorkerSet *set;
        Worker *prev, *next;
        char tag[WORKER_TAG_MAX];
        pid_t pid;
        int pipe_fd;
        sd_event_source *child_source, *timer_source, *pipe_source;
        uint64_t step_usec;
        size_t steps_done, n_steps;
        char message[MESSAGE_MAX];
        size_t message_len;
        bool in_message;
        WorkerDone done;
        WorkerProgress progress;
        void *userdata;
        bool finished;      /* done was called */
        bool reaped;
        bool owned;         /* the owner has not called worker_free() yet */
};

static void worker_destroy(Worker *w) {
        WorkerSet *set = w->set;

        if (w->prev)
                w->prev->next = w->next;
        else
                set->head = w->next;
        if (w->next)
                w->next->prev = w->prev;
        set->n--;
        sd_event_source_disable_unref(w->child_source);
        sd_event_source_disable_unref(w->timer_source);
        sd_event_source_disable_unref(w->pipe_source);
        if (w->pipe_fd >= 0)
                close(w->pipe_fd);
        free(w);
        if (set->n == 0 && set->on_empty)
                set->on_empty(set->userdata);
}

Worker *worker_free(Worker *w) {
        if (!w)
                return NULL;
        w->owned = false;
        w->done = NULL;
        w->progress = NULL;
        if (w->reaped)
                worker_destroy(w);
        else {
                /* Still running (given up on, or the owner went away): the child source stays, to
                 * reap it whenever it exits. */
                w->timer_source = sd_event_source_disable_unref(w->timer_source);
                w->pipe_source = sd_event_source_disable_unref(w->pipe_source);
        }
        return NULL;
}

bool worker_set_has_tag(const WorkerSet *set, const char *tag) {
        for (const Worker *w = set->head; w; w = w->next)
                if (!w->reaped && strcmp(w->tag, tag) == 0)
                        return true;
        return false;
}

void worker_set_kill_all(WorkerSet *set) {
        for (Worker *w = set->head; w; w = w->next)
                if (!w->reaped)
                        (void) kill(w->pid, SIGKILL);
}

void worker_set_done(WorkerSet *set) {
        set->on_empty = NULL;
        while (set->head)
                worker_destroy(set->head);
}

static void report(int fd, char c) {
        (void) !write(fd, &c, 1);
}

/* In the child: do the work, report each step and then a sentence on the pipe, exit with the errno. */
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
                        /* Each device of a group gets its own share of the group's deadline. */
                        r = binder_bind_group(devices + start, end - start, groups[start],
                                              timeout_usec * (end - start), &error);
                        if (r < 0) {
                                /* The binder undid this group; undo the groups before it. */
                                for (size_t i = 0; i < start; i++) {
                                        (void) binder_restore_device(&devices[i], timeout_usec, NULL);
                                        report(fd, PROGRESS);
                                }
                                break;
                        }
                        report(fd, PROGRESS);
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
                        report(fd, PROGRESS);
                }
        if (first < 0)
                r = first;

        if (error) {
                report(fd, MESSAGE);
                (void) !write(fd, error, strnlen(error, MESSAGE_MAX - 1));
        }
        _exit(r < 0 ? (-r > 255 ? EIO : -r) : 0);
}

static void finish(Worker *w, int r, const char *message) {
        if (w->finished)
                return;
        w->finished = true;
        w->timer_source = sd_event_source_disable_unref(w->timer_source);
        w->pipe_source = sd_event_source_disable_unref(w->pipe_source);
        if (w->done)
                w->done(w, r, message, w->userdata);   /* may free w */
}

/* Read what the worker wrote so far. Returns true at end of file. */
static bool drain(Worker *w) {
        char buf[512];

        for (;;) {
                ssize_t n = read(w->pipe_fd, buf, sizeof(buf));

                if (n < 0)
                        return errno != EAGAIN && errno != EINTR;
                if (n == 0)
                        return true;
                for (ssize_t i = 0; i < n; i++) {
                        if (w->in_message) {
                                if (w->message_len < sizeof(w->message) - 1)
                                        w->message[w->message_len++] = buf[i];
                        } else if (buf[i] == MESSAGE)
                                w->in_message = true;
                        else if (buf[i] == PROGRESS && w->steps_done < SIZE_MAX) {
                                w->steps_done++;
                                /* The next step gets a full step's time. */
                                if (w->timer_source && !w->finished)
                                        (void) sd_event_source_set_time_relative(w->timer_source, w->step_usec);
                                if (w->progress && !w->finished)
                                        w->progress(w, w->steps_done, w->n_steps, w->userdata);
                        }
                }
        }
}

static int on_pipe(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Worker *w = userdata;

        /* At end of file stop watching (a hung-up pipe stays readable); the exit is seen on SIGCHLD. */
        if (drain(w))
                w->pipe_source = sd_event_source_disable_unref(w->pipe_source);
        return 0;
}

static int on_child(sd_event_source *s, const siginfo_t *si, void *userdata) {
        Worker *w = userdata;
        int r;

        w->reaped = true;
        if (w->finished) {
                /* A worker we gave up on, reaped at last. */
                if (!w->owned)
                        worker_destroy(w);
                return 0;
        }

        (void) drain(w);
        w->message[w->message_len] = '\0';
        if (si->si_code == CLD_EXITED)
                r = si->si_status == 0 ? 0 : -si->si_status;
        else
                r = -EINTR;  /* killed: by a test's crash point, or by something else */
        finish(w, r, w->message_len > 0 ? w->message : NULL);
        return 0;
}

static int on_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        Worker *w = userdata;

        /* A worker stuck in the kernel may not die at once; it stays in the set, and its child
         * source reaps it whenever it does. */
        (void) kill(w->pid, SIGKILL);
        finish(w, -ETIMEDOUT, "the kernel did not finish rebinding in time (a driver's unbind may be stuck)");
        return 0;
}

static size_t count_steps(WorkerKind kind, const int *groups, size_t n, size_t *ret_largest) {
        size_t steps = 0, largest = 1;

        if (kind == WORKER_RESTORE) {
                *ret_largest = 1;
                return n;
        }
        for (size_t start = 0, end; start < n; start = end) {
                for (end = start; end < n && groups[end] == groups[start]; end++)
                        ;
                steps++;
                if (end - start > largest)
                        largest = end - start;
        }
        *ret_largest = largest;
        return steps;
}

int worker_start(WorkerSet *set, const char *tag, WorkerKind kind, const BindDevice *devices, const int *groups,
                 size_t n, uint64_t step_timeout_usec, WorkerDone done, WorkerProgress progress, void *userdata,
                 Worker **ret) {
        Worker *w;
        size_t largest;
        pid_t pid, parent = getpid();
        int fds[2], r;

        if (set->stopping)
                return -ESHUTDOWN;
        if (strlen(tag) >= WORKER_TAG_MAX)
                return -EINVAL;

        w = calloc(1, sizeof(Worker));
        if (!w)
                return -ENOMEM;
        if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) < 0) {
                free(w);
                return negative_errno();
        }

        /* fork() without exec in a daemon with other threads (the libvirt watch): the child uses
         * only sysfs I/O, malloc, stdio and strerror(). glibc's fork() hands the child malloc's,
         * stdio's, NSS's and the loader's locks reset; the other threads' own locks (libvirt's
         * mutexes and logging) are never taken here, and gettext's, which strerror() reads, is
         * only ever written by libvirt's one-time setup, done before the first fork. */
        pid = fork();
        if (pid < 0) {
                r = negative_errno();
                close(fds[0]);
                close(fds[1]);
                free(w);
                return r;
        }
        if (pid == 0) {
                sigset_t none;

                /* The daemon blocks the signals its event loop takes as signalfds; a worker must
                 * die of SIGTERM like any process, and of the daemon's death. */
                sigemptyset(&none);
                (void) sigprocmask(SIG_SETMASK, &none, NULL);
                if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
                        _exit(ECHILD);   /* the daemon is gone already: nothing to report to */

                /* Keep nothing of the daemon's: a VFIO device fd held here would make the very unbind
                 * we are about to do wait for us forever; client sockets are not ours to hold either. */
                if (fds[1] != 3) {
                        if (dup2(fds[1], 3) < 0)
                                _exit(EBADF);
                }
                (void) close_range(4, ~0U, 0);
                (void) fcntl(3, F_SETFL, 0);
                child_run(3, kind, devices, groups, n, step_timeout_usec);
        }
        close(fds[1]);

        *w = (Worker) {
                .set = set, .next = set->head, .pid = pid, .pipe_fd = fds[0],
                .done = done, .progress = progress, .userdata = userdata, .owned = true,
        };
        strcpy(w->tag, tag);
        w->n_steps = count_steps(kind, groups, n, &largest);
        w->step_usec = step_timeout_usec * largest + WORKER_SLACK_USEC;
        if (set->head)
                set->head->prev = w;
        set->head = w;
        set->n++;

        r = sd_event_add_child(set->event, &w->child_source, pid, WEXITED, on_child, w);
        if (r < 0) {
                /* Without a child source nothing would reap it: wait here, it dies at once. */
                (void) kill(pid, SIGKILL);
                (void) waitpid(pid, NULL, 0);
                w->reaped = true;
                worker_free(w);
                return r;
        }
        r = sd_event_add_time_relative(set->event, &w->timer_source, CLOCK_MONOTONIC, w->step_usec, 0, on_timeout, w);
        if (r >= 0)
                r = sd_event_add_io(set->event, &w->pipe_source, w->pipe_fd, EPOLLIN, on_pipe, w);
        if (r < 0) {
                (void) kill(pid, SIGKILL);
                w->finished = true;
                worker_free(w);
                return r;
        }
        *ret = w;
        return 0;
}
