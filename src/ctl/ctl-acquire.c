/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vfiodctl acquire: take devices with ready VFIO fds, and either hold them until interrupted or hand
 * them to a command in the sd_listen_fds_with_names() convention.
 *
 * The lease is tied to this process (vfiod watches the caller's pidfd), so vfiodctl stays while the
 * command runs, and while anything the command left behind runs (a backgrounded child keeps the
 * fds), and releases the lease only once all of them are gone. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ctl-pci.h"
#include "ctl-util.h"
#include "vfiodctl.h"

/* "vfio-device." plus an address, or "vfio-container." plus a group number. */
#define FD_NAME_MAX (sizeof("vfio-device.") + CTL_PCI_ADDRESS_MAX)

typedef struct PassedFd {
        int fd;
        char name[FD_NAME_MAX];
} PassedFd;

typedef struct Acquired {
        char *lease_id;
        PassedFd *fds;
        size_t n_fds;
} Acquired;

static void acquired_close_fds(Acquired *a) {
        for (size_t i = 0; i < a->n_fds; i++)
                if (a->fds[i].fd >= 0) {
                        (void) close(a->fds[i].fd);
                        a->fds[i].fd = -EBADF;
                }
}

static void acquired_done(Acquired *a) {
        acquired_close_fds(a);
        free(a->fds);
        free(a->lease_id);
        *a = (Acquired) {};
}

static int build_params(char **devices, sd_json_variant **ret) {
        _cleanup_(sd_json_variant_unrefp) sd_json_variant *ranges = NULL;
        int r;

        for (size_t i = 0; i < arg_n_iova; i++) {
                char start[32], end[32];

                /* The IDL's form: inclusive bounds, hex with 0x. */
                (void) snprintf(start, sizeof start, "0x%" PRIx64, arg_iova[i].start);
                (void) snprintf(end, sizeof end, "0x%" PRIx64, arg_iova[i].end);
                r = sd_json_variant_append_arraybo(&ranges,
                                                   SD_JSON_BUILD_PAIR_STRING("start", start),
                                                   SD_JSON_BUILD_PAIR_STRING("end", end));
                if (r < 0)
                        return r;
        }

        return sd_json_buildo(ret,
                              SD_JSON_BUILD_PAIR_STRV("devices", devices),
                              SD_JSON_BUILD_PAIR_CONDITION(arg_min_aperture_bits >= 0, "minApertureBits",
                                                           SD_JSON_BUILD_INTEGER(arg_min_aperture_bits)),
                              SD_JSON_BUILD_PAIR_CONDITION(!!ranges, "iovaRanges", SD_JSON_BUILD_VARIANT(ranges)));
}

/* Take the fd a reply entry points at out of the connection, O_CLOEXEC until it is placed for CMD. */
static int take_fd(sd_varlink *link, sd_json_variant *entry, const char *name, Acquired *a) {
        PassedFd *p;
        int64_t index;
        int fd;

        if (!json_int(entry, "fd", &index) || index < 0 || index > INT_MAX)
                return ctl_log_errno(-EBADMSG, "vfiod's reply to Acquire has no valid fd index for %s", name);

        fd = sd_varlink_take_fd(link, (size_t) index);
        if (fd < 0)
                return ctl_log_errno(fd == -EBADF || fd == -ENXIO ? -EBADMSG : fd,
                                     "vfiod's reply to Acquire names fd %" PRIi64 " for %s, which it did not pass%s",
                                     index, name, fd == -EBADF ? " (or named twice)" : "");

        /* sd-varlink receives with MSG_CMSG_CLOEXEC; make sure, since nothing of ours may leak to CMD. */
        if (fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) {
                int error = errno;

                (void) close(fd);
                return ctl_log_errno(error, "Failed to set O_CLOEXEC on %s: %m", name);
        }

        p = a->fds + a->n_fds++;
        p->fd = fd;
        (void) snprintf(p->name, sizeof p->name, "%s", name);
        return 0;
}

/* Names in $LISTEN_FDNAMES are separated by ':', so none may contain one (see 'help acquire'). */
static int collect_fds(sd_varlink *link, sd_json_variant *reply, Acquired *a) {
        sd_json_variant *containers = json_array(reply, "containers"), *groups = json_array(reply, "groups"),
                        *devices = json_array(reply, "devices");
        size_t n_containers = containers ? sd_json_variant_elements(containers) : 0,
               n_groups = groups ? sd_json_variant_elements(groups) : 0,
               n_devices = devices ? sd_json_variant_elements(devices) : 0;
        const char *lease = json_str(reply, "leaseId");
        int r;

        if (!lease)
                return ctl_log_errno(-EBADMSG, "vfiod's reply to Acquire has no lease id");
        a->lease_id = strdup(lease);
        if (!a->lease_id)
                return ctl_log_errno(ENOMEM, "Out of memory: %m");

        if (n_containers == 0)
                return ctl_log_errno(-EBADMSG, "vfiod's reply to Acquire has no container");

        a->fds = calloc(n_containers + n_groups + n_devices, sizeof(PassedFd));
        if (!a->fds)
                return ctl_log_errno(ENOMEM, "Out of memory: %m");

        for (size_t i = 0; i < n_containers; i++) {
                sd_json_variant *c = sd_json_variant_by_index(containers, i), *g = json_array(c, "groups");
                char name[FD_NAME_MAX];
                int64_t lowest = -1;

                /* One container is "vfio-container"; several are told apart by their lowest group. */
                for (size_t j = 0; g && j < sd_json_variant_elements(g); j++) {
                        sd_json_variant *e = sd_json_variant_by_index(g, j);

                        if (sd_json_variant_is_integer(e) && sd_json_variant_integer(e) >= 0 &&
                            (lowest < 0 || sd_json_variant_integer(e) < lowest))
                                lowest = sd_json_variant_integer(e);
                }
                if (n_containers == 1)
                        (void) snprintf(name, sizeof name, "vfio-container");
                else if (lowest >= 0 && lowest <= INT_MAX)
                        (void) snprintf(name, sizeof name, "vfio-container.%" PRIi64, lowest);
                else
                        return ctl_log_errno(-EBADMSG, "vfiod's reply to Acquire has a container without groups");

                r = take_fd(link, c, name, a);
                if (r < 0)
                        return r;
        }

        for (size_t i = 0; i < n_groups; i++) {
                sd_json_variant *g = sd_json_variant_by_index(groups, i);
                char name[FD_NAME_MAX];
                int64_t id;

                if (!json_int(g, "group", &id) || id < 0 || id > INT_MAX)
                        return ctl_log_errno(-EBADMSG, "vfiod's reply to Acquire has a group without a valid id");
                (void) snprintf(name, sizeof name, "vfio-group.%" PRIi64, id);

                r = take_fd(link, g, name, a);
                if (r < 0)
                        return r;
        }

        for (size_t i = 0; i < n_devices; i++) {
                sd_json_variant *d = sd_json_variant_by_index(devices, i);
                char address[CTL_PCI_ADDRESS_MAX], name[FD_NAME_MAX];
                const char *reason;

                /* Only a well-formed address goes into a name: it is hex digits, ':' and '.'. */
                if (ctl_pci_address_parse(json_str(d, "device") ?: "", address, &reason) < 0)
                        return ctl_log_errno(-EBADMSG, "vfiod's reply to Acquire has a device without a valid address");
                for (char *p = address; *p; p++)
                        if (*p == ':')
                                *p = '-';
                (void) snprintf(name, sizeof name, "vfio-device.%s", address);

                r = take_fd(link, d, name, a);
                if (r < 0)
                        return r;
        }

        return 0;
}

/* "4K, 2M, 1G (0x40201000)": the sizes of a VFIO page-size bitmap. */
static void format_page_sizes(uint64_t bitmap, char *buf, size_t size) {
        static const char units[] = "BKMGTPE";
        size_t len = 0, n = 0;
        int lowest = -1;
        bool all_above = true;

        buf[0] = 0;
        if (bitmap == 0) {
                (void) snprintf(buf, size, "none reported");
                return;
        }

        for (int b = 0; b < 64; b++)
                if (bitmap & (UINT64_C(1) << b)) {
                        if (lowest < 0)
                                lowest = b;
                        n++;
                } else if (lowest >= 0)
                        all_above = false;

        /* Some IOMMUs claim every power of two from the smallest page up: say so instead of listing 50. */
        if (n > 8 && all_above) {
                (void) snprintf(buf, size, "every power of two from %" PRIu64 "%c (0x%" PRIx64 ")",
                                UINT64_C(1) << (lowest % 10), units[lowest / 10], bitmap);
                return;
        }

        for (int b = lowest; b < 64; b++) {
                int k;

                if (!(bitmap & (UINT64_C(1) << b)))
                        continue;
                k = snprintf(buf + len, size - len, "%s%" PRIu64 "%c", len > 0 ? ", " : "",
                             UINT64_C(1) << (b % 10), units[b / 10]);
                if (k < 0 || (size_t) k >= size - len)
                        return;
                len += k;
        }
        (void) snprintf(buf + len, size - len, " (0x%" PRIx64 ")", bitmap);
}

static void print_container(sd_json_variant *c, size_t i, size_t n) {
        sd_json_variant *ranges = json_array(c, "iovaRanges");
        char groups[TEXT_MAX], buf[TEXT_MAX];
        uint64_t page_sizes;
        int64_t v;

        (void) json_join_ints(json_array(c, "groups"), ", ", groups, sizeof groups);
        if (n > 1)
                printf("Container %zu of %zu (groups %s):\n", i + 1, n, *groups ? groups : "-");
        else
                printf("Container (groups %s):\n", *groups ? groups : "-");

        if (json_int(c, "apertureBits", &v))
                printf("  Aperture:      %" PRIi64 " bits\n", v);
        else
                printf("  Aperture:      unknown\n");

        for (size_t j = 0; ranges && j < sd_json_variant_elements(ranges); j++) {
                sd_json_variant *range = sd_json_variant_by_index(ranges, j);
                char start[64], end[64];

                (void) text_clean(start, sizeof start, json_str(range, "start") ?: "?", 20);
                (void) text_clean(end, sizeof end, json_str(range, "end") ?: "?", 20);
                printf("  %s %s-%s\n", j == 0 ? "IOVA ranges:  " : "              ", start, end);
        }
        if (!ranges || sd_json_variant_elements(ranges) == 0)
                printf("  IOVA ranges:   none reported\n");

        if (json_uint64(c, "pageSizes", &page_sizes)) {
                format_page_sizes(page_sizes, buf, sizeof buf);
                printf("  Page sizes:    %s\n", buf);
        }

        if (json_int(c, "dmaMappingsAvailable", &v))
                printf("  DMA mappings:  %" PRIi64 " available\n", v);
        else
                printf("  DMA mappings:  not reported by the kernel\n");
}

static int print_reply(sd_json_variant *reply) {
        sd_json_variant *containers = json_array(reply, "containers"), *groups = json_array(reply, "groups"),
                        *devices = json_array(reply, "devices");
        char lease[TEXT_MAX];
        size_t n = containers ? sd_json_variant_elements(containers) : 0;

        if (arg_json)
                return print_json(reply, false);

        (void) text_clean(lease, sizeof lease, json_str(reply, "leaseId") ?: "-", 128);
        printf("Lease %s\n", lease);
        for (size_t i = 0; i < n; i++)
                print_container(sd_json_variant_by_index(containers, i), i, n);

        printf("Groups:");
        for (size_t i = 0; groups && i < sd_json_variant_elements(groups); i++) {
                int64_t id;

                if (json_int(sd_json_variant_by_index(groups, i), "group", &id))
                        printf("%s %" PRIi64, i > 0 ? "," : "", id);
        }
        printf("\nDevices:");
        for (size_t i = 0; devices && i < sd_json_variant_elements(devices); i++) {
                char d[64];

                (void) text_clean(d, sizeof d, json_str(sd_json_variant_by_index(devices, i), "device") ?: "?", 32);
                printf("%s %s", i > 0 ? "," : "", d);
        }
        putchar('\n');
        return 0;
}

/* Give the lease back now rather than when vfiod notices we are gone: when vfiodctl returns, the
 * devices are where the policy wants them. Our fds must be closed first, or vfio-pci would wait for
 * them while vfiod unbinds. */
static int release(sd_varlink *link, Acquired *a) {
        _cleanup_(sd_json_variant_unrefp) sd_json_variant *params = NULL;
        sd_json_variant *reply = NULL;
        int r;

        acquired_close_fds(a);

        r = sd_json_buildo(&params, SD_JSON_BUILD_PAIR_STRING("leaseId", a->lease_id));
        if (r < 0)
                return ctl_log_errno(r, "Failed to build parameters: %m");

        return broker_call(link, VFIOD_INTERFACE ".Release", params, &reply);
}

static int hold(sd_varlink *link, Acquired *a) {
        FILE *f = arg_json ? stderr : stdout;
        char lease[TEXT_MAX];
        sigset_t mask;
        int sig;

        /* Blocked before we say we hold: a script may signal us as soon as it reads that line. They
         * stay blocked afterwards, so a second Ctrl-C does not cut the release short. */
        sigemptyset(&mask);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGTERM);
        if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0) {
                int error = errno;

                (void) release(link, a);
                return ctl_log_errno(error, "Failed to block signals: %m");
        }

        (void) text_clean(lease, sizeof lease, a->lease_id, 128);
        fprintf(f, "holding lease %s; Ctrl-C to release\n", lease);
        /* Whoever reads our output (a script in a pipe) must see it while we hold. */
        if (fflush(stdout) != 0 || fflush(stderr) != 0) {
                int error = errno > 0 ? errno : EIO;

                (void) release(link, a);
                return ctl_log_errno(error, "failed to write output: %m");
        }

        do
                sig = sigwaitinfo(&mask, NULL);
        while (sig < 0 && errno == EINTR);
        if (sig < 0)
                ctl_log_errno(errno, "Failed to wait for a signal: %m");

        return release(link, a);
}

