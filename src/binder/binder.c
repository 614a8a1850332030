/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "binder.h"
#include "fileio.h"
#include "log.h"
#include "macro.h"
#include "pci-address.h"
#include "test-hooks.h"

#define PCI_DEVICES "/sys/bus/pci/devices"
#define PCI_DRIVERS "/sys/bus/pci/drivers"
#define VFIO_PCI "vfio-pci"

/* A group larger than this is not a real topology; refuse rather than loop long. */
#define BIND_DEVICES_MAX 256U
/* How often a wait looks again at the driver link or /dev/vfio/N. */
#define POLL_USEC (5U * 1000U)
/* Keeps the deadline arithmetic finite whatever the caller passes. */
#define TIMEOUT_USEC_MAX (600ULL * 1000 * 1000)
/* Rolling back still gets this long per device when the bind used up its deadline. */
#define ROLLBACK_USEC (2ULL * 1000 * 1000)
/* bind, unbind and drivers_probe set the driver link before the write returns; this is slack. */
#define VERIFY_USEC (1000ULL * 1000)

static void *mfree(void *p) {
        free(p);
        return NULL;
}

static uint64_t now_usec(void) {
        struct timespec ts;

        (void) clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000ULL + (uint64_t) ts.tv_nsec / 1000ULL;
}

static uint64_t deadline_after(uint64_t timeout_usec) {
        return now_usec() + (timeout_usec > TIMEOUT_USEC_MAX ? TIMEOUT_USEC_MAX : timeout_usec);
}

static uint64_t verify_deadline(uint64_t deadline) {
        uint64_t v = now_usec() + VERIFY_USEC;

        return v < deadline ? v : deadline;
}

static void sleep_poll(uint64_t deadline) {
        uint64_t n = now_usec(), d = POLL_USEC;
        struct timespec ts;

        if (n >= deadline)
                return;
        if (deadline - n < d)
                d = deadline - n;
        ts = (struct timespec) { .tv_sec = 0, .tv_nsec = (long) d * 1000L };
        (void) nanosleep(&ts, NULL);
}

/* Sets *ret_error (if wanted) to one formatted sentence and returns r. Keeps the first sentence:
 * the first failure is what the caller needs to see, rollback trouble is appended separately. */
_printf_(3, 4)
static int fail(char **ret_error, int r, const char *format, ...) {
        va_list ap;
        char *s;

        if (!ret_error || *ret_error)
                return r;
        va_start(ap, format);
        if (vasprintf(&s, format, ap) >= 0)
                *ret_error = s;
        va_end(ap);
        return r;
}

/* "<first error>; rolling back <address> failed too: <why>" */
static void append_error(char **ret_error, const char *address, const char *more) {
        char *s;

        if (!ret_error || !more)
                return;
        if (asprintf(&s, "%s; rolling back %s failed too: %s", strna(*ret_error), address, more) < 0)
                return;
        free(*ret_error);
        *ret_error = s;
}

