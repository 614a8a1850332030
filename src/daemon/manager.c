/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <libudev.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <systemd/sd-daemon.h>
#include <time.h>

#include "broker.h"
#include "host-use.h"
#include "log.h"
#include "macro.h"
#include "manager.h"
#include "switches.h"
#include "test-hooks.h"
#include "topology-scan.h"
#include "varlink.h"

#define POLICY_DIRS_MAX 8
/* On SIGTERM, running workers get this long to finish, then SIGKILL and this long to be reaped. */
#define STOP_WAIT_USEC (10ULL * 1000 * 1000)
#define STOP_REAP_USEC (3ULL * 1000 * 1000)

static uint64_t now_usec(clockid_t c) {
        struct timespec ts;
        clock_gettime(c, &ts);
        return (uint64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int manager_new(Manager **ret) {
        _cleanup_(manager_freep) Manager *m = NULL;
        int r;

        m = calloc(1, sizeof(Manager));
        if (!m)
                return -ENOMEM;
        policy_init_defaults(&m->policy);
        facts_init(&m->facts);

        r = sd_event_default(&m->event);
        if (r < 0)
                return r;
        m->workers.event = m->event;

        m->udev = udev_new();
        if (!m->udev)
                return -ENOMEM;

        *ret = TAKE_PTR(m);
        return 0;
}

Manager *manager_free(Manager *m) {
        if (!m)
                return NULL;
        for (size_t i = 0; i < m->n_monitors; i++)
                sd_varlink_unref(m->monitors[i]);
        sd_varlink_server_unref(m->varlink_server);
        listener_done(&m->listener);
        facts_done(&m->facts);
        denial_limit_done(&m->denials);
        sd_event_source_unref(m->udev_event_source);
        udev_monitor_unref(m->udev_monitor);
        sd_event_source_unref(m->stop_timer);
        broker_done(m);
        worker_set_done(&m->workers);
        topology_done(&m->topology);
        policy_done(&m->policy);
        free(m->policy_last_error);
        udev_unref(m->udev);
        sd_event_unref(m->event);
        free(m);
        return NULL;
}

/* Events a subscriber may leave unread while its socket is full before it is dropped. */
#define MONITOR_LAG_MAX 64

void manager_broadcast(Manager *m, const char *event, const char *device, const char *driver, int group) {
        /* Backwards: dropping a subscriber moves the last one into its place. */
        for (size_t i = m->n_monitors; i > 0; i--) {
                if (listener_close_if_lagging(m, m->monitors[i - 1], MONITOR_LAG_MAX))
                        continue;
                int r = sd_varlink_notifybo(
                                m->monitors[i - 1],
                                SD_JSON_BUILD_PAIR_STRING("event", event),
                                SD_JSON_BUILD_PAIR_CONDITION(!!device, "device", SD_JSON_BUILD_STRING(device)),
                                SD_JSON_BUILD_PAIR_CONDITION(!!driver, "driver", SD_JSON_BUILD_STRING(driver)),
                                SD_JSON_BUILD_PAIR_CONDITION(group >= 0, "iommuGroup", SD_JSON_BUILD_INTEGER(group)));
                if (r < 0)
                        log_debug_errno(r, "Failed to send monitor event: %m");
        }
}

static int manager_rescan(Manager *m) {
        Topology t = {};
        int r;

        log_warning("Device events were lost (the udev monitor overflowed); reading the whole topology again.");
        r = topology_scan(m->udev, &t);
        if (r < 0)
                return log_error_errno(r, "Failed to read the PCI topology again: %m");
        /* The switches and host-use marks are facts of the old snapshot; read them again too. */
        topology_done(&m->topology);
        m->topology = t;
        facts_mark_dirty(&m->facts);
        r = manager_refresh_facts(m);
        manager_broadcast(m, "rescanned", NULL, NULL, -1);
        return r;
}

static int on_uevent(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Manager *m = userdata;
        struct udev_device *d;
        const char *action, *event;
        int r;

        errno = 0;
        d = udev_monitor_receive_device(m->udev_monitor);
        if (!d) {
                /* The kernel dropped uevents (socket overflow in a burst): the snapshot can no
                 * longer be trusted as a whole, so read it again, once. */
                if (errno == ENOBUFS)
                        (void) manager_rescan(m);
                return 0;
        }
        action = udev_device_get_action(d) ?: "change";

        r = topology_update_device(&m->topology, d, action);
        if (r != 0)
                /* A device came, went or changed: what the host uses must be marked afresh. */
                facts_mark_dirty(&m->facts);
        if (r < 0)
                log_warning_errno(r, "Failed to update %s after '%s': %m", udev_device_get_sysname(d), action);
        else if (r > 0) {
                const PciDevice *p = topology_find_device(&m->topology, udev_device_get_sysname(d));

                event = strcmp(action, "add") == 0 ? "added" :
                        strcmp(action, "remove") == 0 ? "removed" :
                        strcmp(action, "bind") == 0 ? "bound" :
                        strcmp(action, "unbind") == 0 ? "unbound" : "changed";
                manager_broadcast(m, event, udev_device_get_sysname(d), p ? p->driver : NULL,
                                  p ? p->iommu_group : -1);
        }
        udev_device_unref(d);
        return 0;
}

static int manager_udev_init(Manager *m) {
        int r;

        m->udev_monitor = udev_monitor_new_from_netlink(m->udev, "udev");
        if (!m->udev_monitor)
                return log_error_errno(-ENOMEM, "Failed to create udev monitor");
        r = udev_monitor_filter_add_match_subsystem_devtype(m->udev_monitor, "pci", NULL);
        if (r < 0)
                return log_error_errno(r, "Failed to filter udev monitor: %m");
        /* Large bursts (SR-IOV enabling hundreds of VFs) must not overflow the socket. */
        (void) udev_monitor_set_receive_buffer_size(m->udev_monitor, 8 * 1024 * 1024);
        r = udev_monitor_enable_receiving(m->udev_monitor);
        if (r < 0)
                return log_error_errno(r, "Failed to enable udev monitor: %m");

        r = sd_event_add_io(m->event, &m->udev_event_source, udev_monitor_get_fd(m->udev_monitor),
                            EPOLLIN, on_uevent, m);
        if (r < 0)
                return log_error_errno(r, "Failed to watch udev monitor: %m");
        return 0;
}

static int policy_dirs(char **buf, const char *dirs[static POLICY_DIRS_MAX], size_t *n) {
        const char *env = test_hook_getenv("VFIOD_POLICY_PATH");
        char *save = NULL;

        *n = 0;
        if (!env) {
                dirs[(*n)++] = VFIOD_DATADIR "/policy.d";
                dirs[(*n)++] = VFIOD_SYSCONFDIR "/vfiod/policy.d";
                dirs[(*n)++] = VFIOD_RUNTIME_DIR "/policy.d";
                return 0;
        }
        /* For tests: a colon-separated list replaces the three standard directories. */
        *buf = strdup(env);
        if (!*buf)
                return -ENOMEM;
        for (char *d = strtok_r(*buf, ":", &save); d && *n < POLICY_DIRS_MAX; d = strtok_r(NULL, ":", &save))
                dirs[(*n)++] = d;
        return 0;
}

int manager_reload_policy(Manager *m, char **ret_error) {
        _cleanup_free_ char *buf = NULL, *error = NULL;
        const char *dirs[POLICY_DIRS_MAX];
        Policy p;
        size_t n;
        int r;

        r = policy_dirs(&buf, dirs, &n);
        if (r < 0)
                return r;

        r = policy_load_dirs(dirs, n, &p, &error);
        if (r < 0) {
                log_warning("Policy rejected, the previous policy stays: %s", strna(error));
                free(m->policy_last_error);
                m->policy_last_error = error ? strdup(error) : NULL;
                if (ret_error)
                        *ret_error = TAKE_PTR(error);
                return r;
        }

        policy_done(&m->policy);
        m->policy = p;
        free(m->policy_last_error);
        m->policy_last_error = NULL;
        log_info("Policy loaded: %zu file(s), %zu rule(s).", m->policy.n_files, m->policy.n_rules);
        manager_broadcast(m, "policy-reloaded", NULL, NULL, -1);
        return 0;
}

static int read_facts(Manager *m) {
        uint64_t now = now_usec(CLOCK_MONOTONIC);
        KernelSwitches s;
        int r;

        log_debug("Reading the host's facts (%s).", m->facts.dirty ? "changed" : "aged");
        /* Until a read succeeds, every decision tries again: partial facts are never kept. */
        facts_mark_dirty(&m->facts);
        r = kernel_switches_read(&s);
        if (r < 0)
                return log_error_errno(r, "Failed to read the kernel's switches: %m");
        kernel_switches_done(&m->topology.switches);
        m->topology.switches = s;

        r = host_use_apply(m->udev, &m->topology);
        if (r < 0)
                return log_error_errno(r, "Failed to find the devices the host uses: %m");
        facts_read_done(&m->facts, now);
        return 0;
}

int manager_refresh_facts(Manager *m) {
        int r;

        if (facts_stale(&m->facts, now_usec(CLOCK_MONOTONIC))) {
                r = read_facts(m);
                if (r < 0)
                        return r;
        }
        return broker_mark_holders(m);
}

int manager_refresh_groups(Manager *m, const char *const *devices) {
        int seen[LEASE_DEVICES_MAX];
        size_t n_seen = 0;
        int r;

        for (size_t i = 0; devices && devices[i]; i++) {
                const PciDevice *d = topology_find_device(&m->topology, devices[i]);
                bool changed = false, dup = false;
                int g;

                /* A device that appeared without a uevent is read now, not refused as unknown. */
                if (!d) {
                        r = topology_reread_device(m->udev, &m->topology, devices[i]);
                        if (r < 0)
                                return log_error_errno(r, "Failed to read %s: %m", devices[i]);
                        d = topology_find_device(&m->topology, devices[i]);
                        if (!d)
                                continue;       /* really not there: the caller says NoSuchDevice */
                        facts_mark_dirty(&m->facts);    /* a new device has no host-use marks yet */
                }
                g = d->iommu_group;
                if (g < 0)
                        continue;
                for (size_t j = 0; j < n_seen && !dup; j++)
                        dup = seen[j] == g;
                if (dup || n_seen >= ELEMENTSOF(seen))
                        continue;
                seen[n_seen++] = g;

                r = topology_refresh_group(m->udev, &m->topology, g, &changed);
                if (r < 0)
                        return log_error_errno(r, "Failed to re-read IOMMU group %d: %m", g);
                if (changed) {
                        facts_mark_dirty(&m->facts);
                        log_warning("IOMMU group %d had changed without an event reaching vfiod; "
                                    "re-read its members from sysfs.", g);
                }
        }
        return 0;
}

int manager_refresh_facts_now(Manager *m) {
        int r;

        r = read_facts(m);
        if (r < 0)
                return r;
        return broker_mark_holders(m);
}

/* Connections and their pidfds, workers' pipes, the state journal: 1024 fds is not enough. */
static void raise_fd_limit(void) {
        struct rlimit rl;

        if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur >= rl.rlim_max)
                return;
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
                log_warning_errno(errno, "Failed to raise the fd limit to %llu: %m", (unsigned long long) rl.rlim_max);
}

static int on_sighup(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        (void) manager_reload_policy(userdata, NULL);
        return 0;
}

static void on_workers_empty(void *userdata) {
        Manager *m = userdata;

        if (m->stopping)
                (void) sd_event_exit(m->event, 0);
}

static int on_stop_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        Manager *m = userdata;

        if (m->stop_killed) {
                /* Stuck in the kernel: nothing more we can do; the journal tells the next start. */
                log_warning("%zu worker(s) did not die; exiting without them.", m->workers.n);
                return sd_event_exit(m->event, 0);
        }
        log_warning("%zu worker(s) still running; killing them. The next start finishes or undoes their work.",
                    m->workers.n);
        m->stop_killed = true;
        worker_set_kill_all(&m->workers);
        return sd_event_source_set_time_relative(s, STOP_REAP_USEC) < 0 ? sd_event_exit(m->event, 0) : 0;
}

