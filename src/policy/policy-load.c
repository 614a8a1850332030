/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "macro.h"
#include "policy-json.h"
#include "policy.h"
#include "strv.h"
#include "test-hooks.h"

/* More files than this in the policy directories is a mistake, not a policy. */
#define POLICY_FILES_MAX 1024
#define RULE_NAME_MAX 64
#define ACCOUNT_NAME_MAX 32
#define PATTERN_MAX 64

DEFINE_TRIVIAL_CLEANUP_FUNC(json_object *, json_object_put);
DEFINE_TRIVIAL_CLEANUP_FUNC(json_tokener *, json_tokener_free);

void policy_init_defaults(Policy *p) {
        *p = (Policy) {
                .min_aperture_bits = 39,
                .require_interrupt_remapping = true,
                .mixed_apertures = MIXED_APERTURES_SPLIT,
                .protect_root_storage = true,
                .protect_routed_interfaces = true,
                .protect_boot_console = true,
        };
}

static void rule_done(PolicyRule *r) {
        free(r->name);
        free(r->file);
        free(r->match.vendor);
        free(r->match.device);
        free(r->match.class);
        free(r->match.address);
        for (char **s = r->users; s && *s; s++)
                free(*s);
        free(r->users);
        for (char **s = r->groups; s && *s; s++)
                free(*s);
        free(r->groups);
        *r = (PolicyRule) {};
}

static void rules_free(PolicyRule *rules, size_t n) {
        for (size_t i = 0; i < n; i++)
                rule_done(&rules[i]);
        free(rules);
}

void policy_done(Policy *p) {
        if (!p)
                return;
        rules_free(p->rules, p->n_rules);
        for (size_t i = 0; i < p->n_files; i++) {
                free(p->files[i].path);
                free(p->files[i].error);
        }
        free(p->files);
        p->rules = NULL;
        p->n_rules = 0;
        p->files = NULL;
        p->n_files = 0;
}

/* ---- one file's text ---- */

typedef struct ParseCtx {
        const char *path;
        const char *text;
        size_t len;
        char **ret_error;

        JsonPath where;                 /* the key or element being looked at */
        const Policy *existing;         /* rules of earlier files: names must not repeat, count is shared */
        Policy staged;                  /* scalars only: the existing ones with this file's overrides */
        PolicyRule *rules;              /* this file's rules, committed only if the whole file is good */
        size_t n_rules;
} ParseCtx;

static void parse_ctx_done(ParseCtx *c) {
        rules_free(c->rules, c->n_rules);
}

/* Error messages quote what the file said; keep them one line of printable ASCII of bounded length,
 * so a cut never splits a UTF-8 sequence and the message can go into any JSON reply as is. */
static char *sanitize(const char *s) {
        size_t n = strnlen(s, 64);
        char *t = strndup(s, n);

        if (!t)
                return NULL;
        for (char *p = t; *p; p++)
                if ((unsigned char) *p < 0x20 || (unsigned char) *p >= 0x7f || *p == '"' || *p == '\\')
                        *p = '?';
        return t;
}

static int fail_at_offset(ParseCtx *c, int error, size_t offset, const char *fmt, ...) _printf_(4, 5);
static int fail_at_offset(ParseCtx *c, int error, size_t offset, const char *fmt, ...) {
        _cleanup_free_ char *what = NULL;
        unsigned line, column;
        va_list ap;
        int k;

        if (!c->ret_error)
                return error;

        va_start(ap, fmt);
        k = vasprintf(&what, fmt, ap);
        va_end(ap);
        if (k < 0)
                return -ENOMEM;

        text_position(c->text, c->len, offset, &line, &column);
        if (asprintf(c->ret_error, "%s:%u:%u: %s", c->path, line, column, what) < 0) {
                *c->ret_error = NULL;
                return -ENOMEM;
        }
        return error;
}

/* Points at the current path: its key, or its value. */
static int fail_here(ParseCtx *c, int error, bool at_key, const char *fmt, ...) _printf_(4, 5);
static int fail_here(ParseCtx *c, int error, bool at_key, const char *fmt, ...) {
        _cleanup_free_ char *what = NULL;
        size_t offset = 0;
        va_list ap;
        int k;

        if (!c->ret_error)
                return error;

        va_start(ap, fmt);
        k = vasprintf(&what, fmt, ap);
        va_end(ap);
        if (k < 0)
                return -ENOMEM;

        /* The text was parsed already, so the path is there; 1:1 is only a fallback. */
        (void) json_scan_locate(c->text, c->len, &c->where, at_key, &offset);
        return fail_at_offset(c, error, offset, "%s", what);
}

/* The schema is five levels deep and unknown keys stop the walk, so the path never fills up. */
static void where_push_key(ParseCtx *c, const char *key) {
        assert(c->where.n < ELEMENTSOF(c->where.segments));
        c->where.segments[c->where.n++] = (JsonPathSegment) { .key = key };
}

static void where_push_index(ParseCtx *c, size_t i) {
        assert(c->where.n < ELEMENTSOF(c->where.segments));
        c->where.segments[c->where.n++] = (JsonPathSegment) { .index = i };
}

static void where_pop(ParseCtx *c) {
        c->where.n--;
}

static const char *where_key(const ParseCtx *c) {
        for (size_t i = c->where.n; i > 0; i--)
                if (c->where.segments[i - 1].key)
                        return c->where.segments[i - 1].key;
        return "value";
}

static const char *json_type_words(json_object *v) {
        switch (json_object_get_type(v)) {
        case json_type_null:
                return "null";
        case json_type_boolean:
                return "a boolean";
        case json_type_double:
                return "a number with a fraction or exponent";
        case json_type_int:
                return "an integer";
        case json_type_object:
                return "an object";
        case json_type_array:
                return "an array";
        case json_type_string:
                return "a string";
        }
        return "of unknown type";
}