static bool driver_name_is_valid(const char *s) {
        size_t n = strnlen(s, BINDER_DRIVER_MAX);

        if (n == 0 || n >= BINDER_DRIVER_MAX)
                return false;
        for (size_t i = 0; i < n; i++)
                if (!strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-", s[i]))
                        return false;
        /* Never a path component of its own. */
        return strcmp(s, ".") != 0 && strcmp(s, "..") != 0;
}

/* A BindDevice field: "" or a valid driver name, NUL-terminated inside its array. */
static bool driver_field_is_valid(const char s[static BINDER_DRIVER_MAX]) {
        return s[0] == '\0' || driver_name_is_valid(s);
}

static bool address_field_is_valid(const char s[static PCI_ADDRESS_STRLEN_MAX + 1]) {
        return strnlen(s, PCI_ADDRESS_STRLEN_MAX + 1) <= PCI_ADDRESS_STRLEN_MAX && pci_address_is_valid(s);
}

static int device_path(const char *address, const char *attr, char **ret) {
        if (asprintf(ret, PCI_DEVICES "/%s%s%s", address, attr ? "/" : "", attr ?: "") < 0)
                return -ENOMEM;
        return 0;
}

static bool device_gone(const char *address) {
        _cleanup_free_ char *p = NULL;

        if (device_path(address, NULL, &p) < 0)
                return false;
        return access(p, F_OK) < 0 && errno == ENOENT;
}

/* One write(2) of the whole value: sysfs acts on each write separately. */
static int write_attr(const char *path, const char *value) {
        _cleanup_close_ int fd = -EBADF;
        size_t len = strlen(value);
        ssize_t n;

        fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return negative_errno();
        n = write(fd, value, len);
        if (n < 0)
                return negative_errno();
        if ((size_t) n != len)
                return -EIO;
        return 0;
}

/* Basename of the device's driver link into driver ("" when unbound). */
static int read_driver(const char *address, char driver[static BINDER_DRIVER_MAX]) {
        _cleanup_free_ char *p = NULL;
        char target[PATH_MAX];
        const char *b;
        ssize_t n;
        int r;

        r = device_path(address, "driver", &p);
        if (r < 0)
                return r;
        n = readlink(p, target, sizeof(target) - 1);
        if (n < 0) {
                if (errno != ENOENT)
                        return negative_errno();
                if (device_gone(address))
                        return -ENODEV;
                driver[0] = '\0';
                return 0;
        }
        target[n] = '\0';
        b = strrchr(target, '/');
        b = b ? b + 1 : target;
        if (!driver_name_is_valid(b))
                return -EBADMSG;
        strcpy(driver, b);
        return 0;
}

static int read_override(const char *address, char override[static BINDER_DRIVER_MAX]) {
        _cleanup_free_ char *p = NULL, *v = NULL;
        int r;

        r = device_path(address, "driver_override", &p);
        if (r < 0)
                return r;
        r = read_one_line_file(p, &v);
        if (r == -ENOENT && !device_gone(address)) {
                override[0] = '\0';  /* a kernel without driver_override: nothing was set */
                return 0;
        }
        if (r == -ENOENT)
                return -ENODEV;
        if (r < 0)
                return r;
        if (v[0] == '\0' || strcmp(v, "(null)") == 0) {
                override[0] = '\0';
                return 0;
        }
        if (!driver_name_is_valid(v))
                return -EBADMSG;
        strcpy(override, v);
        return 0;
}

static int read_group(const char *address, int *ret) {
        _cleanup_free_ char *p = NULL;
        char target[PATH_MAX], *end;
        const char *b;
        ssize_t n;
        long g;
        int r;

        r = device_path(address, "iommu_group", &p);
        if (r < 0)
                return r;
        n = readlink(p, target, sizeof(target) - 1);
        if (n < 0)
                return negative_errno();
        target[n] = '\0';
        b = strrchr(target, '/');
        b = b ? b + 1 : target;
        errno = 0;
        g = strtol(b, &end, 10);
        if (errno != 0 || end == b || *end != '\0' || g < 0 || g > INT_MAX)
                return -EBADMSG;
        *ret = (int) g;
        return 0;
}

int binder_read_sriov_numvfs(const char *address, unsigned *ret) {
        _cleanup_free_ char *p = NULL, *v = NULL;
        unsigned long n;
        char *end;
        int r;

        if (!address || !pci_address_is_valid(address))
                return -EINVAL;
        r = device_path(address, "sriov_numvfs", &p);
        if (r < 0)
                return r;
        r = read_one_line_file(p, &v);
        if (r == -ENOENT && !device_gone(address)) {
                *ret = 0;  /* not an SR-IOV PF */
                return 0;
        }
        if (r == -ENOENT)
                return -ENODEV;
        if (r < 0)
                return r;
        errno = 0;
        n = strtoul(v, &end, 10);
        if (errno != 0 || end == v || *end != '\0' || v[0] == '-' || n > BINDER_SRIOV_NUMVFS_MAX)
                return -EBADMSG;
        *ret = (unsigned) n;
        return 0;
}

/* Test-only: $VFIOD_TEST_STALL_AT=POINT:SECONDS makes the worker sleep there, as a slow driver would. */
static void binder_stall_point(const char *point) {
        const char *want = test_hook_getenv("VFIOD_TEST_STALL_AT"), *colon;
        char *end;
        unsigned long seconds;

        if (!want || !point || !(colon = strchr(want, ':')) || (size_t) (colon - want) != strlen(point) ||
            strncmp(want, point, colon - want) != 0)
                return;
        errno = 0;
        seconds = strtoul(colon + 1, &end, 10);
        if (errno != 0 || end == colon + 1 || *end != '\0' || seconds > 600)
                return;
        log_notice("Stall point %s reached, sleeping %lu s.", point, seconds);
        struct timespec ts = { .tv_sec = (time_t) seconds };
        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                ;
}

void binder_crash_point(const char *point) {
        _cleanup_free_ char *path = NULL, *comm = NULL;
        const char *want;
        pid_t ppid;

        binder_stall_point(point);
        want = test_hook_getenv("VFIOD_TEST_CRASH_AT");
        if (!want || !point || strcmp(want, point) != 0)
                return;

        log_notice("Crash point %s reached, killing the daemon and its worker.", point);
        /* Only the daemon dies with its worker; a test tool's shell must survive. */
        ppid = getppid();
        if (ppid > 1 && asprintf(&path, "/proc/%d/comm", (int) ppid) >= 0 &&
            read_one_line_file(path, &comm) >= 0 && strcmp(comm, "vfiod") == 0)
                (void) kill(ppid, SIGKILL);
        (void) raise(SIGKILL);
}

int binder_vfio_pci_available(void) {
        if (access(PCI_DRIVERS "/" VFIO_PCI, F_OK) < 0)
                return errno == ENOENT ? -ENOENT : negative_errno();
        return 0;
}

int binder_read_state(const char *address, char driver[static BINDER_DRIVER_MAX], char override[static BINDER_DRIVER_MAX]) {
        int r;

        if (!address || !pci_address_is_valid(address))
                return -EINVAL;
        if (device_gone(address))
                return -ENODEV;
        r = read_driver(address, driver);
        if (r < 0)
                return r;
        return read_override(address, override);
}

/* Poll the driver link until it names want ("" = unbound) or the deadline passes. */
static int wait_for_driver(const char *address, const char *want, uint64_t deadline,
                           char cur[static BINDER_DRIVER_MAX]) {
        int r;

        for (;;) {
                r = read_driver(address, cur);
                if (r < 0)
                        return r;
                if (strcmp(cur, want) == 0)
                        return 0;
                if (now_usec() >= deadline)
                        return -ETIMEDOUT;
                sleep_poll(deadline);
        }
}

/* A write failed: was it because the device went away under us? */
static int write_failed(const char *address, int r, const char *what, char **ret_error) {
        if (device_gone(address))
                return fail(ret_error, -ENODEV, "%s vanished while %s (its sysfs directory is gone)",
                            address, what);
        return fail(ret_error, r, "%s: %s failed: %s", address, what, strerror(-r));
}

/* The PF is on its driver again: recreate the VFs that unbinding it destroyed. */
static int restore_sriov(const BindDevice *d, char **ret_error) {
        _cleanup_free_ char *p = NULL;
        char value[16];
        unsigned n;
        int r;

        if (d->sriov_numvfs == 0)
                return 0;
        r = binder_read_sriov_numvfs(d->address, &n);
        if (r < 0)
                return fail(ret_error, r, "Reading sriov_numvfs of %s failed: %s", d->address, strerror(-r));
        if (n == d->sriov_numvfs)
                return 0;
        /* The driver made VFs of its own at probe (a max_vfs= module parameter), or someone did:
         * they may be in use already and are not ours to replace. Failing would keep the lease
         * retrying forever over a choice the host made, so say so and carry on. */
        if (n != 0) {
                log_warning("%s has %u SR-IOV VFs now, not the %u it had before vfiod bound it; left as they are "
                            "(set /sys/bus/pci/devices/%s/sriov_numvfs by hand if that is wrong).",
                            d->address, n, d->sriov_numvfs, d->address);
                return 0;
        }
        if (!d->original_driver[0])
                return fail(ret_error, -EINVAL, "%s had %u SR-IOV VFs but no driver to make them again", d->address,
                            d->sriov_numvfs);

        r = device_path(d->address, "sriov_numvfs", &p);
        if (r < 0)
                return fail(ret_error, r, "Out of memory");
        (void) snprintf(value, sizeof(value), "%u", d->sriov_numvfs);
        log_debug("Recreating %u SR-IOV VFs of %s.", d->sriov_numvfs, d->address);
        r = write_attr(p, value);
        if (r < 0 && device_gone(d->address))
                return write_failed(d->address, r, "recreating its SR-IOV VFs", ret_error);
        if (r < 0)
                return fail(ret_error, r, "Recreating the %u SR-IOV VFs of %s failed: %s; "
                            "echo %u > /sys/bus/pci/devices/%s/sriov_numvfs retries it",
                            d->sriov_numvfs, d->address, strerror(-r), d->sriov_numvfs, d->address);
        r = binder_read_sriov_numvfs(d->address, &n);
        if (r < 0)
                return fail(ret_error, r, "Reading sriov_numvfs of %s failed: %s", d->address, strerror(-r));
        if (n != d->sriov_numvfs)
                return fail(ret_error, -EIO, "%s has %u SR-IOV VFs after asking %s for %u", d->address, n,
                            d->original_driver, d->sriov_numvfs);
        return 0;
}

/* A device that was held had no driver only because of the hold: let the bus pick one now. Which
 * driver takes it, if any, is the host's business; only a vanished device is an error. */
static int reprobe(const BindDevice *d, char **ret_error) {
        int r;

        if (!d->reprobe || d->original_driver[0])
                return 0;
        r = write_attr("/sys/bus/pci/drivers_probe", d->address);
        if (r < 0 && device_gone(d->address))
                return write_failed(d->address, r, "probing for its host driver", ret_error);
        return 0;
}

/* Give a device back to its original driver and override. Used by restore and by rollback. */
static int restore_one(const BindDevice *d, uint64_t deadline, bool crash_points, char **ret_error) {
        _cleanup_free_ char *p = NULL;
        char cur[BINDER_DRIVER_MAX], override[BINDER_DRIVER_MAX];
        int r;

        r = binder_read_state(d->address, cur, override);
        if (r == -ENODEV)
                return fail(ret_error, r, "%s is gone (its sysfs directory vanished), so it cannot be given back to %s",
                            d->address, d->original_driver[0] ? d->original_driver : "no driver");
        if (r < 0)
                return fail(ret_error, r, "Reading the driver of %s failed: %s", d->address, strerror(-r));

        /* The override first: while it still says vfio-pci, no other driver may bind. */
        if (strcmp(override, d->original_override) != 0) {
                r = device_path(d->address, "driver_override", &p);
                if (r < 0)
                        return fail(ret_error, r, "Out of memory");
                r = write_attr(p, d->original_override[0] ? d->original_override : "\n");
                if (r < 0)
                        return write_failed(d->address, r, "resetting driver_override", ret_error);
                p = mfree(p);
        }

        if (strcmp(cur, d->original_driver) == 0)
                return reprobe(d, ret_error) ?: restore_sriov(d, ret_error);
        /* Held, and a host driver has it already (the bus picked): that is where it goes anyway. */
        if (d->reprobe && !d->original_driver[0] && strcmp(cur, VFIO_PCI) != 0)
                return restore_sriov(d, ret_error);

        if (cur[0]) {
                r = device_path(d->address, "driver/unbind", &p);
                if (r < 0)
                        return fail(ret_error, r, "Out of memory");
                r = write_attr(p, d->address);
                /* ENOENT: the link went away by itself; unbound is where we want to be. */
                if (r < 0 && r != -ENOENT)
                        return write_failed(d->address, r, "unbinding from its current driver", ret_error);
                p = mfree(p);
        }
        if (crash_points)
                binder_crash_point("restore-after-unbind");

        if (d->original_driver[0]) {
                int rb;

                if (asprintf(&p, PCI_DRIVERS "/%s/bind", d->original_driver) < 0)
                        return fail(ret_error, -ENOMEM, "Out of memory");
                rb = write_attr(p, d->address);
                if (rb < 0) {
                        /* The driver may be gone or refuse a direct bind; let the bus pick one. */
                        log_debug_errno(rb, "Binding %s to %s failed (%m), trying drivers_probe.",
                                        d->address, d->original_driver);
                        r = write_attr("/sys/bus/pci/drivers_probe", d->address);
                        if (r < 0 && device_gone(d->address))
                                return write_failed(d->address, r, "binding back", ret_error);
                }
                if (crash_points)
                        binder_crash_point("restore-after-bind");

                r = wait_for_driver(d->address, d->original_driver, verify_deadline(deadline), cur);
                if (r == -ENODEV)
                        return write_failed(d->address, r, "binding back", ret_error);
                if (r < 0 && rb < 0)
                        return fail(ret_error, rb,
                                    "Giving %s back to %s failed: the bind said \"%s\" and drivers_probe left it on %s",
                                    d->address, d->original_driver, strerror(-rb), cur[0] ? cur : "no driver");
                if (r < 0)
                        return fail(ret_error, -EIO, "Giving %s back to %s failed: it is on %s after the bind",
                                    d->address, d->original_driver, cur[0] ? cur : "no driver");
        } else {
                if (crash_points)
                        binder_crash_point("restore-after-bind");
                r = reprobe(d, ret_error);
                if (r < 0)
                        return r;
        }

        return restore_sriov(d, ret_error);
}

int binder_restore_device(const BindDevice *device, uint64_t timeout_usec, char **ret_error) {
        if (ret_error)
                *ret_error = NULL;
        if (!device || !address_field_is_valid(device->address))
                return fail(ret_error, -EINVAL, "Cannot restore a device without a valid PCI address");
        if (!driver_field_is_valid(device->original_driver) || !driver_field_is_valid(device->original_override))
                return fail(ret_error, -EINVAL, "Cannot restore %s: its recorded driver or override is not a driver name",
                            device->address);
        if (device->sriov_numvfs > BINDER_SRIOV_NUMVFS_MAX)
                return fail(ret_error, -EINVAL, "Cannot restore %s: %u SR-IOV VFs is not a possible number",
                            device->address, device->sriov_numvfs);

        return restore_one(device, deadline_after(timeout_usec), true, ret_error);
}

/* Move one device to vfio-pci. Whatever happens, the caller rolls this device back too. */
static int bind_one(const BindDevice *d, uint64_t deadline, char **ret_error) {
        _cleanup_free_ char *p = NULL;
        char cur[BINDER_DRIVER_MAX];
        bool on_vfio;
        int r;

        r = read_driver(d->address, cur);
        if (r == -ENODEV)
                return write_failed(d->address, r, "binding it to vfio-pci", ret_error);
        if (r < 0)
                return fail(ret_error, r, "Reading the driver of %s failed: %s", d->address, strerror(-r));
        on_vfio = strcmp(cur, VFIO_PCI) == 0;

        /* The override first, so that nothing but vfio-pci can take the device once it is free. */
        r = device_path(d->address, "driver_override", &p);
        if (r < 0)
                return fail(ret_error, r, "Out of memory");
        r = write_attr(p, VFIO_PCI);
        if (r < 0)
                return write_failed(d->address, r, "setting driver_override to vfio-pci", ret_error);
        p = mfree(p);
        binder_crash_point("bind-after-override");

        if (cur[0] && !on_vfio) {
                r = device_path(d->address, "driver/unbind", &p);
                if (r < 0)
                        return fail(ret_error, r, "Out of memory");
                log_debug("Unbinding %s from %s.", d->address, cur);
                r = write_attr(p, d->address);
                if (r < 0 && device_gone(d->address))
                        return fail(ret_error, -ENODEV, "%s vanished while being unbound from %s",
                                    d->address, cur);
                if (r < 0 && r != -ENOENT)
                        return fail(ret_error, r, "Unbinding %s from %s failed: %s", d->address, cur, strerror(-r));
                p = mfree(p);
        }
        binder_crash_point("bind-after-unbind");

        if (!on_vfio) {
                r = write_attr("/sys/bus/pci/drivers_probe", d->address);
                if (r < 0)
                        return write_failed(d->address, r, "probing with vfio-pci", ret_error);
        }
        binder_crash_point("bind-after-probe");

        r = wait_for_driver(d->address, VFIO_PCI, verify_deadline(deadline), cur);
        if (r == -ENODEV)
                return write_failed(d->address, r, "binding it to vfio-pci", ret_error);
        if (r < 0)
                return fail(ret_error, r == -ETIMEDOUT ? -EIO : r,
                            "vfio-pci did not take %s: it is on %s after drivers_probe (the kernel log says why the probe failed)",
                            d->address, cur[0] ? cur : "no driver");
        return 0;
}

static void rollback(const BindDevice *devices, size_t n, char **ret_error) {
        /* Reverse order: the last device touched is the one most likely half-done. */
        for (size_t i = n; i > 0; i--) {
                _cleanup_free_ char *e = NULL;
                const BindDevice *d = &devices[i - 1];
                int r;

                /* A device that vanished has nothing left to roll back; the first error says so. */
                if (device_gone(d->address))
                        continue;
                r = restore_one(d, deadline_after(ROLLBACK_USEC), false, &e);
                if (r < 0) {
                        log_error_errno(r, "Rolling back %s failed: %s", d->address, strna(e));
                        append_error(ret_error, d->address, e);
                }
        }
}

static int wait_for_group_node(int group, uint64_t deadline) {
        char path[64];

        (void) snprintf(path, sizeof(path), "/dev/vfio/%d", group);
        for (;;) {
                if (access(path, F_OK) >= 0)
                        return 0;
                if (errno != ENOENT)
                        return negative_errno();
                if (now_usec() >= deadline)
                        return -ETIMEDOUT;
                sleep_poll(deadline);
        }
}

static bool device_is_bridge(const char *address) {
        _cleanup_free_ char *path = NULL, *v = NULL;
        unsigned long long class;
        char *end;

        if (device_path(address, "class", &path) < 0 || read_one_line_file(path, &v) < 0)
                return false;
        errno = 0;
        class = strtoull(v, &end, 16);
        if (errno != 0 || end == v || *end != '\0' || strncmp(v, "0x", 2) != 0)
                return false;
        return (class >> 8) == 0x0604;
}

/* After binding, the group as the kernel lists it now: every member that is not a bridge must be
 * on vfio-pci, pci-stub or no driver, or the group is half-bound (a function joined it after the
 * decision) and the caller would get a group the kernel calls not viable. */
static int verify_group_viable(int group, char **ret_error) {
        _cleanup_closedir_ DIR *dir = NULL;
        char path[64];
        struct dirent *de;
        size_t n = 0;

        (void) snprintf(path, sizeof(path), "/sys/kernel/iommu_groups/%d/devices", group);
        dir = opendir(path);
        if (!dir)
                return fail(ret_error, negative_errno(), "Listing IOMMU group %d after binding failed: %m", group);
        while ((errno = 0, de = readdir(dir))) {
                char driver[BINDER_DRIVER_MAX];
                int r;

                if (de->d_name[0] == '.')
                        continue;
                if (++n > BIND_DEVICES_MAX || !pci_address_is_valid(de->d_name))
                        return fail(ret_error, -EBADMSG, "IOMMU group %d lists an unexpected member after binding", group);
                if (device_is_bridge(de->d_name))
                        continue;
                r = read_driver(de->d_name, driver);
                if (r == -ENODEV)
                        continue;
                if (r < 0)
                        return fail(ret_error, r, "Reading the driver of %s failed: %s", de->d_name, strerror(-r));
                if (driver[0] && strcmp(driver, VFIO_PCI) != 0 && strcmp(driver, "pci-stub") != 0)
                        return fail(ret_error, -EBUSY, "%s in IOMMU group %d is still on %s, so the group would be "
                                    "half-bound (a member left out, or one that joined after the decision); "
                                    "the group was given back", de->d_name, group, driver);
        }
        if (errno != 0)
                return fail(ret_error, negative_errno(), "Listing IOMMU group %d after binding failed: %m", group);
        return 0;
}

/* Everything that can be checked without touching the kernel; nothing is written if this fails. */
static int validate_group(const BindDevice *devices, size_t n, int group, char **ret_error) {
        int r;

        if (!devices || n == 0)
                return fail(ret_error, -EINVAL, "No devices to bind for IOMMU group %d", group);
        if (n > BIND_DEVICES_MAX)
                return fail(ret_error, -E2BIG, "IOMMU group %d has %zu devices, more than the %u vfiod binds at once",
                            group, n, BIND_DEVICES_MAX);
        if (group < 0)
                return fail(ret_error, -EINVAL, "IOMMU group %d is not a group number", group);

        for (size_t i = 0; i < n; i++) {
                const BindDevice *d = &devices[i];
                char cur[BINDER_DRIVER_MAX];
                int g;

                if (!address_field_is_valid(d->address))
                        return fail(ret_error, -EINVAL, "Device %zu of IOMMU group %d has no valid PCI address", i, group);
                if (!driver_field_is_valid(d->original_driver) || !driver_field_is_valid(d->original_override))
                        return fail(ret_error, -EINVAL, "The recorded driver or override of %s is not a driver name",
                                    d->address);
                for (size_t j = 0; j < i; j++)
                        if (strcmp(devices[j].address, d->address) == 0)
                                return fail(ret_error, -EINVAL, "%s is listed twice", d->address);

                if (device_gone(d->address))
                        return fail(ret_error, -ENODEV, "%s does not exist (no %s/%s)", d->address, PCI_DEVICES, d->address);
                r = read_group(d->address, &g);
                if (r < 0)
                        return fail(ret_error, r == -ENOENT ? -EINVAL : r, "%s is in no IOMMU group: %s",
                                    d->address, strerror(-r));
                if (g != group)
                        return fail(ret_error, -EINVAL, "%s is in IOMMU group %d, not %d", d->address, g, group);

                /* Rollback restores the recorded driver; refuse if the record no longer matches. */
                r = read_driver(d->address, cur);
                if (r < 0)
                        return fail(ret_error, r, "Reading the driver of %s failed: %s", d->address, strerror(-r));
                if (strcmp(cur, d->original_driver) != 0 && strcmp(cur, VFIO_PCI) != 0)
                        return fail(ret_error, -ESTALE, "%s is on %s now, not on %s as recorded; read its state again",
                                    d->address, cur[0] ? cur : "no driver",
                                    d->original_driver[0] ? d->original_driver : "no driver");
        }
        return 0;
}

int binder_bind_group(const BindDevice *devices, size_t n, int group, uint64_t timeout_usec, char **ret_error) {
        uint64_t deadline;
        int r;

        if (ret_error)
                *ret_error = NULL;

        r = validate_group(devices, n, group, ret_error);
        if (r < 0)
                return r;

        r = binder_vfio_pci_available();
        if (r == -ENOENT)
                return fail(ret_error, -EOPNOTSUPP,
                            "vfio-pci is not loaded; the vfiod package ships /usr/lib/modules-load.d/vfiod.conf for it "
                            "(modprobe vfio-pci loads it now)");
        if (r < 0)
                return fail(ret_error, r, "Checking for the vfio-pci driver failed: %s", strerror(-r));

        deadline = deadline_after(timeout_usec);
        for (size_t i = 0; i < n; i++) {
                log_debug("Binding %s (IOMMU group %d) to vfio-pci.", devices[i].address, group);
                r = bind_one(&devices[i], deadline, ret_error);
                if (r < 0) {
                        rollback(devices, i + 1, ret_error);
                        return r;
                }
        }

        r = wait_for_group_node(group, deadline);
        if (r < 0) {
                if (r == -ETIMEDOUT)
                        (void) fail(ret_error, r, "/dev/vfio/%d did not appear in time after binding IOMMU group %d to vfio-pci",
                                    group, group);
                else
                        (void) fail(ret_error, r, "Checking for /dev/vfio/%d failed: %s", group, strerror(-r));
                rollback(devices, n, ret_error);
                return r;
        }

        r = verify_group_viable(group, ret_error);
        if (r < 0) {
                rollback(devices, n, ret_error);
                return r;
        }
        return 0;
}
