/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <langinfo.h>
#include <locale.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <wchar.h>

#include "ctl-table.h"
#include "ctl-util.h"
#include "vfiodctl.h"

void ctl_log(const char *format, ...) {
        va_list ap;

        fprintf(stderr, "%s: ", program_invocation_short_name);
        va_start(ap, format);
        vfprintf(stderr, format, ap);
        va_end(ap);
        fputc('\n', stderr);
}

int ctl_log_errno(int error, const char *format, ...) {
        va_list ap;

        if (error > 0)
                error = -error;
        if (error == 0)
                error = -EIO;

        fprintf(stderr, "%s: ", program_invocation_short_name);
        /* Make %m refer to the error we were given. */
        errno = -error;
        va_start(ap, format);
        vfprintf(stderr, format, ap);
        va_end(ap);
        fputc('\n', stderr);
        return error;
}

bool colors_enabled(void) {
        static int cached = -1;

        if (cached < 0) {
                const char *term = getenv("TERM");

                cached = isatty(STDOUT_FILENO) && !getenv("NO_COLOR") && !(term && streq(term, "dumb"));
        }
        return cached;
}

bool utf8_enabled(void) {
        static int cached = -1;
        const char *set;

        if (cached >= 0)
                return cached;

        set = nl_langinfo(CODESET);
        if (set && streq(set, "UTF-8"))
                return (cached = true);

        /* A plain "C" locale that nobody asked for explicitly means nothing was configured at all (a
         * service, a container): terminals are UTF-8 nowadays. An explicit non-UTF-8 locale is obeyed. */
        set = setlocale(LC_CTYPE, NULL);
        cached = (!set || streq(set, "C") || streq(set, "POSIX")) &&
                 !getenv("LC_ALL") && !getenv("LC_CTYPE") && !getenv("LANG");
        return cached;
}

const char *ansi(const char *sequence) {
        return colors_enabled() ? sequence : "";
}

const char *glyph_check_mark(void) {
        return utf8_enabled() ? "✓" : "+";
}

const char *glyph_cross_mark(void) {
        return utf8_enabled() ? "✗" : "x";
}

const char *glyph_dash(void) {
        return utf8_enabled() ? "—" : "-";
}

const char *glyph_ellipsis(void) {
        return utf8_enabled() ? "…" : "...";
}

/* Length of the UTF-8 sequence at p and its code point, or 0 when it is not valid UTF-8. */
static size_t utf8_decode(const unsigned char *p, uint32_t *ret) {
        uint32_t c;
        size_t n;

        if (p[0] < 0x80) {
                *ret = p[0];
                return 1;
        }
        if ((p[0] & 0xe0) == 0xc0) {
                n = 2;
                c = p[0] & 0x1f;
        } else if ((p[0] & 0xf0) == 0xe0) {
                n = 3;
                c = p[0] & 0x0f;
        } else if ((p[0] & 0xf8) == 0xf0) {
                n = 4;
                c = p[0] & 0x07;
        } else
                return 0;

        /* The string ends with NUL, which is no continuation byte: we never read past it. */
        for (size_t i = 1; i < n; i++) {
                if ((p[i] & 0xc0) != 0x80)
                        return 0;
                c = (c << 6) | (p[i] & 0x3f);
        }

        /* Overlong forms, surrogates and values beyond Unicode are not text. */
        if ((n == 2 && c < 0x80) || (n == 3 && c < 0x800) || (n == 4 && c < 0x10000) ||
            (c >= 0xd800 && c <= 0xdfff) || c > 0x10ffff)
                return 0;

        *ret = c;
        return n;
}

static size_t codepoint_width(uint32_t c) {
        int w;

        if (c < 0x80)
                return 1;
        w = wcwidth((wchar_t) c);
        /* Unknown to the C library (e.g. in the C locale): assume one column. */
        return w < 0 ? 1 : (size_t) w;
}