static int fail_type(ParseCtx *c, json_object *v, const char *expected) {
        const JsonPathSegment *last = c->where.n > 0 ? &c->where.segments[c->where.n - 1] : NULL;

        if (last && !last->key)
                return fail_here(c, -EINVAL, false, "element %zu of \"%s\" is %s; expected %s",
                                 last->index, where_key(c), json_type_words(v), expected);
        if (!last)
                return fail_here(c, -EINVAL, false, "the top level is %s; expected %s", json_type_words(v), expected);
        return fail_here(c, -EINVAL, false, "\"%s\" is %s; expected %s", last->key, json_type_words(v), expected);
}

typedef int (*FieldParser)(ParseCtx *c, json_object *v, void *dest);

typedef struct Field {
        const char *key;
        FieldParser parse;
        size_t offset;
} Field;

static char *fields_list(const Field *fields, size_t n) {
        size_t len = 1;
        char *s;

        for (size_t i = 0; i < n; i++)
                len += strlen(fields[i].key) + 2;
        s = malloc(len);
        if (!s)
                return NULL;
        s[0] = '\0';
        for (size_t i = 0; i < n; i++) {
                if (i > 0)
                        strcat(s, ", ");
                strcat(s, fields[i].key);
        }
        return s;
}

/* Walks the members in file order, so the first mistake in the text is the one reported. */
static int parse_fields(ParseCtx *c, json_object *o, const char *what, const Field *fields, size_t n, void *base) {
        json_object_object_foreach(o, key, v) {
                const Field *f = NULL;
                int r;

                for (size_t i = 0; i < n && !f; i++)
                        if (strcmp(fields[i].key, key) == 0)
                                f = &fields[i];

                where_push_key(c, key);
                if (!f) {
                        _cleanup_free_ char *expected = fields_list(fields, n), *k = sanitize(key);

                        if (!expected || !k)
                                return -ENOMEM;
                        return fail_here(c, -EINVAL, true, "unknown key \"%s\" in %s; expected one of %s",
                                         k, what, expected);
                }
                r = f->parse(c, v, (uint8_t *) base + f->offset);
                if (r < 0)
                        return r;
                where_pop(c);
        }
        return 0;
}

static int parse_bool(ParseCtx *c, json_object *v, void *dest) {
        if (!json_object_is_type(v, json_type_boolean))
                return fail_type(c, v, "true or false");
        *(bool *) dest = json_object_get_boolean(v);
        return 0;
}

static int parse_aperture_bits(ParseCtx *c, json_object *v, void *dest) {
        int64_t bits;

        if (!json_object_is_type(v, json_type_int))
                return fail_type(c, v, "an integer from 32 to 64");
        /* json-c saturates what does not fit in 64 bits, which is out of range either way. */
        bits = json_object_get_int64(v);
        if (bits < 32 || bits > 64)
                return fail_here(c, -ERANGE, false, "\"%s\" is %s; expected an integer from 32 to 64",
                                 where_key(c), json_object_get_string(v));
        *(unsigned *) dest = (unsigned) bits;
        return 0;
}

static const char *const mixed_apertures_table[_MIXED_APERTURES_MAX] = {
        [MIXED_APERTURES_SPLIT] = "split",
        [MIXED_APERTURES_ALLOW] = "allow",
        [MIXED_APERTURES_DENY] = "deny",
};

static int parse_mixed_apertures(ParseCtx *c, json_object *v, void *dest) {
        const char *s;

        if (!json_object_is_type(v, json_type_string))
                return fail_type(c, v, "one of \"split\", \"allow\", \"deny\"");
        s = json_object_get_string(v);
        for (MixedApertures m = 0; m < _MIXED_APERTURES_MAX; m++)
                if (strcmp(s, mixed_apertures_table[m]) == 0) {
                        *(MixedApertures *) dest = m;
                        return 0;
                }

        _cleanup_free_ char *t = sanitize(s);
        if (!t)
                return -ENOMEM;
        return fail_here(c, -EINVAL, false, "\"%s\" is \"%s\"; expected one of \"split\", \"allow\", \"deny\"",
                         where_key(c), t);
}

static const Field platform_fields[] = {
        { "minApertureBits",          parse_aperture_bits,   offsetof(Policy, min_aperture_bits) },
        { "requireInterruptRemapping", parse_bool,           offsetof(Policy, require_interrupt_remapping) },
        { "allowNoIommu",             parse_bool,            offsetof(Policy, allow_noiommu) },
        { "allowAcsOverride",         parse_bool,            offsetof(Policy, allow_acs_override) },
        { "allowDirectMappedRegions", parse_bool,            offsetof(Policy, allow_direct_mapped_regions) },
        { "allowUnsafeInterrupts",    parse_bool,            offsetof(Policy, allow_unsafe_interrupts) },
        { "allowSmmuBypass",          parse_bool,            offsetof(Policy, allow_smmu_bypass) },
        { "mixedApertures",           parse_mixed_apertures, offsetof(Policy, mixed_apertures) },
};

static const Field protect_fields[] = {
        { "rootStorage",      parse_bool, offsetof(Policy, protect_root_storage) },
        { "routedInterfaces", parse_bool, offsetof(Policy, protect_routed_interfaces) },
        { "bootConsole",      parse_bool, offsetof(Policy, protect_boot_console) },
};

static int parse_platform(ParseCtx *c, json_object *v, void *dest) {
        if (!json_object_is_type(v, json_type_object))
                return fail_type(c, v, "an object");
        return parse_fields(c, v, "platform", platform_fields, ELEMENTSOF(platform_fields), &c->staged);
}

