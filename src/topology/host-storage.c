/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libudev.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "fileio.h"
#include "host-use-internal.h"
#include "log.h"
#include "macro.h"
#include "mount-table.h"
#include "udev-util.h"

/* Storage the host needs: the block devices under every mount of every mount namespace, swap,
 * block devices held by dm/md/LVM/bcache (in use even when nothing is mounted), loop devices'
 * backing files, and every btrfs the kernel has mounted. What cannot be resolved to its disks
 * (ZFS, an unknown file system without a device number) makes every storage controller count. */

#define BLOCK_DEPTH_MAX 8
#define BLOCK_DEVICES_MAX 65536u
#define BTRFS_MAX 256u
#define BTRFS_DEVICES_MAX 256u
#define SYSFS_LINK_MAX 4096

typedef struct Btrfs {
        char *fsid;
        char **devices;              /* block device names from /sys/fs/btrfs/FSID/devices */
        size_t n_devices;
        bool resolved;               /* a mount was matched to it */
} Btrfs;

typedef struct Storage {
        struct udev *udev;
        Topology *t;
        MountTable mounts;
        Btrfs *btrfs;
        size_t n_btrfs;
        unsigned n_block;
} Storage;

static void storage_done(Storage *s) {
        mount_table_done(&s->mounts);
        for (size_t i = 0; i < s->n_btrfs; i++) {
                for (size_t j = 0; j < s->btrfs[i].n_devices; j++)
                        free(s->btrfs[i].devices[j]);
                free(s->btrfs[i].devices);
                free(s->btrfs[i].fsid);
        }
        free(s->btrfs);
}

/* Fail closed: the disks behind "what" are unknown, so every mass-storage controller (PCI
 * class 01) may be one of them. */
static void mark_all_storage(Storage *s, const char *what) {
        for (size_t i = 0; i < s->t->n_devices; i++)
                if ((s->t->devices[i].class >> 16) == 0x01)
                        host_use_mark_pci(&s->t->devices[i], HOST_USE_ROOT_STORAGE, what);
}

_printf_(2, 3)
static void fail_closed(Storage *s, const char *fmt, ...) {
        _cleanup_free_ char *what = NULL;
        va_list ap;
        int r;

        va_start(ap, fmt);
        r = vasprintf(&what, fmt, ap);
        va_end(ap);
        if (r < 0)
                what = NULL;
        mark_all_storage(s, what ?: "storage that could not be resolved to its disks");
}

