/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <inttypes.h>
#include <stdio.h>

#include "ctl-table.h"
#include "ctl-util.h"
#include "vfiodctl.h"

typedef enum Absent {
        ABSENT_DASH,
        ABSENT_NOT_SET,
        ABSENT_NOT_LOADED,
        ABSENT_UNKNOWN,
} Absent;

static const char *absent_text(Absent a) {
        switch (a) {
        case ABSENT_NOT_SET:
                return "not set";
        case ABSENT_NOT_LOADED:
                return "- (module not loaded)";
        case ABSENT_UNKNOWN:
                return "unknown";
        default:
                return "-";
        }
}

/* The kernel's switches, in the order an administrator would check them. unsafe is the value that
 * weakens DMA isolation (shown in red), -1 when neither value does. */
static const struct {
        const char *key;
        const char *label;
        int unsafe;
        Absent absent;
} switch_bools[] = {
        { "intremapOff",                  "intremap=off",                             1,  ABSENT_DASH       },
        { "intremapNoSid",                "intremap=nosid",                           1,  ABSENT_DASH       },
        { "iommuPassThrough",             "IOMMU pass-through (iommu=pt)",            -1, ABSENT_DASH       },
        { "intelIommuOff",                "intel_iommu=off",                          1,  ABSENT_DASH       },
        { "amdIommuOff",                  "amd_iommu=off",                            1,  ABSENT_DASH       },
        { "type1AllowUnsafeInterrupts",   "vfio_iommu_type1 allow_unsafe_interrupts", 1,  ABSENT_NOT_LOADED },
        { "iommufdAllowUnsafeInterrupts", "iommufd allow_unsafe_interrupts",          1,  ABSENT_NOT_LOADED },
        { "vfioNoIommuMode",              "vfio enable_unsafe_noiommu_mode",          1,  ABSENT_NOT_LOADED },
        { "vfioPciDisableDenylist",       "vfio-pci disable_denylist",                1,  ABSENT_NOT_LOADED },
        { "smmuDisableBypass",            "arm-smmu disable_bypass",                  0,  ABSENT_NOT_LOADED },
        { "interruptRemapping",           "interrupts remapped",                      0,  ABSENT_UNKNOWN    },
};

static int section(const char *title, Table *t) {
        int r;

        printf("\n%s%s:%s\n", ansi(ANSI_BOLD), title, ansi(ANSI_NORMAL));
        r = table_print(t, stdout, false, "  ");
        if (r < 0)
                return ctl_log_errno(r, "Failed to print table: %m");
        return 0;
}

static int kv_new(Table **ret) {
        static const char *const headers[] = { "KEY", "VALUE" };
        int r;

        r = table_new(ret, 2, headers);
        if (r < 0)
                return ctl_log_errno(r, "Failed to allocate table: %m");
        return 0;
}

static int kv_bool(Table *t, const char *label, int b, int unsafe, Absent absent) {
        int r;

        r = table_add(t, label, NULL);
        if (r < 0)
                return r;
        if (b < 0)
                return table_add(t, absent_text(absent), NULL);
        return table_add(t, yes_no(b), b == unsafe ? ANSI_RED : NULL);
}

static int show_kernel(sd_json_variant *reply) {
        _cleanup_(table_freep) Table *t = NULL;
        sd_json_variant *k = json_object(reply, "kernel");
        int r;

        r = kv_new(&t);
        if (r < 0)
                return r;

        if ((r = table_add(t, "release", NULL)) < 0 ||
            (r = table_add(t, json_str(k, "release"), NULL)) < 0 ||
            /* Missing VFIO support is what stops everything: red. */
            (r = kv_bool(t, "VFIO container (/dev/vfio/vfio)", json_bool(k, "vfioContainer"), 0, ABSENT_DASH)) < 0 ||
            (r = kv_bool(t, "type1 IOMMU backend", json_bool(k, "type1"), 0, ABSENT_DASH)) < 0 ||
            (r = kv_bool(t, "vfio-pci driver", json_bool(k, "vfioPci"), 0, ABSENT_DASH)) < 0)
                return ctl_log_errno(r, "Failed to add table cell: %m");

        return section("Kernel", t);
}