static int parse_protect(ParseCtx *c, json_object *v, void *dest) {
        if (!json_object_is_type(v, json_type_object))
                return fail_type(c, v, "an object");
        return parse_fields(c, v, "protect", protect_fields, ELEMENTSOF(protect_fields), &c->staged);
}

/* ---- match patterns ---- */

typedef struct PatternKind {
        const char *what;               /* "vendor" */
        unsigned width;                 /* characters of the string it is matched against */
        const char *extra;              /* characters allowed besides hex digits and glob syntax */
        const char *example;
} PatternKind;

static const PatternKind pattern_vendor = { "vendor", 4, "", "\"8086\" or \"10d?\"" };
static const PatternKind pattern_device = { "device", 4, "", "\"10d3\" or \"15*\"" };
static const PatternKind pattern_class = { "class", 6, "", "\"020000\" or \"03*\"" };
static const PatternKind pattern_address = { "address", 12, ":.", "\"0000:3b:00.0\" or \"0000:3b:*\"" };

static bool is_hex(char ch) {
        return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') || (ch >= 'A' && ch <= 'F');
}

/* Only hex digits (plus ':' '.' for addresses), '*', '?' and bracket expressions over those.
 * Anything else could never match sysfs's lowercase hex, so it is refused rather than ignored. */
static const char *pattern_problem(const char *s, const PatternKind *k) {
        unsigned width = 0;
        bool star = false;

        if (!*s)
                return "is empty";
        if (strlen(s) > PATTERN_MAX)
                return "is too long";

        for (const char *p = s; *p; p++) {
                if (*p == '*') {
                        star = true;
                        continue;
                }
                width++;
                if (*p == '?' || is_hex(*p) || (*p && strchr(k->extra, *p)))
                        continue;
                if (*p == ']')
                        return "has a ']' without '['";
                if (*p != '[')
                        return "has a character that is neither a hex digit nor glob syntax";

                const char *q = p + 1;
                if (*q == '!')
                        q++;
                if (*q == ']')
                        return "has an empty bracket expression";
                for (; *q && *q != ']'; q++)
                        if (!is_hex(*q) && *q != '-' && !strchr(k->extra, *q))
                                return "has a character in brackets that is neither a hex digit nor '-'";
                if (!*q)
                        return "has an unbalanced '['";
                p = q;
        }

        if (width > k->width || (!star && width != k->width))
                return "cannot match: its length does not fit";
        return NULL;
}

static int parse_pattern(ParseCtx *c, json_object *v, void *dest, const PatternKind *k) {
        _cleanup_free_ char *expected = NULL;
        const char *s, *problem;
        char *copy;

        if (asprintf(&expected, "a glob over %u %s such as %s", k->width,
                     k == &pattern_address ? "characters of a PCI address" : "lowercase hex digits", k->example) < 0)
                return -ENOMEM;

        if (!json_object_is_type(v, json_type_string))
                return fail_type(c, v, expected);
        s = json_object_get_string(v);
        problem = pattern_problem(s, k);
        if (problem) {
                _cleanup_free_ char *t = sanitize(s);
                if (!t)
                        return -ENOMEM;
                return fail_here(c, -EINVAL, false, "%s pattern \"%s\" %s; expected %s", k->what, t, problem, expected);
        }

        copy = strdup(s);
        if (!copy)
                return -ENOMEM;
        /* sysfs prints ids and addresses in lowercase */
        for (char *p = copy; *p; p++)
                if (*p >= 'A' && *p <= 'F')
                        *p += 'a' - 'A';
        free(*(char **) dest);
        *(char **) dest = copy;
        return 0;
}

static int parse_match_vendor(ParseCtx *c, json_object *v, void *dest) {
        return parse_pattern(c, v, dest, &pattern_vendor);
}

static int parse_match_device(ParseCtx *c, json_object *v, void *dest) {
        return parse_pattern(c, v, dest, &pattern_device);
}

static int parse_match_class(ParseCtx *c, json_object *v, void *dest) {
        return parse_pattern(c, v, dest, &pattern_class);
}

static int parse_match_address(ParseCtx *c, json_object *v, void *dest) {
        return parse_pattern(c, v, dest, &pattern_address);
}

static const Field match_fields[] = {
        { "vendor",  parse_match_vendor,  offsetof(PolicyMatch, vendor) },
        { "device",  parse_match_device,  offsetof(PolicyMatch, device) },
        { "class",   parse_match_class,   offsetof(PolicyMatch, class) },
        { "address", parse_match_address, offsetof(PolicyMatch, address) },
};

static int parse_match(ParseCtx *c, json_object *v, void *dest) {
        if (!json_object_is_type(v, json_type_object))
                return fail_type(c, v, "an object with any of vendor, device, class, address");
        return parse_fields(c, v, "match", match_fields, ELEMENTSOF(match_fields), dest);
}

/* ---- allow ---- */