/* Exit status of CMD the way shells report it. */
static int child_status(const siginfo_t *si) {
        if (si->si_code == CLD_EXITED)
                return si->si_status & 0xff;
        return 128 + si->si_status;
}

static char *join_names(const Acquired *a) {
        size_t size = 1;
        char *s, *p;

        for (size_t i = 0; i < a->n_fds; i++)
                size += strlen(a->fds[i].name) + 1;
        s = p = malloc(size);
        if (!s)
                return NULL;
        *p = 0;
        for (size_t i = 0; i < a->n_fds; i++)
                p = stpcpy(stpcpy(p, i > 0 ? ":" : ""), a->fds[i].name);
        return s;
}

/* In the child after fork(): place the fds at 3, 4, ... without O_CLOEXEC, say so in the
 * environment, run CMD. Single-threaded, so setenv() and stdio are fine here. */
__attribute__((noreturn)) static void exec_child(const Acquired *a, const char *names, const sigset_t *saved_mask) {
        char number[32];

        /* Every source fd is at 3 + n_fds or above: no dup2() here overwrites one not yet placed. */
        for (size_t i = 0; i < a->n_fds; i++)
                if (dup2(a->fds[i].fd, (int) (3 + i)) < 0) {
                        ctl_log_errno(errno, "Failed to place fd %s at %zu: %m", a->fds[i].name, 3 + i);
                        _exit(126);
                }

        (void) snprintf(number, sizeof number, "%zu", a->n_fds);
        if (setenv("LISTEN_FDS", number, 1) < 0 || setenv("LISTEN_FDNAMES", names, 1) < 0 ||
            setenv("VFIOD_LEASE_ID", a->lease_id, 1) < 0)
                goto fail_env;
        /* The pid of CMD, which is ours from here on across execve(). */
        (void) snprintf(number, sizeof number, "%d", (int) getpid());
        if (setenv("LISTEN_PID", number, 1) < 0)
                goto fail_env;

        /* CMD starts with the signal mask vfiodctl was started with. */
        (void) sigprocmask(SIG_SETMASK, saved_mask, NULL);

        execvp(arg_exec_argv[0], arg_exec_argv);
        {
                int error = errno;
                char cmd[TEXT_MAX];

                (void) text_clean(cmd, sizeof cmd, arg_exec_argv[0], 256);
                ctl_log_errno(error, "cannot run %s: %m", cmd);
                _exit(error == ENOENT ? 127 : 126);
        }

fail_env:
        ctl_log_errno(errno, "Failed to set up the environment for the command: %m");
        _exit(126);
}

