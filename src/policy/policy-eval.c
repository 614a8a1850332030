/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fnmatch.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "pci-device.h"
#include "policy.h"

/* Evaluation is pure: it reads the Policy, the Topology and the Request and writes only the Verdict.
 * Every check emits an entry for each device, group or unit it looks at, passed or failed, so that
 * Explain can show the whole picture and not just the first refusal. */

typedef struct GroupRef {
        int id;
        const IommuGroup *group;        /* NULL if the snapshot has no such group */
        const char *first;              /* first requested device in it */
} GroupRef;

typedef struct Span {                   /* an IOMMU unit the request spans */
        const char *name;               /* unit name, or the device's address if it names no unit */
        const IommuUnit *unit;          /* NULL if unknown */
} Span;

typedef struct Eval {
        const Policy *policy;
        const Topology *topology;
        const Request *request;
        const Caller *caller;

        const PciDevice **devices;      /* requested, in request order, without repeats */
        size_t n_devices;
        GroupRef *groups;
        size_t n_groups;
        Span *spans;
        size_t n_spans;

        Verdict verdict;
        size_t n_alloc_checks;
        const char *decided_by;         /* rule name for verdict.rule */
        bool decided_by_failure;
} Eval;

static void eval_done(Eval *e) {
        free(e->devices);
        free(e->groups);
        free(e->spans);
        verdict_done(&e->verdict);
}

void verdict_done(Verdict *v) {
        if (!v)
                return;
        for (size_t i = 0; i < v->n_checks; i++) {
                free(v->checks[i].subject);
                free(v->checks[i].sentence);
        }
        free(v->checks);
        free(v->rule);
        *v = (Verdict) {};
}

static int emit(Eval *e, const char *code, bool passed, const char *subject, const char *fmt, ...) _printf_(5, 6);
static int emit(Eval *e, const char *code, bool passed, const char *subject, const char *fmt, ...) {
        _cleanup_free_ char *s = NULL, *sentence = NULL;
        Verdict *v = &e->verdict;
        va_list ap;
        int k;

        /* Lists judge thousands of devices and show only what failed: skip the prose. */
        if (passed && e->request->failed_only)
                return 0;

        va_start(ap, fmt);
        k = vasprintf(&sentence, fmt, ap);
        va_end(ap);
        if (k < 0)
                return -ENOMEM;
        s = strdup(subject);
        if (!s)
                return -ENOMEM;

        if (v->n_checks >= e->n_alloc_checks) {
                size_t m = e->n_alloc_checks ? e->n_alloc_checks * 2 : 32;
                Check *a = reallocarray(v->checks, m, sizeof(Check));

                if (!a)
                        return -ENOMEM;
                v->checks = a;
                e->n_alloc_checks = m;
        }
        v->checks[v->n_checks++] = (Check) {
                .code = code,
                .passed = passed,
                .subject = TAKE_PTR(s),
                .sentence = TAKE_PTR(sentence),
        };
        return 0;
}

/* Appends to a growing list: "a b c". */
static int list_add(char **l, const char *sep, const char *fmt, ...) _printf_(3, 4);
static int list_add(char **l, const char *sep, const char *fmt, ...) {
        _cleanup_free_ char *item = NULL;
        char *n;
        va_list ap;
        int k;

        va_start(ap, fmt);
        k = vasprintf(&item, fmt, ap);
        va_end(ap);
        if (k < 0)
                return -ENOMEM;
        if (asprintf(&n, "%s%s%s", *l ?: "", *l ? sep : "", item) < 0)
                return -ENOMEM;
        free(*l);
        *l = n;
        return 0;
}

static int group_subject(char **ret, int id) {
        return asprintf(ret, "group %d", id) < 0 ? -ENOMEM : 0;
}

/* ---- what kind of device ---- */

static bool is_bridge(const PciDevice *d) {
        return d->header_type == 1 || (d->class >> 8) == 0x0604;
}

static bool is_host_bridge(const PciDevice *d) {
        return (d->class >> 8) == 0x0600;
}

static bool on_host_driver(const PciDevice *d) {
        return d->driver && strcmp(d->driver, "vfio-pci") != 0 && strcmp(d->driver, "pci-stub") != 0;
}

static bool is_requested(const Eval *e, const char *address) {
        for (size_t i = 0; i < e->n_devices; i++)
                if (strcmp(e->devices[i]->address, address) == 0)
                        return true;
        return false;
}

/* Members that have to travel with the group: everything but bridges. A member missing from the
 * snapshot counts as an endpoint, since nothing says it is safe to leave behind. */
static bool member_is_endpoint(const Eval *e, const char *address) {
        const PciDevice *d = topology_find_device(e->topology, address);
        return !d || !is_bridge(d);
}

static int group_endpoints(const Eval *e, const IommuGroup *g, char **ret) {
        _cleanup_free_ char *l = NULL;
        int r;

        for (size_t i = 0; i < g->n_members; i++)
                if (member_is_endpoint(e, g->members[i])) {
                        r = list_add(&l, " ", "%s", g->members[i]);
                        if (r < 0)
                                return r;
                }
        *ret = TAKE_PTR(l);
        return 0;
}

static int group_requested(const Eval *e, const IommuGroup *g, char **ret) {
        _cleanup_free_ char *l = NULL;
        int r;

        for (size_t i = 0; i < g->n_members; i++)
                if (is_requested(e, g->members[i])) {
                        r = list_add(&l, " ", "%s", g->members[i]);
                        if (r < 0)
                                return r;
                }
        *ret = TAKE_PTR(l);
        return 0;
}

