/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "iommu-group.h"
#include "macro.h"
#include "pci-device.h"
#include "query.h"
#include "switches.h"


static int verdict_for(const Topology *t, const Policy *p, const Caller *c, const char *const *devices,
                       bool failed_only, Verdict *ret) {
        Request req = { .devices = devices, .failed_only = failed_only };
        return policy_evaluate(p, t, &req, c, ret);
}

static int verdict_json(const Verdict *v, sd_json_variant **ret) {
        _cleanup_(sd_json_variant_unrefp) sd_json_variant *failed = NULL;
        int r;

        r = sd_json_variant_new_array(&failed, NULL, 0);
        if (r < 0)
                return r;
        for (size_t i = 0; i < v->n_checks; i++) {
                bool seen = false;

                if (v->checks[i].passed)
                        continue;
                /* One entry per code: the short form is for tables; Explain has the detail. */
                for (size_t j = 0; j < i; j++)
                        if (!v->checks[j].passed && strcmp(v->checks[j].code, v->checks[i].code) == 0)
                                seen = true;
                if (seen)
                        continue;
                r = sd_json_variant_append_arrayb(&failed, SD_JSON_BUILD_STRING(v->checks[i].code));
                if (r < 0)
                        return r;
        }

        return sd_json_buildo(ret,
                              SD_JSON_BUILD_PAIR_BOOLEAN("allowed", v->allowed),
                              SD_JSON_BUILD_PAIR_CONDITION(!!v->rule, "rule", SD_JSON_BUILD_STRING(v->rule)),
                              SD_JSON_BUILD_PAIR_VARIANT("failed", failed));
}

static int host_use_json(unsigned use, sd_json_variant **ret) {
        static const struct { HostUse bit; const char *code; } table[] = {
                { HOST_USE_ROOT_STORAGE, "root-storage" },
                { HOST_USE_ROUTED_IFACE, "routed-interface" },
                { HOST_USE_BOOT_CONSOLE, "boot-console" },
        };
        int r;

        r = sd_json_variant_new_array(ret, NULL, 0);
        if (r < 0)
                return r;
        for (size_t i = 0; i < ELEMENTSOF(table); i++)
                if (use & table[i].bit) {
                        r = sd_json_variant_append_arrayb(ret, SD_JSON_BUILD_STRING(table[i].code));
                        if (r < 0)
                                return r;
                }
        return 0;
}