/* The sysfs path a link in dir points to, resolved by hand (the target is relative). */
static int sysfs_link(const char *dir, const char *name, char **ret) {
        _cleanup_free_ char *link = NULL, *path = NULL;
        char target[SYSFS_LINK_MAX];
        ssize_t n;

        if (asprintf(&link, "%s/%s", dir, name) < 0)
                return -ENOMEM;
        n = readlink(link, target, sizeof target);
        if (n < 0)
                return negative_errno();
        if ((size_t) n >= sizeof target || target[0] == '/')
                return -EINVAL;
        target[n] = '\0';

        path = strdup(dir);
        if (!path)
                return -ENOMEM;
        for (char *save = NULL, *c = strtok_r(target, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
                if (strcmp(c, ".") == 0)
                        continue;
                if (strcmp(c, "..") == 0) {
                        char *slash = strrchr(path, '/');
                        if (!slash || slash == path)
                                return -EINVAL;
                        *slash = '\0';
                        continue;
                }
                char *n2;
                if (asprintf(&n2, "%s/%s", path, c) < 0)
                        return -ENOMEM;
                free(path);
                path = n2;
        }
        if (strncmp(path, "/sys/", 5) != 0)
                return -EINVAL;
        *ret = TAKE_PTR(path);
        return 0;
}

/* Mark the PCI device(s) that carry block device d. An NVMe native-multipath head disk hangs
 * off the virtual nvme-subsystem device, whose controllers are links in it ("nvme0"...). */
static void mark_hardware(Storage *s, struct udev_device *d, const char *what) {
        _cleanup_closedir_ DIR *dir = NULL;
        struct udev_device *sub;
        struct dirent *de;

        if (udev_device_get_parent_with_subsystem_devtype(d, "pci", NULL)) {
                host_use_mark(s->t, d, HOST_USE_ROOT_STORAGE, what);
                return;
        }
        sub = udev_device_get_parent_with_subsystem_devtype(d, "nvme-subsystem", NULL);
        if (!sub)
                return;   /* zram, nbd, rbd...: no local hardware; dm/md go down their slaves */
        dir = opendir(udev_device_get_syspath(sub));
        if (!dir)
                return;
        while ((de = readdir(dir))) {
                _cleanup_(udev_device_unrefp) struct udev_device *ctrl = NULL;
                _cleanup_free_ char *path = NULL;
                const char *p = de->d_name + 4;

                if (strncmp(de->d_name, "nvme", 4) != 0 || !*p || strspn(p, "0123456789") != strlen(p))
                        continue;
                if (sysfs_link(udev_device_get_syspath(sub), de->d_name, &path) < 0)
                        continue;
                ctrl = udev_device_new_from_syspath(s->udev, path);
                if (ctrl)
                        host_use_mark(s->t, ctrl, HOST_USE_ROOT_STORAGE, what);
        }
}

/* "LABEL on NAME[SUFFIX]" on d's hardware, then down dm/md/LVM "slaves" to the disks under it.
 * A partition's slaves are listed on its disk. */
static void mark_block(Storage *s, struct udev_device *d, const char *label, const char *suffix, unsigned depth) {
        _cleanup_free_ char *what = NULL, *slaves = NULL;
        _cleanup_closedir_ DIR *dir = NULL;
        struct udev_device *disk = d;
        struct dirent *de;

        if (depth > BLOCK_DEPTH_MAX)
                return;

        if (asprintf(&what, "%s on %s%s", label, udev_device_get_sysname(d), suffix ?: "") < 0)
                return;
        mark_hardware(s, d, what);

        if (strcmp(udev_device_get_devtype(d) ?: "", "partition") == 0)
                disk = udev_device_get_parent(d) ?: d;
        if (asprintf(&slaves, "%s/slaves", udev_device_get_syspath(disk)) < 0)
                return;
        dir = opendir(slaves);
        if (!dir)
                return;
        while ((de = readdir(dir))) {
                _cleanup_(udev_device_unrefp) struct udev_device *sd = NULL;

                if (de->d_name[0] == '.')
                        continue;
                sd = udev_device_new_from_subsystem_sysname(s->udev, "block", de->d_name);
                if (sd)
                        mark_block(s, sd, label, suffix, depth + 1);
        }
}

/* A block device named by a path under /dev (a mount source, a swap partition, a loop
 * device's backing device), as the kernel printed it. Not caller input. */
static struct udev_device *block_from_dev_path(Storage *s, const char *path) {
        _cleanup_free_ char *name = NULL;
        struct stat st;

        if (strncmp(path, "/dev/", 5) != 0 || strstr(path, "/../"))
                return NULL;
        if (stat(path, &st) >= 0 && S_ISBLK(st.st_mode))
                return udev_device_new_from_devnum(s->udev, 'b', st.st_rdev);
        /* Not visible in our /dev (another namespace's devtmpfs): the kernel name. */
        name = strdup(path + 5);
        if (!name)
                return NULL;
        for (char *c = name; *c; c++)
                if (*c == '/')
                        *c = '!';
        return udev_device_new_from_subsystem_sysname(s->udev, "block", name);
}

static const char *ns_suffix(const MountEntry *e, char *buf, size_t size) {
        if (e->pid == 0)
                return "";
        snprintf(buf, size, " (mount namespace of pid %d)", e->pid);
        return buf;
}

static Btrfs *btrfs_holding(Storage *s, const char *name) {
        for (size_t i = 0; i < s->n_btrfs; i++)
                for (size_t j = 0; j < s->btrfs[i].n_devices; j++)
                        if (strcmp(s->btrfs[i].devices[j], name) == 0)
                                return &s->btrfs[i];
        return NULL;
}

static void mark_btrfs(Storage *s, Btrfs *b, const char *label, const char *suffix) {
        for (size_t j = 0; j < b->n_devices; j++) {
                _cleanup_(udev_device_unrefp) struct udev_device *d =
                        udev_device_new_from_subsystem_sysname(s->udev, "block", b->devices[j]);
                if (d)
                        mark_block(s, d, label, suffix, 0);
                else
                        fail_closed(s, "btrfs device %s of %s could not be found", b->devices[j], label);
        }
        b->resolved = true;
}

/* Mark the disks under one mount; label names what uses it (the mount point, a swap file). */
static void mark_mount(Storage *s, const MountEntry *e, const char *label) {
        char buf[64];
        const char *suffix = ns_suffix(e, buf, sizeof buf);

        if (major(e->dev) != 0) {
                _cleanup_(udev_device_unrefp) struct udev_device *d = udev_device_new_from_devnum(s->udev, 'b', e->dev);

                if (d)
                        mark_block(s, d, label, suffix, 0);
                else
                        fail_closed(s, "%s on %s could not be resolved to its disks", e->fstype, e->path);
                return;
        }

        /* An anonymous device number: the file system names its devices elsewhere. btrfs lists
         * them in sysfs; the mount source is the device it was mounted from. */
        if (strcmp(e->fstype, "btrfs") == 0) {
                _cleanup_(udev_device_unrefp) struct udev_device *d = block_from_dev_path(s, e->source);
                Btrfs *b = d ? btrfs_holding(s, udev_device_get_sysname(d)) : NULL;

                if (b) {
                        mark_btrfs(s, b, label, suffix);
                        return;
                }
        }
        fail_closed(s, "%s on %s could not be resolved to its disks", e->fstype, e->path);
}

/* The disks under a file (swap file, loop backing file): a block device node stands for
 * itself, a file for the file system it is on. */
static void mark_file(Storage *s, const char *path, const char *label) {
        _cleanup_(udev_device_unrefp) struct udev_device *d = NULL;
        const MountEntry *e;
        struct stat st;

        if (path[0] != '/' || stat(path, &st) < 0) {
                d = block_from_dev_path(s, path);
                if (d)
                        mark_block(s, d, label, NULL, 0);
                else
                        fail_closed(s, "%s could not be resolved to its disks", label);
                return;
        }
        if (S_ISBLK(st.st_mode)) {
                d = udev_device_new_from_devnum(s->udev, 'b', st.st_rdev);
                if (d)
                        mark_block(s, d, label, NULL, 0);
                else
                        fail_closed(s, "%s could not be resolved to its disks", label);
                return;
        }
        if (major(st.st_dev) != 0) {
                d = udev_device_new_from_devnum(s->udev, 'b', st.st_dev);
                if (d)
                        mark_block(s, d, label, NULL, 0);
                else
                        fail_closed(s, "%s could not be resolved to its disks", label);
                return;
        }
        e = mount_table_find_dev(&s->mounts, st.st_dev);
        if (e)
                mark_mount(s, e, label);
        else
                fail_closed(s, "%s could not be resolved to its disks", label);
}

static int read_btrfs(Storage *s) {
        _cleanup_closedir_ DIR *dir = opendir("/sys/fs/btrfs");
        struct dirent *de;

        if (!dir)
                return 0;   /* no btrfs module: nothing mounted */
        while ((de = readdir(dir))) {
                _cleanup_free_ char *path = NULL;
                _cleanup_closedir_ DIR *devs = NULL;
                struct dirent *dd;
                Btrfs *b;

                /* FSIDs are UUIDs; "features" and the like are not file systems. */
                if (strlen(de->d_name) != 36 || strspn(de->d_name, "0123456789abcdef-") != 36)
                        continue;
                if (s->n_btrfs >= BTRFS_MAX) {
                        fail_closed(s, "more than %u btrfs file systems are mounted", BTRFS_MAX);
                        break;
                }
                if (asprintf(&path, "/sys/fs/btrfs/%s/devices", de->d_name) < 0)
                        return -ENOMEM;
                b = realloc(s->btrfs, (s->n_btrfs + 1) * sizeof *b);
                if (!b)
                        return -ENOMEM;
                s->btrfs = b;
                b = &s->btrfs[s->n_btrfs++];
                *b = (Btrfs) { .fsid = strdup(de->d_name) };
                if (!b->fsid)
                        return -ENOMEM;
                devs = opendir(path);
                if (!devs) {
                        fail_closed(s, "the devices of btrfs %s could not be read", de->d_name);
                        continue;
                }
                while ((dd = readdir(devs))) {
                        char **n;

                        if (dd->d_name[0] == '.')
                                continue;
                        if (b->n_devices >= BTRFS_DEVICES_MAX) {
                                fail_closed(s, "btrfs %s has more than %u devices", de->d_name, BTRFS_DEVICES_MAX);
                                break;
                        }
                        n = realloc(b->devices, (b->n_devices + 1) * sizeof *n);
                        if (!n)
                                return -ENOMEM;
                        b->devices = n;
                        b->devices[b->n_devices] = strdup(dd->d_name);
                        if (!b->devices[b->n_devices])
                                return -ENOMEM;
                        b->n_devices++;
                }
        }
        return 0;
}

static int apply_swaps(Storage *s) {
        _cleanup_free_ char *text = NULL;
        char *save = NULL;
        bool header = true;
        int r;

        r = read_proc_file("swaps", 1024 * 1024, &text);
        if (r == -ENOENT)
                return 0;   /* a kernel without swap support */
        if (r < 0)
                return r;

        /* "Filename Type Size Used Priority", then one line per swap area; the file name is
         * escaped like mountinfo. */
        for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                _cleanup_free_ char *label = NULL;
                char *sp, *path = line, *type;

                if (header) {
                        header = false;
                        continue;
                }
                path += strspn(path, " \t");
                sp = path + strcspn(path, " \t");
                if (!*sp)
                        continue;
                *sp = '\0';
                type = sp + 1 + strspn(sp + 1, " \t");
                mount_unescape(path);
                if (strncmp(type, "partition", 9) == 0)
                        r = asprintf(&label, "swap");
                else
                        r = asprintf(&label, "swap file %s", path);
                if (r < 0)
                        return -ENOMEM;
                mark_file(s, path, label);
        }
        return 0;
}

