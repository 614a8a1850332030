/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>

#include "fileio.h"
#include "macro.h"
#include "mount-table.h"

#define MOUNTINFO_SIZE_MAX (16u * 1024 * 1024)   /* one namespace */
#define MOUNTINFO_TOTAL_MAX (128u * 1024 * 1024) /* all namespaces together */
#define PIDS_MAX 131072u                          /* /proc entries looked at */
#define NAMESPACES_MAX 2048u
#define ENTRIES_MAX 8192u                         /* distinct (dev, fstype, source) */

static const char *const diskless[] = {
        /* kernel views and memory */
        "proc", "sysfs", "tmpfs", "devtmpfs", "devpts", "ramfs", "rootfs", "cgroup", "cgroup2",
        "securityfs", "pstore", "bpf", "autofs", "hugetlbfs", "mqueue", "debugfs", "tracefs",
        "configfs", "fusectl", "binfmt_misc", "efivarfs", "rpc_pipefs", "nsfs", "selinuxfs",
        "smackfs", "nfsd", "xenfs", "binder", "resctrl",
        /* stacked on other mounts, which are looked at themselves */
        "overlay", "aufs", "fuse", "shiftfs",
        /* network and host-shared */
        "nfs", "nfs4", "cifs", "smb3", "smbfs", "ceph", "9p", "virtiofs", "afs", "glusterfs", "lustre",
        "vboxsf",
};

bool fstype_is_diskless(const char *fstype) {
        /* fuse.sshfs, fuse.gvfsd-fuse...: userspace; fuseblk has a real block device. */
        if (strncmp(fstype, "fuse.", 5) == 0)
                return true;
        for (size_t i = 0; i < ELEMENTSOF(diskless); i++)
                if (strcmp(fstype, diskless[i]) == 0)
                        return true;
        return false;
}

void mount_unescape(char *s) {
        char *w = s;
        for (char *r = s; *r; ) {
                if (r[0] == '\\' && r[1] >= '0' && r[1] <= '3' && r[2] >= '0' && r[2] <= '7' && r[3] >= '0' && r[3] <= '7') {
                        *w++ = (char) ((r[1] - '0') * 64 + (r[2] - '0') * 8 + (r[3] - '0'));
                        r += 4;
                } else
                        *w++ = *r++;
        }
        *w = '\0';
}

void mount_table_done(MountTable *mt) {
        for (size_t i = 0; i < mt->n; i++) {
                free(mt->entries[i].fstype);
                free(mt->entries[i].source);
                free(mt->entries[i].path);
        }
        free(mt->entries);
        *mt = (MountTable) {};
}

const MountEntry *mount_table_find_dev(const MountTable *mt, dev_t dev) {
        for (size_t i = 0; i < mt->n; i++)
                if (mt->entries[i].dev == dev)
                        return &mt->entries[i];
        return NULL;
}

static int add_entry(MountTable *mt, dev_t dev, const char *fstype, const char *source, const char *path, int pid) {
        MountEntry *n;

        for (size_t i = 0; i < mt->n; i++)
                if (mt->entries[i].dev == dev && strcmp(mt->entries[i].fstype, fstype) == 0 &&
                    strcmp(mt->entries[i].source, source) == 0)
                        return 0;
        if (mt->n >= ENTRIES_MAX) {
                mt->incomplete = true;
                return 0;
        }
        n = realloc(mt->entries, (mt->n + 1) * sizeof *n);
        if (!n)
                return -ENOMEM;
        mt->entries = n;
        n = &mt->entries[mt->n];
        *n = (MountEntry) { .dev = dev, .pid = pid };
        n->fstype = strdup(fstype);
        n->source = strdup(source);
        n->path = strdup(path);
        mt->n++;   /* counted before the check, so mount_table_done frees a partial entry */
        if (!n->fstype || !n->source || !n->path)
                return -ENOMEM;
        return 0;
}

