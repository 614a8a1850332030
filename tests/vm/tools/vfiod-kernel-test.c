/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Drives the binder and vfio modules directly on the guest's real kernel, without the daemon,
 * so tests/vm/guest/kernel.sh can check each kernel step and measure the floor an Acquire
 * cannot beat. Root only. Results as JSON on stdout; failures as the module's sentence on
 * stderr and exit status 1.
 *
 *   vfiod-kernel-test available
 *   vfiod-kernel-test state ADDR
 *   vfiod-kernel-test bind GROUP ADDR...
 *   vfiod-kernel-test restore ADDR DRIVER|- [OVERRIDE]
 *   vfiod-kernel-test container GROUP...
 *   vfiod-kernel-test map GROUP ADDR
 *   vfiod-kernel-test bench N GROUP ADDR
 */
#include <endian.h>
#include <errno.h>
#include <limits.h>
#include <linux/vfio.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "binder.h"
#include "macro.h"
#include "pci-address.h"
#include "vfio.h"

#define BIND_TIMEOUT_USEC (10ULL * 1000 * 1000)
#define MAP_SIZE (2UL * 1024 * 1024)
#define MAP_IOVA 0x100000ULL
#define BENCH_MAX 10000

static int failed(int r, const char *message) {
        fprintf(stderr, "vfiod-kernel-test: %s [%s]\n", message ?: strerror(-r), strerrorname_np(-r) ?: "?");
        return 1;
}

static int parse_int(const char *s, int min, int max, int *ret) {
        char *end;
        long v;

        errno = 0;
        v = strtol(s, &end, 10);
        if (errno != 0 || end == s || *end != '\0' || v < min || v > max)
                return -EINVAL;
        *ret = (int) v;
        return 0;
}

static int parse_groups(char **args, size_t n, int **ret) {
        _cleanup_free_ int *g = NULL;

        g = calloc(n, sizeof(int));
        if (!g)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++)
                if (parse_int(args[i], 0, INT_MAX, &g[i]) < 0) {
                        fprintf(stderr, "vfiod-kernel-test: '%s' is not a group number\n", args[i]);
                        return -EINVAL;
                }
        *ret = TAKE_PTR(g);
        return 0;
}

static uint64_t now_usec(void) {
        struct timespec ts;

        (void) clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000ULL + (uint64_t) ts.tv_nsec / 1000ULL;
}

static void print_container(const VfioContainer *c) {
        printf("{\"groups\":[");
        for (size_t i = 0; i < c->n_groups; i++)
                printf("%s%d", i ? "," : "", c->group_ids[i]);
        printf("],\"ranges\":[");
        for (size_t i = 0; i < c->n_ranges; i++)
                printf("%s{\"start\":\"0x%llx\",\"end\":\"0x%llx\"}", i ? "," : "",
                       (unsigned long long) c->ranges[i].start, (unsigned long long) c->ranges[i].end);
        printf("],\"pageSizes\":\"0x%llx\",\"pageSizeBits\":[", (unsigned long long) c->page_sizes);
        for (unsigned b = 0, first = 1; b < 64; b++)
                if (c->page_sizes & (1ULL << b)) {
                        printf("%s%u", first ? "" : ",", b);
                        first = 0;
                }
        printf("],\"dmaAvail\":");
        if (c->have_dma_avail)
                printf("%u", c->dma_avail);
        else
                printf("null");
        printf(",\"apertureBits\":%u}\n", vfio_container_aperture_bits(c));
}

static int verb_state(const char *address) {
        char driver[BINDER_DRIVER_MAX], override[BINDER_DRIVER_MAX];
        int r;

        r = binder_read_state(address, driver, override);
        if (r < 0)
                return failed(r, NULL);
        printf("{\"address\":\"%s\",\"driver\":\"%s\",\"override\":\"%s\"}\n", address, driver, override);
        return 0;
}

static int verb_bind(const char *group_arg, char **addresses, size_t n) {
        _cleanup_free_ BindDevice *devices = NULL;
        _cleanup_free_ char *error = NULL;
        int group, r;

        if (parse_int(group_arg, 0, INT_MAX, &group) < 0)
                return failed(-EINVAL, "GROUP is not a group number");
        devices = calloc(n, sizeof(BindDevice));
        if (!devices)
                return failed(-ENOMEM, NULL);

        /* As the daemon does: record where each device is before moving it. */
        for (size_t i = 0; i < n; i++) {
                if (!pci_address_is_valid(addresses[i]))
                        return failed(-EINVAL, "not a canonical PCI address");
                strcpy(devices[i].address, addresses[i]);
                r = binder_read_state(addresses[i], devices[i].original_driver, devices[i].original_override);
                /* A missing device is left to the binder, whose refusal is what we test. */
                if (r < 0 && r != -ENODEV)
                        return failed(r, "cannot read a device's state");
        }

        r = binder_bind_group(devices, n, group, BIND_TIMEOUT_USEC, &error);
        if (r < 0)
                return failed(r, error);

        printf("[");
        for (size_t i = 0; i < n; i++)
                printf("%s{\"address\":\"%s\",\"originalDriver\":\"%s\",\"originalOverride\":\"%s\"}", i ? "," : "",
                       devices[i].address, devices[i].original_driver, devices[i].original_override);
        printf("]\n");
        return 0;
}

