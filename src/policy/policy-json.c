/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hexdecoct.h"
#include "macro.h"
#include "policy-json.h"

typedef struct ScanKey {
        char *name;
        size_t offset;
} ScanKey;

typedef struct Scan {
        const char *text;
        size_t len, pos;

        JsonPath path;                  /* where pos is; key segments point into keys[] */
        ScanKey *keys;                  /* keys of the objects currently open, outermost first */
        size_t n_keys, n_alloc_keys;

        const JsonPath *target;         /* locate mode: stop here */
        bool target_key;
        size_t found;

        JsonProblem problem;            /* check mode: the earliest problem seen */
        size_t problem_offset;
        char *problem_key;
} Scan;

/* Walkers return < 0 on error, 0 to go on, 1 when the target was found. */
static int scan_value(Scan *s, unsigned depth);

static void scan_done(Scan *s) {
        for (size_t i = 0; i < s->n_keys; i++)
                free(s->keys[i].name);
        free(s->keys);
        free(s->problem_key);
}

static int scan_problem(Scan *s, JsonProblem p, size_t offset, const char *key) {
        char *k = NULL;

        if (s->problem != JSON_PROBLEM_NONE && s->problem_offset <= offset)
                return 0;
        if (key) {
                k = strdup(key);
                if (!k)
                        return -ENOMEM;
        }
        free(s->problem_key);
        s->problem_key = k;
        s->problem = p;
        s->problem_offset = offset;
        return 0;
}

static void scan_skip_ws(Scan *s) {
        while (s->pos < s->len && strchr(" \t\r\n", s->text[s->pos]) && s->text[s->pos] != '\0')
                s->pos++;
}

static bool scan_peek(Scan *s, char c) {
        return s->pos < s->len && s->text[s->pos] == c;
}

static bool path_is_target(const Scan *s) {
        const JsonPath *a = &s->path, *b = s->target;

        if (!b || a->n != b->n)
                return false;
        for (size_t i = 0; i < a->n; i++) {
                const JsonPathSegment *x = &a->segments[i], *y = &b->segments[i];

                if (!x->key != !y->key)
                        return false;
                if (x->key ? strcmp(x->key, y->key) != 0 : x->index != y->index)
                        return false;
        }
        return true;
}

static int read_u16(const char *p, size_t avail, uint32_t *ret) {
        uint32_t v = 0;

        if (avail < 4)
                return -EBADMSG;
        for (size_t i = 0; i < 4; i++) {
                int d = unhexchar(p[i]);
                if (d < 0)
                        return -EBADMSG;
                v = (v << 4) | (uint32_t) d;
        }
        *ret = v;
        return 0;
}

static size_t utf8_put(char *out, uint32_t cp) {
        if (cp < 0x80) {
                out[0] = (char) cp;
                return 1;
        }
        if (cp < 0x800) {
                out[0] = (char) (0xc0 | (cp >> 6));
                out[1] = (char) (0x80 | (cp & 0x3f));
                return 2;
        }
        if (cp < 0x10000) {
                out[0] = (char) (0xe0 | (cp >> 12));
                out[1] = (char) (0x80 | ((cp >> 6) & 0x3f));
                out[2] = (char) (0x80 | (cp & 0x3f));
                return 3;
        }
        out[0] = (char) (0xf0 | (cp >> 18));
        out[1] = (char) (0x80 | ((cp >> 12) & 0x3f));
        out[2] = (char) (0x80 | ((cp >> 6) & 0x3f));
        out[3] = (char) (0x80 | (cp & 0x3f));
        return 4;
}

/* Reads a string at pos. With ret_decoded, also decodes it (keys only: values are json-c's job).
 * The decoded form is never longer than the escaped one, so one allocation of the raw length does. */