/* What useradd and systemd accept without relaxed mode: no leading digit or '-', no spaces. */
static bool account_name_is_valid(const char *s) {
        size_t n = strlen(s);

        if (n == 0 || n > ACCOUNT_NAME_MAX)
                return false;
        if (!((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z') || s[0] == '_'))
                return false;
        for (size_t i = 1; i < n; i++) {
                char ch = s[i];

                if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
                    ch == '_' || ch == '.' || ch == '-')
                        continue;
                if (ch == '$' && i == n - 1)   /* Samba machine accounts */
                        continue;
                return false;
        }
        return true;
}

static int parse_names(ParseCtx *c, json_object *v, char ***dest, const char *what) {
        _cleanup_free_ char *expected = NULL;
        char **l = NULL;
        size_t n = 0, count;
        int r;

        if (asprintf(&expected, "an array of %s names", what) < 0)
                return -ENOMEM;
        if (!json_object_is_type(v, json_type_array))
                return fail_type(c, v, expected);

        count = json_object_array_length(v);
        for (size_t i = 0; i < count; i++) {
                json_object *e = json_object_array_get_idx(v, i);

                where_push_index(c, i);
                if (!json_object_is_type(e, json_type_string)) {
                        strv_free_n(l, n);
                        return fail_type(c, e, what[0] == 'u' ? "a user name" : "a group name");
                }
                if (!account_name_is_valid(json_object_get_string(e))) {
                        _cleanup_free_ char *t = sanitize(json_object_get_string(e));

                        strv_free_n(l, n);
                        if (!t)
                                return -ENOMEM;
                        return fail_here(c, -EINVAL, false,
                                         "%s name \"%s\" is not valid; expected 1 to %d characters from "
                                         "A-Z a-z 0-9 _ . - that do not start with a digit, '.' or '-'",
                                         what, t, ACCOUNT_NAME_MAX);
                }
                r = strv_push_n(&l, &n, json_object_get_string(e));
                if (r < 0) {
                        strv_free_n(l, n);
                        return r;
                }
                where_pop(c);
        }

        if (*dest)
                for (char **s = *dest; *s; s++)
                        free(*s);
        free(*dest);
        *dest = l;
        return 0;
}

static int parse_users(ParseCtx *c, json_object *v, void *dest) {
        return parse_names(c, v, dest, "user");
}

static int parse_groups(ParseCtx *c, json_object *v, void *dest) {
        return parse_names(c, v, dest, "group");
}

static const Field allow_fields[] = {
        { "users",  parse_users,  offsetof(PolicyRule, users) },
        { "groups", parse_groups, offsetof(PolicyRule, groups) },
        { "bind",   parse_bool,   offsetof(PolicyRule, allow_bind) },
};

static int parse_allow(ParseCtx *c, json_object *v, void *dest) {
        PolicyRule *rule = dest;
        int r;

        if (!json_object_is_type(v, json_type_object))
                return fail_type(c, v, "an object with \"users\" and/or \"groups\"");
        r = parse_fields(c, v, "allow", allow_fields, ELEMENTSOF(allow_fields), rule);
        if (r < 0)
                return r;
        /* An allow that names nobody would read like a grant and act like a denial. */
        if ((!rule->users || !rule->users[0]) && (!rule->groups || !rule->groups[0]))
                return fail_here(c, -EINVAL, false,
                                 "\"allow\" names no user and no group; expected at least one name in \"users\" or \"groups\"");
        return 0;
}

/* ---- rules ---- */

static bool rule_name_is_valid(const char *s) {
        size_t n = strlen(s);

        if (n == 0 || n > RULE_NAME_MAX)
                return false;
        for (size_t i = 0; i < n; i++) {
                char ch = s[i];

                if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
                      ch == '_' || ch == '.' || ch == '-'))
                        return false;
        }
        return true;
}

static int parse_rule_name(ParseCtx *c, json_object *v, void *dest) {
        const char *s;
        char *copy;

        if (!json_object_is_type(v, json_type_string))
                return fail_type(c, v, "a rule name such as \"dpdk-nics\"");
        s = json_object_get_string(v);
        if (!rule_name_is_valid(s)) {
                _cleanup_free_ char *t = sanitize(s);
                if (!t)
                        return -ENOMEM;
                return fail_here(c, -EINVAL, false,
                                 "rule name \"%s\" is not valid; expected 1 to %d characters from A-Z a-z 0-9 _ . -",
                                 t, RULE_NAME_MAX);
        }

        for (size_t i = 0; i < c->existing->n_rules; i++)
                if (strcmp(c->existing->rules[i].name, s) == 0)
                        return fail_here(c, -EEXIST, false,
                                         "rule name \"%s\" is already used in %s; expected a name no other rule has",
                                         s, strna(c->existing->rules[i].file));
        /* the last entry is the rule being parsed */
        for (size_t i = 0; i + 1 < c->n_rules; i++)
                if (strcmp(c->rules[i].name, s) == 0)
                        return fail_here(c, -EEXIST, false,
                                         "rule name \"%s\" is already used earlier in this file; expected a name no other rule has",
                                         s);

        copy = strdup(s);
        if (!copy)
                return -ENOMEM;
        free(*(char **) dest);
        *(char **) dest = copy;
        return 0;
}

static const Field rule_fields[] = {
        { "name",             parse_rule_name, offsetof(PolicyRule, name) },
        { "match",            parse_match,     offsetof(PolicyRule, match) },
        { "allow",            parse_allow,     0 },
        { "deny",             parse_bool,      offsetof(PolicyRule, deny) },
        { "restoreOnRelease", parse_bool,      offsetof(PolicyRule, restore_on_release) },
        { "bindAtBoot",       parse_bool,      offsetof(PolicyRule, bind_at_boot) },
};

static int parse_rule(ParseCtx *c, json_object *v, PolicyRule *rule) {
        bool allow;
        int r;

        if (!json_object_is_type(v, json_type_object))
                return fail_type(c, v, "a rule object");

        r = parse_fields(c, v, "rule", rule_fields, ELEMENTSOF(rule_fields), rule);
        if (r < 0)
                return r;

        if (!rule->name)
                return fail_here(c, -EINVAL, false, "rule has no \"name\"; expected a name such as \"dpdk-nics\"");

        allow = json_object_object_get_ex(v, "allow", NULL);
        if (allow && rule->deny) {
                where_push_key(c, "deny");
                return fail_here(c, -EINVAL, true,
                                 "rule \"%s\" has both \"allow\" and \"deny\": true; expected exactly one of them",
                                 rule->name);
        }
        if (!allow && !rule->deny)
                return fail_here(c, -EINVAL, false,
                                 "rule \"%s\" has neither \"allow\" nor \"deny\": true; expected exactly one of them",
                                 rule->name);

        rule->file = strdup(c->path);
        if (!rule->file)
                return -ENOMEM;
        return 0;
}

