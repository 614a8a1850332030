/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The mounts of every mount namespace on the host that may sit on local storage: one
 * mountinfo per distinct /proc/PID/ns/mnt. The daemon's own namespace (PrivateTmp,
 * ProtectHome) is not the host's view, and a container's or a PrivateMounts= service's
 * mounts never propagate into it. */

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

typedef struct MountEntry {
        dev_t dev;                  /* st_dev of the mount: a block device, or 0:N */
        char *fstype;
        char *source;               /* unescaped mount source, e.g. "/dev/vda" or "rpool/ROOT" */
        char *path;                 /* unescaped mount point, as the namespace sees it */
        int pid;                    /* a pid of the namespace; 0 for the daemon's own and pid 1's */
} MountEntry;

typedef struct MountTable {
        MountEntry *entries;        /* deduplicated by (dev, fstype, source): the first one seen */
        size_t n;
        bool incomplete;            /* a namespace could not be read or a bound was hit */
} MountTable;

/* Fails only when the daemon's own mountinfo cannot be read; other namespaces that cannot be
 * read set incomplete (vanished processes are skipped). */
int mount_table_read(MountTable *mt);
void mount_table_done(MountTable *mt);
const MountEntry *mount_table_find_dev(const MountTable *mt, dev_t dev);

/* File systems that need no local disk of their own: kernel views (proc, sysfs, tmpfs,
 * cgroup...), stacks on other mounts (overlay, FUSE), network file systems (nfs, cifs...). */
bool fstype_is_diskless(const char *fstype);

/* Undo the \ooo escapes of mountinfo and /proc/swaps, in place. */
void mount_unescape(char *s);