static int scan_string(Scan *s, char **ret_decoded) {
        _cleanup_free_ char *out = NULL;
        size_t start = s->pos, n = 0;
        int r;

        if (!scan_peek(s, '"'))
                return -EBADMSG;
        s->pos++;
        if (ret_decoded) {
                size_t end = s->pos;

                while (end < s->len && s->text[end] != '"')
                        end += s->text[end] == '\\' ? 2 : 1;
                out = malloc(end - s->pos + 1);
                if (!out)
                        return -ENOMEM;
        }

        for (;;) {
                char c;

                if (s->pos >= s->len)
                        return -EBADMSG;
                c = s->text[s->pos++];
                if (c == '"')
                        break;
                if (c != '\\') {
                        if (out)
                                out[n++] = c;
                        continue;
                }

                if (s->pos >= s->len)
                        return -EBADMSG;
                c = s->text[s->pos++];
                if (c != 'u') {
                        const char *from = "\"\\/bfnrt", *to = "\"\\/\b\f\n\r\t", *p = strchr(from, c);

                        if (!p || c == '\0')
                                return -EBADMSG;
                        if (out)
                                out[n++] = to[p - from];
                        continue;
                }

                uint32_t cp, lo;
                r = read_u16(s->text + s->pos, s->len - s->pos, &cp);
                if (r < 0)
                        return r;
                s->pos += 4;
                if (cp == 0) {
                        r = scan_problem(s, JSON_PROBLEM_ESCAPED_NUL, start, NULL);
                        if (r < 0)
                                return r;
                }
                if (cp >= 0xd800 && cp <= 0xdbff && s->len - s->pos >= 6 &&
                    s->text[s->pos] == '\\' && s->text[s->pos + 1] == 'u' &&
                    read_u16(s->text + s->pos + 2, s->len - s->pos - 2, &lo) >= 0 &&
                    lo >= 0xdc00 && lo <= 0xdfff) {
                        cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                        s->pos += 6;
                } else if (cp >= 0xd800 && cp <= 0xdfff)
                        cp = 0xfffd;    /* a lone surrogate, as json-c decodes it */
                if (out)
                        n += utf8_put(out + n, cp);
        }

        if (out) {
                out[n] = '\0';
                *ret_decoded = TAKE_PTR(out);
        }
        return 0;
}

static bool is_digit(char c) {
        return c >= '0' && c <= '9';
}

/* RFC 8259 numbers only: json-c also takes NaN, Infinity and "1.", which no policy needs. */
static size_t number_length(const char *p, size_t n) {
        size_t i = 0;

        if (i < n && p[i] == '-')
                i++;
        if (i < n && p[i] == '0')
                i++;
        else if (i < n && is_digit(p[i]))
                while (i < n && is_digit(p[i]))
                        i++;
        else
                return 0;
        if (i < n && p[i] == '.') {
                i++;
                if (i >= n || !is_digit(p[i]))
                        return 0;
                while (i < n && is_digit(p[i]))
                        i++;
        }
        if (i < n && (p[i] == 'e' || p[i] == 'E')) {
                i++;
                if (i < n && (p[i] == '+' || p[i] == '-'))
                        i++;
                if (i >= n || !is_digit(p[i]))
                        return 0;
                while (i < n && is_digit(p[i]))
                        i++;
        }
        return i;
}

static int scan_scalar(Scan *s) {
        static const char *const words[] = { "true", "false", "null" };
        const char *p = s->text + s->pos;
        size_t avail = s->len - s->pos, n = 0;

        for (size_t i = 0; i < ELEMENTSOF(words) && n == 0; i++)
                if (avail >= strlen(words[i]) && memcmp(p, words[i], strlen(words[i])) == 0)
                        n = strlen(words[i]);
        if (n == 0)
                n = number_length(p, avail);
        /* The token must end where a delimiter starts: "nulls" or "1x" are not JSON. */
        if (n == 0 || (n < avail && !strchr(",]} \t\r\n", p[n])) || (n < avail && p[n] == '\0'))
                return -EBADMSG;
        s->pos += n;
        return 0;
}

