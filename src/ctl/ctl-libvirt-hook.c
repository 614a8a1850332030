/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vfiodctl libvirt-hook NAME OPERATION SUB-OPERATION EXTRA, the domain XML on stdin: libvirt's
 * qemu hook (/etc/libvirt/hooks/qemu.d/50-vfiod execs it, which also takes it out of libvirtd's
 * AppArmor profile). On "prepare begin" it binds the domain's PCI hostdevs through vfiod as one
 * lease labelled with the domain; on "release end" it releases that lease. It talks to vfiod
 * only, never to libvirt (libvirt forbids calls back from a hook). Everything it says goes to
 * stderr, which libvirt puts into virsh's error: one line per reason. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ctl-util.h"
#include "domain-xml.h"
#include "vfiodctl.h"

#define HOOK_CONF VFIOD_SYSCONFDIR "/vfiod/libvirt-hook.conf"
#define HOOK_CONF_SIZE_MAX 4096
#define HOOK_TIMEOUT_DEFAULT_SEC 120
#define HOOK_TIMEOUT_MAX_SEC 3600
#define OWNER_KIND "libvirt-domain"

typedef struct HookConfig {
        bool pass_when_unreachable;   /* unreachable=pass; default refuse */
        unsigned timeout_sec;
} HookConfig;

static void say(const char *format, ...) _printf_(1, 2);
static void say(const char *format, ...) {
        char buf[TEXT_MAX], clean[TEXT_MAX];
        va_list ap;

        va_start(ap, format);
        (void) vsnprintf(buf, sizeof buf, format, ap);
        va_end(ap);
        /* Text from vfiod's replies: no control characters reach libvirt's log or a terminal. */
        (void) text_clean(clean, sizeof clean, buf, TEXT_MAX);
        fprintf(stderr, "vfiod: %s\n", clean);
}

/* key=value lines, '#' comments. A file not owned by root or writable by others is ignored
 * (with the defaults, which refuse). */