static int parse_rules(ParseCtx *c, json_object *v, void *dest) {
        size_t n;

        if (!json_object_is_type(v, json_type_array))
                return fail_type(c, v, "an array of rule objects");

        n = json_object_array_length(v);
        for (size_t i = 0; i < n; i++) {
                PolicyRule *a;
                int r;

                where_push_index(c, i);
                if (c->existing->n_rules + c->n_rules >= POLICY_RULES_MAX)
                        return fail_here(c, -E2BIG, false,
                                         "this is rule number %zu; expected at most %d rules in all policy files together",
                                         c->existing->n_rules + c->n_rules + 1, POLICY_RULES_MAX);

                a = reallocarray(c->rules, c->n_rules + 1, sizeof(PolicyRule));
                if (!a)
                        return -ENOMEM;
                c->rules = a;
                /* Counted at once so a half-parsed rule is freed with the rest. */
                c->rules[c->n_rules++] = (PolicyRule) { .restore_on_release = true };

                r = parse_rule(c, json_object_array_get_idx(v, i), &c->rules[c->n_rules - 1]);
                if (r < 0)
                        return r;
                where_pop(c);
        }
        return 0;
}

static const Field top_fields[] = {
        { "platform", parse_platform, 0 },
        { "protect",  parse_protect,  0 },
        { "rules",    parse_rules,    0 },
};

/* ---- syntax ---- */

static int parse_syntax(ParseCtx *c, json_object **ret) {
        _cleanup_(json_tokener_freep) json_tokener *tok = NULL;
        _cleanup_(json_object_putp) json_object *o = NULL;
        enum json_tokener_error e;
        size_t end;

        tok = json_tokener_new_ex(POLICY_JSON_DEPTH_MAX);
        if (!tok)
                return -ENOMEM;
        /* Trailing data is checked below, to say exactly that rather than "unexpected character". */
        json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8 | JSON_TOKENER_ALLOW_TRAILING_CHARS);

        o = json_tokener_parse_ex(tok, c->text, (int) c->len);
        e = json_tokener_get_error(tok);
        end = json_tokener_get_parse_end(tok);
        if (e == json_tokener_continue && c->len > 0) {
                /* A bare number at the very end is only complete once something follows it. */
                o = json_tokener_parse_ex(tok, "\n", 1);
                e = json_tokener_get_error(tok);
                end = c->len;
        }

        if (e == json_tokener_continue)
                return fail_at_offset(c, -EBADMSG, c->len,
                                      "unexpected end of file; expected the rest of a JSON object");
        if (e == json_tokener_error_depth)
                return fail_at_offset(c, -EBADMSG, end,
                                      "nesting is too deep; expected at most %d levels of objects and arrays",
                                      POLICY_JSON_DEPTH_MAX);
        /* json-c 0.18 in strict mode refuses any byte >= 0x80 in a string value (json-c issue #875),
         * even valid UTF-8, which was checked above. Every value a policy has is ASCII anyway: say that. */
        if ((e == json_tokener_error_parse_utf8_string || e == json_tokener_error_parse_string) &&
            end < c->len && (unsigned char) c->text[end] >= 0x80)
                return fail_at_offset(c, -EBADMSG, end,
                                      "non-ASCII character in a string value; expected ASCII, "
                                      "as in every name, pattern and account a policy has");
        if (e != json_tokener_success)
                return fail_at_offset(c, -EBADMSG, end, "invalid JSON (%s); expected JSON as in RFC 8259",
                                      json_tokener_error_desc(e));

        for (; end < c->len; end++)
                if (!strchr(" \t\r\n", c->text[end]))
                        return fail_at_offset(c, -EBADMSG, end,
                                              "unexpected data after the JSON object; expected the end of the file");

        *ret = TAKE_PTR(o);
        return 0;
}

static int check_text(ParseCtx *c) {
        size_t offset;
        bool nul = false;

        offset = text_find_invalid(c->text, c->len, &nul);
        if (offset < c->len)
                return fail_at_offset(c, -EBADMSG, offset,
                                      nul ? "NUL byte; expected UTF-8 text without NUL bytes"
                                          : "invalid UTF-8 byte 0x%02x; expected UTF-8 text",
                                      (unsigned char) c->text[offset]);
        return 0;
}

static int check_structure(ParseCtx *c) {
        _cleanup_free_ char *key = NULL, *k = NULL;
        JsonProblem problem;
        size_t offset;
        int r;

        r = json_scan_check(c->text, c->len, &problem, &offset, &key);
        if (r == -EBADMSG)
                return fail_at_offset(c, r, offset,
                                      "invalid JSON; expected JSON as in RFC 8259 (keys in double quotes, no NaN or Infinity)");
        if (r < 0)
                return r;

        switch (problem) {
        case JSON_PROBLEM_NONE:
                return 0;
        case JSON_PROBLEM_DUPLICATE_KEY:
                k = sanitize(key ?: "");
                if (!k)
                        return -ENOMEM;
                return fail_at_offset(c, -EINVAL, offset,
                                      "duplicate key \"%s\"; expected each key at most once per object", k);
        case JSON_PROBLEM_ESCAPED_NUL:
                return fail_at_offset(c, -EBADMSG, offset, "string contains \\u0000; expected no NUL characters");
        default:
                return fail_at_offset(c, -EBADMSG, offset,
                                      "nesting is too deep; expected at most %d levels of objects and arrays",
                                      POLICY_JSON_DEPTH_MAX);
        }
}

