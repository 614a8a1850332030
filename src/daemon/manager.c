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

#include "boot-bind.h"
#include "broker.h"
#include "log.h"
#include "macro.h"
#include "manager.h"
#include "test-hooks.h"
#include "bus.h"
#include "varlink.h"

/* On SIGTERM, running workers get this long to finish, then SIGKILL and this long to be reaped. */
#define STOP_WAIT_USEC (10ULL * 1000 * 1000)
#define STOP_REAP_USEC (3ULL * 1000 * 1000)

int manager_new(Manager **ret) {
        _cleanup_(manager_freep) Manager *m = NULL;
        int r;

        m = calloc(1, sizeof(Manager));
        if (!m)
                return -ENOMEM;
        r = sd_event_default(&m->event);
        if (r < 0)
                return r;
        r = broker_new(m->event, &m->broker);
        if (r < 0)
                return r;
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
        manager_bus_done(m);
        sd_event_source_unref(m->udev_event_source);
        udev_monitor_unref(m->udev_monitor);
        libvirt_watch_free(m->libvirt);
        sd_event_source_unref(m->stop_timer);
        broker_free(m->broker);
        sd_event_unref(m->event);
        free(m);
        return NULL;
}

/* Events a subscriber may leave unread while its socket is full before it is dropped. */
#define MONITOR_LAG_MAX 64

/* The broker's events, to every front-end's subscribers. */
static void on_broker_event(const char *event, const char *device, const char *driver, int group, void *userdata) {
        Manager *m = userdata;

        manager_bus_emit(m, event, device, driver, group);
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

        errno = 0;
        d = udev_monitor_receive_device(m->udev_monitor);
        if (!d) {
                /* The kernel dropped uevents (socket overflow in a burst): the snapshot can no
                 * longer be trusted as a whole, so read it again, once. */
                if (errno == ENOBUFS)
                        (void) broker_rescan(m->broker);
                return 0;
        }
        broker_device_event(m->broker, d, udev_device_get_action(d) ?: "change");
        udev_device_unref(d);
        return 0;
}

static int manager_udev_init(Manager *m) {
        int r;

        m->udev_monitor = udev_monitor_new_from_netlink(m->broker->udev, "udev");
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
        Manager *m = userdata;

        (void) broker_reload_policy(m->broker, NULL);
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
                log_warning("%zu worker(s) did not die; exiting without them.", m->broker->workers.n);
                return sd_event_exit(m->event, 0);
        }
        log_warning("%zu worker(s) still running; killing them. The next start finishes or undoes their work.",
                    m->broker->workers.n);
        m->stop_killed = true;
        worker_set_kill_all(&m->broker->workers);
        return sd_event_source_set_time_relative(s, STOP_REAP_USEC) < 0 ? sd_event_exit(m->event, 0) : 0;
}

/* SIGTERM, SIGINT: a worker half way through a group is best left to finish; wait for it, bounded. */
static int on_exit_signal(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        Manager *m = userdata;
        int r;

        if (m->stopping)
                return 0;
        m->stopping = true;
        m->broker->workers.stopping = true;
        if (m->broker->workers.n == 0)
                return sd_event_exit(m->event, 0);

        log_info("Stopping: waiting up to %llu s for %zu worker(s).",
                 (unsigned long long) (STOP_WAIT_USEC / 1000000), m->broker->workers.n);
        (void) sd_notify(false, "STOPPING=1\nSTATUS=Waiting for workers to finish...");
        r = sd_event_add_time_relative(m->event, &m->stop_timer, CLOCK_MONOTONIC, STOP_WAIT_USEC, 0,
                                       on_stop_timeout, m);
        if (r < 0) {
                worker_set_kill_all(&m->broker->workers);
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

/* READY=1 only once the boot bindings are done: the unit is ordered before libvirtd, virtqemud and
 * libvirt-guests, which must find those devices on vfio-pci. */
static void on_boot_bound(Broker *b, void *userdata) {
        (void) sd_notify(false, "READY=1\nSTATUS=Processing requests...");
}

int manager_start(Manager *m) {
        int r;

        warn_test_hooks();

        m->broker->workers.on_empty = on_workers_empty;
        m->broker->workers.userdata = m;
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

        m->broker->on_event = on_broker_event;
        m->broker->event_userdata = m;
        /* Subscribe before scanning so no change between the two is missed. */
        r = manager_udev_init(m);
        if (r < 0)
                return r;
        r = broker_start(m->broker);
        if (r < 0)
                return r;
        /* Not fatal either: without libvirt (not installed, not running) vfiod works the same,
         * minus the domain facts. Started after the signal mask is set: the thread inherits it. */
        r = libvirt_watch_new(m->event, m->broker, test_hook_getenv("VFIOD_TEST_LIBVIRT_URI") ?: LIBVIRT_WATCH_URI,
                              &m->libvirt);
        if (r < 0)
                log_warning_errno(r, "Failed to start the libvirt watch, running without it: %m");

        r = manager_varlink_init(m);
        if (r < 0)
                return r;
        /* Not fatal: a minimal host or an early boot has no system bus; varlink serves alone. */
        (void) manager_bus_init(m);

        r = broker_bind_at_boot(m->broker, BOOT_BIND_MARKER, on_boot_bound, m);
        if (r < 0)
                on_boot_bound(m->broker, m);
        return 0;
}

int manager_get_info(Manager *m, const CallerInfo *caller, sd_json_variant **ret) {
        _cleanup_(sd_json_variant_unrefp) sd_json_variant *v = NULL, *lv = NULL;
        int r;

        r = broker_get_info(m->broker, caller, &v);
        if (r < 0)
                return r;
        r = libvirt_watch_info(m->libvirt, &lv);
        if (r < 0)
                return r;
        r = sd_json_variant_merge_objectbo(
                        &v,
                        SD_JSON_BUILD_PAIR_OBJECT(
                                        "frontends",
                                        SD_JSON_BUILD_PAIR_STRING("varlink", VFIOD_VARLINK_ADDRESS),
                                        SD_JSON_BUILD_PAIR_CONDITION(!!m->bus, "dbus", SD_JSON_BUILD_STRING(VFIOD_BUS_NAME)),
                                        SD_JSON_BUILD_PAIR_CONDITION(!m->bus, "dbusUnavailable",
                                                                     SD_JSON_BUILD_STRING(strna(m->bus_error)))),
                        /* What keeps the facts current beside sysfs: uevents, and libvirt's domains. */
                        SD_JSON_BUILD_PAIR_OBJECT("watchers",
                                                  SD_JSON_BUILD_PAIR_BOOLEAN("udev", !!m->udev_monitor),
                                                  SD_JSON_BUILD_PAIR_VARIANT("libvirt", lv)));
        if (r < 0)
                return r;
        *ret = TAKE_PTR(v);
        return 0;
}

int manager_run(Manager *m) {
        int r;

        r = sd_event_loop(m->event);
        (void) sd_notify(false, "STOPPING=1");
        if (r < 0)
                return log_error_errno(r, "Event loop failed: %m");
        return 0;
}