size_t text_clean(char *buf, size_t size, const char *s, size_t max_width) {
        const char *ellipsis = glyph_ellipsis();
        size_t ellipsis_len = strlen(ellipsis), ellipsis_width = text_width(ellipsis);
        size_t len = 0, width = 0, cut_len = 0, cut_width = 0;
        const unsigned char *p = (const unsigned char *) (s ?: "");

        if (size == 0)
                return 0;

        while (*p) {
                unsigned char one[1] = { '?' };
                const unsigned char *src = p;
                size_t n, w;
                uint32_t c;

                n = utf8_decode(p, &c);
                if (n == 0) {
                        /* One stray byte: replace it and resynchronise on the next. */
                        src = one;
                        n = 1;
                        w = 1;
                        p++;
                } else {
                        /* C0 and C1 controls (ESC, CSI, newlines) could rewrite the terminal or break lines. */
                        if (c < 0x20 || (c >= 0x7f && c < 0xa0)) {
                                src = one;
                                w = 1;
                                p += n;
                                n = 1;
                        } else {
                                w = codepoint_width(c);
                                p += n;
                        }
                }

                if (width + w > max_width || len + n + 1 > size) {
                        /* Does not fit: go back to the last place where the ellipsis still fits. */
                        if (cut_len + ellipsis_len + 1 <= size && cut_width + ellipsis_width <= max_width) {
                                memcpy(buf + cut_len, ellipsis, ellipsis_len);
                                buf[cut_len + ellipsis_len] = 0;
                                return cut_width + ellipsis_width;
                        }
                        buf[cut_len] = 0;
                        return cut_width;
                }

                memcpy(buf + len, src, n);
                len += n;
                width += w;

                if (width + ellipsis_width <= max_width && len + ellipsis_len + 1 <= size) {
                        cut_len = len;
                        cut_width = width;
                }
        }

        buf[len] = 0;
        return width;
}

size_t text_width(const char *s) {
        const unsigned char *p = (const unsigned char *) s;
        size_t width = 0;

        while (*p) {
                uint32_t c;
                size_t n;

                n = utf8_decode(p, &c);
                if (n == 0) {
                        width++;
                        p++;
                        continue;
                }
                width += codepoint_width(c);
                p += n;
        }
        return width;
}

const char *json_str(sd_json_variant *o, const char *key) {
        sd_json_variant *v;

        if (!o || !sd_json_variant_is_object(o))
                return NULL;
        v = sd_json_variant_by_key(o, key);
        if (!v || !sd_json_variant_is_string(v))
                return NULL;
        /* An empty string says nothing either: shown like a missing field. */
        return isempty(sd_json_variant_string(v)) ? NULL : sd_json_variant_string(v);
}

int json_bool(sd_json_variant *o, const char *key) {
        sd_json_variant *v;

        if (!o || !sd_json_variant_is_object(o))
                return -1;
        v = sd_json_variant_by_key(o, key);
        if (!v || !sd_json_variant_is_boolean(v))
                return -1;
        return !!sd_json_variant_boolean(v);
}

bool json_int(sd_json_variant *o, const char *key, int64_t *ret) {
        sd_json_variant *v;

        if (!o || !sd_json_variant_is_object(o))
                return false;
        v = sd_json_variant_by_key(o, key);
        /* is_integer is also true for unsigned values that fit in int64_t; larger ones are nonsense here. */
        if (!v || !sd_json_variant_is_integer(v))
                return false;
        *ret = sd_json_variant_integer(v);
        return true;
}

bool json_uint64(sd_json_variant *o, const char *key, uint64_t *ret) {
        sd_json_variant *v;

        if (!o || !sd_json_variant_is_object(o))
                return false;
        v = sd_json_variant_by_key(o, key);
        if (!v)
                return false;
        /* A bitmap with bit 63 set is above INT64_MAX: only is_unsigned sees it. */
        if (sd_json_variant_is_unsigned(v)) {
                *ret = sd_json_variant_unsigned(v);
                return true;
        }
        if (sd_json_variant_is_integer(v) && sd_json_variant_integer(v) >= 0) {
                *ret = (uint64_t) sd_json_variant_integer(v);
                return true;
        }
        return false;
}

