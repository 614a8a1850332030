/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fileio.h"
#include "intel-iommu.h"
#include "iommu-group.h"
#include "log.h"
#include "macro.h"
#include "strv.h"

static const char *const region_type_table[_RESERVED_REGION_TYPE_MAX] = {
        [RESERVED_REGION_DIRECT] = "direct",
        [RESERVED_REGION_DIRECT_RELAXABLE] = "direct-relaxable",
        [RESERVED_REGION_MSI] = "msi",
        [RESERVED_REGION_RESERVED] = "reserved",
};

const char *reserved_region_type_to_string(ReservedRegionType t) {
        if (t < 0 || t >= _RESERVED_REGION_TYPE_MAX)
                return NULL;
        return region_type_table[t];
}

static int parse_0x(const char *s, size_t len, uint64_t *ret) {
        char buf[19];

        /* The kernel prints "0x%016llx". */
        if (len < 3 || len > 18 || s[0] != '0' || s[1] != 'x')
                return -EINVAL;
        memcpy(buf, s + 2, len - 2);
        buf[len - 2] = '\0';
        return parse_hex_u64(buf, ret);
}

int reserved_regions_parse(const char *text, ReservedRegion **ret, size_t *ret_n) {
        _cleanup_free_ ReservedRegion *regions = NULL;
        size_t n = 0;

        for (const char *line = text; line && *line; ) {
                const char *eol = strchrnul(line, '\n');
                const char *a = line, *b, *c;
                size_t la, lb, lc;
                ReservedRegion rr = {};
                ReservedRegion *nr;
                int t = -1;

                if (n >= RESERVED_REGIONS_MAX)
                        return -E2BIG;

                b = memchr(a, ' ', eol - a);
                if (!b)
                        return -EINVAL;
                la = b - a;
                b++;
                c = memchr(b, ' ', eol - b);
                if (!c)
                        return -EINVAL;
                lb = c - b;
                c++;
                lc = eol - c;

                if (parse_0x(a, la, &rr.start) < 0 || parse_0x(b, lb, &rr.end) < 0 || rr.end < rr.start)
                        return -EINVAL;
                for (int i = 0; i < _RESERVED_REGION_TYPE_MAX; i++)
                        if (strlen(region_type_table[i]) == lc && strncmp(c, region_type_table[i], lc) == 0)
                                t = i;
                if (t < 0)
                        return -EINVAL;
                rr.type = t;

                nr = reallocarray(regions, n + 1, sizeof(ReservedRegion));
                if (!nr)
                        return -ENOMEM;
                regions = nr;
                regions[n++] = rr;

                line = *eol ? eol + 1 : eol;
        }

        *ret = TAKE_PTR(regions);
        *ret_n = n;
        return 0;
}

void iommu_group_done(IommuGroup *g) {
        strv_free_n(g->members, g->n_members);
        free(g->default_domain_type);
        free(g->regions);
        free(g->regions_error);
        *g = (IommuGroup) { .id = -1 };
}

int iommu_group_read(int id, IommuGroup *g) {
        _cleanup_free_ char *dir = NULL, *p = NULL, *text = NULL, *name = NULL;
        int r;

        if (asprintf(&dir, "/sys/kernel/iommu_groups/%d", id) < 0)
                return -ENOMEM;
        g->id = id;

        if (asprintf(&p, "%s/type", dir) < 0)
                return -ENOMEM;
        r = read_one_line_file(p, &g->default_domain_type);
        if (r < 0 && r != -ENOENT)
                return r;

        free(p);
        if (asprintf(&p, "%s/reserved_regions", dir) < 0)
                return -ENOMEM;
        /* One odd group (a region type from a newer kernel, too many regions) must not stop the
         * daemon: the group keeps the reason and fails closed in the policy. */
        r = read_full_file_bounded(p, 64 * 1024, &text, NULL);
        if (r >= 0)
                r = reserved_regions_parse(text, &g->regions, &g->n_regions);
        if (r == -ENOMEM)
                return r;
        if (r < 0 && r != -ENOENT) {
                log_warning("IOMMU group %d: cannot read %s: %s; the group is refused until it can be read.",
                            id, p, r == -EINVAL ? "unknown format" : strerror(-r));
                if (asprintf(&g->regions_error, "%s: %s", p, r == -EINVAL ? "a line vfiod does not understand" :
                             r == -E2BIG ? "more regions than vfiod accepts" : strerror(-r)) < 0)
                        return -ENOMEM;
        }

        /* VFIO's no-IOMMU groups are named so; they have no translation at all. */
        free(p);
        if (asprintf(&p, "%s/name", dir) < 0)
                return -ENOMEM;
        if (read_one_line_file(p, &name) >= 0 && strcmp(name, "vfio-noiommu") == 0)
                g->noiommu = true;

        return 0;
}
