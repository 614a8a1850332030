/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <linux/vfio.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "macro.h"
#include "pci-address.h"
#include "vfio.h"

/* More groups than this in one container is no real request. */
#define VFIO_GROUPS_MAX 1024U
/* The kernel asks for the size of its capability chain; a few hundred bytes in practice. */
#define IOMMU_INFO_SIZE_MAX (64U * 1024U)
/* The chain is a handful of entries; a longer one is damaged. */
#define IOMMU_INFO_CAPS_MAX 64U

_printf_(3, 4)
static int fail(char **ret_error, int r, const char *format, ...) {
        va_list ap;
        char *s;

        if (!ret_error)
                return r;
        free(*ret_error);
        *ret_error = NULL;
        va_start(ap, format);
        if (vasprintf(&s, format, ap) >= 0)
                *ret_error = s;
        va_end(ap);
        return r;
}

void vfio_container_done(VfioContainer *c) {
        if (!c)
                return;
        /* Groups first: detaching the last group tears down the container's IOMMU state. */
        if (c->group_fds)
                for (size_t i = c->n_groups; i > 0; i--)
                        if (c->group_fds[i - 1] >= 0)
                                (void) close(c->group_fds[i - 1]);
        if (c->fd >= 0)
                (void) close(c->fd);
        free(c->group_ids);
        free(c->group_fds);
        *c = VFIO_CONTAINER_NULL;
}

static int parse_iova_ranges(const uint8_t *buf, size_t size, size_t off, VfioContainer *c, char **ret_error) {
        struct vfio_iommu_type1_info_cap_iova_range cap;
        size_t avail = size - off;

        if (avail < sizeof(cap))
                return fail(ret_error, -EBADMSG, "The kernel's IOVA range capability is cut short");
        memcpy(&cap, buf + off, sizeof(cap));
        if (cap.nr_iovas > VFIO_IOVA_RANGES_MAX)
                return fail(ret_error, -E2BIG, "The container has %u usable IOVA ranges, more than the %d vfiod keeps",
                            cap.nr_iovas, VFIO_IOVA_RANGES_MAX);
        if ((avail - sizeof(cap)) / sizeof(struct vfio_iova_range) < cap.nr_iovas)
                return fail(ret_error, -EBADMSG, "The kernel's IOVA range capability claims %u ranges but holds fewer",
                            cap.nr_iovas);

        for (uint32_t i = 0; i < cap.nr_iovas; i++) {
                struct vfio_iova_range r;

                memcpy(&r, buf + off + sizeof(cap) + i * sizeof(r), sizeof(r));
                if (r.start > r.end)
                        return fail(ret_error, -EBADMSG, "The kernel reported an IOVA range that ends before it starts");
                c->ranges[i] = (VfioIovaRange) { .start = r.start, .end = r.end };
        }
        c->n_ranges = cap.nr_iovas;
        return 0;
}

int vfio_iommu_info_parse(const void *buf, size_t size, VfioContainer *c, char **ret_error) {
        const uint8_t *b = buf;
        struct vfio_iommu_type1_info info;
        bool have_ranges = false;
        size_t off;
        int r;

        if (!buf || !c)
                return -EINVAL;
        if (size < sizeof(info))
                return fail(ret_error, -EBADMSG, "The kernel's IOMMU info is shorter than its header");
        memcpy(&info, b, sizeof(info));

        c->page_sizes = info.flags & VFIO_IOMMU_INFO_PGSIZES ? info.iova_pgsizes : 0;
        c->n_ranges = 0;
        c->dma_avail = 0;
        c->have_dma_avail = false;
        if (!(info.flags & VFIO_IOMMU_INFO_CAPS) || info.cap_offset == 0)
                return 0;

        /* The chain comes from the kernel, but an offset is never trusted to stay inside buf. */
        off = info.cap_offset;
        for (unsigned hops = 0;; hops++) {
                struct vfio_info_cap_header h;

                if (hops >= IOMMU_INFO_CAPS_MAX)
                        return fail(ret_error, -EBADMSG, "The kernel's IOMMU capability chain is longer than %u entries",
                                    IOMMU_INFO_CAPS_MAX);
                if (off < sizeof(info) || off > size || size - off < sizeof(h))
                        return fail(ret_error, -EBADMSG, "The kernel's IOMMU capability chain points outside its buffer");
                memcpy(&h, b + off, sizeof(h));

                if (h.id == VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE && h.version == 1 && !have_ranges) {
                        r = parse_iova_ranges(b, size, off, c, ret_error);
                        if (r < 0)
                                return r;
                        have_ranges = true;
                } else if (h.id == VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL && h.version == 1) {
                        struct vfio_iommu_type1_info_dma_avail a;

                        if (size - off < sizeof(a))
                                return fail(ret_error, -EBADMSG, "The kernel's DMA-available capability is cut short");
                        memcpy(&a, b + off, sizeof(a));
                        c->dma_avail = a.avail;
                        c->have_dma_avail = true;
                }
                /* Anything else (migration, newer versions) is not ours to read. */

                if (h.next == 0)
                        break;
                /* The kernel appends, so each entry lies beyond the last: no loops. */
                if (h.next <= off)
                        return fail(ret_error, -EBADMSG, "The kernel's IOMMU capability chain goes backwards");
                off = h.next;
        }
        return 0;
}

