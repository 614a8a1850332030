/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fileio.h"
#include "macro.h"
#include "switches.h"

void kernel_switches_done(KernelSwitches *s) {
        free(s->cmdline);
        free(s->acs_override);
        *s = (KernelSwitches) {};
}

/* Does a comma-separated option value contain word? ("intremap=nosid,off") */
static bool list_has(const char *value, size_t len, const char *word) {
        size_t wl = strlen(word);

        for (const char *p = value, *end = value + len; p < end; ) {
                const char *comma = memchr(p, ',', end - p);
                size_t l = (comma ? comma : end) - p;

                if (l == wl && strncmp(p, word, wl) == 0)
                        return true;
                p += l + 1;
        }
        return false;
}

static bool is_true(const char *v, size_t l) {
        return (l == 1 && strchr("1yY", v[0])) || (l == 2 && strncmp(v, "on", 2) == 0);
}

int kernel_switches_parse_cmdline(const char *cmdline, KernelSwitches *s) {
        const char *p = cmdline;

        if (!cmdline)
                return -EINVAL;

        /* Words are separated by spaces; double quotes may group (the kernel's own rule). */
        while (*p) {
                const char *w, *eq, *val;
                size_t wl, kl, vl;
                bool quoted = false;

                while (*p == ' ' || *p == '\t' || *p == '\n')
                        p++;
                if (!*p)
                        break;
                w = p;
                while (*p && (quoted || (*p != ' ' && *p != '\t' && *p != '\n'))) {
                        if (*p == '"')
                                quoted = !quoted;
                        p++;
                }
                wl = p - w;

                eq = memchr(w, '=', wl);
                kl = eq ? (size_t) (eq - w) : wl;
                val = eq ? eq + 1 : w + wl;
                vl = eq ? wl - kl - 1 : 0;

#define KEY(k) (kl == strlen(k) && strncmp(w, k, kl) == 0)
                if (KEY("pcie_acs_override")) {
                        free(s->acs_override);
                        s->acs_override = strndup(val, vl);
                        if (!s->acs_override)
                                return -ENOMEM;
                } else if (KEY("intremap")) {
                        s->intremap_off = list_has(val, vl, "off");
                        s->intremap_nosid = list_has(val, vl, "nosid");
                } else if (KEY("iommu"))
                        s->iommu_pt = list_has(val, vl, "pt");
                else if (KEY("intel_iommu"))
                        s->intel_iommu_off = list_has(val, vl, "off");
                else if (KEY("amd_iommu"))
                        s->amd_iommu_off = list_has(val, vl, "off");
                else if (KEY("vfio.enable_unsafe_noiommu_mode"))
                        s->cmdline_noiommu = is_true(val, vl);
#undef KEY
        }
        return 0;
}

static Tristate read_param(const char *module, const char *param) {
        _cleanup_free_ char *path = NULL, *v = NULL;

        if (asprintf(&path, "/sys/module/%s/parameters/%s", module, param) < 0)
                return TRI_UNKNOWN;
        if (read_one_line_file(path, &v) < 0)
                return TRI_UNKNOWN;
        if (strcmp(v, "Y") == 0 || strcmp(v, "1") == 0)
                return TRI_YES;
        if (strcmp(v, "N") == 0 || strcmp(v, "0") == 0)
                return TRI_NO;
        return TRI_UNKNOWN;
}

static Tristate interrupt_remapping(void) {
        _cleanup_free_ char *text = NULL;

        /* With remapping on, MSI and IO-APIC interrupts are delivered through "IR-" irq chips
         * (IR-PCI-MSIX, IR-IO-APIC); that is the kernel's own word on whether it is in effect. */
        if (read_proc_file("interrupts", 4 * 1024 * 1024, &text) < 0)
                return TRI_UNKNOWN;
        return strstr(text, " IR-") ? TRI_YES : TRI_NO;
}

int kernel_switches_read(KernelSwitches *ret) {
        _cleanup_(kernel_switches_done) KernelSwitches s = {};
        char *cmdline;
        int r;

        r = read_proc_file("cmdline", 64 * 1024, &cmdline);
        if (r < 0)
                return r;
        cmdline[strcspn(cmdline, "\n")] = '\0';
        s.cmdline = cmdline;
        r = kernel_switches_parse_cmdline(cmdline, &s);
        if (r < 0)
                return r;

        s.type1_unsafe_interrupts = read_param("vfio_iommu_type1", "allow_unsafe_interrupts");
        s.iommufd_unsafe_interrupts = read_param("iommufd", "allow_unsafe_interrupts");
        s.vfio_noiommu = read_param("vfio", "enable_unsafe_noiommu_mode");
        s.vfio_pci_disable_denylist = read_param("vfio_pci", "disable_denylist");
        s.smmu_disable_bypass = read_param("arm_smmu", "disable_bypass");
        if (s.smmu_disable_bypass == TRI_UNKNOWN)
                s.smmu_disable_bypass = read_param("arm_smmu_v3", "disable_bypass");
        s.interrupt_remapping = interrupt_remapping();

        *ret = s;
        s = (KernelSwitches) {};
        return 0;
}