/* SIGTERM, SIGINT: a worker half way through a group is best left to finish; wait for it, bounded. */
static int on_exit_signal(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        Manager *m = userdata;
        int r;

        if (m->stopping)
                return 0;
        m->stopping = true;
        m->workers.stopping = true;
        if (m->workers.n == 0)
                return sd_event_exit(m->event, 0);

        log_info("Stopping: waiting up to %llu s for %zu worker(s).",
                 (unsigned long long) (STOP_WAIT_USEC / 1000000), m->workers.n);
        (void) sd_notify(false, "STOPPING=1\nSTATUS=Waiting for workers to finish...");
        r = sd_event_add_time_relative(m->event, &m->stop_timer, CLOCK_MONOTONIC, STOP_WAIT_USEC, 0,
                                       on_stop_timeout, m);
        if (r < 0) {
                worker_set_kill_all(&m->workers);
                return sd_event_exit(m->event, 0);
        }
        return 0;
}

static void warn_test_hooks(void) {
#if VFIOD_TEST_HOOKS
        static const char *const names[] = TEST_HOOK_NAMES;

        log_notice("This vfiod is a test build (-Dtest-hooks=true): it honours VFIOD_TEST_* and VFIOD_POLICY_PATH.");
        for (size_t i = 0; i < ELEMENTSOF(names); i++)
                if (secure_getenv(names[i]))
                        log_warning("Test hook %s=%s is active: the checks may read test fixtures instead of the host.",
                                    names[i], secure_getenv(names[i]));
#endif
}