static int verb_restore(const char *address, const char *driver, const char *override) {
        _cleanup_free_ char *error = NULL;
        BindDevice d = {};
        int r;

        if (!pci_address_is_valid(address))
                return failed(-EINVAL, "not a canonical PCI address");
        if (strcmp(driver, "-") == 0)
                driver = "";
        if (strlen(driver) >= BINDER_DRIVER_MAX || (override && strlen(override) >= BINDER_DRIVER_MAX))
                return failed(-EINVAL, "driver name too long");
        strcpy(d.address, address);
        strcpy(d.original_driver, driver);
        strcpy(d.original_override, override ?: "");

        r = binder_restore_device(&d, BIND_TIMEOUT_USEC, &error);
        if (r < 0)
                return failed(r, error);
        return verb_state(address);
}

static int verb_container(char **args, size_t n) {
        _cleanup_(vfio_container_done) VfioContainer c = VFIO_CONTAINER_NULL;
        _cleanup_free_ char *error = NULL;
        _cleanup_free_ int *groups = NULL;
        int r;

        r = parse_groups(args, n, &groups);
        if (r < 0)
                return 1;
        r = vfio_container_open(groups, n, &c, &error);
        if (r < 0)
                return failed(r, error);
        print_container(&c);
        return 0;
}

/* DMA-available entries right now, read through the same parser the module uses. */
static int dma_avail_now(int fd, uint32_t *ret) {
        _cleanup_free_ char *error = NULL;
        VfioContainer c = VFIO_CONTAINER_NULL;
        uint64_t buf[512] = {};
        struct vfio_iommu_type1_info *info = (struct vfio_iommu_type1_info *) buf;
        int r;

        info->argsz = sizeof(buf);
        if (ioctl(fd, VFIO_IOMMU_GET_INFO, info) < 0)
                return negative_errno();
        if (info->argsz > sizeof(buf))
                return -E2BIG;
        r = vfio_iommu_info_parse(buf, sizeof(buf), &c, &error);
        if (r < 0)
                return r;
        if (!c.have_dma_avail)
                return -ENODATA;
        *ret = c.dma_avail;
        return 0;
}