static int iommu_info_read(VfioContainer *c, char **ret_error) {
        _cleanup_free_ struct vfio_iommu_type1_info *info = NULL;
        size_t size = sizeof(*info);

        /* The kernel says how much it needs in argsz; ask again with that much, a bounded number of times. */
        for (unsigned attempt = 0;; attempt++) {
                struct vfio_iommu_type1_info *n;

                n = realloc(info, size);
                if (!n)
                        return fail(ret_error, -ENOMEM, "Out of memory");
                info = n;
                memset(info, 0, size);
                info->argsz = size;
                if (ioctl(c->fd, VFIO_IOMMU_GET_INFO, info) < 0) {
                        int r = negative_errno();
                        return fail(ret_error, r, "Reading the container's IOMMU info failed: %s", strerror(-r));
                }
                if (info->argsz <= size)
                        break;
                if (info->argsz > IOMMU_INFO_SIZE_MAX)
                        return fail(ret_error, -E2BIG, "The kernel's IOMMU info wants %u bytes, more than %u",
                                    info->argsz, IOMMU_INFO_SIZE_MAX);
                if (attempt >= 3)
                        return fail(ret_error, -EIO, "The kernel's IOMMU info kept growing");
                size = info->argsz;
        }

        return vfio_iommu_info_parse(info, size, c, ret_error);
}

static int open_group(VfioContainer *c, size_t i, char **ret_error) {
        struct vfio_group_status status = { .argsz = sizeof(status) };
        int id = c->group_ids[i], fd, r;
        char path[64];

        (void) snprintf(path, sizeof(path), "/dev/vfio/%d", id);
        fd = open(path, O_RDWR | O_CLOEXEC | O_NOCTTY);
        if (fd < 0) {
                r = negative_errno();
                if (r == -ENOENT)
                        return fail(ret_error, r, "IOMMU group %d has no VFIO node (%s): its devices are not bound to vfio-pci",
                                    id, path);
                if (r == -EBUSY)
                        return fail(ret_error, r, "IOMMU group %d is already open elsewhere (%s is held by another container or process)",
                                    id, path);
                return fail(ret_error, r, "Opening %s failed: %s", path, strerror(-r));
        }
        c->group_fds[i] = fd;

        if (ioctl(fd, VFIO_GROUP_GET_STATUS, &status) < 0) {
                r = negative_errno();
                return fail(ret_error, r, "Reading the status of IOMMU group %d failed: %s", id, strerror(-r));
        }
        if (!(status.flags & VFIO_GROUP_FLAGS_VIABLE))
                return fail(ret_error, -EBUSY, "group %d is not viable: a member is still on a host driver", id);

        if (ioctl(fd, VFIO_GROUP_SET_CONTAINER, &c->fd) < 0) {
                r = negative_errno();
                return fail(ret_error, r, "Attaching IOMMU group %d to the container failed: %s", id, strerror(-r));
        }
        return 0;
}

