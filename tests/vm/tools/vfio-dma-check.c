/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The unprivileged VFIO client of the VM tests, run as
 *     vfiodctl acquire DEVICE --exec -- vfio-dma-check
 * It takes the fds in the sd_listen_fds_with_names() convention under the names vfiodctl gives them
 * (see 'vfiodctl help acquire'): maps 2 MiB of anonymous memory for DMA at IOVA 0x100000 in the
 * container and unmaps it again, reads the vendor and device ids from the device's config space, and
 * prints one JSON line:
 *     {"mapped":2097152,"vendor":"8086","device":"10d3","uid":1000}
 * Exit status 0; on any failure a message on stderr and exit status 1. */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>
#include <linux/vfio.h>
#include <systemd/sd-daemon.h>

#define DMA_SIZE (2u * 1024u * 1024u)
#define DMA_IOVA UINT64_C(0x100000)

static int fail(const char *format, ...) __attribute__((format(printf, 1, 2)));
static int fail(const char *format, ...) {
        va_list ap;

        fputs("vfio-dma-check: ", stderr);
        va_start(ap, format);
        vfprintf(stderr, format, ap);
        va_end(ap);
        fputc('\n', stderr);
        return EXIT_FAILURE;
}

static bool has_prefix(const char *s, const char *prefix) {
        return strncmp(s, prefix, strlen(prefix)) == 0;
}

int main(int argc, char *argv[]) {
        struct vfio_iommu_type1_dma_map map = { .argsz = sizeof map };
        struct vfio_iommu_type1_dma_unmap unmap = { .argsz = sizeof unmap };
        struct vfio_region_info region = { .argsz = sizeof region };
        char **names = NULL, list[4096] = "";
        int n, container = -1, device = -1;
        const char *device_name = NULL;
        uint8_t ids[4];
        ssize_t k;
        void *buf;

        if (argc > 1)
                return fail("takes no arguments; run it under 'vfiodctl acquire DEVICE --exec --'");

        n = sd_listen_fds_with_names(/* unset_environment= */ true, &names);
        if (n < 0) {
                errno = -n;
                return fail("cannot read the passed fds: %m");
        }
        if (n == 0)
                return fail("no fds passed; run it under 'vfiodctl acquire DEVICE --exec --'");

        /* One container is "vfio-container"; when vfiod split the request, take the first of them. */
        for (int i = 0; i < n; i++) {
                const char *name = names && names[i] ? names[i] : "unknown";
                size_t len = strlen(list);

                (void) snprintf(list + len, sizeof list - len, "%s%s", len > 0 ? " " : "", name);
                if (container < 0 && (strcmp(name, "vfio-container") == 0 || has_prefix(name, "vfio-container.")))
                        container = SD_LISTEN_FDS_START + i;
                if (device < 0 && has_prefix(name, "vfio-device.")) {
                        device = SD_LISTEN_FDS_START + i;
                        device_name = name;
                }
        }
        if (container < 0 || device < 0)
                return fail("expected a vfio-container and a vfio-device.* fd, got: %s", list);

        buf = mmap(NULL, DMA_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (buf == MAP_FAILED)
                return fail("cannot allocate %u bytes: %m", DMA_SIZE);
        memset(buf, 0x5a, DMA_SIZE);

        map.flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE;
        map.vaddr = (uintptr_t) buf;
        map.iova = DMA_IOVA;
        map.size = DMA_SIZE;
        if (ioctl(container, VFIO_IOMMU_MAP_DMA, &map) < 0)
                return fail("VFIO_IOMMU_MAP_DMA of %u bytes at IOVA 0x%llx failed: %m", DMA_SIZE,
                            (unsigned long long) DMA_IOVA);

        unmap.iova = DMA_IOVA;
        unmap.size = DMA_SIZE;
        if (ioctl(container, VFIO_IOMMU_UNMAP_DMA, &unmap) < 0)
                return fail("VFIO_IOMMU_UNMAP_DMA at IOVA 0x%llx failed: %m", (unsigned long long) DMA_IOVA);
        /* The kernel reports how much it unmapped: all of it, or the mapping was not what we made. */
        if (unmap.size != DMA_SIZE)
                return fail("VFIO_IOMMU_UNMAP_DMA unmapped %llu bytes, expected %u",
                            (unsigned long long) unmap.size, DMA_SIZE);
        (void) munmap(buf, DMA_SIZE);

        region.index = VFIO_PCI_CONFIG_REGION_INDEX;
        if (ioctl(device, VFIO_DEVICE_GET_REGION_INFO, &region) < 0)
                return fail("VFIO_DEVICE_GET_REGION_INFO of the config space of %s failed: %m", device_name);
        if (!(region.flags & VFIO_REGION_INFO_FLAG_READ) || region.size < sizeof ids)
                return fail("the config space of %s is not readable (flags 0x%x, size %llu)", device_name,
                            region.flags, (unsigned long long) region.size);

        /* Vendor id at offset 0, device id at 2, both little endian. */
        k = pread(device, ids, sizeof ids, (off_t) region.offset);
        if (k < 0)
                return fail("reading the config space of %s failed: %m", device_name);
        if ((size_t) k != sizeof ids)
                return fail("short read of the config space of %s: %zd bytes", device_name, k);

        printf("{\"mapped\":%u,\"vendor\":\"%02x%02x\",\"device\":\"%02x%02x\",\"uid\":%u}\n",
               DMA_SIZE, ids[1], ids[0], ids[3], ids[2], (unsigned) getuid());
        if (fflush(stdout) != 0)
                return fail("cannot write the result: %m");

        for (int i = 0; names && i < n; i++)
                free(names[i]);
        free(names);
        return EXIT_SUCCESS;
}