sd_json_variant *json_array(sd_json_variant *o, const char *key) {
        sd_json_variant *v;

        if (!o || !sd_json_variant_is_object(o))
                return NULL;
        v = sd_json_variant_by_key(o, key);
        return v && sd_json_variant_is_array(v) ? v : NULL;
}

sd_json_variant *json_object(sd_json_variant *o, const char *key) {
        sd_json_variant *v;

        if (!o || !sd_json_variant_is_object(o))
                return NULL;
        v = sd_json_variant_by_key(o, key);
        return v && sd_json_variant_is_object(v) ? v : NULL;
}

/* Join the strings (or, with ints, the integers) of a JSON array; other elements are skipped.
 * snprintf() bounds it; once full, the caller's text_clean() shows the cut. */
static size_t join(sd_json_variant *array, const char *sep, bool ints, char *buf, size_t size) {
        size_t len = 0, n = 0;

        if (size == 0)
                return 0;
        buf[0] = 0;
        if (!array || !sd_json_variant_is_array(array))
                return 0;

        for (size_t i = 0; i < sd_json_variant_elements(array); i++) {
                sd_json_variant *e = sd_json_variant_by_index(array, i);
                const char *pre = n > 0 ? sep : "";
                int k;

                if (ints && e && sd_json_variant_is_integer(e))
                        k = snprintf(buf + len, size - len, "%s%" PRIi64, pre, sd_json_variant_integer(e));
                else if (!ints && e && sd_json_variant_is_string(e))
                        k = snprintf(buf + len, size - len, "%s%s", pre, sd_json_variant_string(e));
                else
                        continue;
                n++;
                if (k < 0 || (size_t) k >= size - len) {
                        len = size - 1;
                        break;
                }
                len += k;
        }
        return n;
}

size_t json_join(sd_json_variant *array, const char *sep, char *buf, size_t size) {
        return join(array, sep, false, buf, size);
}

size_t json_join_ints(sd_json_variant *array, const char *sep, char *buf, size_t size) {
        return join(array, sep, true, buf, size);
}

void ctl_strv_free(char **l) {
        for (char **i = l; i && *i; i++)
                free(*i);
        free(l);
}

const char *yes_no(int b) {
        return b < 0 ? "-" : b ? "yes" : "no";
}

int print_json(sd_json_variant *v, bool one_line) {
        _cleanup_(sd_json_variant_unrefp) sd_json_variant *empty = NULL;
        sd_json_format_flags_t flags = SD_JSON_FORMAT_NEWLINE | SD_JSON_FORMAT_COLOR_AUTO | SD_JSON_FORMAT_FLUSH;
        int r;

        if (!v) {
                /* A reply without parameters is still one object for the script. */
                r = sd_json_variant_new_object(&empty, NULL, 0);
                if (r < 0)
                        return ctl_log_errno(r, "Failed to allocate JSON object: %m");
                v = empty;
        }
        if (!one_line)
                flags |= SD_JSON_FORMAT_PRETTY_AUTO;

        r = sd_json_variant_dump(v, flags, stdout, NULL);
        if (r < 0)
                return ctl_log_errno(r, "Failed to write JSON: %m");
        return 0;
}

static bool address_is_url(const char *a) {
        static const char *const schemes[] = { "unix:", "exec:", "ssh:", "ssh-unix:", "ssh-exec:" };

        for (size_t i = 0; i < ELEMENTSOF(schemes); i++)
                if (strncmp(a, schemes[i], strlen(schemes[i])) == 0)
                        return true;
        return false;
}

int broker_connect(const char *address, sd_varlink **ret) {
        _cleanup_(sd_varlink_unrefp) sd_varlink *link = NULL;
        int r;

        if (address_is_url(address))
                r = sd_varlink_connect_url(&link, address);
        else
                r = sd_varlink_connect_address(&link, address);
        if (r < 0) {
                /* The usual cause: nothing listens because the socket unit is not started. */
                if (r == -ENOENT || r == -ECONNREFUSED)
                        return ctl_log_errno(r, "cannot reach vfiod at %s: %m %s is vfiod.socket running?",
                                             address, glyph_dash());
                return ctl_log_errno(r, "cannot reach vfiod at %s: %m", address);
        }

        (void) sd_varlink_set_description(link, "vfiod");
        *ret = TAKE_PTR(link);
        return 0;
}