static void config_load(HookConfig *c) {
        _cleanup_close_ int fd = -EBADF;
        char buf[HOOK_CONF_SIZE_MAX + 1];
        struct stat st;
        ssize_t n;

        *c = (HookConfig) { .timeout_sec = HOOK_TIMEOUT_DEFAULT_SEC };
        fd = open(HOOK_CONF, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
        if (fd < 0)
                return;
        if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_uid != 0 || (st.st_mode & 0022)) {
                say("ignoring %s: not a regular file owned by root and writable only by root", HOOK_CONF);
                return;
        }
        n = read(fd, buf, HOOK_CONF_SIZE_MAX + 1);
        if (n < 0 || n > HOOK_CONF_SIZE_MAX) {
                say("ignoring %s: unreadable or larger than %d bytes", HOOK_CONF, HOOK_CONF_SIZE_MAX);
                return;
        }
        buf[n] = 0;
        for (char *line = buf, *next; line && *line; line = next) {
                char *eq, *key, *value, *e;

                next = strchr(line, '\n');
                if (next)
                        *next++ = 0;
                line += strspn(line, " \t");
                if (!*line || *line == '#')
                        continue;
                eq = strchr(line, '=');
                if (!eq) {
                        say("%s: ignoring a line without '='", HOOK_CONF);
                        continue;
                }
                *eq = 0;
                key = line;
                value = eq + 1;
                for (e = eq; e > key && (e[-1] == ' ' || e[-1] == '\t'); e--)
                        e[-1] = 0;
                value += strspn(value, " \t");
                for (e = value + strlen(value); e > value && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'); e--)
                        e[-1] = 0;
                if (streq(key, "unreachable") && (streq(value, "refuse") || streq(value, "pass")))
                        c->pass_when_unreachable = streq(value, "pass");
                else if (streq(key, "timeout")) {
                        char *end;
                        unsigned long t = strtoul(value, &end, 10);
                        if (*value && !*end && t >= 1 && t <= HOOK_TIMEOUT_MAX_SEC)
                                c->timeout_sec = t;
                        else
                                say("%s: timeout= takes 1 to %d seconds", HOOK_CONF, HOOK_TIMEOUT_MAX_SEC);
                } else
                        say("%s: ignoring unknown setting or value for '%s'", HOOK_CONF, key);
        }
}

static int read_stdin(char **ret, size_t *ret_size) {
        _cleanup_free_ char *buf = NULL;
        size_t size = 0, alloc = 0;

        for (;;) {
                ssize_t n;

                if (size + 65536 > alloc) {
                        char *p;
                        if (alloc >= DOMAIN_XML_SIZE_MAX + 65536)
                                return -E2BIG;
                        alloc = alloc ? alloc * 2 : 65536 * 2;
                        p = realloc(buf, alloc + 1);
                        if (!p)
                                return -ENOMEM;
                        buf = p;
                }
                n = read(STDIN_FILENO, buf + size, alloc - size);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return -errno;
                if (n == 0)
                        break;
                size += n;
                if (size > DOMAIN_XML_SIZE_MAX)
                        return -E2BIG;
        }
        if (!buf)
                buf = calloc(1, 1);
        if (!buf)
                return -ENOMEM;
        buf[size] = 0;
        *ret = TAKE_PTR(buf);
        *ret_size = size;
        return 0;
}

static int read_domain(DomainXml **ret) {
        _cleanup_free_ char *xml = NULL;
        DomainXml *d;
        size_t size = 0;
        int r;

        r = read_stdin(&xml, &size);
        if (r < 0) {
                say("cannot read the domain XML on stdin: %s", strerror(-r));
                return r;
        }
        d = calloc(1, sizeof(DomainXml));
        if (!d)
                return -ENOMEM;
        r = domain_xml_parse(xml, size, d);
        if (r < 0) {
                say("cannot read the domain XML on stdin (%s): its PCI host devices were not checked",
                    r == -E2BIG ? "too large or too many devices" : "not well-formed, or a PCI hostdev without a valid source address");
                free(d);
                return r;
        }
        for (char *p = d->uuid; *p; p++)
                if (*p >= 'A' && *p <= 'F')
                        *p += 'a' - 'A';
        *ret = d;
        return 0;
}

static int hook_connect(const HookConfig *c, sd_varlink **ret) {
        _cleanup_(sd_varlink_unrefp) sd_varlink *link = NULL;
        int r;

        r = sd_varlink_connect_address(&link, arg_address);
        if (r < 0)
                return r;
        r = sd_varlink_set_relative_timeout(link, (uint64_t) c->timeout_sec * 1000000ULL);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(link);
        return 0;
}

static int unreachable(const HookConfig *c, int error, bool prepare) {
        if (!prepare) {
                say("not reachable at %s (%s); nothing to give back through it", arg_address, strerror(-error));
                return EXIT_SUCCESS;
        }
        say("not reachable at %s (%s): the domain's PCI host devices were not checked; %s "
            "(unreachable=%s in %s)", arg_address, strerror(-error),
            c->pass_when_unreachable ? "starting anyway" : "start vfiod.socket, or set unreachable=pass",
            c->pass_when_unreachable ? "pass" : "refuse", HOOK_CONF);
        return c->pass_when_unreachable ? EXIT_SUCCESS : EXIT_DENIED;
}

/* One line per reason: for Denied each failed check, else the error and its message. */
static void say_error(const char *error_id, sd_json_variant *p) {
        const char *name = strrchr(error_id, '.') ? strrchr(error_id, '.') + 1 : error_id;
        sd_json_variant *checks = json_array(p, "checks");

        if (streq(error_id, VFIOD_INTERFACE ".Denied") && checks && sd_json_variant_elements(checks) > 0) {
                for (size_t i = 0; i < sd_json_variant_elements(checks) && i < 64; i++) {
                        sd_json_variant *c = sd_json_variant_by_index(checks, i);
                        say("%s: %s", json_str(c, "code") ?: "?", json_str(c, "sentence") ?: "");
                }
                return;
        }
        say("%s: %s", name, json_str(p, "message") ?: json_str(p, "device") ?: "no further detail");
}

static int call(sd_varlink *link, const char *method, sd_json_variant *params, sd_json_variant **ret) {
        const char *error_id = NULL;
        sd_json_variant *reply = NULL;
        int r;

        r = sd_varlink_call(link, method, params, &reply, &error_id);
        if (r < 0) {
                say("%s on vfiod failed: %s", strrchr(method, '.') + 1,
                    r == -ETIMEDOUT ? "no answer in time (timeout= in " HOOK_CONF ")" : strerror(-r));
                return r;
        }
        if (error_id) {
                say_error(error_id, reply);
                return -EBADR;
        }
        if (ret)
                *ret = reply;
        return 0;
}

static bool lease_is_domains(sd_json_variant *lease, const DomainXml *d) {
        sd_json_variant *o = json_object(lease, "owner");
        const char *kind = json_str(o, "kind"), *uuid = json_str(o, "uuid");

        return kind && uuid && streq(kind, OWNER_KIND) && streq(uuid, d->uuid);
}

static bool lease_has_all(sd_json_variant *lease, const DomainXml *d) {
        sd_json_variant *devices = json_array(lease, "devices");

        for (size_t i = 0; i < d->n_devices; i++) {
                bool found = false;
                for (size_t k = 0; !found && k < sd_json_variant_elements(devices); k++) {
                        sd_json_variant *e = sd_json_variant_by_index(devices, k);
                        found = sd_json_variant_is_string(e) && streq(sd_json_variant_string(e), d->devices[i]);
                }
                if (!found)
                        return false;
        }
        return true;
}

/* Release every lease labelled with this domain, except keep (may be NULL). */
static int release_domain_leases(sd_varlink *link, const DomainXml *d, sd_json_variant *leases, const char *keep) {
        int ret = 0;

        for (size_t i = 0; i < sd_json_variant_elements(leases) && i < 4096; i++) {
                _cleanup_(sd_json_variant_unrefp) sd_json_variant *params = NULL;
                sd_json_variant *l = sd_json_variant_by_index(leases, i);
                const char *id = json_str(l, "id");
                int r;

                if (!id || !lease_is_domains(l, d) || (keep && streq(id, keep)))
                        continue;
                r = sd_json_buildo(&params, SD_JSON_BUILD_PAIR_STRING("leaseId", id));
                if (r >= 0)
                        r = call(link, VFIOD_INTERFACE ".Release", params, NULL);
                if (r < 0)
                        ret = r;
        }
        return ret;
}

static int hook_prepare(const HookConfig *c, const char *name) {
        _cleanup_(sd_varlink_flush_close_unrefp) sd_varlink *link = NULL;
        _cleanup_(sd_json_variant_unrefp) sd_json_variant *params = NULL, *devices = NULL;
        _cleanup_free_ DomainXml *d = NULL;
        sd_json_variant *reply = NULL, *leases;
        int r;

        r = read_domain(&d);
        if (r < 0)
                return EXIT_DENIED;
        if (d->n_devices == 0)
                return EXIT_SUCCESS;   /* nothing of vfiod's: never contact it */
        if (!streq(d->name, name)) {
                say("the domain XML names '%s', the hook was called for '%s': refusing", d->name, name);
                return EXIT_DENIED;
        }

        r = hook_connect(c, &link);
        if (r < 0)
                return unreachable(c, r, true);

        /* A lease left from an earlier start (its release end never ran): keep it if it holds all
         * our devices, else give it back first, so the new Bind is not Busy with ourselves. */
        r = call(link, VFIOD_INTERFACE ".ListLeases", NULL, &reply);
        if (r == -ECONNREFUSED || r == -ENOENT || r == -ECONNRESET)
                return unreachable(c, r, true);
        if (r < 0)
                return EXIT_DENIED;
        leases = json_array(reply, "leases");
        for (size_t i = 0; i < sd_json_variant_elements(leases) && i < 4096; i++) {
                sd_json_variant *l = sd_json_variant_by_index(leases, i);
                if (lease_is_domains(l, d) && lease_has_all(l, d) && json_str(l, "state") && streq(json_str(l, "state"), "active"))
                        return EXIT_SUCCESS;
        }
        (void) release_domain_leases(link, d, leases, NULL);

        for (size_t i = 0; i < d->n_devices; i++) {
                r = sd_json_variant_append_arrayb(&devices, SD_JSON_BUILD_STRING(d->devices[i]));
                if (r < 0)
                        return r;
        }
        r = sd_json_buildo(&params,
                           SD_JSON_BUILD_PAIR_VARIANT("devices", devices),
                           SD_JSON_BUILD_PAIR("owner", SD_JSON_BUILD_OBJECT(
                                                      SD_JSON_BUILD_PAIR_STRING("kind", OWNER_KIND),
                                                      SD_JSON_BUILD_PAIR_STRING("name", name),
                                                      SD_JSON_BUILD_PAIR_STRING("uuid", d->uuid))));
        if (r < 0)
                return r;
        r = call(link, VFIOD_INTERFACE ".Bind", params, NULL);
        if (r == -ECONNREFUSED || r == -ENOENT || r == -ECONNRESET)
                return unreachable(c, r, true);
        return r < 0 ? EXIT_DENIED : EXIT_SUCCESS;
}

static int hook_release(const HookConfig *c) {
        _cleanup_(sd_varlink_flush_close_unrefp) sd_varlink *link = NULL;
        _cleanup_free_ DomainXml *d = NULL;
        sd_json_variant *reply = NULL;
        int r;

        r = read_domain(&d);
        if (r < 0)
                return EXIT_DENIED;
        if (!*d->uuid)
                return EXIT_SUCCESS;
        r = hook_connect(c, &link);
        if (r < 0)
                return unreachable(c, r, false);
        r = call(link, VFIOD_INTERFACE ".ListLeases", NULL, &reply);
        if (r < 0)
                return EXIT_DENIED;
        /* No lease (prepare failed, or this already ran): nothing to do. */
        r = release_domain_leases(link, d, json_array(reply, "leases"), NULL);
        return r < 0 ? EXIT_DENIED : EXIT_SUCCESS;
}

int libvirt_hook_main(int argc, char *argv[]) {
        HookConfig c;
        const char *name, *op, *sub;

        /* argv: NAME OPERATION SUB-OPERATION EXTRA (libvirt's order); some operations pass fewer. */
        if (argc < 2) {
                fprintf(stderr, "usage: vfiodctl libvirt-hook NAME OPERATION SUB-OPERATION EXTRA < DOMAIN-XML\n");
                return EXIT_USAGE;
        }
        name = argv[0];
        op = argv[1];
        sub = argc > 2 ? argv[2] : "-";

        /* migrate and restore read stdout as the new XML: empty means unchanged. Every other
         * operation but these two must never fail (a failing reconnect or started kills QEMU). */
        if (streq(op, "prepare") && streq(sub, "begin")) {
                config_load(&c);
                return hook_prepare(&c, name);
        }
        if (streq(op, "release") && streq(sub, "end")) {
                config_load(&c);
                return hook_release(&c);
        }
        return EXIT_SUCCESS;
}