int manager_start(Manager *m) {
        int r;

        warn_test_hooks();

        m->workers.on_empty = on_workers_empty;
        m->workers.userdata = m;
        r = sd_event_add_signal(m->event, NULL, SIGTERM | SD_EVENT_SIGNAL_PROCMASK, on_exit_signal, m);
        if (r < 0)
                return log_error_errno(r, "Failed to install SIGTERM handler: %m");
        r = sd_event_add_signal(m->event, NULL, SIGINT | SD_EVENT_SIGNAL_PROCMASK, on_exit_signal, m);
        if (r < 0)
                return log_error_errno(r, "Failed to install SIGINT handler: %m");
        r = sd_event_add_signal(m->event, NULL, SIGHUP | SD_EVENT_SIGNAL_PROCMASK, on_sighup, m);
        if (r < 0)
                return log_error_errno(r, "Failed to install SIGHUP handler: %m");
        /* Workers are reaped through sd-event child sources, which need SIGCHLD blocked. */
        sigset_t ss;
        sigemptyset(&ss);
        sigaddset(&ss, SIGCHLD);
        if (sigprocmask(SIG_BLOCK, &ss, NULL) < 0)
                return log_error_errno(errno, "Failed to block SIGCHLD: %m");

        raise_fd_limit();
        r = denial_limit_start(&m->denials, m->event);
        if (r < 0)
                return log_error_errno(r, "Failed to set up the denial rate limit: %m");

        /* Subscribe before scanning so no change between the two is missed. */
        r = manager_udev_init(m);
        if (r < 0)
                return r;
        r = facts_start(&m->facts, m->event);
        if (r < 0)
                return r;
        uint64_t t0, t1;
        t0 = now_usec(CLOCK_MONOTONIC);
        r = topology_scan(m->udev, &m->topology);
        if (r < 0)
                return log_error_errno(r, "Failed to read the PCI topology: %m");
        t1 = now_usec(CLOCK_MONOTONIC);
        log_info("Found %zu PCI devices in %zu IOMMU groups, %zu IOMMU units, in %llu ms.",
                 m->topology.n_devices, m->topology.n_groups, m->topology.units.n_units,
                 (unsigned long long) (t1 - t0) / 1000);

        /* A bad policy at start leaves the strict built-in defaults in force: fail closed. */
        (void) manager_reload_policy(m, NULL);

        /* Finish, undo or re-adopt what the state journal says was going on before. */
        r = broker_start(m);
        if (r < 0)
                return r;

        return manager_varlink_init(m);
}

int manager_run(Manager *m) {
        int r;

        (void) sd_notify(false, "READY=1\nSTATUS=Processing requests...");
        r = sd_event_loop(m->event);
        (void) sd_notify(false, "STOPPING=1");
        if (r < 0)
                return log_error_errno(r, "Event loop failed: %m");
        return 0;
}