int policy_parse_text(const char *path, const char *text, size_t len, Policy *p, char **ret_error) {
        _cleanup_(json_object_putp) json_object *root = NULL;
        PolicyRule *merged;
        int r;

        if (ret_error)
                *ret_error = NULL;
        if (!p || (!text && len > 0))
                return -EINVAL;

        _cleanup_(parse_ctx_done) ParseCtx c = {
                .path = path ?: "(policy)",
                .text = text ?: "",
                .len = len,
                .ret_error = ret_error,
                .existing = p,
                .staged = *p,
        };

        if (len > POLICY_FILE_SIZE_MAX)
                return fail_at_offset(&c, -EFBIG, 0, "file is %zu bytes; expected at most %d bytes",
                                      len, POLICY_FILE_SIZE_MAX);

        r = check_text(&c);
        if (r < 0)
                return r;
        r = parse_syntax(&c, &root);
        if (r < 0)
                return r;
        r = check_structure(&c);
        if (r < 0)
                return r;

        if (!json_object_is_type(root, json_type_object))
                return fail_type(&c, root, "an object with any of platform, protect, rules");
        r = parse_fields(&c, root, "the top level", top_fields, ELEMENTSOF(top_fields), &c);
        if (r < 0)
                return r;

        /* Everything checked: commit. The only failure left is memory, and it leaves p as it was. */
        merged = p->rules;
        if (c.n_rules > 0) {
                merged = reallocarray(p->rules, p->n_rules + c.n_rules, sizeof(PolicyRule));
                if (!merged)
                        return -ENOMEM;
                memcpy(merged + p->n_rules, c.rules, c.n_rules * sizeof(PolicyRule));
        }

        c.staged.rules = merged;
        c.staged.n_rules = p->n_rules + c.n_rules;
        c.staged.files = p->files;
        c.staged.n_files = p->n_files;
        *p = c.staged;

        free(c.rules);
        c.rules = NULL;
        c.n_rules = 0;
        return 0;
}

/* ---- directories ---- */

typedef struct PolicyFileEntry {
        char *name;
        char *path;
        size_t dir;                     /* index of the directory's fd: files are opened below it */
} PolicyFileEntry;

static void entries_free(PolicyFileEntry *e, size_t n) {
        for (size_t i = 0; i < n; i++) {
                free(e[i].name);
                free(e[i].path);
        }
        free(e);
}

static int entry_cmp(const void *a, const void *b) {
        return strcmp(((const PolicyFileEntry *) a)->name, ((const PolicyFileEntry *) b)->name);
}

static bool name_is_policy_file(const char *name) {
        size_t n = strlen(name);

        /* hidden files are editors' and package managers' scratch space */
        return name[0] != '.' && n > 5 && strcmp(name + n - 5, ".json") == 0;
}

static int fail_plain(char **ret_error, int error, const char *fmt, ...) _printf_(3, 4);
static int fail_plain(char **ret_error, int error, const char *fmt, ...) {
        va_list ap;
        int k;

        if (!ret_error)
                return error;
        va_start(ap, fmt);
        k = vasprintf(ret_error, fmt, ap);
        va_end(ap);
        if (k < 0) {
                *ret_error = NULL;
                return -ENOMEM;
        }
        return error;
}

/* Policy decides who may take which device from the host: only root may be able to change what it
 * says. Owned by root (or by the user loading it, which is root for the daemon; unit tests may run
 * unprivileged) and writable by nobody else. */
static bool owner_trusted(uid_t uid) {
        return uid == 0 || uid == geteuid();
}

static int check_trusted(const struct stat *st, const char *policy_path, const char *where, bool sticky_ok,
                         const char *kind, char **ret_error) {
        if (!owner_trusted(st->st_uid)) {
                if (where)
                        return fail_plain(ret_error, -EPERM, "%s: the directory %s above it is owned by uid %u; expected every directory up to / to be owned by root",
                                          policy_path, where, (unsigned) st->st_uid);
                return fail_plain(ret_error, -EPERM, "%s: owned by uid %u; expected a %s owned by root",
                                  policy_path, (unsigned) st->st_uid, kind);
        }
        /* A sticky directory above (/tmp) is safe: nobody but root may rename or remove root's entries. */
        if ((st->st_mode & (S_IWGRP | S_IWOTH)) && !(sticky_ok && (st->st_mode & S_ISVTX))) {
                if (where)
                        return fail_plain(ret_error, -EPERM, "%s: the directory %s above it is writable by its group or others (mode %04o); expected only root to be able to write every directory up to /",
                                          policy_path, where, (unsigned) (st->st_mode & 07777));
                return fail_plain(ret_error, -EPERM, "%s: writable by its group or others (mode %04o); expected a %s only root can write",
                                  policy_path, (unsigned) (st->st_mode & 07777), kind);
        }
        return 0;
}

/* Open a policy directory for reading, after checking it and every directory above it up to /.
 * Symlinks in its path are followed (realpath), then the real path is walked down from / with
 * O_NOFOLLOW, so what is checked is what is opened. Returns 0 with *ret_fd = -1 if it does not exist. */