/* "id parent major:minor root mountpoint options [optional...] - fstype source superoptions" */
static int parse_line(MountTable *mt, char *line, int pid) {
        char *save = NULL, *tok, *mnt = NULL, *fstype, *source;
        unsigned maj, min;
        int i = 0;

        for (tok = strtok_r(line, " ", &save); tok; tok = strtok_r(NULL, " ", &save), i++) {
                if (i == 2 && sscanf(tok, "%u:%u", &maj, &min) != 2)
                        return 0;
                if (i == 4)
                        mnt = tok;
                if (i >= 6 && strcmp(tok, "-") == 0)
                        break;
        }
        if (!tok || !mnt)
                return 0;
        fstype = strtok_r(NULL, " ", &save);
        source = strtok_r(NULL, " ", &save);
        if (!fstype || !source)
                return 0;
        if (maj == 0 && fstype_is_diskless(fstype))
                return 0;
        mount_unescape(mnt);
        mount_unescape(source);
        return add_entry(mt, makedev(maj, min), fstype, source, mnt, pid);
}

static int read_namespace(MountTable *mt, const char *pid_dir, int pid, size_t *total) {
        _cleanup_free_ char *name = NULL, *text = NULL;
        char *save = NULL;
        int r;

        if (asprintf(&name, "%s/mountinfo", pid_dir) < 0)
                return -ENOMEM;
        r = read_proc_file(name, MOUNTINFO_SIZE_MAX, &text);
        if (r < 0)
                return r;
        *total += strlen(text);

        for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                r = parse_line(mt, line, pid);
                if (r < 0)
                        return r;
        }
        return 0;
}

static bool all_digits(const char *s) {
        if (!*s)
                return false;
        for (; *s; s++)
                if (!isdigit((unsigned char) *s))
                        return false;
        return true;
}

int mount_table_read(MountTable *mt) {
        _cleanup_free_ char *self_ns = NULL;
        _cleanup_closedir_ DIR *dir = NULL;
        char **seen = NULL;
        size_t n_seen = 0, n_pids = 0, total = 0;
        struct dirent *de;
        int r;

        *mt = (MountTable) {};

        /* Our own view first: failing to read it fails the whole check (the caller fails closed). */
        r = read_namespace(mt, "self", 0, &total);
        if (r < 0)
                goto fail;
        (void) read_proc_link("self/ns/mnt", &self_ns);

        dir = opendir(proc_root());
        if (!dir) {
                mt->incomplete = true;
                return 0;
        }
        while ((de = readdir(dir))) {
                _cleanup_free_ char *link = NULL, *ns = NULL;
                bool dup = false;

                if (!all_digits(de->d_name) || strlen(de->d_name) > 9)
                        continue;
                if (++n_pids > PIDS_MAX || total > MOUNTINFO_TOTAL_MAX) {
                        mt->incomplete = true;
                        break;
                }
                if (asprintf(&link, "%s/ns/mnt", de->d_name) < 0) {
                        r = -ENOMEM;
                        goto fail;
                }
                if (read_proc_link(link, &ns) < 0)
                        continue;   /* vanished, or a kernel without mount namespaces */
                if (streq_ptr(ns, self_ns))
                        continue;
                for (size_t i = 0; i < n_seen && !dup; i++)
                        dup = strcmp(seen[i], ns) == 0;
                if (dup)
                        continue;
                if (n_seen >= NAMESPACES_MAX) {
                        mt->incomplete = true;
                        break;
                }

                r = read_namespace(mt, de->d_name, atoi(de->d_name) == 1 ? 0 : atoi(de->d_name), &total);
                if (r == -ENOENT || r == -ESRCH)
                        continue;   /* the process exited: its namespace may live on in another pid */
                if (r == -ENOMEM)
                        goto fail;
                if (r < 0)
                        mt->incomplete = true;

                char **n = realloc(seen, (n_seen + 1) * sizeof *n);
                if (!n) {
                        r = -ENOMEM;
                        goto fail;
                }
                seen = n;
                seen[n_seen++] = TAKE_PTR(ns);
        }
        r = 0;
        goto done;
fail:
        mount_table_done(mt);
done:
        for (size_t i = 0; i < n_seen; i++)
                free(seen[i]);
        free(seen);
        return r;
}