static int verb_map(const char *group_arg, const char *address) {
        _cleanup_(vfio_container_done) VfioContainer c = VFIO_CONTAINER_NULL;
        _cleanup_free_ char *error = NULL;
        _cleanup_close_ int dev = -EBADF;
        struct vfio_iommu_type1_dma_map map;
        struct vfio_iommu_type1_dma_unmap unmap;
        struct vfio_device_info dinfo = { .argsz = sizeof(dinfo) };
        struct vfio_region_info region = { .argsz = sizeof(region), .index = VFIO_PCI_CONFIG_REGION_INDEX };
        uint32_t avail_mapped = 0;
        uint16_t ids[2];
        void *buf;
        int group, r;

        if (parse_int(group_arg, 0, INT_MAX, &group) < 0)
                return failed(-EINVAL, "GROUP is not a group number");
        r = vfio_container_open(&group, 1, &c, &error);
        if (r < 0)
                return failed(r, error);

        buf = mmap(NULL, MAP_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (buf == MAP_FAILED)
                return failed(negative_errno(), "mmap of the DMA buffer failed");
        memset(buf, 0x5a, MAP_SIZE);

        map = (struct vfio_iommu_type1_dma_map) {
                .argsz = sizeof(map),
                .flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE,
                .vaddr = (uintptr_t) buf,
                .iova = MAP_IOVA,
                .size = MAP_SIZE,
        };
        if (ioctl(c.fd, VFIO_IOMMU_MAP_DMA, &map) < 0)
                return failed(negative_errno(), "VFIO_IOMMU_MAP_DMA failed");
        r = dma_avail_now(c.fd, &avail_mapped);
        if (r < 0 && r != -ENODATA)
                return failed(r, "reading the IOMMU info while mapped failed");

        unmap = (struct vfio_iommu_type1_dma_unmap) { .argsz = sizeof(unmap), .iova = MAP_IOVA, .size = MAP_SIZE };
        if (ioctl(c.fd, VFIO_IOMMU_UNMAP_DMA, &unmap) < 0)
                return failed(negative_errno(), "VFIO_IOMMU_UNMAP_DMA failed");
        (void) munmap(buf, MAP_SIZE);

        dev = vfio_device_open(c.group_fds[0], address);
        if (dev < 0)
                return failed(dev, "VFIO_GROUP_GET_DEVICE_FD failed");
        if (ioctl(dev, VFIO_DEVICE_GET_INFO, &dinfo) < 0)
                return failed(negative_errno(), "VFIO_DEVICE_GET_INFO failed");
        if (ioctl(dev, VFIO_DEVICE_GET_REGION_INFO, &region) < 0)
                return failed(negative_errno(), "VFIO_DEVICE_GET_REGION_INFO(config) failed");
        if (pread(dev, ids, sizeof(ids), (off_t) region.offset) != (ssize_t) sizeof(ids))
                return failed(-EIO, "reading config space through the device fd failed");

        printf("{\"group\":%d,\"address\":\"%s\",\"iova\":\"0x%llx\",\"mappedBytes\":%llu,\"unmappedBytes\":%llu,"
               "\"dmaAvail\":%u,\"dmaAvailWhileMapped\":%u,\"pci\":%s,\"regions\":%u,\"configSize\":%llu,"
               "\"vendor\":\"0x%04x\",\"device\":\"0x%04x\"}\n",
               group, address, MAP_IOVA, (unsigned long long) map.size, (unsigned long long) unmap.size,
               c.dma_avail, avail_mapped, dinfo.flags & VFIO_DEVICE_FLAGS_PCI ? "true" : "false",
               dinfo.num_regions, (unsigned long long) region.size, le16toh(ids[0]), le16toh(ids[1]));
        return 0;
}

static int cmp_u64(const void *a, const void *b) {
        uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;
        return x < y ? -1 : x > y;
}

static uint64_t median(uint64_t *v, size_t n) {
        qsort(v, n, sizeof(uint64_t), cmp_u64);
        return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static int verb_bench(const char *n_arg, const char *group_arg, const char *address) {
        _cleanup_free_ uint64_t *total = NULL, *open_only = NULL;
        uint64_t lo = UINT64_MAX, hi = 0;
        int n, group, r;

        if (parse_int(n_arg, 1, BENCH_MAX, &n) < 0)
                return failed(-EINVAL, "N must be 1..10000");
        if (parse_int(group_arg, 0, INT_MAX, &group) < 0)
                return failed(-EINVAL, "GROUP is not a group number");
        total = calloc(n, sizeof(uint64_t));
        open_only = calloc(n, sizeof(uint64_t));
        if (!total || !open_only)
                return failed(-ENOMEM, NULL);

        /* Exactly what an Acquire needs from the kernel, without the daemon around it. */
        for (int i = 0; i < n; i++) {
                _cleanup_free_ char *error = NULL;
                VfioContainer c = VFIO_CONTAINER_NULL;
                uint64_t t0, t1;
                int dev;

                t0 = now_usec();
                r = vfio_container_open(&group, 1, &c, &error);
                if (r < 0)
                        return failed(r, error);
                dev = vfio_device_open(c.group_fds[0], address);
                if (dev < 0) {
                        vfio_container_done(&c);
                        return failed(dev, "VFIO_GROUP_GET_DEVICE_FD failed");
                }
                t1 = now_usec();
                (void) close(dev);
                vfio_container_done(&c);
                total[i] = now_usec() - t0;
                open_only[i] = t1 - t0;
                if (total[i] < lo)
                        lo = total[i];
                if (total[i] > hi)
                        hi = total[i];
        }

        printf("{\"iterations\":%d,\"medianUsec\":%llu,\"minUsec\":%llu,\"maxUsec\":%llu,\"openMedianUsec\":%llu}\n",
               n, (unsigned long long) median(total, n), (unsigned long long) lo, (unsigned long long) hi,
               (unsigned long long) median(open_only, n));
        return 0;
}

static int usage(void) {
        fprintf(stderr,
                "usage: vfiod-kernel-test available\n"
                "       vfiod-kernel-test state ADDR\n"
                "       vfiod-kernel-test bind GROUP ADDR...\n"
                "       vfiod-kernel-test restore ADDR DRIVER|- [OVERRIDE]\n"
                "       vfiod-kernel-test container GROUP...\n"
                "       vfiod-kernel-test map GROUP ADDR\n"
                "       vfiod-kernel-test bench N GROUP ADDR\n");
        return 2;
}

int main(int argc, char *argv[]) {
        const char *verb;

        if (argc < 2)
                return usage();
        verb = argv[1];
        if (geteuid() != 0) {
                fprintf(stderr, "vfiod-kernel-test: root only\n");
                return 2;
        }

        if (strcmp(verb, "available") == 0 && argc == 2) {
                int r = binder_vfio_pci_available();
                if (r < 0)
                        return failed(r, "vfio-pci is not registered");
                printf("{\"vfioPci\":true}\n");
                return 0;
        }
        if (strcmp(verb, "state") == 0 && argc == 3)
                return verb_state(argv[2]);
        if (strcmp(verb, "bind") == 0 && argc >= 4)
                return verb_bind(argv[2], argv + 3, argc - 3);
        if (strcmp(verb, "restore") == 0 && (argc == 4 || argc == 5))
                return verb_restore(argv[2], argv[3], argc == 5 ? argv[4] : NULL);
        if (strcmp(verb, "container") == 0 && argc >= 3)
                return verb_container(argv + 2, argc - 2);
        if (strcmp(verb, "map") == 0 && argc == 4)
                return verb_map(argv[2], argv[3]);
        if (strcmp(verb, "bench") == 0 && argc == 5)
                return verb_bench(argv[2], argv[3], argv[4]);
        return usage();
}