/* ---- isolation ---- */

static int check_no_iommu_group(Eval *e) {
        for (size_t i = 0; i < e->n_devices; i++) {
                const PciDevice *d = e->devices[i];
                int r;

                if (d->iommu_group < 0)
                        r = emit(e, "no-iommu-group", false, d->address,
                                 "%s is in no IOMMU group, so nothing isolates its DMA; "
                                 "enable the IOMMU (intel_iommu=on or amd_iommu=on) or pick another device",
                                 d->address);
                else
                        r = emit(e, "no-iommu-group", true, d->address, "%s is in IOMMU group %d",
                                 d->address, d->iommu_group);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int check_not_an_endpoint(Eval *e) {
        for (size_t i = 0; i < e->n_devices; i++) {
                const PciDevice *d = e->devices[i];
                int r;

                if (is_host_bridge(d))
                        r = emit(e, "not-an-endpoint", false, d->address,
                                 "%s is a host bridge, not an endpoint; request the devices behind it instead",
                                 d->address);
                else if (is_bridge(d))
                        r = emit(e, "not-an-endpoint", false, d->address,
                                 "%s is a PCI bridge, not an endpoint; request the devices behind it instead",
                                 d->address);
                else if (d->header_type != 0)
                        r = emit(e, "not-an-endpoint", false, d->address,
                                 "%s has header type %u, not an endpoint's 0; request endpoint devices only",
                                 d->address, d->header_type);
                else
                        r = emit(e, "not-an-endpoint", true, d->address, "%s is an endpoint", d->address);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int check_partial_group(Eval *e) {
        for (size_t i = 0; i < e->n_groups; i++) {
                const IommuGroup *g = e->groups[i].group;
                _cleanup_free_ char *subject = NULL, *missing = NULL, *all = NULL;
                int r;

                r = group_subject(&subject, e->groups[i].id);
                if (r < 0)
                        return r;
                if (!g) {
                        r = emit(e, "partial-group", false, subject,
                                 "IOMMU group %d of %s is not in the topology, so its members are unknown; "
                                 "retry once the device has settled",
                                 e->groups[i].id, e->groups[i].first);
                        if (r < 0)
                                return r;
                        continue;
                }

                for (size_t j = 0; j < g->n_members; j++)
                        if (!is_requested(e, g->members[j]) && member_is_endpoint(e, g->members[j])) {
                                r = list_add(&missing, " ", "%s", g->members[j]);
                                if (r < 0)
                                        return r;
                        }
                r = group_endpoints(e, g, &all);
                if (r < 0)
                        return r;

                if (missing)
                        r = emit(e, "partial-group", false, subject,
                                 "the request leaves out %s of IOMMU group %d; request the whole group (%s)",
                                 missing, g->id, strna(all));
                else
                        r = emit(e, "partial-group", true, subject,
                                 "the request covers every endpoint of IOMMU group %d (%s)", g->id, strna(all));
                if (r < 0)
                        return r;
        }
        return 0;
}

static int check_group_not_viable(Eval *e) {
        for (size_t i = 0; i < e->n_groups; i++) {
                const IommuGroup *g = e->groups[i].group;
                _cleanup_free_ char *subject = NULL, *offenders = NULL, *drivers = NULL, *requested = NULL, *all = NULL;
                size_t n = 0;
                int r;

                if (!g)
                        continue;       /* partial-group already refused it */
                r = group_subject(&subject, g->id);
                if (r < 0)
                        return r;

                for (size_t j = 0; j < g->n_members; j++) {
                        const PciDevice *m = topology_find_device(e->topology, g->members[j]);

                        if (!m || is_requested(e, m->address) || is_bridge(m) || !on_host_driver(m))
                                continue;
                        r = list_add(&offenders, n == 0 ? "" : " ", "%s", m->address);
                        if (r >= 0)
                                r = list_add(&drivers, ", ", "%s", m->driver);
                        if (r < 0)
                                return r;
                        n++;
                }

                if (n == 0) {
                        r = emit(e, "group-not-viable", true, subject,
                                 "no member of IOMMU group %d outside the request is on a host driver", g->id);
                        if (r < 0)
                                return r;
                        continue;
                }

                r = group_requested(e, g, &requested);
                if (r >= 0)
                        r = group_endpoints(e, g, &all);
                if (r < 0)
                        return r;
                if (n == 1)
                        r = emit(e, "group-not-viable", false, subject,
                                 "%s shares IOMMU group %d with %s and is still on %s; "
                                 "request the whole group (%s) or unbind it",
                                 offenders, g->id, strna(requested), drivers, strna(all));
                else
                        r = emit(e, "group-not-viable", false, subject,
                                 "%s share IOMMU group %d with %s and are still on host drivers (%s); "
                                 "request the whole group (%s) or unbind them",
                                 offenders, g->id, strna(requested), drivers, strna(all));
                if (r < 0)
                        return r;
        }
        return 0;
}

/* ---- bypass ---- */

static int check_noiommu(Eval *e) {
        const KernelSwitches *k = &e->topology->switches;
        bool global = k->vfio_noiommu == TRI_YES || k->cmdline_noiommu;

        for (size_t i = 0; i < e->n_groups; i++) {
                const IommuGroup *g = e->groups[i].group;
                _cleanup_free_ char *subject = NULL, *why = NULL;
                int r;

                r = group_subject(&subject, e->groups[i].id);
                if (r < 0)
                        return r;

                if (g && g->noiommu)
                        r = asprintf(&why, "IOMMU group %d is a VFIO no-IOMMU group, so nothing translates its DMA",
                                     e->groups[i].id);
                else if (global)
                        r = asprintf(&why, "vfio runs in unsafe no-IOMMU mode, so nothing translates the DMA of IOMMU group %d",
                                     e->groups[i].id);
                if (r < 0)
                        return -ENOMEM;

                if (!why)
                        r = emit(e, "noiommu", true, subject, "IOMMU group %d is translated by an IOMMU",
                                 e->groups[i].id);
                else if (e->policy->allow_noiommu)
                        r = emit(e, "noiommu", true, subject, "%s; allowed by allowNoIommu in the policy", why);
                else
                        r = emit(e, "noiommu", false, subject,
                                 "%s; enable the IOMMU and turn off vfio.enable_unsafe_noiommu_mode", why);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int check_unsafe_interrupts(Eval *e) {
        const KernelSwitches *k = &e->topology->switches;
        _cleanup_free_ char *which = NULL;
        bool unknown = false;

        /* vfiod's containers are type1: its switch counts whether or not it is loaded yet, and
         * unknown is assumed on. iommufd counts where it exists at all (loaded or built in). */
        if (k->type1_unsafe_interrupts != TRI_NO) {
                unknown = unknown || k->type1_unsafe_interrupts == TRI_UNKNOWN;
                if (list_add(&which, " and ", "vfio_iommu_type1.allow_unsafe_interrupts%s",
                             k->type1_unsafe_interrupts == TRI_UNKNOWN ? " (unreadable: is vfio_iommu_type1 loaded?)" : "") < 0)
                        return -ENOMEM;
        }
        if (k->iommufd_present && k->iommufd_unsafe_interrupts != TRI_NO) {
                unknown = unknown || k->iommufd_unsafe_interrupts == TRI_UNKNOWN;
                if (list_add(&which, " and ", "iommufd.allow_unsafe_interrupts%s",
                             k->iommufd_unsafe_interrupts == TRI_UNKNOWN ? " (unreadable)" : "") < 0)
                        return -ENOMEM;
        }
        if (!which)
                return emit(e, "unsafe-interrupts", true, "kernel",
                            "neither vfio_iommu_type1 nor iommufd allows unsafe interrupts");

        if (e->policy->allow_unsafe_interrupts)
                return emit(e, "unsafe-interrupts", true, "kernel",
                            "%s %s, so devices may inject interrupts; allowed by allowUnsafeInterrupts in the policy",
                            which, unknown ? "may be Y" : "is Y");
        if (unknown)
                return emit(e, "unsafe-interrupts", false, "kernel",
                            "%s may be Y, so devices could inject arbitrary interrupts; load vfio_iommu_type1 "
                            "(modprobe vfio_iommu_type1) and make sure allow_unsafe_interrupts is N",
                            which);
        return emit(e, "unsafe-interrupts", false, "kernel",
                    "%s %s Y, so devices can inject arbitrary interrupts; set it to N (modprobe.d or the kernel command line)",
                    which, strstr(which, " and ") ? "are" : "is");
}

static int check_no_interrupt_remapping(Eval *e) {
        const KernelSwitches *k = &e->topology->switches;

        if (!e->policy->require_interrupt_remapping)
                return emit(e, "no-interrupt-remapping", true, "kernel",
                            "interrupt isolation is not required by the policy");
        if (k->intremap_off)
                return emit(e, "no-interrupt-remapping", false, "kernel",
                            "intremap=off is on the kernel command line, so devices can forge interrupts; remove it");
        /* nosid remaps without checking the requester ID: any device may use any remapping entry,
         * which is no isolation between devices at all. */
        if (k->intremap_nosid)
                return emit(e, "no-interrupt-remapping", false, "kernel",
                            "intremap=nosid is on the kernel command line, so interrupts are remapped without "
                            "source-ID checks and any device can use another's remapping entries; remove it");
        switch (k->msi_isolation) {
        case MSI_ISOLATION_REMAPPING:
                return emit(e, "no-interrupt-remapping", true, "kernel",
                            "the kernel remaps interrupts (IR- irq chips are in use)");
        case MSI_ISOLATION_ITS:
                return emit(e, "no-interrupt-remapping", true, "kernel",
                            "MSIs go through a GICv3 ITS (ITS- irq chips are in use), which isolates them per device");
        case MSI_ISOLATION_NONE:
                return emit(e, "no-interrupt-remapping", false, "kernel",
                            "the kernel neither remaps interrupts nor routes MSIs through an ITS, so devices can forge "
                            "them; enable interrupt remapping in the firmware and the kernel");
        default:
                /* unknown fails closed */
                return emit(e, "no-interrupt-remapping", false, "kernel",
                            "whether the kernel isolates interrupts is unknown (/proc/interrupts could not be read), "
                            "so it is assumed not to; enable interrupt remapping in the firmware and the kernel");
        }
}

static int check_acs_override(Eval *e) {
        const char *v = e->topology->switches.acs_override;

        if (!v)
                return emit(e, "acs-override", true, "kernel", "no pcie_acs_override= on the kernel command line");
        if (e->policy->allow_acs_override)
                return emit(e, "acs-override", true, "kernel",
                            "pcie_acs_override=%s is on the kernel command line; allowed by allowAcsOverride in the policy", v);
        return emit(e, "acs-override", false, "kernel",
                    "pcie_acs_override=%s is on the kernel command line, so the IOMMU group boundaries are fiction; "
                    "remove pcie_acs_override= from the kernel command line", v);
}

static int check_smmu_bypass(Eval *e) {
        for (size_t i = 0; i < e->n_spans; i++) {
                const IommuUnit *u = e->spans[i].unit;
                int r;

                if (!u)
                        continue;
                if (u->kind != IOMMU_KIND_SMMU)
                        r = emit(e, "smmu-bypass", true, u->name, "%s is not an Arm SMMU", u->name);
                else if (e->topology->switches.smmu_disable_bypass != TRI_NO)
                        r = emit(e, "smmu-bypass", true, u->name, "%s is an Arm SMMU that does not allow bypass", u->name);
                else if (e->policy->allow_smmu_bypass)
                        r = emit(e, "smmu-bypass", true, u->name,
                                 "%s is an Arm SMMU with disable_bypass=N; allowed by allowSmmuBypass in the policy", u->name);
                else
                        r = emit(e, "smmu-bypass", false, u->name,
                                 "%s is an Arm SMMU with disable_bypass=N, so devices without a domain bypass it; "
                                 "boot with arm-smmu.disable_bypass=1", u->name);
                if (r < 0)
                        return r;
        }
        return 0;
}

static const ReservedRegion *find_region(const IommuGroup *g, ReservedRegionType type) {
        for (size_t i = 0; i < g->n_regions; i++)
                if (g->regions[i].type == type)
                        return &g->regions[i];
        return NULL;
}

static int check_direct_mapped_region(Eval *e) {
        for (size_t i = 0; i < e->n_groups; i++) {
                const IommuGroup *g = e->groups[i].group;
                const ReservedRegion *d, *relax;
                _cleanup_free_ char *subject = NULL;
                int r;

                if (!g)
                        continue;
                r = group_subject(&subject, g->id);
                if (r < 0)
                        return r;

                d = find_region(g, RESERVED_REGION_DIRECT);
                relax = find_region(g, RESERVED_REGION_DIRECT_RELAXABLE);
                /* A line we could not read may be a direct mapping of a kind we do not know yet;
                 * no policy key relaxes what nobody has looked at. */
                if (g->regions_error)
                        r = emit(e, "direct-mapped-region", false, subject,
                                 "the reserved regions of IOMMU group %d could not be read (%s), so a direct mapping "
                                 "cannot be ruled out; pick another device, and report the kernel's reserved_regions "
                                 "to the vfiod developers",
                                 g->id, g->regions_error);
                else if (d && !e->policy->allow_direct_mapped_regions)
                        r = emit(e, "direct-mapped-region", false, subject,
                                 "IOMMU group %d has a direct-mapped region 0x%" PRIx64 "-0x%" PRIx64 " (RMRR/IVMD) "
                                 "that firmware keeps using for DMA; pick a device without one",
                                 g->id, d->start, d->end);
                else if (d)
                        r = emit(e, "direct-mapped-region", true, subject,
                                 "IOMMU group %d has a direct-mapped region 0x%" PRIx64 "-0x%" PRIx64 " (RMRR/IVMD); "
                                 "allowed by allowDirectMappedRegions in the policy",
                                 g->id, d->start, d->end);
                else if (relax)
                        r = emit(e, "direct-mapped-region", true, subject,
                                 "IOMMU group %d has only a relaxable direct-mapped region 0x%" PRIx64 "-0x%" PRIx64
                                 ", which the kernel drops for VFIO",
                                 g->id, relax->start, relax->end);
                else
                        r = emit(e, "direct-mapped-region", true, subject,
                                 "IOMMU group %d has no direct-mapped region", g->id);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* ---- aperture ---- */

static const char *const region_type_table[_RESERVED_REGION_TYPE_MAX] = {
        [RESERVED_REGION_DIRECT] = "direct",
        [RESERVED_REGION_DIRECT_RELAXABLE] = "direct-relaxable",
        [RESERVED_REGION_MSI] = "msi",
        [RESERVED_REGION_RESERVED] = "reserved",
};

static const char *region_type_to_string(ReservedRegionType t) {
        return t >= 0 && t < _RESERVED_REGION_TYPE_MAX ? region_type_table[t] : "unknown";
}

static unsigned aperture_need(const Eval *e) {
        unsigned p = e->policy->min_aperture_bits, q = e->request->min_aperture_bits;
        return p > q ? p : q;
}

static int check_aperture_unit(Eval *e, const Span *s) {
        const IommuUnit *u = s->unit;
        unsigned need = aperture_need(e), w = u ? u->address_width : 0;

        if (!u)
                return emit(e, "aperture-too-small", true, s->name,
                            "%s names no IOMMU unit; the aperture is measured when the container is set up", s->name);
        if (w == 0)
                return emit(e, "aperture-too-small", true, s->name,
                            "the address width of %s is not known from sysfs; it is measured when the container is set up",
                            s->name);
        if (w < need) {
                bool policy = e->policy->min_aperture_bits >= e->request->min_aperture_bits;
                return emit(e, "aperture-too-small", false, s->name,
                            "%s decodes %u address bits but %s needs %u; pick a device behind a wider IOMMU%s",
                            s->name, w, policy ? "the policy (minApertureBits)" : "the request", need,
                            policy ? " or lower minApertureBits in the policy" : " or ask for fewer bits");
        }

        for (size_t i = 0; i < e->request->n_iova_ranges; i++) {
                const IovaRange *a = &e->request->iova_ranges[i];

                if (w < 64 && (a->end >> w) != 0)
                        return emit(e, "aperture-too-small", false, s->name,
                                    "IOVA range 0x%" PRIx64 "-0x%" PRIx64 " ends beyond the %u-bit aperture of %s "
                                    "(last address 0x%" PRIx64 "); ask for a range below it",
                                    a->start, a->end, w, s->name, (UINT64_C(1) << w) - 1);
        }

        return emit(e, "aperture-too-small", true, s->name, "%s decodes %u address bits (at least %u needed)%s",
                    s->name, w, need, e->request->n_iova_ranges > 0 ? " and every requested IOVA range fits" : "");
}

static int check_aperture_regions(Eval *e, const IommuGroup *g) {
        _cleanup_free_ char *subject = NULL;
        int r;

        r = group_subject(&subject, g->id);
        if (r < 0)
                return r;

        for (size_t i = 0; i < e->request->n_iova_ranges; i++) {
                const IovaRange *a = &e->request->iova_ranges[i];

                for (size_t j = 0; j < g->n_regions; j++) {
                        const ReservedRegion *x = &g->regions[j];

                        /* vfio_iommu_type1 does not carve relaxable direct regions out of the IOVA space */
                        if (x->type == RESERVED_REGION_DIRECT_RELAXABLE)
                                continue;
                        if (a->start <= x->end && x->start <= a->end)
                                return emit(e, "aperture-too-small", false, subject,
                                            "IOVA range 0x%" PRIx64 "-0x%" PRIx64 " overlaps the %s reserved region "
                                            "0x%" PRIx64 "-0x%" PRIx64 " of IOMMU group %d; ask for a range that avoids it",
                                            a->start, a->end, region_type_to_string(x->type), x->start, x->end, g->id);
                }
        }
        return emit(e, "aperture-too-small", true, subject,
                    "no requested IOVA range overlaps a reserved region of IOMMU group %d", g->id);
}

static int check_aperture_too_small(Eval *e) {
        int r;

        for (size_t i = 0; i < e->n_spans; i++) {
                r = check_aperture_unit(e, &e->spans[i]);
                if (r < 0)
                        return r;
        }
        if (e->request->n_iova_ranges == 0)
                return 0;
        for (size_t i = 0; i < e->n_groups; i++) {
                if (!e->groups[i].group)
                        continue;
                r = check_aperture_regions(e, e->groups[i].group);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int check_aperture_mixed(Eval *e) {
        _cleanup_free_ char *names = NULL, *widths = NULL;
        unsigned lo = 0, hi = 0;
        int r;

        for (size_t i = 0; i < e->n_spans; i++) {
                const IommuUnit *u = e->spans[i].unit;

                r = list_add(&names, " ", "%s", e->spans[i].name);
                if (r < 0)
                        return r;
                if (!u || u->address_width == 0)
                        continue;
                r = list_add(&widths, ", ", "%s %u bits", u->name, u->address_width);
                if (r < 0)
                        return r;
                if (lo == 0 || u->address_width < lo)
                        lo = u->address_width;
                if (u->address_width > hi)
                        hi = u->address_width;
        }
        e->verdict.effective_aperture_bits = lo;

        if (!names)
                return 0;
        if (lo == 0)
                return emit(e, "aperture-mixed", true, names,
                            "no address width is known yet; widths are compared when the container is set up");
        if (lo == hi)
                return emit(e, "aperture-mixed", true, names, "the request spans one address width (%u bits)", lo);

        switch (e->policy->mixed_apertures) {
        case MIXED_APERTURES_SPLIT:
                return emit(e, "aperture-mixed", true, names,
                            "the request spans IOMMU units of different widths (%s); the policy puts them in separate containers",
                            widths);
        case MIXED_APERTURES_ALLOW:
                return emit(e, "aperture-mixed", true, names,
                            "the request spans IOMMU units of different widths (%s); the policy allows one container "
                            "and the narrowest width, %u bits, applies", widths, lo);
        default:
                return emit(e, "aperture-mixed", false, names,
                            "the request spans IOMMU units of different widths (%s) and the policy denies that; "
                            "request devices behind units of one width, or set mixedApertures to \"split\"", widths);
        }
}

/* ---- host ---- */

typedef struct HostCheck {
        const char *code;
        HostUse bit;
        size_t protect;                 /* offset of the bool in Policy */
        const char *key;                /* the protect key that relaxes it */
        const char *in_use;             /* "backs storage the host uses" */
        const char *fix;
        const char *not_in_use;
} HostCheck;

static const HostCheck host_checks[] = {
        { "root-storage", HOST_USE_ROOT_STORAGE, offsetof(Policy, protect_root_storage), "rootStorage",
          /* Mounts of every namespace, swap, held volumes, loop backing files; where the disks
           * of one cannot be resolved every storage controller counts, and the detail says so. */
          "backs storage the host uses", "unmount it, swapoff it or deactivate its volumes first, or pick another device",
          "backs no mount, swap area or volume in use" },
        { "routed-interface", HOST_USE_ROUTED_IFACE, offsetof(Policy, protect_routed_interfaces), "routedInterfaces",
          "carries a network interface the host uses",
          "remove the addresses and routes from it and from any bridge, bond or VLAN above it, "
          "or end the network namespace that holds it, or pick another device",
          "carries no network interface the host uses (no address or route on it or on a bridge, bond or VLAN above it)" },
        { "boot-console", HOST_USE_BOOT_CONSOLE, offsetof(Policy, protect_boot_console), "bootConsole",
          "is the boot VGA device with the console on it", "move the console to another device first or pick another device",
          "is not the boot console" },
};

static int check_host_one(Eval *e, const HostCheck *h) {
        bool protect = *(const bool *) ((const uint8_t *) e->policy + h->protect);

        for (size_t i = 0; i < e->n_devices; i++) {
                const PciDevice *d = e->devices[i];
                const char *detail = d->host_use_detail ?: "in use by the host";
                int r;

                if (!(d->host_use & h->bit))
                        r = emit(e, h->code, true, d->address, "%s %s", d->address, h->not_in_use);
                else if (protect)
                        r = emit(e, h->code, false, d->address, "%s %s (%s); %s", d->address, h->in_use, detail, h->fix);
                else
                        r = emit(e, h->code, true, d->address, "%s %s (%s); allowed because protect.%s is false in the policy",
                                 d->address, h->in_use, detail, h->key);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int check_host(Eval *e) {
        for (size_t i = 0; i < ELEMENTSOF(host_checks); i++) {
                int r = check_host_one(e, &host_checks[i]);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* ---- SR-IOV ---- */

/* Taking a PF off its driver disables SR-IOV: every VF vanishes, with whatever uses it (host
 * netdevs, VMs, other leases). A PF with VFs is allowed only with all of them in the request;
 * then the VFs are destroyed by the bind and recreated on release. */
static int check_sriov_vfs_enabled(Eval *e) {
        for (size_t i = 0; i < e->n_devices; i++) {
                const PciDevice *d = e->devices[i];
                _cleanup_free_ char *vfs = NULL, *missing = NULL, *foreign = NULL;
                unsigned known = 0, numvfs;
                int r;

                /* Only a function with an SR-IOV capability has VFs; spares lists a scan per device. */
                for (size_t j = 0; (d->sriov_totalvfs > 0 || d->sriov_numvfs > 0) && j < e->topology->n_devices; j++) {
                        const PciDevice *vf = &e->topology->devices[j];

                        if (!vf->physfn || strcmp(vf->physfn, d->address) != 0)
                                continue;
                        known++;
                        r = list_add(&vfs, " ", "%s", vf->address);
                        if (r >= 0 && !is_requested(e, vf->address))
                                r = list_add(&missing, " ", "%s", vf->address);
                        /* On vfio-pci without a lease: maybe in a VM we do not know of. */
                        if (r >= 0 && vf->state == DEVICE_STATE_VFIO && !vf->held_by)
                                r = list_add(&foreign, " ", "%s", vf->address);
                        if (r < 0)
                                return r;
                }
                /* sriov_numvfs may have been read before the VFs appeared: the VFs seen count too. */
                numvfs = d->sriov_numvfs > known ? d->sriov_numvfs : known;

                if (numvfs == 0)
                        r = emit(e, "sriov-vfs-enabled", true, d->address, "%s has no SR-IOV VFs enabled", d->address);
                else if (known < numvfs)
                        r = emit(e, "sriov-vfs-enabled", false, d->address,
                                 "%s has %u SR-IOV VFs enabled but vfiod knows only %u of them (%s), so it cannot tell "
                                 "what binding the PF would destroy; set sriov_numvfs to 0 first "
                                 "(echo 0 > /sys/bus/pci/devices/%s/sriov_numvfs), or retry once the VFs have settled",
                                 d->address, numvfs, known, strna(vfs), d->address);
                else if (missing)
                        r = emit(e, "sriov-vfs-enabled", false, d->address,
                                 "%s is an SR-IOV PF with %u VFs enabled, which binding it destroys, and the request "
                                 "leaves out %s; set sriov_numvfs to 0 first (echo 0 > /sys/bus/pci/devices/%s/sriov_numvfs), "
                                 "or request its VFs %s too",
                                 d->address, numvfs, missing, d->address, vfs);
                else if (foreign)
                        r = emit(e, "sriov-vfs-enabled", false, d->address,
                                 "%s is an SR-IOV PF whose VF %s is on vfio-pci outside any vfiod lease (a VM may use it), "
                                 "and binding the PF destroys its VFs; give %s back to its driver first",
                                 d->address, foreign, foreign);
                else
                        r = emit(e, "sriov-vfs-enabled", true, d->address,
                                 "%s has %u SR-IOV VFs enabled and the request takes all of them (%s); binding the PF "
                                 "destroys them and giving it back recreates them",
                                 d->address, numvfs, vfs);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* ---- authorization ---- */

static bool glob_fits(const char *pattern, const char *s) {
        return !pattern || fnmatch(pattern, s, 0) == 0;
}

static bool rule_matches(const PolicyRule *rule, const PciDevice *d) {
        char vendor[5], device[5], class[7];

        snprintf(vendor, sizeof vendor, "%04x", d->vendor);
        snprintf(device, sizeof device, "%04x", d->device);
        snprintf(class, sizeof class, "%06x", d->class & 0xffffffu);

        return glob_fits(rule->match.vendor, vendor) &&
                glob_fits(rule->match.device, device) &&
                glob_fits(rule->match.class, class) &&
                glob_fits(rule->match.address, d->address);
}

const PolicyRule *policy_rule_for_device(const Policy *p, const PciDevice *d) {
        for (size_t j = 0; j < p->n_rules; j++)
                if (rule_matches(&p->rules[j], d))
                        return &p->rules[j];
        return NULL;
}

bool policy_binds_at_boot(const Policy *p, const PciDevice *d) {
        const PolicyRule *rule;

        if (pci_device_is_bridge(d))
                return false;
        rule = policy_rule_for_device(p, d);
        return rule && rule->bind_at_boot && !rule->deny;
}

static bool strv_has(char *const *l, const char *s) {
        if (!s)
                return false;
        for (; l && *l; l++)
                if (strcmp(*l, s) == 0)
                        return true;
        return false;
}

/* Returns the user or group the rule grants to, NULL if none. */
static const char *rule_grants(const PolicyRule *rule, const Caller *c, bool *ret_user) {
        if (strv_has(rule->users, c->user_name)) {
                *ret_user = true;
                return c->user_name;
        }
        for (const char *const *g = c->group_names; g && *g; g++)
                if (strv_has(rule->groups, *g)) {
                        *ret_user = false;
                        return *g;
                }
        return NULL;
}

static int caller_words(const Caller *c, char **ret) {
        int k = c->user_name ? asprintf(ret, "user %s", c->user_name) : asprintf(ret, "uid %u", (unsigned) c->uid);
        return k < 0 ? -ENOMEM : 0;
}

static void decided(Eval *e, const PolicyRule *rule, bool failed) {
        /* The rule that refused something explains the verdict best; else the first that decided. */
        if (e->decided_by_failure)
                return;
        if (failed && rule) {
                e->decided_by = rule->name;
                e->decided_by_failure = true;
        } else if (!e->decided_by && rule)
                e->decided_by = rule->name;
}

static int check_authorization(Eval *e) {
        const Caller *c = e->caller;
        _cleanup_free_ char *who = NULL;
        int r;

        r = caller_words(c, &who);
        if (r < 0)
                return r;

        for (size_t i = 0; i < e->n_devices; i++) {
                const PciDevice *d = e->devices[i];
                const PolicyRule *rule = NULL;
                const char *granted;
                bool as_user = false;

                rule = policy_rule_for_device(e->policy, d);

                if (!rule) {
                        decided(e, NULL, c->uid != 0);
                        if (c->uid == 0)
                                r = emit(e, "not-authorized", true, d->address,
                                         "no rule matches %s, and root may use devices no rule covers", d->address);
                        else
                                r = emit(e, "not-authorized", false, d->address,
                                         "no rule matches %s, so only root may use it; ask the administrator for a rule "
                                         "in /etc/vfiod/policy.d/ that allows %s", d->address, who);
                } else if (rule->deny) {
                        decided(e, rule, true);
                        r = emit(e, "denied-by-rule", false, d->address,
                                 "rule \"%s\" in %s denies %s; ask the administrator to change that rule",
                                 rule->name, strna(rule->file), d->address);
                } else if (c->uid == 0) {
                        /* Allow rules add users; they do not take the machine away from root
                         * (the libvirt hook runs as root). Keeping root off takes a deny rule. */
                        decided(e, rule, false);
                        r = emit(e, "not-authorized", true, d->address,
                                 "rule \"%s\" in %s allows %s, and root may use what a rule allows",
                                 rule->name, strna(rule->file), d->address);
                } else if ((granted = rule_grants(rule, c, &as_user)) && e->request->persistent && !rule->allow_bind) {
                        /* Bind leaves the device bound with no process attached, past logouts and
                         * restarts: a right of its own, which Acquire does not imply. */
                        decided(e, rule, true);
                        r = emit(e, "bind-not-authorized", false, d->address,
                                 "rule \"%s\" in %s lets %s %s acquire %s but not bind it (a Bind keeps it with no "
                                 "process attached); use Acquire, or ask the administrator to set \"bind\": true "
                                 "in the rule's \"allow\"", rule->name, strna(rule->file), as_user ? "user" : "group",
                                 granted, d->address);
                } else if (granted) {
                        decided(e, rule, false);
                        r = emit(e, "not-authorized", true, d->address, "rule \"%s\" in %s allows %s %s to use %s",
                                 rule->name, strna(rule->file), as_user ? "user" : "group", granted, d->address);
                } else {
                        decided(e, rule, true);
                        r = emit(e, "not-authorized", false, d->address,
                                 "rule \"%s\" in %s covers %s but lists neither %s nor any of its groups; "
                                 "ask the administrator to add you to the rule's users or groups",
                                 rule->name, strna(rule->file), d->address, who);
                }
                if (r < 0)
                        return r;
        }
        return 0;
}

/* ---- driver ---- */

static int check_in_use(Eval *e) {
        for (size_t i = 0; i < e->n_devices; i++) {
                const PciDevice *d = e->devices[i];
                int r;

                const PciDevice *pf = d->physfn ? topology_find_device(e->topology, d->physfn) : NULL;
                /* Another user's lease: its id and uid are not the caller's to know. */
                bool own = e->caller && (e->caller->uid == 0 || (d->held_by && e->caller->uid == d->held_by_uid));
                bool own_pf = e->caller && (e->caller->uid == 0 || (pf && pf->held_by && e->caller->uid == pf->held_by_uid));

                /* A VF belongs to its PF: whoever holds the PF controls (and can destroy) the VF. */
                if (d->held_by && own)
                        r = emit(e, "in-use", false, d->address, "%s is held by %s; wait until it is released, "
                                 "or ask its holder (vfiodctl leases)", d->address, d->held_by);
                else if (d->held_by)
                        r = emit(e, "in-use", false, d->address, "%s is leased by another user; wait until it is released, "
                                 "or ask the administrator", d->address);
                else if (d->physfn && !pf)
                        r = emit(e, "in-use", false, d->address, "%s is an SR-IOV VF whose PF %s is not in the topology, "
                                 "so vfiod cannot tell who holds it; retry once the devices have settled",
                                 d->address, d->physfn);
                else if (pf && pf->held_by && own_pf)
                        r = emit(e, "in-use", false, d->address, "%s is an SR-IOV VF and its PF %s is held by %s; "
                                 "wait until the PF is released, or ask its holder (vfiodctl leases)",
                                 d->address, pf->address, pf->held_by);
                else if (pf && pf->held_by)
                        r = emit(e, "in-use", false, d->address, "%s is an SR-IOV VF and its PF %s is leased by another user; "
                                 "wait until the PF is released, or ask the administrator",
                                 d->address, pf->address);
                else if (pf && pf->state == DEVICE_STATE_VFIO)
                        r = emit(e, "in-use", false, d->address, "%s is an SR-IOV VF and its PF %s is on vfio-pci, "
                                 "so whoever owns the PF controls this VF too; give %s back to its driver first",
                                 d->address, pf->address, pf->address);
                else if (pf)
                        r = emit(e, "in-use", true, d->address, "no lease holds %s or its PF %s", d->address, pf->address);
                else
                        r = emit(e, "in-use", true, d->address, "no lease holds %s", d->address);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* A running libvirt domain uses the device (its group), whether vfiod bound it or libvirt did:
 * nobody else may have it. The domain's name is root's to read (libvirt's own listing is
 * privileged too). */
static int check_held_by_domain(Eval *e) {
        for (size_t i = 0; i < e->n_devices; i++) {
                const PciDevice *d = e->devices[i];
                bool root = e->caller && e->caller->uid == 0;
                int r;

                if (d->held_by_domain && e->request->domain && streq(d->held_by_domain, e->request->domain))
                        r = emit(e, "held-by-domain", true, d->address,
                                 "%s is used by no running libvirt domain but '%s', the one it is judged for",
                                 d->address, d->held_by_domain);
                else if (d->held_by_domain && root)
                        r = emit(e, "held-by-domain", false, d->address,
                                 "%s is used by the running libvirt domain '%s'; shut it down (virsh shutdown) or detach "
                                 "the device from it (virsh detach-device) first", d->address, d->held_by_domain);
                else if (d->held_by_domain)
                        r = emit(e, "held-by-domain", false, d->address,
                                 "%s is used by a running libvirt domain; ask the administrator to shut it down or "
                                 "detach the device from it", d->address);
                else
                        r = emit(e, "held-by-domain", true, d->address, "no running libvirt domain uses %s", d->address);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int (*const checks[])(Eval *e) = {
        check_no_iommu_group,
        check_not_an_endpoint,
        check_partial_group,
        check_group_not_viable,
        check_noiommu,
        check_unsafe_interrupts,
        check_no_interrupt_remapping,
        check_acs_override,
        check_smmu_bypass,
        check_direct_mapped_region,
        check_aperture_too_small,
        check_aperture_mixed,
        check_host,
        check_sriov_vfs_enabled,
        check_in_use,
        check_held_by_domain,
        check_authorization,
};

static int eval_collect(Eval *e) {
        const Request *r = e->request;
        size_t n = 0;

        while (r->devices[n])
                n++;
        if (n == 0)
                return -EINVAL;

        e->devices = calloc(n, sizeof(PciDevice *));
        e->groups = calloc(n, sizeof(GroupRef));
        e->spans = calloc(n, sizeof(Span));
        if (!e->devices || !e->groups || !e->spans)
                return -ENOMEM;

        for (size_t i = 0; i < n; i++) {
                const PciDevice *d = topology_find_device(e->topology, r->devices[i]);
                const char *span;
                bool seen = false;

                if (!d)
                        return -ENXIO;
                if (is_requested(e, d->address))
                        continue;       /* a repeat asks for nothing new */
                e->devices[e->n_devices++] = d;

                if (d->iommu_group >= 0) {
                        for (size_t j = 0; j < e->n_groups && !seen; j++)
                                seen = e->groups[j].id == d->iommu_group;
                        if (!seen)
                                e->groups[e->n_groups++] = (GroupRef) {
                                        .id = d->iommu_group,
                                        .group = topology_find_group(e->topology, d->iommu_group),
                                        .first = d->address,
                                };
                }

                span = d->iommu_unit ?: d->address;
                seen = false;
                for (size_t j = 0; j < e->n_spans && !seen; j++)
                        seen = strcmp(e->spans[j].name, span) == 0;
                if (!seen)
                        e->spans[e->n_spans++] = (Span) {
                                .name = span,
                                .unit = d->iommu_unit ? topology_find_unit(e->topology, d->iommu_unit) : NULL,
                        };
        }

        for (size_t i = 0; i < r->n_iova_ranges; i++)
                if (r->iova_ranges[i].start > r->iova_ranges[i].end)
                        return -EINVAL;
        return 0;
}

int policy_evaluate(const Policy *p, const Topology *t, const Request *r, const Caller *c, Verdict *ret) {
        int k;

        if (!p || !t || !r || !c || !ret || !r->devices || (r->n_iova_ranges > 0 && !r->iova_ranges))
                return -EINVAL;

        _cleanup_(eval_done) Eval e = {
                .policy = p,
                .topology = t,
                .request = r,
                .caller = c,
        };

        k = eval_collect(&e);
        if (k < 0)
                return k;

        for (size_t i = 0; i < ELEMENTSOF(checks); i++) {
                k = checks[i](&e);
                if (k < 0)
                        return k;
        }

        e.verdict.allowed = true;
        for (size_t i = 0; i < e.verdict.n_checks; i++)
                if (!e.verdict.checks[i].passed)
                        e.verdict.allowed = false;
        if (e.decided_by) {
                e.verdict.rule = strdup(e.decided_by);
                if (!e.verdict.rule)
                        return -ENOMEM;
        }

        *ret = e.verdict;
        e.verdict = (Verdict) {};
        return 0;
}