static int key_cmp(const void *a, const void *b) {
        const ScanKey *x = a, *y = b;
        int c = strcmp(x->name, y->name);

        if (c != 0)
                return c;
        return (x->offset > y->offset) - (x->offset < y->offset);
}

/* Sorting the object's keys finds duplicates in n log n even in a hostile megabyte of keys. */
static int scan_close_object(Scan *s, size_t first) {
        ScanKey *k = s->keys + first;
        size_t n = s->n_keys - first;
        int r = 0;

        if (n > 1)
                qsort(k, n, sizeof(ScanKey), key_cmp);
        for (size_t i = 1; i < n && r >= 0; i++)
                if (strcmp(k[i].name, k[i - 1].name) == 0)
                        r = scan_problem(s, JSON_PROBLEM_DUPLICATE_KEY, k[i].offset, k[i].name);
        for (size_t i = 0; i < n; i++)
                free(k[i].name);
        s->n_keys = first;
        return r;
}

static int scan_push_key(Scan *s, char *name, size_t offset) {
        if (s->n_keys >= s->n_alloc_keys) {
                size_t m = s->n_alloc_keys ? s->n_alloc_keys * 2 : 16;
                ScanKey *k = reallocarray(s->keys, m, sizeof(ScanKey));

                if (!k) {
                        free(name);
                        return -ENOMEM;
                }
                s->keys = k;
                s->n_alloc_keys = m;
        }
        s->keys[s->n_keys++] = (ScanKey) { .name = name, .offset = offset };
        return 0;
}

static int scan_object(Scan *s, unsigned depth) {
        size_t first = s->n_keys;
        int r;

        s->pos++;
        scan_skip_ws(s);
        if (scan_peek(s, '}')) {
                s->pos++;
                return 0;
        }

        for (;;) {
                char *name = NULL;
                size_t offset;

                scan_skip_ws(s);
                offset = s->pos;
                r = scan_string(s, &name);
                if (r < 0)
                        return r;
                r = scan_push_key(s, name, offset);
                if (r < 0)
                        return r;

                s->path.segments[s->path.n++] = (JsonPathSegment) { .key = name };
                if (s->target_key && path_is_target(s)) {
                        s->found = offset;
                        return 1;
                }

                scan_skip_ws(s);
                if (!scan_peek(s, ':'))
                        return -EBADMSG;
                s->pos++;
                r = scan_value(s, depth + 1);
                if (r != 0)
                        return r;
                s->path.n--;

                scan_skip_ws(s);
                if (scan_peek(s, ',')) {
                        s->pos++;
                        continue;
                }
                if (!scan_peek(s, '}'))
                        return -EBADMSG;
                s->pos++;
                return scan_close_object(s, first);
        }
}

static int scan_array(Scan *s, unsigned depth) {
        int r;

        s->pos++;
        scan_skip_ws(s);
        if (scan_peek(s, ']')) {
                s->pos++;
                return 0;
        }

        for (size_t i = 0;; i++) {
                s->path.segments[s->path.n++] = (JsonPathSegment) { .index = i };
                r = scan_value(s, depth + 1);
                if (r != 0)
                        return r;
                s->path.n--;

                scan_skip_ws(s);
                if (scan_peek(s, ',')) {
                        s->pos++;
                        continue;
                }
                if (!scan_peek(s, ']'))
                        return -EBADMSG;
                s->pos++;
                return 0;
        }
}

static int scan_value(Scan *s, unsigned depth) {
        scan_skip_ws(s);
        if (s->pos >= s->len)
                return -EBADMSG;
        if (!s->target_key && path_is_target(s)) {
                s->found = s->pos;
                return 1;
        }

        switch (s->text[s->pos]) {
        case '{':
        case '[':
                /* json-c enforces the same limit first; this only keeps the scanner's own stack bounded. */
                if (depth >= POLICY_JSON_DEPTH_MAX || s->path.n >= POLICY_JSON_DEPTH_MAX) {
                        int r = scan_problem(s, JSON_PROBLEM_TOO_DEEP, s->pos, NULL);
                        return r < 0 ? r : 1;
                }
                return s->text[s->pos] == '{' ? scan_object(s, depth) : scan_array(s, depth);
        case '"':
                return scan_string(s, NULL);
        default:
                return scan_scalar(s);
        }
}

