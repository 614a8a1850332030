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
#include "topology-scan.h"
#include "varlink.h"

#define POLICY_DIRS_MAX 8

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
        broker_done(m);
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

static int on_uevent(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Manager *m = userdata;
        struct udev_device *d;
        const char *action, *event;
        int r;

        d = udev_monitor_receive_device(m->udev_monitor);
        if (!d)
                return 0;
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
        const char *env = secure_getenv("VFIOD_POLICY_PATH");
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

int manager_start(Manager *m) {
        int r;

        r = sd_event_add_signal(m->event, NULL, SIGTERM | SD_EVENT_SIGNAL_PROCMASK, NULL, NULL);
        if (r < 0)
                return log_error_errno(r, "Failed to install SIGTERM handler: %m");
        r = sd_event_add_signal(m->event, NULL, SIGINT | SD_EVENT_SIGNAL_PROCMASK, NULL, NULL);
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