static int open_trusted_dir(const char *dir, int *ret_fd, char **ret_error) {
        _cleanup_free_ char *real = NULL;
        _cleanup_close_ int fd = -EBADF;
        struct stat st;
        char *p, *slash;

        *ret_fd = -EBADF;
        real = realpath(dir, NULL);
        if (!real) {
                if (errno == ENOENT)
                        return 0;
                return fail_plain(ret_error, -errno, "%s: cannot read the directory (%s); expected a readable directory",
                                  dir, strerror(errno));
        }
        if (real[0] != '/')
                return fail_plain(ret_error, -EINVAL, "%s: cannot resolve the directory; expected an absolute path", dir);

        fd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return fail_plain(ret_error, -errno, "%s: cannot open / (%s)", dir, strerror(errno));
        if (fstat(fd, &st) < 0)
                return fail_plain(ret_error, -errno, "%s: cannot stat / (%s)", dir, strerror(errno));
        if (check_trusted(&st, dir, real[1] ? "/" : NULL, false, "directory", ret_error) < 0)
                return -EPERM;

        for (p = real + 1; *p; p = slash + 1) {
                _cleanup_close_ int next = -EBADF;
                bool last;

                slash = strchr(p, '/');
                last = !slash;
                if (slash)
                        *slash = '\0';
                next = openat(fd, p, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (next < 0 || fstat(next, &st) < 0) {
                        int e = errno;
                        return fail_plain(ret_error, -e, "%s: cannot read the directory (%s); expected a readable directory",
                                          dir, strerror(e));
                }
                if (check_trusted(&st, dir, last ? NULL : real, !last, "directory", ret_error) < 0)
                        return -EPERM;
                close(fd);
                fd = TAKE_FD(next);
                if (last)
                        break;
                *slash = '/';
        }

        *ret_fd = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (*ret_fd < 0)
                return fail_plain(ret_error, -errno, "%s: cannot read the directory (%s); expected a readable directory",
                                  dir, strerror(errno));
        return 0;
}

static int collect_dir(const char *dir, size_t index, int dir_fd, PolicyFileEntry **entries, size_t *n, char **ret_error) {
        _cleanup_closedir_ DIR *d = NULL;
        struct dirent *de;
        int fd;

        fd = fcntl(dir_fd, F_DUPFD_CLOEXEC, 3);
        if (fd < 0)
                return -errno;
        d = fdopendir(fd);
        if (!d) {
                int e = errno;
                close(fd);
                return fail_plain(ret_error, -e, "%s: cannot read the directory (%s); expected a readable directory",
                                  dir, strerror(e));
        }

        for (;;) {
                _cleanup_free_ char *path = NULL;
                size_t i;

                errno = 0;
                de = readdir(d);
                if (!de) {
                        if (errno != 0)
                                return fail_plain(ret_error, -errno, "%s: cannot read the directory (%s); expected a readable directory",
                                                  dir, strerror(errno));
                        return 0;
                }
                if (!name_is_policy_file(de->d_name))
                        continue;

                if (asprintf(&path, "%s/%s", dir, de->d_name) < 0)
                        return -ENOMEM;

                /* The same name in a later directory masks the earlier file. */
                for (i = 0; i < *n; i++)
                        if (strcmp((*entries)[i].name, de->d_name) == 0)
                                break;
                if (i < *n) {
                        free((*entries)[i].path);
                        (*entries)[i].path = TAKE_PTR(path);
                        (*entries)[i].dir = index;
                        continue;
                }

                if (*n >= POLICY_FILES_MAX)
                        return fail_plain(ret_error, -E2BIG, "%s: more than %d policy files; expected at most %d *.json files in all policy directories",
                                          dir, POLICY_FILES_MAX, POLICY_FILES_MAX);

                PolicyFileEntry *a = reallocarray(*entries, *n + 1, sizeof(PolicyFileEntry));
                if (!a)
                        return -ENOMEM;
                *entries = a;
                a[*n] = (PolicyFileEntry) { .name = strdup(de->d_name), .path = TAKE_PTR(path), .dir = index };
                (*n)++;
                if (!a[*n - 1].name)
                        return -ENOMEM;
        }
}

/* Returns 1 with the text, or 0 for a mask (a symlink to /dev/null, or an empty file). The file is
 * opened below its (checked) directory without following symlinks: a symlink's target could sit in
 * a directory nobody checked. The one exception is systemd's way of masking, a symlink to /dev/null. */
static int read_policy_file(int dir_fd, const char *name, const char *path, char **ret_text, size_t *ret_len, char **ret_error) {
        _cleanup_close_ int fd = -EBADF;
        _cleanup_free_ char *buf = NULL;
        size_t n = 0, alloc;
        struct stat st;

        /* O_NONBLOCK: a FIFO dropped into the directory must not hang the loader. */
        fd = openat(dir_fd, name, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK | O_NOFOLLOW);
        if (fd < 0 && errno == ELOOP) {
                char target[sizeof("/dev/null")];
                ssize_t k = readlinkat(dir_fd, name, target, sizeof(target));

                if (k == (ssize_t) strlen("/dev/null") && memcmp(target, "/dev/null", k) == 0)
                        return 0;
                return fail_plain(ret_error, -ELOOP, "%s:1:1: is a symlink; expected a regular file, or a symlink to /dev/null to mask",
                                  path);
        }
        if (fd < 0)
                return fail_plain(ret_error, -errno, "%s:1:1: cannot open the file (%s); expected a readable file",
                                  path, strerror(errno));
        if (fstat(fd, &st) < 0)
                return fail_plain(ret_error, -errno, "%s:1:1: cannot stat the file (%s); expected a readable file",
                                  path, strerror(errno));
        if (S_ISCHR(st.st_mode) && st.st_rdev == makedev(1, 3))
                return 0;
        if (!S_ISREG(st.st_mode))
                return fail_plain(ret_error, S_ISDIR(st.st_mode) ? -EISDIR : -EBADFD, "%s:1:1: not a regular file; expected a regular file or a symlink to /dev/null",
                                  path);
        if (!owner_trusted(st.st_uid))
                return fail_plain(ret_error, -EPERM, "%s:1:1: owned by uid %u; expected a file owned by root",
                                  path, (unsigned) st.st_uid);
        if (st.st_mode & (S_IWGRP | S_IWOTH))
                return fail_plain(ret_error, -EPERM, "%s:1:1: writable by its group or others (mode %04o); expected a file only root can write",
                                  path, (unsigned) (st.st_mode & 07777));
        if (st.st_size > POLICY_FILE_SIZE_MAX)
                return fail_plain(ret_error, -EFBIG, "%s:1:1: file is %jd bytes; expected at most %d bytes",
                                  path, (intmax_t) st.st_size, POLICY_FILE_SIZE_MAX);

        /* One byte beyond the limit tells a file that grew since fstat() from one that fits. */
        alloc = (size_t) st.st_size + 1;
        buf = malloc(alloc);
        if (!buf)
                return -ENOMEM;
        for (;;) {
                ssize_t k;

                if (n == alloc) {
                        char *b;

                        if (alloc > POLICY_FILE_SIZE_MAX)
                                break;
                        alloc = alloc * 2 > POLICY_FILE_SIZE_MAX + 1 ? POLICY_FILE_SIZE_MAX + 1 : alloc * 2;
                        b = realloc(buf, alloc);
                        if (!b)
                                return -ENOMEM;
                        buf = b;
                }
                k = read(fd, buf + n, alloc - n);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return fail_plain(ret_error, -errno, "%s:1:1: cannot read the file (%s); expected a readable file",
                                          path, strerror(errno));
                }
                if (k == 0)
                        break;
                n += (size_t) k;
        }
        if (n > POLICY_FILE_SIZE_MAX)
                return fail_plain(ret_error, -EFBIG, "%s:1:1: file is larger than %d bytes; expected at most %d bytes",
                                  path, POLICY_FILE_SIZE_MAX, POLICY_FILE_SIZE_MAX);
        if (n == 0)
                return 0;

        *ret_text = TAKE_PTR(buf);
        *ret_len = n;
        return 1;
}