/* Our children but except (the helper of an exec: address, which lives as long as the connection):
 * CMD, and whatever CMD left behind, re-parented to us as its subreaper. Signals them with sig if
 * sig > 0. Returns how many there are (at least 1 if the list was cut short), or -errno. */
static int other_children(pid_t except, int sig) {
        char path[64], buf[4096];
        ssize_t n;
        int fd, count = 0;

        (void) snprintf(path, sizeof path, "/proc/self/task/%d/children", (int) getpid());
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        n = read(fd, buf, sizeof buf - 1);
        (void) close(fd);
        if (n < 0)
                return -errno;
        buf[n] = 0;
        for (char *p = buf, *end; *p; p = end) {
                long v = strtol(p, &end, 10);

                if (end == p)
                        break;
                if (v <= 0 || v > INT_MAX || (pid_t) v == except)
                        continue;
                count++;
                if (sig > 0)
                        (void) kill((pid_t) v, sig);
        }
        return count == 0 && (size_t) n == sizeof buf - 1 ? 1 : count;
}

static int run_command(sd_varlink *link, Acquired *a) {
        _cleanup_free_ char *names = NULL;
        sigset_t mask, saved_mask;
        siginfo_t si = {};
        const char *what;
        pid_t pid, helper = 0;
        bool cmd_done = false;
        int status, error;

        names = join_names(a);
        if (!names) {
                error = ENOMEM;
                what = "Out of memory";
                goto fail;
        }

        /* Move every fd above the range it is placed in, so the child's dup2() calls cannot collide. */
        for (size_t i = 0; i < a->n_fds; i++) {
                int fd = fcntl(a->fds[i].fd, F_DUPFD_CLOEXEC, (int) (3 + a->n_fds));

                if (fd < 0) {
                        error = errno;
                        what = "Failed to move the fds for the command";
                        goto fail;
                }
                (void) close(a->fds[i].fd);
                a->fds[i].fd = fd;
        }

        /* Blocked before fork(): a signal or CMD's end cannot slip in before we wait for it. */
        sigemptyset(&mask);
        sigaddset(&mask, SIGCHLD);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGHUP);
        if (sigprocmask(SIG_BLOCK, &mask, &saved_mask) < 0) {
                error = errno;
                what = "Failed to block signals";
                goto fail;
        }

        /* What CMD leaves behind (a backgrounded child, a daemon) is re-parented to us rather than to
         * init: it may hold the fds as well, and the lease must last as long as any of it runs. */
        if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0) {
                error = errno;
                what = "Failed to become the subreaper of the command";
                goto fail;
        }
        (void) sd_varlink_get_peer_pid(link, &helper);

        /* Nothing buffered may be written twice. */
        (void) fflush(stdout);
        (void) fflush(stderr);

        pid = fork();
        if (pid < 0) {
                error = errno;
                what = "Failed to fork";
                goto fail;
        }
        if (pid == 0)
                exec_child(a, names, &saved_mask);

        /* Only CMD holds the fds now: when it is gone, so are they. */
        acquired_close_fds(a);

        for (;;) {
                siginfo_t info = {};
                int sig;

                sig = sigwaitinfo(&mask, &info);
                if (sig < 0) {
                        if (errno == EINTR)
                                continue;
                        /* Cannot happen with a valid mask; do not leave CMD behind unwaited. */
                        ctl_log_errno(errno, "Failed to wait for signals: %m");
                        if (waitid(P_PID, pid, &si, WEXITED) < 0)
                                return ctl_log_errno(errno, "Failed to wait for the command: %m");
                        break;
                }

                if (sig == SIGCHLD) {
                        int left;

                        /* Reap CMD and whatever it left to us; several may have exited per signal. */
                        for (;;) {
                                siginfo_t ci = {};

                                if (waitid(P_ALL, 0, &ci, WEXITED | WNOHANG) < 0 || ci.si_pid == 0)
                                        break;
                                if (ci.si_pid == pid) {
                                        si = ci;
                                        cmd_done = true;
                                }
                        }
                        if (!cmd_done)
                                continue;
                        /* Done when no process of CMD's is left (an exec: address's helper is not one). */
                        left = other_children(helper, 0);
                        if (left <= 0)
                                break;
                        continue;
                }

                /* Ctrl-C at a terminal reached CMD already (same process group; the kernel sent it):
                 * passing it on would deliver it twice. Anything sent with kill() is ours to forward. */
                if (info.si_code == SI_KERNEL)
                        continue;
                if (!cmd_done)
                        (void) kill(pid, sig);
                else
                        (void) other_children(helper, sig);
        }

        status = child_status(&si);

        /* CMD's status is the answer; a failed release is reported, and vfiod ends the lease anyway
         * once we exit. */
        (void) release(link, a);
        return status;