static int device_json(const Topology *t, const Policy *p, const Caller *c, const PciDevice *d,
                       sd_json_variant **ret) {
        _cleanup_(sd_json_variant_unrefp) sd_json_variant *use = NULL, *verdict = NULL;
        _cleanup_(verdict_done) Verdict v = {};
        const char *const devs[] = { d->address, NULL };
        char vendor[5], device[5], svendor[5], sdevice[5], class[7];
        int r;

        r = verdict_for(t, p, c, devs, true, &v);
        if (r < 0)
                return r;
        r = verdict_json(&v, &verdict);
        if (r < 0)
                return r;
        r = host_use_json(d->host_use, &use);
        if (r < 0)
                return r;

        snprintf(vendor, sizeof(vendor), "%04x", d->vendor);
        snprintf(device, sizeof(device), "%04x", d->device);
        snprintf(svendor, sizeof(svendor), "%04x", d->subsystem_vendor);
        snprintf(sdevice, sizeof(sdevice), "%04x", d->subsystem_device);
        snprintf(class, sizeof(class), "%06x", d->class & 0xffffff);

        return sd_json_buildo(
                        ret,
                        SD_JSON_BUILD_PAIR_STRING("address", d->address),
                        SD_JSON_BUILD_PAIR_STRING("vendor", vendor),
                        SD_JSON_BUILD_PAIR_STRING("device", device),
                        SD_JSON_BUILD_PAIR_STRING("subsystemVendor", svendor),
                        SD_JSON_BUILD_PAIR_STRING("subsystemDevice", sdevice),
                        SD_JSON_BUILD_PAIR_STRING("class", class),
                        SD_JSON_BUILD_PAIR_CONDITION(!!d->vendor_name, "vendorName", SD_JSON_BUILD_STRING(d->vendor_name)),
                        SD_JSON_BUILD_PAIR_CONDITION(!!d->model_name, "modelName", SD_JSON_BUILD_STRING(d->model_name)),
                        SD_JSON_BUILD_PAIR_CONDITION(!!d->driver, "driver", SD_JSON_BUILD_STRING(d->driver)),
                        SD_JSON_BUILD_PAIR_CONDITION(!!d->driver_override, "driverOverride", SD_JSON_BUILD_STRING(d->driver_override)),
                        SD_JSON_BUILD_PAIR_STRING("state", d->held_by ? "leased" : device_state_to_string(d->state)),
                        /* Who holds it is the holder's and root's business: others see only "leased". */
                        SD_JSON_BUILD_PAIR_CONDITION(d->held_by && c && (c->uid == 0 || c->uid == d->held_by_uid),
                                                     "heldBy", SD_JSON_BUILD_STRING(d->held_by)),
                        SD_JSON_BUILD_PAIR_CONDITION(d->held_by_domain && c && c->uid == 0,
                                                     "heldByDomain", SD_JSON_BUILD_STRING(d->held_by_domain)),
                        SD_JSON_BUILD_PAIR_CONDITION(d->domain_failed && c && c->uid == 0,
                                                     "domainFailedChecks", SD_JSON_BUILD_STRV(d->domain_failed)),
                        SD_JSON_BUILD_PAIR_BOOLEAN("endpoint", !pci_device_is_bridge(d)),
                        SD_JSON_BUILD_PAIR_BOOLEAN("multifunction", d->multifunction),
                        SD_JSON_BUILD_PAIR_CONDITION(!!d->physfn, "physfn", SD_JSON_BUILD_STRING(d->physfn)),
                        SD_JSON_BUILD_PAIR_CONDITION(d->sriov_totalvfs > 0, "sriovNumVfs", SD_JSON_BUILD_UNSIGNED(d->sriov_numvfs)),
                        SD_JSON_BUILD_PAIR_BOOLEAN("bootVga", d->boot_vga),
                        SD_JSON_BUILD_PAIR_CONDITION(d->iommu_group >= 0, "iommuGroup", SD_JSON_BUILD_INTEGER(d->iommu_group)),
                        SD_JSON_BUILD_PAIR_CONDITION(!!d->iommu_unit, "iommuUnit", SD_JSON_BUILD_STRING(d->iommu_unit)),
                        SD_JSON_BUILD_PAIR_CONDITION(!!d->parent, "parent", SD_JSON_BUILD_STRING(d->parent)),
                        SD_JSON_BUILD_PAIR_VARIANT("hostUse", use),
                        SD_JSON_BUILD_PAIR_CONDITION(!!d->host_use_detail, "hostUseDetail", SD_JSON_BUILD_STRING(d->host_use_detail)),
                        SD_JSON_BUILD_PAIR_VARIANT("verdict", verdict));
}

int query_list_devices(const Topology *t, const Policy *p, const Caller *c, sd_json_variant **ret) {
        _cleanup_(sd_json_variant_unrefp) sd_json_variant *a = NULL;
        int r;

        r = sd_json_variant_new_array(&a, NULL, 0);
        if (r < 0)
                return r;
        for (size_t i = 0; i < t->n_devices; i++) {
                _cleanup_(sd_json_variant_unrefp) sd_json_variant *d = NULL;

                r = device_json(t, p, c, &t->devices[i], &d);
                if (r < 0)
                        return r;
                r = sd_json_variant_append_array(&a, d);
                if (r < 0)
                        return r;
        }
        return sd_json_buildo(ret, SD_JSON_BUILD_PAIR_VARIANT("devices", a));
}

static bool group_viable(const Topology *t, const IommuGroup *g) {
        /* What VFIO itself requires: no member on a host driver (bridges on pcieport aside). */
        for (size_t i = 0; i < g->n_members; i++) {
                const PciDevice *d = topology_find_device(t, g->members[i]);

                if (!d || pci_device_is_bridge(d) || !d->driver)
                        continue;
                if (strcmp(d->driver, "vfio-pci") != 0 && strcmp(d->driver, "pci-stub") != 0)
                        return false;
        }
        return true;
}