static int policy_add_file(Policy *p, const char *path) {
        PolicyFileStatus *a;
        char *copy;

        copy = strdup(path);
        if (!copy)
                return -ENOMEM;
        a = reallocarray(p->files, p->n_files + 1, sizeof(PolicyFileStatus));
        if (!a) {
                free(copy);
                return -ENOMEM;
        }
        p->files = a;
        p->files[p->n_files++] = (PolicyFileStatus) { .path = copy };
        return 0;
}

static void close_fds(int *fds, size_t n) {
        for (size_t i = 0; i < n; i++)
                if (fds[i] >= 0)
                        close(fds[i]);
        free(fds);
}

int policy_load_dirs(const char *const *dirs, size_t n_dirs, Policy *ret, char **ret_error) {
        PolicyFileEntry *entries = NULL;
        size_t n_entries = 0;
        int *dir_fds = NULL;
        Policy p;
        int r = 0;

        if (ret_error)
                *ret_error = NULL;
        if (!ret || (!dirs && n_dirs > 0))
                return -EINVAL;

        policy_init_defaults(&p);

        dir_fds = malloc((n_dirs ?: 1) * sizeof(int));
        if (!dir_fds)
                return -ENOMEM;
        for (size_t i = 0; i < n_dirs; i++)
                dir_fds[i] = -EBADF;
        for (size_t i = 0; i < n_dirs && r >= 0; i++) {
                if (!dirs[i])
                        continue;
                r = open_trusted_dir(dirs[i], &dir_fds[i], ret_error);
                if (r >= 0 && dir_fds[i] >= 0)
                        r = collect_dir(dirs[i], i, dir_fds[i], &entries, &n_entries, ret_error);
        }
        if (r < 0)
                goto fail;

        /* Name order across all directories, so "10-" always applies before "50-". */
        if (n_entries > 1)
                qsort(entries, n_entries, sizeof(PolicyFileEntry), entry_cmp);

        for (size_t i = 0; i < n_entries; i++) {
                _cleanup_free_ char *text = NULL;
                size_t len = 0;

                r = read_policy_file(dir_fds[entries[i].dir], entries[i].name, entries[i].path, &text, &len, ret_error);
                if (r < 0)
                        goto fail;
                if (r > 0) {
                        r = policy_parse_text(entries[i].path, text, len, &p, ret_error);
                        if (r < 0)
                                goto fail;
                }
                r = policy_add_file(&p, entries[i].path);
                if (r < 0)
                        goto fail;
        }

        entries_free(entries, n_entries);
        close_fds(dir_fds, n_dirs);
        *ret = p;
        return 0;

fail:
        entries_free(entries, n_entries);
        close_fds(dir_fds, n_dirs);
        policy_done(&p);
        return r;
}

#define POLICY_DIRS_MAX 8

int policy_load_standard(Policy *ret, char **ret_error) {
        _cleanup_free_ char *buf = NULL;
        const char *env = test_hook_getenv("VFIOD_POLICY_PATH");
        const char *dirs[POLICY_DIRS_MAX];
        char *save = NULL;
        size_t n = 0;

        if (!env) {
                dirs[n++] = VFIOD_DATADIR "/policy.d";
                dirs[n++] = VFIOD_SYSCONFDIR "/vfiod/policy.d";
                dirs[n++] = POLICY_RUNTIME_DIR;
        } else {
                /* For tests: a colon-separated list replaces the three standard directories. */
                buf = strdup(env);
                if (!buf)
                        return -ENOMEM;
                for (char *d = strtok_r(buf, ":", &save); d && n < POLICY_DIRS_MAX; d = strtok_r(NULL, ":", &save))
                        dirs[n++] = d;
        }
        return policy_load_dirs(dirs, n, ret, ret_error);
}