static int scan_document(Scan *s) {
        int r;

        r = scan_value(s, 0);
        if (r != 0)
                return r;
        scan_skip_ws(s);
        return s->pos == s->len ? 0 : -EBADMSG;
}

int json_scan_check(const char *text, size_t len, JsonProblem *ret_problem, size_t *ret_offset, char **ret_key) {
        _cleanup_(scan_done) Scan s = { .text = text, .len = len };
        int r;

        if (!text || !ret_problem || !ret_offset)
                return -EINVAL;

        r = scan_document(&s);
        if (r == -EBADMSG)
                *ret_offset = s.pos;
        if (r < 0)
                return r;

        *ret_problem = s.problem;
        *ret_offset = s.problem_offset;
        if (ret_key)
                *ret_key = TAKE_PTR(s.problem_key);
        return 0;
}

int json_scan_locate(const char *text, size_t len, const JsonPath *path, bool at_key, size_t *ret_offset) {
        _cleanup_(scan_done) Scan s = { .text = text, .len = len, .target = path, .target_key = at_key };
        int r;

        if (!text || !path || !ret_offset || (at_key && path->n == 0))
                return -EINVAL;

        r = scan_document(&s);
        if (r < 0)
                return r;
        if (r == 0)
                return -ENOENT;
        *ret_offset = s.found;
        return 0;
}

/* Strict UTF-8 (RFC 3629): no overlong forms, no surrogates, nothing beyond U+10FFFF. */
static size_t utf8_sequence_length(const unsigned char *p, size_t avail) {
        unsigned char c = p[0];
        size_t n;
        uint8_t lo = 0x80, hi = 0xbf;

        if (c < 0x80)
                return 1;
        if (c >= 0xc2 && c <= 0xdf)
                n = 2;
        else if (c >= 0xe0 && c <= 0xef) {
                n = 3;
                if (c == 0xe0)
                        lo = 0xa0;
                else if (c == 0xed)
                        hi = 0x9f;
        } else if (c >= 0xf0 && c <= 0xf4) {
                n = 4;
                if (c == 0xf0)
                        lo = 0x90;
                else if (c == 0xf4)
                        hi = 0x8f;
        } else
                return 0;

        if (avail < n)
                return 0;
        if (p[1] < lo || p[1] > hi)
                return 0;
        for (size_t i = 2; i < n; i++)
                if (p[i] < 0x80 || p[i] > 0xbf)
                        return 0;
        return n;
}

size_t text_find_invalid(const char *text, size_t len, bool *ret_nul) {
        const unsigned char *p = (const unsigned char *) text;

        for (size_t i = 0; i < len;) {
                size_t n;

                if (p[i] == 0) {
                        if (ret_nul)
                                *ret_nul = true;
                        return i;
                }
                n = utf8_sequence_length(p + i, len - i);
                if (n == 0) {
                        if (ret_nul)
                                *ret_nul = false;
                        return i;
                }
                i += n;
        }
        return len;
}

void text_position(const char *text, size_t len, size_t offset, unsigned *ret_line, unsigned *ret_column) {
        unsigned line = 1, column = 1;

        if (offset > len)
                offset = len;
        for (size_t i = 0; i < offset; i++) {
                unsigned char c = (unsigned char) text[i];

                if (c == '\n') {
                        line++;
                        column = 1;
                } else if ((c & 0xc0) != 0x80)  /* continuation bytes belong to the previous character */
                        column++;
        }
        *ret_line = line;
        *ret_column = column;
}