static const char *method_short(const char *method) {
        const char *dot = strrchr(method, '.');

        return dot ? dot + 1 : method;
}

/* Denied: the message, then every failed check as explain shows it, on stderr. */
static int log_denied(const char *name, sd_json_variant *parameters) {
        static const char *const headers[] = { "", "CHECK", "SUBJECT", "WHY" };
        _cleanup_(table_freep) Table *t = NULL;
        sd_json_variant *checks = json_array(parameters, "checks");
        char buf[TEXT_MAX];
        int r;

        (void) text_clean(buf, sizeof buf, json_str(parameters, "message") ?: "a check failed", TEXT_MAX);
        ctl_log("vfiod denied %s: %s", name, buf);

        r = table_new(&t, ELEMENTSOF(headers), headers);
        if (r < 0)
                return -EACCES;

        for (size_t i = 0; checks && i < sd_json_variant_elements(checks); i++) {
                sd_json_variant *c = sd_json_variant_by_index(checks, i);

                /* Denied lists the failed checks; should a passed one come along, it is no reason. */
                if (!sd_json_variant_is_object(c) || json_bool(c, "passed") > 0)
                        continue;
                if (table_add(t, glyph_cross_mark(), NULL) < 0 ||
                    table_add(t, json_str(c, "code"), NULL) < 0 ||
                    table_add(t, json_str(c, "subject"), NULL) < 0 ||
                    table_addf(t, NULL, "%s %s", glyph_dash(), json_str(c, "sentence") ?: "-") < 0)
                        return -EACCES;
        }

        if (table_rows(t) > 0)
                (void) table_print(t, stderr, false, "  ");
        else if (json_join(json_array(parameters, "reasons"), ", ", buf, sizeof buf) > 0) {
                /* No checks with sentences: at least the codes. */
                char clean[TEXT_MAX];

                (void) text_clean(clean, sizeof clean, buf, TEXT_MAX);
                fprintf(stderr, "  failed: %s\n", clean);
        }
        return -EACCES;
}

/* Busy: "0000:01:00.0 is busy: lease L of uid U (pid P)". */
static int log_busy(sd_json_variant *parameters) {
        char device[TEXT_MAX], lease[TEXT_MAX], pid_text[32] = "";
        int64_t uid, pid;

        (void) text_clean(device, sizeof device, json_str(parameters, "device") ?: "the device", 64);
        if (!json_str(parameters, "leaseId")) {
                /* Another user's lease: vfiod does not say whose. */
                ctl_log("%s is busy: leased by another user", device);
                return -EBUSY;
        }
        (void) text_clean(lease, sizeof lease, json_str(parameters, "leaseId") ?: "-", 128);
        if (json_int(parameters, "pid", &pid))
                (void) snprintf(pid_text, sizeof pid_text, " (pid %" PRIi64 ")", pid);
        if (json_int(parameters, "uid", &uid))
                ctl_log("%s is busy: lease %s of uid %" PRIi64 "%s", device, lease, uid, pid_text);
        else
                ctl_log("%s is busy: lease %s%s", device, lease, pid_text);
        return -EBUSY;
}

/* The errors that only carry a message (and maybe the device it is about). */
static int log_message(const char *name, sd_json_variant *parameters, const char *what, int error) {
        char buf[TEXT_MAX], device[TEXT_MAX];
        const char *d = json_str(parameters, "device"), *m = json_str(parameters, "message");

        (void) text_clean(buf, sizeof buf, m ?: what, TEXT_MAX);
        /* Name the device unless the message already does. */
        if (d && !(m && strstr(m, d))) {
                (void) text_clean(device, sizeof device, d, 64);
                ctl_log("%s: %s", device, buf);
        } else if (m)
                ctl_log("%s", buf);
        else
                ctl_log("%s failed: %s", name, buf);
        return error;
}