static int group_json(const Topology *t, const Policy *p, const Caller *c, const IommuGroup *g,
                      sd_json_variant **ret) {
        _cleanup_(sd_json_variant_unrefp) sd_json_variant *regions = NULL, *verdict = NULL;
        _cleanup_(verdict_done) Verdict v = {};
        _cleanup_free_ const char **endpoints = NULL;
        const char *unit = NULL;
        size_t n = 0;
        int r;

        endpoints = calloc(g->n_members + 1, sizeof(char *));
        if (!endpoints)
                return -ENOMEM;
        for (size_t i = 0; i < g->n_members; i++) {
                const PciDevice *d = topology_find_device(t, g->members[i]);
                if (!d)
                        continue;
                if (!unit)
                        unit = d->iommu_unit;
                if (!pci_device_is_bridge(d))
                        endpoints[n++] = d->address;
        }

        if (n > 0) {
                r = verdict_for(t, p, c, endpoints, true, &v);
                if (r < 0)
                        return r;
                r = verdict_json(&v, &verdict);
        } else
                /* Only bridges: nothing to hand out. */
                r = sd_json_buildo(&verdict,
                                   SD_JSON_BUILD_PAIR_BOOLEAN("allowed", false),
                                   SD_JSON_BUILD_PAIR_ARRAY("failed", SD_JSON_BUILD_STRING("not-an-endpoint")));
        if (r < 0)
                return r;

        r = sd_json_variant_new_array(&regions, NULL, 0);
        if (r < 0)
                return r;
        for (size_t i = 0; i < g->n_regions; i++) {
                char start[19], end[19];

                snprintf(start, sizeof(start), "0x%016llx", (unsigned long long) g->regions[i].start);
                snprintf(end, sizeof(end), "0x%016llx", (unsigned long long) g->regions[i].end);
                r = sd_json_variant_append_arraybo(
                                &regions,
                                SD_JSON_BUILD_PAIR_STRING("start", start),
                                SD_JSON_BUILD_PAIR_STRING("end", end),
                                SD_JSON_BUILD_PAIR_STRING("type", reserved_region_type_to_string(g->regions[i].type)));
                if (r < 0)
                        return r;
        }

        return sd_json_buildo(
                        ret,
                        SD_JSON_BUILD_PAIR_INTEGER("id", g->id),
                        SD_JSON_BUILD_PAIR_STRV("members", g->members),
                        SD_JSON_BUILD_PAIR_CONDITION(!!g->default_domain_type, "defaultDomainType",
                                                     SD_JSON_BUILD_STRING(g->default_domain_type)),
                        SD_JSON_BUILD_PAIR_VARIANT("reservedRegions", regions),
                        SD_JSON_BUILD_PAIR_BOOLEAN("noiommu", g->noiommu),
                        SD_JSON_BUILD_PAIR_CONDITION(!!unit, "iommuUnit", SD_JSON_BUILD_STRING(unit)),
                        SD_JSON_BUILD_PAIR_BOOLEAN("viable", group_viable(t, g)),
                        SD_JSON_BUILD_PAIR_VARIANT("verdict", verdict));
}

int query_list_groups(const Topology *t, const Policy *p, const Caller *c, sd_json_variant **ret) {
        _cleanup_(sd_json_variant_unrefp) sd_json_variant *a = NULL;
        int r;

        r = sd_json_variant_new_array(&a, NULL, 0);
        if (r < 0)
                return r;
        for (size_t i = 0; i < t->n_groups; i++) {
                _cleanup_(sd_json_variant_unrefp) sd_json_variant *g = NULL;

                r = group_json(t, p, c, &t->groups[i], &g);
                if (r < 0)
                        return r;
                r = sd_json_variant_append_array(&a, g);
                if (r < 0)
                        return r;
        }
        return sd_json_buildo(ret, SD_JSON_BUILD_PAIR_VARIANT("groups", a));
}

