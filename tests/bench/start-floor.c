/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The start floor of tests/bench/run: what reading the PCI topology costs when nothing but the
 * sysfs files vfiod's answer rests on are read, with plain libc (open/read, readlink, readdir)
 * and no library objects kept. Run under the same umockdev testbed as the daemon.
 *
 *   start-floor
 *
 * Reads, as src/topology/ does: the IOMMU units (cap, ecap of every /sys/class/iommu entry); per
 * PCI function (every /sys/bus/pci/devices entry) vendor, device, subsystem_vendor,
 * subsystem_device, class, driver_override, sriov_numvfs, sriov_totalvfs, boot_vga, config byte
 * 0x0e, the uevent file (the vendor and model names; a host reads them from the udev database,
 * one file too), the driver, physfn, iommu_group and iommu links; per group its type,
 * reserved_regions and name. Keeps one small record per function (as the daemon keeps its table)
 * and prints one line: how many functions and groups it saw. Not the host-use facts (mounts,
 * routes, block devices): the floor is the PCI topology alone. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FUNCTIONS_MAX (1 << 20)

typedef struct Function {
        char address[16];
        unsigned vendor, device, subsystem_vendor, subsystem_device, class;
        unsigned sriov_numvfs, sriov_totalvfs;
        unsigned char header_type;
        int group;
        char driver[32], physfn[16], unit[16], override[32];
        char vendor_name[64], model_name[96];
} Function;

/* One read(2) of a small attribute into buf, NUL-terminated; -1 if absent. */
static ssize_t read_attr(int dirfd, const char *name, char *buf, size_t size) {
        int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
        ssize_t n;

        if (fd < 0)
                return -1;
        n = read(fd, buf, size - 1);
        close(fd);
        if (n < 0)
                return -1;
        buf[n] = '\0';
        return n;
}

static unsigned attr_num(int dirfd, const char *name, int base) {
        char buf[64];

        if (read_attr(dirfd, name, buf, sizeof(buf)) < 0)
                return 0;
        return (unsigned) strtoul(buf, NULL, base);
}

/* Copy at most size - 1 bytes of n and a NUL. */
static void copy(char *out, size_t size, const char *s, size_t n) {
        if (n > size - 1)
                n = size - 1;
        memcpy(out, s, n);
        out[n] = '\0';
}

static void link_base(int dirfd, const char *name, char *out, size_t size) {
        char target[PATH_MAX];
        ssize_t n = readlinkat(dirfd, name, target, sizeof(target) - 1);
        const char *b;

        out[0] = '\0';
        if (n < 0)
                return;
        target[n] = '\0';
        b = strrchr(target, '/');
        b = b ? b + 1 : target;
        copy(out, size, b, strlen(b));
}

static void property(const char *uevent, const char *key, char *out, size_t size) {
        size_t k = strlen(key);

        out[0] = '\0';
        for (const char *p = uevent; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
                if (strncmp(p, key, k) == 0 && p[k] == '=') {
                        copy(out, size, p + k + 1, strcspn(p + k + 1, "\n"));
                        return;
                }
}

static int read_function(const char *name, Function *f) {
        char path[PATH_MAX], buf[4096];
        unsigned char ht;
        int dirfd, fd;

        /* The device directory, as libudev resolves the bus link to a syspath. */
        snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s", name);
        dirfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dirfd < 0)
                return -1;
        memset(f, 0, sizeof(*f));
        f->group = -1;
        copy(f->address, sizeof(f->address), name, strlen(name));
        f->vendor = attr_num(dirfd, "vendor", 16);
        f->device = attr_num(dirfd, "device", 16);
        f->subsystem_vendor = attr_num(dirfd, "subsystem_vendor", 16);
        f->subsystem_device = attr_num(dirfd, "subsystem_device", 16);
        f->class = attr_num(dirfd, "class", 16);
        f->sriov_numvfs = attr_num(dirfd, "sriov_numvfs", 10);
        f->sriov_totalvfs = attr_num(dirfd, "sriov_totalvfs", 10);
        (void) read_attr(dirfd, "boot_vga", buf, sizeof(buf));
        if (read_attr(dirfd, "driver_override", buf, sizeof(buf)) > 0 && strncmp(buf, "(null)", 6) != 0)
                copy(f->override, sizeof(f->override), buf, strcspn(buf, "\n"));
        fd = openat(dirfd, "config", O_RDONLY | O_CLOEXEC);
        if (fd >= 0) {
                if (pread(fd, &ht, 1, 0x0e) == 1)
                        f->header_type = ht;
                close(fd);
        }
        if (read_attr(dirfd, "uevent", buf, sizeof(buf)) > 0) {
                property(buf, "ID_VENDOR_FROM_DATABASE", f->vendor_name, sizeof(f->vendor_name));
                property(buf, "ID_MODEL_FROM_DATABASE", f->model_name, sizeof(f->model_name));
        }
        link_base(dirfd, "driver", f->driver, sizeof(f->driver));
        link_base(dirfd, "physfn", f->physfn, sizeof(f->physfn));
        link_base(dirfd, "iommu", f->unit, sizeof(f->unit));
        link_base(dirfd, "iommu_group", buf, sizeof(buf));
        if (buf[0])
                f->group = atoi(buf);
        close(dirfd);
        return 0;
}

