/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Policy: loading (files -> Policy) and evaluation (Topology + Request + Caller -> Verdict).
 * Evaluation is pure: no I/O, no clock, no globals. Loading reads only the files it is given. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "topology.h"

typedef enum MixedApertures {
        MIXED_APERTURES_SPLIT,    /* put groups behind units of different widths in separate containers */
        MIXED_APERTURES_ALLOW,    /* one container, the narrowest width applies */
        MIXED_APERTURES_DENY,     /* refuse with aperture-mixed */
        _MIXED_APERTURES_MAX,
} MixedApertures;

typedef struct PolicyMatch {
        char *vendor, *device, *class, *address;   /* fnmatch() globs, NULL = any */
} PolicyMatch;

typedef struct PolicyRule {
        char *name;
        char *file;                  /* file it came from, for Explain */
        PolicyMatch match;
        bool deny;
        char **users, **groups;      /* allow.users / allow.groups, NULL-terminated, may be NULL */
        bool allow_bind;             /* allow.bind: those users may also Bind (a lease with no process
                                      * that outlives them and restarts); default false */
        bool restore_on_release;     /* default true */
        bool bind_at_boot;           /* default false */
} PolicyRule;

typedef struct PolicyFileStatus {
        char *path;
        char *error;                 /* NULL if loaded; else "path:line:column: what was expected" */
} PolicyFileStatus;

typedef struct Policy {
        /* platform */
        unsigned min_aperture_bits;          /* default 39 */
        bool require_interrupt_remapping;    /* default true */
        bool allow_noiommu;                  /* default false */
        bool allow_acs_override;             /* default false */
        bool allow_direct_mapped_regions;    /* default false */
        bool allow_unsafe_interrupts;        /* default false */
        bool allow_smmu_bypass;              /* default false */
        MixedApertures mixed_apertures;      /* default split */
        /* protect */
        bool protect_root_storage;           /* default true */
        bool protect_routed_interfaces;      /* default true */
        bool protect_boot_console;           /* default true */

        PolicyRule *rules;                   /* in file-name order, then order within the file */
        size_t n_rules;
        PolicyFileStatus *files;             /* every file looked at, loaded or not */
        size_t n_files;
} Policy;

#define POLICY_FILE_SIZE_MAX (1024 * 1024)
#define POLICY_RULES_MAX 4096

void policy_init_defaults(Policy *p);
void policy_done(Policy *p);

/* Load every *.json of the given directories (earlier first; a later directory's file of the same
 * name masks the earlier one; files apply in name order). Returns 0 and a complete Policy, or a
 * negative errno and, in *ret_error, a sentence naming path:line:column and what was expected.
 * On failure *ret is untouched: nothing is half-loaded. */
int policy_load_dirs(const char *const *dirs, size_t n_dirs, Policy *ret, char **ret_error);
/* The standard directories: /usr/share/vfiod/policy.d, /etc/vfiod/policy.d, /run/vfiod/policy.d
 * (a test build: $VFIOD_POLICY_PATH, colon-separated, instead). */
#define POLICY_RUNTIME_DIR "/run/vfiod/policy.d"
int policy_load_standard(Policy *ret, char **ret_error);
/* Parse one file's text (used by policy_load_dirs and by tests). */
int policy_parse_text(const char *path, const char *text, size_t len, Policy *p, char **ret_error);

typedef struct Caller {
        uid_t uid;
        const char *user_name;               /* resolved by the daemon; NULL if the uid has no name */
        const char *const *group_names;      /* primary and supplementary groups, NULL-terminated */
} Caller;

typedef struct IovaRange {
        uint64_t start, end;                 /* inclusive */
} IovaRange;

typedef struct Request {
        const char *const *devices;          /* PCI addresses, NULL-terminated */
        unsigned min_aperture_bits;          /* 0 = none asked */
        const IovaRange *iova_ranges;
        size_t n_iova_ranges;
        bool failed_only;                    /* record only failed checks (lists: no sentences for what passed) */
        bool persistent;                     /* a Bind: the devices stay bound with no process attached */
        const char *domain;                  /* judged for this running libvirt domain (a hostdev hotplugged
                                              * into it): its own use is no held-by-domain; NULL otherwise */
} Request;

typedef struct Check {
        const char *code;                    /* stable reason code, e.g. "partial-group" (static string) */
        bool passed;
        char *subject;                       /* the device, group or unit it is about ("0000:02:01.0", "group 3") */
        char *sentence;                      /* one sentence a person can act on */
} Check;

typedef struct Verdict {
        bool allowed;
        Check *checks;                       /* every check, passed or failed, in a stable order */
        size_t n_checks;
        char *rule;                          /* the rule that decided, NULL if none matched */
        unsigned effective_aperture_bits;    /* narrowest decoded width the request spans; 0 = unknown */
} Verdict;

void verdict_done(Verdict *v);
/* The rule that decides for d: the first whose match fits, NULL if none does. */
const PolicyRule *policy_rule_for_device(const Policy *p, const PciDevice *d);
/* Its deciding rule says bindAtBoot (and does not deny); bridges never are. */
bool policy_binds_at_boot(const Policy *p, const PciDevice *d);
int policy_evaluate(const Policy *p, const Topology *t, const Request *r, const Caller *c, Verdict *ret);