int query_explain(const Topology *t, const Policy *p, const Caller *c, const char *const *devices,
                  sd_json_variant **ret, const char **ret_missing) {
        _cleanup_(sd_json_variant_unrefp) sd_json_variant *checks = NULL;
        _cleanup_(verdict_done) Verdict v = {};
        int r;

        for (size_t i = 0; devices[i]; i++)
                if (!topology_find_device(t, devices[i])) {
                        *ret_missing = devices[i];
                        return -ENXIO;
                }

        r = verdict_for(t, p, c, devices, false, &v);
        if (r < 0)
                return r;

        r = sd_json_variant_new_array(&checks, NULL, 0);
        if (r < 0)
                return r;
        for (size_t i = 0; i < v.n_checks; i++) {
                r = sd_json_variant_append_arraybo(
                                &checks,
                                SD_JSON_BUILD_PAIR_STRING("code", v.checks[i].code),
                                SD_JSON_BUILD_PAIR_BOOLEAN("passed", v.checks[i].passed),
                                SD_JSON_BUILD_PAIR_STRING("subject", strna(v.checks[i].subject)),
                                SD_JSON_BUILD_PAIR_STRING("sentence", strna(v.checks[i].sentence)));
                if (r < 0)
                        return r;
        }

        return sd_json_buildo(
                        ret,
                        SD_JSON_BUILD_PAIR_STRV("devices", (char **) devices),
                        SD_JSON_BUILD_PAIR_UNSIGNED("uid", c->uid),
                        SD_JSON_BUILD_PAIR_BOOLEAN("allowed", v.allowed),
                        SD_JSON_BUILD_PAIR_CONDITION(!!v.rule, "rule", SD_JSON_BUILD_STRING(v.rule)),
                        SD_JSON_BUILD_PAIR_CONDITION(v.effective_aperture_bits > 0, "apertureBits",
                                                     SD_JSON_BUILD_UNSIGNED(v.effective_aperture_bits)),
                        SD_JSON_BUILD_PAIR_VARIANT("checks", checks));
}

#define TRI_PAIR(name, v) SD_JSON_BUILD_PAIR_CONDITION((v) != TRI_UNKNOWN, name, SD_JSON_BUILD_BOOLEAN((v) == TRI_YES))

int query_switches(const KernelSwitches *s, sd_json_variant **ret) {
        return sd_json_buildo(
                        ret,
                        SD_JSON_BUILD_PAIR_STRING("cmdline", s->cmdline ?: ""),
                        SD_JSON_BUILD_PAIR_CONDITION(!!s->acs_override, "acsOverride", SD_JSON_BUILD_STRING(s->acs_override)),
                        SD_JSON_BUILD_PAIR_BOOLEAN("intremapOff", s->intremap_off),
                        SD_JSON_BUILD_PAIR_BOOLEAN("intremapNoSid", s->intremap_nosid),
                        SD_JSON_BUILD_PAIR_BOOLEAN("iommuPassThrough", s->iommu_pt),
                        SD_JSON_BUILD_PAIR_BOOLEAN("intelIommuOff", s->intel_iommu_off),
                        SD_JSON_BUILD_PAIR_BOOLEAN("amdIommuOff", s->amd_iommu_off),
                        TRI_PAIR("type1AllowUnsafeInterrupts", s->type1_unsafe_interrupts),
                        TRI_PAIR("iommufdAllowUnsafeInterrupts", s->iommufd_unsafe_interrupts),
                        /* The command line switch counts even before the module is loaded. */
                        SD_JSON_BUILD_PAIR_CONDITION(s->vfio_noiommu != TRI_UNKNOWN || s->cmdline_noiommu, "vfioNoIommuMode",
                                                     SD_JSON_BUILD_BOOLEAN(s->vfio_noiommu == TRI_YES || s->cmdline_noiommu)),
                        TRI_PAIR("vfioPciDisableDenylist", s->vfio_pci_disable_denylist),
                        TRI_PAIR("smmuDisableBypass", s->smmu_disable_bypass),
                        TRI_PAIR("interruptRemapping", s->interrupt_remapping),
                        SD_JSON_BUILD_PAIR_CONDITION(!!msi_isolation_to_string(s->msi_isolation), "msiIsolation",
                                                     SD_JSON_BUILD_STRING(msi_isolation_to_string(s->msi_isolation))));
}