/* Every block device: in use when something holds it (an active LV, md array, dm target,
 * bcache: VM disks on LVs are in use without a mount), and attached loop devices keep their
 * backing files' storage busy. */
static int on_block(struct udev_device *d, void *userdata) {
        Storage *s = userdata;
        const char *name = udev_device_get_sysname(d);
        _cleanup_free_ char *holders = NULL, *backing = NULL, *file = NULL;
        _cleanup_closedir_ DIR *dir = NULL;
        struct dirent *de;

        if (++s->n_block > BLOCK_DEVICES_MAX)
                return -E2BIG;

        if (asprintf(&holders, "%s/holders", udev_device_get_syspath(d)) < 0)
                return -ENOMEM;
        dir = opendir(holders);
        while (dir && (de = readdir(dir))) {
                _cleanup_free_ char *what = NULL;

                if (de->d_name[0] == '.')
                        continue;
                if (asprintf(&what, "%s is held by %s", name, de->d_name) < 0)
                        return -ENOMEM;
                mark_hardware(s, d, what);
                break;
        }

        if (strncmp(name, "loop", 4) != 0)
                return 0;
        if (asprintf(&backing, "%s/loop/backing_file", udev_device_get_syspath(d)) < 0)
                return -ENOMEM;
        if (read_one_line_file(backing, &file) < 0 || !*file)
                return 0;   /* not attached */
        _cleanup_free_ char *label = NULL;
        if (asprintf(&label, "%s backed by %s", name, file) < 0)
                return -ENOMEM;
        /* A deleted backing file has no path left to resolve. */
        if (strlen(file) > 10 && strcmp(file + strlen(file) - 10, " (deleted)") == 0)
                fail_closed(s, "%s could not be resolved to its disks", label);
        else
                mark_file(s, file, label);
        return 0;
}

