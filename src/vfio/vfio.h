/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The only code that talks VFIO ioctls: a type1v2 container with a set of groups attached, its
 * measured IOVA aperture, and device fds. */

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VFIO_IOVA_RANGES_MAX 64

typedef struct VfioIovaRange {
        uint64_t start, end;           /* inclusive */
} VfioIovaRange;

typedef struct VfioContainer {
        int fd;                        /* /dev/vfio/vfio, TYPE1v2 set */
        int *group_ids;
        int *group_fds;
        size_t n_groups;
        VfioIovaRange ranges[VFIO_IOVA_RANGES_MAX];
        size_t n_ranges;               /* from VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE */
        uint64_t page_sizes;           /* iova_pgsizes bitmap */
        uint32_t dma_avail;            /* from VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL; 0 if not reported */
        bool have_dma_avail;
} VfioContainer;

/* An empty container: vfio_container_done() on it does nothing. */
#define VFIO_CONTAINER_NULL ((VfioContainer) { .fd = -EBADF })

void vfio_container_done(VfioContainer *c);

/* Open /dev/vfio/vfio (check VFIO_API_VERSION, TYPE1v2 support), open /dev/vfio/N for each group,
 * require VFIO_GROUP_FLAGS_VIABLE, SET_CONTAINER, SET_IOMMU(TYPE1v2), then read
 * VFIO_IOMMU_GET_INFO and walk its capability chain (bounded). On failure everything is closed,
 * *ret is VFIO_CONTAINER_NULL and *ret_error (malloc'd) says what failed. -ENOENT: a group node
 * is missing; -EBUSY: a group is not viable or already open elsewhere; -EPERM as the kernel
 * says; -EOPNOTSUPP: no type1v2. */
int vfio_container_open(const int *group_ids, size_t n, VfioContainer *ret, char **ret_error);

/* The parsing half of the above, for tests: a VFIO_IOMMU_GET_INFO answer of size bytes (as the
 * kernel filled it) into c's page_sizes, ranges and dma_avail. -EBADMSG on a malformed chain. */
int vfio_iommu_info_parse(const void *buf, size_t size, VfioContainer *c, char **ret_error);

/* Width in bits covered by the measured ranges: log2(highest end + 1), rounded down. */
unsigned vfio_container_aperture_bits(const VfioContainer *c);

/* VFIO_GROUP_GET_DEVICE_FD for a PCI address of that group; returns the fd (O_CLOEXEC). */
int vfio_device_open(int group_fd, const char *address);