fail:
        /* CMD never ran: give the lease back now. */
        (void) release(link, a);
        return ctl_log_errno(error, "%s: %m", what);
}

int verb_acquire(int argc, char *argv[]) {
        _cleanup_(sd_varlink_flush_close_unrefp) sd_varlink *link = NULL;
        _cleanup_(sd_json_variant_unrefp) sd_json_variant *params = NULL;
        _cleanup_(ctl_strv_freep) char **devices = NULL;
        _cleanup_(acquired_done) Acquired a = {};
        sd_json_variant *reply = NULL;
        int r;

        r = ctl_pci_address_list_parse(argv, argc, &devices);
        if (r != 0)
                return r;

        r = build_params(devices, &params);
        if (r < 0)
                return ctl_log_errno(r, "Failed to build parameters: %m");

        r = broker_connect(arg_address, &link);
        if (r < 0)
                return r;

        r = sd_varlink_set_relative_timeout(link, CTL_CHANGE_TIMEOUT_USEC);
        if (r < 0)
                return ctl_log_errno(r, "Failed to set the call timeout: %m");

        /* Before the call: fds that arrive while it is off are not received at all. */
        r = sd_varlink_set_allow_fd_passing_input(link, true);
        if (r < 0)
                return ctl_log_errno(r, "Failed to enable fd passing on the connection to vfiod: %m");

        r = broker_call(link, VFIOD_INTERFACE ".Acquire", params, &reply);
        if (r < 0)
                return r;

        r = collect_fds(link, reply, &a);
        if (r < 0) {
                /* We cannot use what we got: give it back rather than hold it until we exit. */
                if (a.lease_id)
                        (void) release(link, &a);
                return r;
        }

        if (arg_exec)
                return run_command(link, &a);

        r = print_reply(reply);
        if (r < 0) {
                (void) release(link, &a);
                return r;
        }
        return hold(link, &a);
}