/* ZFS keeps its vdevs to itself: an imported pool (with or without mounts: zvols) may be on
 * any disk. */
static void apply_zfs_pools(Storage *s) {
        _cleanup_free_ char *path = NULL;
        _cleanup_closedir_ DIR *dir = NULL;
        struct dirent *de;

        if (asprintf(&path, "%s/spl/kstat/zfs", proc_root()) < 0)
                return;
        dir = opendir(path);
        if (!dir)
                return;
        while ((de = readdir(dir))) {
                struct stat st;

                if (de->d_name[0] == '.')
                        continue;
                if (fstatat(dirfd(dir), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(st.st_mode))
                        continue;   /* arcstats and friends */
                fail_closed(s, "ZFS pool %s is imported; its disks could not be resolved", de->d_name);
        }
}

int host_use_apply_storage(struct udev *udev, Topology *t) {
        _cleanup_(storage_done) Storage s = { .udev = udev, .t = t };
        int r;

        r = mount_table_read(&s.mounts);
        if (r < 0)
                return r;
        if (s.mounts.incomplete)
                fail_closed(&s, "not every mount namespace could be read");

        r = read_btrfs(&s);
        if (r < 0)
                return r;

        for (size_t i = 0; i < s.mounts.n; i++)
                mark_mount(&s, &s.mounts.entries[i], s.mounts.entries[i].path);

        /* A btrfs lives in sysfs as long as the kernel has it mounted, in any namespace, even
         * lazily unmounted: protect those no mount above was matched to. */
        for (size_t i = 0; i < s.n_btrfs; i++)
                if (!s.btrfs[i].resolved) {
                        _cleanup_free_ char *label = NULL;

                        if (asprintf(&label, "btrfs %s", s.btrfs[i].fsid) < 0)
                                return -ENOMEM;
                        mark_btrfs(&s, &s.btrfs[i], label, NULL);
                }

        r = apply_swaps(&s);
        if (r < 0)
                return r;

        r = udev_foreach_device(udev, "block", on_block, &s);
        if (r == -E2BIG)
                fail_closed(&s, "more than %u block devices to look at", BLOCK_DEVICES_MAX);
        else if (r < 0)
                return r;

        apply_zfs_pools(&s);
        return 0;
}