static int show_switches(sd_json_variant *reply) {
        _cleanup_(table_freep) Table *t = NULL;
        sd_json_variant *s = json_object(reply, "switches");
        const char *acs;
        int r;

        if (!s) {
                printf("\n%sSwitches:%s -\n", ansi(ANSI_BOLD), ansi(ANSI_NORMAL));
                return 0;
        }

        r = kv_new(&t);
        if (r < 0)
                return r;

        acs = json_str(s, "acsOverride");
        if ((r = table_add(t, "command line", NULL)) < 0 ||
            (r = table_add(t, json_str(s, "cmdline"), NULL)) < 0 ||
            (r = table_add(t, "pcie_acs_override=", NULL)) < 0 ||
            /* With the override, group boundaries are fiction. */
            (r = table_add(t, acs ?: absent_text(ABSENT_NOT_SET), acs ? ANSI_RED : NULL)) < 0)
                return ctl_log_errno(r, "Failed to add table cell: %m");

        for (size_t i = 0; i < ELEMENTSOF(switch_bools); i++) {
                r = kv_bool(t, switch_bools[i].label, json_bool(s, switch_bools[i].key),
                            switch_bools[i].unsafe, switch_bools[i].absent);
                if (r < 0)
                        return ctl_log_errno(r, "Failed to add table cell: %m");
        }

        return section("Switches", t);
}

static int add_unit(Table *t, sd_json_variant *u) {
        sd_json_variant *devices = json_array(u, "devices");
        int64_t width;
        int r;

        if ((r = table_add(t, json_str(u, "name"), NULL)) < 0 ||
            (r = table_add(t, json_str(u, "kind"), NULL)) < 0)
                return r;

        /* vfiod never guesses a width; an unknown one is said so, with the reason in the last column. */
        if (json_int(u, "addressWidthBits", &width))
                r = table_addf(t, NULL, "%" PRIi64 " bits", width);
        else
                r = table_add(t, "unknown", ANSI_YELLOW);
        if (r < 0)
                return r;

        if ((r = table_add(t, yes_no(json_bool(json_object(u, "intel"), "interruptRemapping")), NULL)) < 0)
                return r;
        if (devices)
                r = table_addf(t, NULL, "%zu", sd_json_variant_elements(devices));
        else
                r = table_add(t, NULL, NULL);
        if (r < 0)
                return r;

        return table_add(t, json_str(u, "addressWidthSource"), NULL);
}

static int show_units(sd_json_variant *reply) {
        static const char *const headers[] = { "UNIT", "KIND", "WIDTH", "IR", "DEVICES", "WIDTH SOURCE" };
        _cleanup_(table_freep) Table *t = NULL;
        sd_json_variant *units = json_array(reply, "iommuUnits");
        int r;

        printf("\n%sIOMMU units:%s", ansi(ANSI_BOLD), ansi(ANSI_NORMAL));
        if (!units || sd_json_variant_elements(units) == 0) {
                /* No unit means no DMA isolation at all: VFIO can only work in no-IOMMU mode. */
                printf(" %snone%s\n", ansi(ANSI_RED), ansi(ANSI_NORMAL));
                return 0;
        }
        putchar('\n');

        r = table_new(&t, ELEMENTSOF(headers), headers);
        if (r < 0)
                return ctl_log_errno(r, "Failed to allocate table: %m");

        for (size_t i = 0; i < sd_json_variant_elements(units); i++) {
                sd_json_variant *u = sd_json_variant_by_index(units, i);

                if (!sd_json_variant_is_object(u))
                        continue;
                r = add_unit(t, u);
                if (r < 0)
                        return ctl_log_errno(r, "Failed to add table cell: %m");
        }

        r = table_print(t, stdout, arg_legend, "  ");
        if (r < 0)
                return ctl_log_errno(r, "Failed to print table: %m");
        return 0;
}

static int add_policy_files(Table *t, sd_json_variant *files, int64_t count) {
        size_t n = 0;
        int r;

        for (size_t i = 0; files && i < sd_json_variant_elements(files); i++) {
                sd_json_variant *f = sd_json_variant_by_index(files, i);
                const char *error = json_str(f, "error");

                if (!sd_json_variant_is_object(f))
                        continue;

                r = table_add(t, n == 0 ? "files" : "", NULL);
                if (r < 0)
                        return r;
                if (error)
                        r = table_addf(t, ANSI_RED, "%s (rejected: %s)", json_str(f, "path") ?: "-", error);
                else
                        r = table_add(t, json_str(f, "path"), NULL);
                if (r < 0)
                        return r;
                n++;
        }

        if (n > 0)
                return 0;
        if ((r = table_add(t, "files", NULL)) < 0)
                return r;
        /* vfiod shows the paths to root only. */
        if (count > 0)
                return table_addf(t, NULL, "%" PRIi64 " (paths shown to root)", count);
        return table_add(t, "none", NULL);
}