static int cmp_int(const void *a, const void *b) {
        int x = *(const int *) a, y = *(const int *) b;
        return (x > y) - (x < y);
}

int main(void) {
        Function *fs = NULL;
        size_t n = 0, cap = 0, n_units = 0, n_groups = 0;
        char buf[4096], path[PATH_MAX];
        struct dirent *de;
        DIR *d;
        int *ids;

        /* The IOMMU units. */
        d = opendir("/sys/class/iommu");
        while (d && (de = readdir(d))) {
                if (de->d_name[0] == '.')
                        continue;
                snprintf(path, sizeof(path), "/sys/class/iommu/%s/intel-iommu/cap", de->d_name);
                int fd = open(path, O_RDONLY | O_CLOEXEC);
                if (fd >= 0) {
                        (void) !read(fd, buf, sizeof(buf));
                        close(fd);
                }
                snprintf(path, sizeof(path), "/sys/class/iommu/%s/intel-iommu/ecap", de->d_name);
                fd = open(path, O_RDONLY | O_CLOEXEC);
                if (fd >= 0) {
                        (void) !read(fd, buf, sizeof(buf));
                        close(fd);
                }
                n_units++;
        }
        if (d)
                closedir(d);

        /* The functions. */
        d = opendir("/sys/bus/pci/devices");
        if (!d) {
                perror("start-floor: /sys/bus/pci/devices");
                return 1;
        }
        while ((de = readdir(d))) {
                if (de->d_name[0] == '.')
                        continue;
                if (n == cap) {
                        Function *x;

                        if (cap >= FUNCTIONS_MAX) {
                                fprintf(stderr, "start-floor: more than %d functions\n", FUNCTIONS_MAX);
                                return 1;
                        }
                        cap = cap ? cap * 2 : 1024;
                        x = reallocarray(fs, cap, sizeof(Function));
                        if (!x) {
                                perror("start-floor");
                                return 1;
                        }
                        fs = x;
                }
                if (read_function(de->d_name, &fs[n]) == 0)
                        n++;
        }
        closedir(d);

        /* The groups, each once. */
        ids = calloc(n + 1, sizeof(int));
        if (!ids) {
                perror("start-floor");
                return 1;
        }
        for (size_t i = 0; i < n; i++)
                ids[i] = fs[i].group;
        qsort(ids, n, sizeof(int), cmp_int);
        for (size_t i = 0; i < n; i++) {
                static const char *const files[] = { "type", "reserved_regions", "name" };

                if (ids[i] < 0 || (i > 0 && ids[i] == ids[i - 1]))
                        continue;
                for (size_t k = 0; k < 3; k++) {
                        snprintf(path, sizeof(path), "/sys/kernel/iommu_groups/%d/%s", ids[i], files[k]);
                        int fd = open(path, O_RDONLY | O_CLOEXEC);
                        if (fd >= 0) {
                                (void) !read(fd, buf, sizeof(buf));
                                close(fd);
                        }
                }
                n_groups++;
        }

        printf("{\"functions\": %zu, \"groups\": %zu, \"units\": %zu}\n", n, n_groups, n_units);
        free(ids);
        free(fs);
        return 0;
}