int query_policy_files(const Policy *p, sd_json_variant **ret) {
        _cleanup_(sd_json_variant_unrefp) sd_json_variant *a = NULL;
        int r;

        r = sd_json_variant_new_array(&a, NULL, 0);
        if (r < 0)
                return r;
        for (size_t i = 0; i < p->n_files; i++) {
                r = sd_json_variant_append_arraybo(
                                &a,
                                SD_JSON_BUILD_PAIR_STRING("path", p->files[i].path),
                                SD_JSON_BUILD_PAIR_CONDITION(!!p->files[i].error, "error", SD_JSON_BUILD_STRING(p->files[i].error)));
                if (r < 0)
                        return r;
        }
        *ret = TAKE_PTR(a);
        return 0;
}

int query_policy(const Policy *p, const char *last_error, bool full, sd_json_variant **ret) {
        static const char *const mixed[_MIXED_APERTURES_MAX] = {
                [MIXED_APERTURES_SPLIT] = "split",
                [MIXED_APERTURES_ALLOW] = "allow",
                [MIXED_APERTURES_DENY] = "deny",
        };
        _cleanup_(sd_json_variant_unrefp) sd_json_variant *files = NULL, *relaxed = NULL, *rules = NULL;
        const struct { bool on; const char *code; } relax[] = {
                { !p->require_interrupt_remapping, "no-interrupt-remapping" },
                { p->allow_noiommu, "noiommu" },
                { p->allow_acs_override, "acs-override" },
                { p->allow_direct_mapped_regions, "direct-mapped-region" },
                { p->allow_unsafe_interrupts, "unsafe-interrupts" },
                { p->allow_smmu_bypass, "smmu-bypass" },
                { p->mixed_apertures == MIXED_APERTURES_ALLOW, "aperture-mixed" },
                { !p->protect_root_storage, "root-storage" },
                { !p->protect_routed_interfaces, "routed-interface" },
                { !p->protect_boot_console, "boot-console" },
        };
        int r;

        if (full)
                r = query_policy_files(p, &files);
        else
                r = sd_json_variant_new_array(&files, NULL, 0);
        if (r < 0)
                return r;
        r = sd_json_variant_new_array(&relaxed, NULL, 0);
        if (r < 0)
                return r;
        for (size_t i = 0; i < ELEMENTSOF(relax); i++)
                if (relax[i].on) {
                        r = sd_json_variant_append_arrayb(&relaxed, SD_JSON_BUILD_STRING(relax[i].code));
                        if (r < 0)
                                return r;
                }
        r = sd_json_variant_new_array(&rules, NULL, 0);
        if (r < 0)
                return r;
        for (size_t i = 0; full && i < p->n_rules; i++) {
                r = sd_json_variant_append_arrayb(&rules, SD_JSON_BUILD_STRING(p->rules[i].name));
                if (r < 0)
                        return r;
        }

        return sd_json_buildo(
                        ret,
                        SD_JSON_BUILD_PAIR_VARIANT("files", files),
                        SD_JSON_BUILD_PAIR_UNSIGNED("fileCount", p->n_files),
                        SD_JSON_BUILD_PAIR_UNSIGNED("ruleCount", p->n_rules),
                        SD_JSON_BUILD_PAIR_CONDITION(full && last_error, "lastError", SD_JSON_BUILD_STRING(last_error)),
                        SD_JSON_BUILD_PAIR_CONDITION(!full && last_error, "lastReloadFailed", SD_JSON_BUILD_BOOLEAN(true)),
                        SD_JSON_BUILD_PAIR_UNSIGNED("minApertureBits", p->min_aperture_bits),
                        SD_JSON_BUILD_PAIR_STRING("mixedApertures",
                                                  p->mixed_apertures >= 0 && p->mixed_apertures < _MIXED_APERTURES_MAX
                                                  ? mixed[p->mixed_apertures] : "deny"),
                        SD_JSON_BUILD_PAIR_VARIANT("relaxed", relaxed),
                        SD_JSON_BUILD_PAIR_VARIANT("rules", rules));
}