static int show_policy(sd_json_variant *reply) {
        _cleanup_(table_freep) Table *t = NULL;
        sd_json_variant *p = json_object(reply, "policy");
        char buf[TEXT_MAX];
        const char *last_error;
        int64_t bits;
        int r;

        if (!p) {
                printf("\n%sPolicy:%s -\n", ansi(ANSI_BOLD), ansi(ANSI_NORMAL));
                return 0;
        }

        r = kv_new(&t);
        if (r < 0)
                return r;

        int64_t n_files = 0, n_rules = 0;
        bool failed = false;
        (void) json_int(p, "fileCount", &n_files);
        (void) json_int(p, "ruleCount", &n_rules);
        sd_json_variant *lf = sd_json_variant_by_key(p, "lastReloadFailed");
        failed = sd_json_variant_is_boolean(lf) && sd_json_variant_boolean(lf);

        r = add_policy_files(t, json_array(p, "files"), n_files);
        if (r < 0)
                return ctl_log_errno(r, "Failed to add table cell: %m");

        last_error = json_str(p, "lastError");
        if ((r = table_add(t, "last reload", NULL)) < 0 ||
            (r = table_addf(t, last_error || failed ? ANSI_RED : NULL, "%s%s",
                            last_error ? "failed: " : failed ? "failed (details shown to root)" : "ok", last_error ?: "")) < 0)
                return ctl_log_errno(r, "Failed to add table cell: %m");

        r = table_add(t, "minimum aperture", NULL);
        if (r >= 0) {
                if (json_int(p, "minApertureBits", &bits))
                        r = table_addf(t, NULL, "%" PRIi64 " bits", bits);
                else
                        r = table_add(t, NULL, NULL);
        }
        if (r < 0)
                return ctl_log_errno(r, "Failed to add table cell: %m");

        if ((r = table_add(t, "mixed apertures", NULL)) < 0 ||
            (r = table_add(t, json_str(p, "mixedApertures"), NULL)) < 0)
                return ctl_log_errno(r, "Failed to add table cell: %m");

        /* Relaxed safety checks bind everyone: make them stand out. */
        r = table_add(t, "relaxed checks", NULL);
        if (r >= 0) {
                if (!json_array(p, "relaxed"))
                        r = table_add(t, NULL, NULL);
                else if (json_join(json_array(p, "relaxed"), ", ", buf, sizeof buf) > 0)
                        r = table_add(t, buf, ANSI_RED);
                else
                        r = table_add(t, "none (strict)", NULL);
        }
        if (r < 0)
                return ctl_log_errno(r, "Failed to add table cell: %m");

        r = table_add(t, "rules", NULL);
        if (r >= 0) {
                if (!json_array(p, "rules"))
                        r = table_add(t, NULL, NULL);
                else if (json_join(json_array(p, "rules"), ", ", buf, sizeof buf) > 0)
                        r = table_add(t, buf, NULL);
                else if (n_rules > 0)
                        r = table_addf(t, NULL, "%" PRIi64 " (names shown to root)", n_rules);
                else
                        r = table_add(t, "none (root may, others may not)", NULL);
        }
        if (r < 0)
                return ctl_log_errno(r, "Failed to add table cell: %m");

        return section("Policy", t);
}

int verb_info(int argc, char *argv[]) {
        _cleanup_(sd_varlink_flush_close_unrefp) sd_varlink *link = NULL;
        sd_json_variant *reply = NULL;
        char version[64];
        int r;

        r = broker_connect(arg_address, &link);
        if (r < 0)
                return r;

        r = broker_call(link, VFIOD_INTERFACE ".GetInfo", NULL, &reply);
        if (r < 0)
                return r;

        if (arg_json)
                return print_json(reply, false);

        (void) text_clean(version, sizeof version, json_str(reply, "version") ?: "-", 32);
        printf("%svfiod %s%s\n", ansi(ANSI_BOLD), version, ansi(ANSI_NORMAL));

        r = show_kernel(reply);
        if (r < 0)
                return r;
        r = show_switches(reply);
        if (r < 0)
                return r;
        r = show_units(reply);
        if (r < 0)
                return r;
        return show_policy(reply);
}