int vfio_container_open(const int *group_ids, size_t n, VfioContainer *ret, char **ret_error) {
        _cleanup_(vfio_container_done) VfioContainer c = VFIO_CONTAINER_NULL;
        int r;

        if (!ret)
                return -EINVAL;
        *ret = VFIO_CONTAINER_NULL;
        if (ret_error)
                *ret_error = NULL;

        if (!group_ids || n == 0)
                return fail(ret_error, -EINVAL, "No IOMMU groups to put in a container");
        if (n > VFIO_GROUPS_MAX)
                return fail(ret_error, -E2BIG, "%zu IOMMU groups are more than the %u one container takes", n, VFIO_GROUPS_MAX);
        for (size_t i = 0; i < n; i++) {
                if (group_ids[i] < 0)
                        return fail(ret_error, -EINVAL, "IOMMU group %d is not a group number", group_ids[i]);
                for (size_t j = 0; j < i; j++)
                        if (group_ids[j] == group_ids[i])
                                return fail(ret_error, -EINVAL, "IOMMU group %d is listed twice", group_ids[i]);
        }

        c.group_ids = calloc(n, sizeof(int));
        c.group_fds = calloc(n, sizeof(int));
        if (!c.group_ids || !c.group_fds)
                return fail(ret_error, -ENOMEM, "Out of memory");
        for (size_t i = 0; i < n; i++) {
                c.group_ids[i] = group_ids[i];
                c.group_fds[i] = -EBADF;
        }
        c.n_groups = n;

        c.fd = open("/dev/vfio/vfio", O_RDWR | O_CLOEXEC | O_NOCTTY);
        if (c.fd < 0) {
                r = negative_errno();
                if (r == -ENOENT)
                        return fail(ret_error, r, "/dev/vfio/vfio does not exist: the vfio module is not loaded");
                return fail(ret_error, r, "Opening /dev/vfio/vfio failed: %s", strerror(-r));
        }

        r = ioctl(c.fd, VFIO_GET_API_VERSION);
        if (r != VFIO_API_VERSION)
                return fail(ret_error, -EOPNOTSUPP, "The kernel speaks VFIO API version %d, vfiod speaks %d",
                            r, VFIO_API_VERSION);
        r = ioctl(c.fd, VFIO_CHECK_EXTENSION, VFIO_TYPE1v2_IOMMU);
        if (r <= 0)
                return fail(ret_error, -EOPNOTSUPP,
                            "The kernel offers no TYPE1v2 IOMMU for VFIO containers (is vfio_iommu_type1 loaded?)");

        for (size_t i = 0; i < n; i++) {
                r = open_group(&c, i, ret_error);
                if (r < 0)
                        return r;
        }

        /* Only now: SET_IOMMU needs a group attached, and then covers every group in the container. */
        if (ioctl(c.fd, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU) < 0) {
                r = negative_errno();
                /* type1 refuses an IOMMU that cannot isolate MSIs unless unsafe interrupts are allowed:
                 * the kernel's own version of our no-interrupt-remapping check. */
                if (r == -EPERM)
                        return fail(ret_error, r, "the kernel refused the container: the IOMMU does not isolate "
                                    "device interrupts (no interrupt remapping) and "
                                    "vfio_iommu_type1.allow_unsafe_interrupts is N");
                return fail(ret_error, r, "Selecting the TYPE1v2 IOMMU for the container failed: %s", strerror(-r));
        }

        r = iommu_info_read(&c, ret_error);
        if (r < 0)
                return r;

        *ret = c;
        c = VFIO_CONTAINER_NULL;
        return 0;
}

unsigned vfio_container_aperture_bits(const VfioContainer *c) {
        uint64_t top = 0;

        if (!c || c->n_ranges == 0)
                return 0;
        for (size_t i = 0; i < c->n_ranges && i < VFIO_IOVA_RANGES_MAX; i++)
                if (c->ranges[i].end > top)
                        top = c->ranges[i].end;
        if (top == UINT64_MAX)
                return 64;
        /* floor(log2(top + 1)); top + 1 >= 1 here. */
        return 63U - (unsigned) __builtin_clzll(top + 1);
}

int vfio_device_open(int group_fd, const char *address) {
        int fd;

        if (group_fd < 0)
                return -EBADF;
        if (!address || !pci_address_is_valid(address))
                return -EINVAL;

        /* The kernel hands the device fd out with O_CLOEXEC already set. */
        fd = ioctl(group_fd, VFIO_GROUP_GET_DEVICE_FD, address);
        if (fd < 0)
                return negative_errno();
        return fd;
}