int broker_log_error(const char *method, const char *error_id, sd_json_variant *parameters) {
        char buf[TEXT_MAX], what[TEXT_MAX];
        const char *name = method_short(method);
        int r;

        r = sd_varlink_error_to_errno(error_id, parameters);
        if (r >= 0)
                r = -EBADR;

        if (streq(error_id, VFIOD_INTERFACE ".NoSuchDevice")) {
                (void) text_clean(buf, sizeof buf, json_str(parameters, "device") ?: "-", TEXT_MAX);
                ctl_log("no PCI device %s", buf);
                return -ENODEV;
        }
        if (streq(error_id, VFIOD_INTERFACE ".PolicyInvalid")) {
                (void) text_clean(buf, sizeof buf, json_str(parameters, "message") ?: "(no message)", TEXT_MAX);
                ctl_log("policy rejected, the previous policy stays: %s", buf);
                return -EINVAL;
        }
        if (streq(error_id, VFIOD_INTERFACE ".Denied"))
                return log_denied(name, parameters);
        if (streq(error_id, VFIOD_INTERFACE ".Busy"))
                return log_busy(parameters);
        if (streq(error_id, VFIOD_INTERFACE ".BindFailed"))
                return log_message(name, parameters, "the kernel did not move the device; the host is as it was",
                                   -EIO);
        if (streq(error_id, VFIOD_INTERFACE ".Timeout"))
                return log_message(name, parameters, "timed out", -ETIMEDOUT);
        if (streq(error_id, VFIOD_INTERFACE ".NotSupported"))
                return log_message(name, parameters, "vfio-pci or the type1 container is not available",
                                   -EOPNOTSUPP);
        if (streq(error_id, VFIOD_INTERFACE ".NoSuchLease")) {
                (void) text_clean(buf, sizeof buf, json_str(parameters, "leaseId") ?: "-", 128);
                ctl_log("no lease %s", buf);
                return -ENOENT;
        }
        if (streq(error_id, "org.varlink.service.MethodNotFound") ||
            streq(error_id, "org.varlink.service.InterfaceNotFound") ||
            streq(error_id, "org.varlink.service.MethodNotImplemented")) {
                (void) text_clean(buf, sizeof buf, arg_address, TEXT_MAX);
                ctl_log("vfiod at %s does not implement %s (is it older than vfiodctl?)", buf, name);
                return -EOPNOTSUPP;
        }
        if (streq(error_id, "org.varlink.service.InvalidParameter")) {
                (void) text_clean(buf, sizeof buf, json_str(parameters, "parameter") ?: "-", TEXT_MAX);
                ctl_log("vfiod rejected the parameter '%s' of %s", buf, name);
                return -EINVAL;
        }
        if (streq(error_id, "io.systemd.Disconnected"))
                return ctl_log_errno(r, "vfiod closed the connection during %s", name);
        if (streq(error_id, "io.systemd.TimedOut"))
                return ctl_log_errno(r, "vfiod did not answer %s in time", name);
        if (streq(error_id, "org.varlink.service.PermissionDenied") ||
            streq(error_id, "io.systemd.System"))
                /* io.systemd.System carries an errno; sd_varlink_error_to_errno() decoded it above. */
                return ctl_log_errno(r, "vfiod refused %s: %m", name);

        (void) text_clean(what, sizeof what, error_id, TEXT_MAX);
        ctl_log("%s failed: vfiod replied %s", name, what);
        return r;
}

int broker_call(sd_varlink *link, const char *method, sd_json_variant *parameters, sd_json_variant **ret) {
        const char *error_id = NULL;
        sd_json_variant *reply = NULL;
        int r;

        r = sd_varlink_call(link, method, parameters, &reply, &error_id);
        if (r < 0)
                return ctl_log_errno(r, "failed to call %s on vfiod at %s: %m", method_short(method), arg_address);
        if (error_id)
                return broker_log_error(method, error_id, reply);
        if (reply && !sd_json_variant_is_object(reply))
                return ctl_log_errno(-EBADMSG, "vfiod sent a malformed reply to %s", method_short(method));

        *ret = reply;
        return 0;
}
