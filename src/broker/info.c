/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <string.h>

#include "broker.h"
#include "info.h"
#include "iommu-unit.h"
#include "kernel.h"
#include "macro.h"
#include "query.h"
#include "test-hooks.h"

static int intel_json(const IommuUnit *u, sd_json_variant **ret) {
        _cleanup_(sd_json_variant_unrefp) sd_json_variant *sagaw = NULL;
        int r;

        r = sd_json_variant_new_array(&sagaw, NULL, 0);
        if (r < 0)
                return r;
        for (unsigned bit = 0; bit < 5; bit++) {
                if (!(u->intel.sagaw_mask & (1u << bit)))
                        continue;
                r = sd_json_variant_append_arrayb(&sagaw, SD_JSON_BUILD_UNSIGNED(intel_sagaw_width(bit)));
                if (r < 0)
                        return r;
        }

        return sd_json_buildo(
                        ret,
                        SD_JSON_BUILD_PAIR_STRING("cap", u->intel_cap),
                        SD_JSON_BUILD_PAIR_CONDITION(!!u->intel_ecap, "ecap", SD_JSON_BUILD_STRING(u->intel_ecap)),
                        SD_JSON_BUILD_PAIR_UNSIGNED("mgaw", u->intel.mgaw),
                        SD_JSON_BUILD_PAIR_VARIANT("sagawBits", sagaw),
                        SD_JSON_BUILD_PAIR_BOOLEAN("interruptRemapping", u->intel.interrupt_remapping),
                        SD_JSON_BUILD_PAIR_BOOLEAN("passThrough", u->intel.pass_through));
}

static int amd_json(const IommuUnit *u, sd_json_variant **ret) {
        return sd_json_buildo(
                        ret,
                        SD_JSON_BUILD_PAIR_STRING("features", u->amd_features),
                        SD_JSON_BUILD_PAIR_CONDITION(u->amd.host_levels > 0, "hostPageTableLevels",
                                                     SD_JSON_BUILD_UNSIGNED(u->amd.host_levels)),
                        SD_JSON_BUILD_PAIR_BOOLEAN("guestTranslation", u->amd.guest_translation),
                        SD_JSON_BUILD_PAIR_BOOLEAN("x2apic", u->amd.x2apic));
}

/* The devices a unit translates for, from each device's own iommu link in the snapshot (kept
 * current by uevents), so a VF created later shows up here too. */
static int unit_devices_json(const Topology *t, const IommuUnit *u, sd_json_variant **ret) {
        int r;

        r = sd_json_variant_new_array(ret, NULL, 0);
        for (size_t i = 0; r >= 0 && i < t->n_devices; i++)
                if (t->devices[i].iommu_unit && strcmp(t->devices[i].iommu_unit, u->name) == 0)
                        r = sd_json_variant_append_arrayb(ret, SD_JSON_BUILD_STRING(t->devices[i].address));
        return r;
}

static int unit_json(const Topology *t, const IommuUnit *u, sd_json_variant **ret) {
        _cleanup_(sd_json_variant_unrefp) sd_json_variant *intel = NULL, *amd = NULL, *devices = NULL;
        int r;

        r = unit_devices_json(t, u, &devices);
        if (r < 0)
                return r;

        if (u->have_amd) {
                r = amd_json(u, &amd);
                if (r < 0)
                        return r;
        }
        if (u->have_intel) {
                r = intel_json(u, &intel);
                if (r < 0)
                        return r;
        }

        return sd_json_buildo(
                        ret,
                        SD_JSON_BUILD_PAIR_STRING("name", u->name),
                        SD_JSON_BUILD_PAIR_STRING("kind", iommu_kind_to_string(u->kind)),
                        /* Unknown widths are left out (the field is nullable), never guessed. */
                        SD_JSON_BUILD_PAIR_CONDITION(u->address_width > 0, "addressWidthBits",
                                                     SD_JSON_BUILD_UNSIGNED(u->address_width)),
                        SD_JSON_BUILD_PAIR_STRING("addressWidthSource", strna(u->width_note)),
                        SD_JSON_BUILD_PAIR_CONDITION(!!intel, "intel", SD_JSON_BUILD_VARIANT(intel)),
                        SD_JSON_BUILD_PAIR_CONDITION(!!amd, "amd", SD_JSON_BUILD_VARIANT(amd)),
                        SD_JSON_BUILD_PAIR_VARIANT("devices", devices));
}

/* The test hooks set in this daemon's environment; NULL in a build without them. */
static int test_hooks_json(sd_json_variant **ret) {
        *ret = NULL;
#if VFIOD_TEST_HOOKS
        static const char *const names[] = TEST_HOOK_NAMES;
        int r;

        r = sd_json_variant_new_array(ret, NULL, 0);
        for (size_t i = 0; r >= 0 && i < ELEMENTSOF(names); i++)
                if (secure_getenv(names[i]))
                        r = sd_json_variant_append_arrayb(ret, SD_JSON_BUILD_STRING(names[i]));
        return r;
#else
        return 0;
#endif
}

int info_build(Broker *b, bool full, sd_json_variant **ret) {
        _cleanup_(sd_json_variant_unrefp) sd_json_variant *ju = NULL, *sw = NULL, *pol = NULL, *hooks = NULL;
        KernelCaps k;
        int r;

        r = kernel_caps_read(&k);
        if (r < 0)
                return r;

        r = sd_json_variant_new_array(&ju, NULL, 0);
        if (r < 0)
                return r;
        /* From the snapshot taken at start: units do not come and go at run time. */
        const IommuUnitList *units = &b->topology.units;
        for (size_t i = 0; i < units->n_units; i++) {
                _cleanup_(sd_json_variant_unrefp) sd_json_variant *u = NULL;

                r = unit_json(&b->topology, &units->units[i], &u);
                if (r < 0)
                        return r;
                r = sd_json_variant_append_array(&ju, u);
                if (r < 0)
                        return r;
        }

        r = query_switches(&b->topology.switches, &sw);
        if (r < 0)
                return r;
        r = query_policy(&b->policy, b->policy_last_error, full, &pol);
        if (r < 0)
                return r;
        r = test_hooks_json(&hooks);
        if (r < 0)
                return r;

        return sd_json_buildo(
                        ret,
                        SD_JSON_BUILD_PAIR_STRING("version", VFIOD_VERSION),
                        SD_JSON_BUILD_PAIR_OBJECT(
                                        "kernel",
                                        SD_JSON_BUILD_PAIR_STRING("release", k.release),
                                        SD_JSON_BUILD_PAIR_BOOLEAN("vfioContainer", k.vfio_container),
                                        SD_JSON_BUILD_PAIR_BOOLEAN("type1", k.type1),
                                        SD_JSON_BUILD_PAIR_BOOLEAN("vfioPci", k.vfio_pci)),
                        SD_JSON_BUILD_PAIR_VARIANT("iommuUnits", ju),
                        SD_JSON_BUILD_PAIR_VARIANT("switches", sw),
                        SD_JSON_BUILD_PAIR_VARIANT("policy", pol),
                        SD_JSON_BUILD_PAIR_CONDITION(!!hooks, "testHooks", SD_JSON_BUILD_VARIANT(hooks)));
}
