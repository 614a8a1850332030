/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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
                } else if (KEY("nointremap"))
                        s->intremap_off = true;
                else if (KEY("iommu"))
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

static const char *const msi_isolation_table[_MSI_ISOLATION_MAX] = {
        [MSI_ISOLATION_UNKNOWN] = NULL,
        [MSI_ISOLATION_NONE] = "none",
        [MSI_ISOLATION_REMAPPING] = "remapping",
        [MSI_ISOLATION_ITS] = "its",
};

const char *msi_isolation_to_string(MsiIsolation m) {
        if (m < 0 || m >= _MSI_ISOLATION_MAX)
                return NULL;
        return msi_isolation_table[m];
}

static const char *skip_blanks(const char *p, const char *end) {
        while (p < end && (*p == ' ' || *p == '\t'))
                p++;
        return p;
}

static const char *skip_word(const char *p, const char *end) {
        while (p < end && *p != ' ' && *p != '\t')
                p++;
        return p;
}

/* The kernel's own word on isolation is the irq chip each interrupt goes through: with x86
 * remapping they are "IR-" chips (IR-PCI-MSIX-..., IR-IO-APIC), behind a GICv3 ITS "ITS-" chips
 * (ITS-MSI, ITS-PCI-MSIX-...). The chip is the column right after the per-CPU counts; the action
 * names at the end of a line are free text (a driver may call its irq "IR-foo") and never count. */
MsiIsolation interrupts_parse(const char *text) {
        size_t ncpu = 0, nlines = 0;
        bool remapping = false, its = false;
        const char *line, *eol, *p;

        if (!text)
                return MSI_ISOLATION_UNKNOWN;

        /* Header: "CPU0 CPU1 ..." */
        eol = strchrnul(text, '\n');
        for (p = skip_blanks(text, eol); p < eol; p = skip_blanks(skip_word(p, eol), eol)) {
                if (strncmp(p, "CPU", 3) != 0)
                        return MSI_ISOLATION_UNKNOWN;
                ncpu++;
        }
        if (ncpu == 0)
                return MSI_ISOLATION_UNKNOWN;

        for (line = *eol ? eol + 1 : eol; *line; line = *eol ? eol + 1 : eol) {
                const char *w;
                size_t n;

                eol = strchrnul(line, '\n');
                p = skip_blanks(line, eol);
                /* Only numbered irqs have chips; NMI:, LOC: and friends are counters. */
                if (p >= eol || *p < '0' || *p > '9')
                        continue;
                while (p < eol && *p >= '0' && *p <= '9')
                        p++;
                if (p >= eol || *p != ':')
                        return MSI_ISOLATION_UNKNOWN;
                p++;
                for (size_t c = 0; c < ncpu; c++) {
                        p = skip_blanks(p, eol);
                        w = p;
                        while (p < eol && *p >= '0' && *p <= '9')
                                p++;
                        if (p == w)
                                return MSI_ISOLATION_UNKNOWN;
                }
                p = skip_blanks(p, eol);
                w = p;
                p = skip_word(p, eol);
                n = p - w;
                if (n >= 3 && strncmp(w, "IR-", 3) == 0)
                        remapping = true;
                else if (n >= 4 && strncmp(w, "ITS-", 4) == 0)
                        its = true;
                nlines++;
        }
        if (nlines == 0)
                return MSI_ISOLATION_UNKNOWN;
        return remapping ? MSI_ISOLATION_REMAPPING : its ? MSI_ISOLATION_ITS : MSI_ISOLATION_NONE;
}

static MsiIsolation msi_isolation(void) {
        _cleanup_free_ char *text = NULL;

        if (read_proc_file("interrupts", 4 * 1024 * 1024, &text) < 0)
                return MSI_ISOLATION_UNKNOWN;
        return interrupts_parse(text);
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
        s.iommufd_present = access("/sys/module/iommufd", F_OK) >= 0;
        s.vfio_noiommu = read_param("vfio", "enable_unsafe_noiommu_mode");
        s.vfio_pci_disable_denylist = read_param("vfio_pci", "disable_denylist");
        s.smmu_disable_bypass = read_param("arm_smmu", "disable_bypass");
        if (s.smmu_disable_bypass == TRI_UNKNOWN)
                s.smmu_disable_bypass = read_param("arm_smmu_v3", "disable_bypass");
        s.msi_isolation = msi_isolation();
        s.interrupt_remapping = s.msi_isolation == MSI_ISOLATION_UNKNOWN ? TRI_UNKNOWN :
                s.msi_isolation == MSI_ISOLATION_REMAPPING ? TRI_YES : TRI_NO;

        *ret = s;
        s = (KernelSwitches) {};
        return 0;
}
