/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "domain-xml.h"

#define DEPTH_MAX 64
#define ELEMENT_NAME_MAX 64
#define ATTR_VALUE_MAX 1024
#define ATTRS_MAX 64

/* Where an element sits, as far as we care. */
typedef enum Place {
        PLACE_OTHER,
        PLACE_DOMAIN,          /* /domain */
        PLACE_NAME,            /* /domain/name */
        PLACE_UUID,            /* /domain/uuid */
        PLACE_DEVICES,         /* /domain/devices */
        PLACE_HOSTDEV,         /* /domain/devices/hostdev[@mode=subsystem][@type=pci], /domain/devices/interface[@type=hostdev] */
        PLACE_SOURCE,          /* .../hostdev/source */
} Place;

typedef struct Frame {
        char name[ELEMENT_NAME_MAX + 1];
        Place place;
        bool interface;        /* PLACE_HOSTDEV from an <interface> (non-PCI addresses are not ours) */
        bool has_address;      /* PLACE_HOSTDEV: its source had a PCI address */
} Frame;

typedef struct Attr {
        char name[ELEMENT_NAME_MAX + 1];
        char value[ATTR_VALUE_MAX + 1];
} Attr;

typedef struct Parser {
        const char *p, *end;
        Frame stack[DEPTH_MAX];
        size_t depth;
        bool seen_root;
        DomainXml *out;
        size_t name_len, uuid_len;
} Parser;

static bool is_space(char c) {
        return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static bool is_name_char(char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '_' || c == ':' || c == '.' || c == '-';
}

static bool starts(const Parser *x, const char *s) {
        size_t n = strlen(s);
        return (size_t) (x->end - x->p) >= n && memcmp(x->p, s, n) == 0;
}

/* Skip past the terminator; -EBADMSG if there is none. */
static int skip_past(Parser *x, const char *term) {
        size_t n = strlen(term);

        for (; x->p + n <= x->end; x->p++)
                if (memcmp(x->p, term, n) == 0) {
                        x->p += n;
                        return 0;
                }
        return -EBADMSG;
}

static int append_utf8(char *buf, size_t size, size_t *len, uint32_t c) {
        char tmp[4];
        size_t n;

        if (c == 0 || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
                return -EBADMSG;
        if (c < 0x80)
                tmp[0] = c, n = 1;
        else if (c < 0x800)
                tmp[0] = 0xc0 | (c >> 6), tmp[1] = 0x80 | (c & 0x3f), n = 2;
        else if (c < 0x10000)
                tmp[0] = 0xe0 | (c >> 12), tmp[1] = 0x80 | ((c >> 6) & 0x3f), tmp[2] = 0x80 | (c & 0x3f), n = 3;
        else
                tmp[0] = 0xf0 | (c >> 18), tmp[1] = 0x80 | ((c >> 12) & 0x3f), tmp[2] = 0x80 | ((c >> 6) & 0x3f),
                tmp[3] = 0x80 | (c & 0x3f), n = 4;
        if (*len + n >= size)
                return -E2BIG;
        memcpy(buf + *len, tmp, n);
        *len += n;
        buf[*len] = 0;
        return 0;
}

/* Decode text or an attribute value from [s, e) into buf: the five predefined entities and
 * character references; '<' is not allowed raw. buf may be NULL (only check). */
static int decode(const char *s, const char *e, char *buf, size_t size, size_t *len) {
        static const struct { const char *name; char c; } entities[] = {
                { "amp;", '&' }, { "lt;", '<' }, { "gt;", '>' }, { "quot;", '"' }, { "apos;", '\'' },
        };
        size_t dummy = 0;
        int r;

        if (!len)
                len = &dummy;
        while (s < e) {
                uint32_t c;

                if (*s == '<')
                        return -EBADMSG;
                if (*s != '&') {
                        if (buf) {
                                if (*len + 1 >= size)
                                        return -E2BIG;
                                buf[(*len)++] = *s;
                                buf[*len] = 0;
                        }
                        s++;
                        continue;
                }
                s++;
                if (s < e && *s == '#') {
                        char *stop;
                        unsigned long v;
                        bool hex = s + 1 < e && s[1] == 'x';
                        const char *digits = s + (hex ? 2 : 1);
                        const char *semi = memchr(digits, ';', e - digits);

                        if (!semi || semi == digits || semi - digits > 8)
                                return -EBADMSG;
                        if (strspn(digits, hex ? "0123456789abcdefABCDEF" : "0123456789") < (size_t) (semi - digits))
                                return -EBADMSG;
                        v = strtoul(digits, &stop, hex ? 16 : 10);
                        if (stop != semi)
                                return -EBADMSG;
                        c = v;
                        s = semi + 1;
                } else {
                        size_t i;

                        for (i = 0; i < sizeof entities / sizeof entities[0]; i++)
                                if ((size_t) (e - s) >= strlen(entities[i].name) &&
                                    memcmp(s, entities[i].name, strlen(entities[i].name)) == 0)
                                        break;
                        if (i == sizeof entities / sizeof entities[0])
                                return -EBADMSG;
                        c = (unsigned char) entities[i].c;
                        s += strlen(entities[i].name);
                }
                if (buf) {
                        r = append_utf8(buf, size, len, c);
                        if (r < 0)
                                return r;
                } else if (c == 0 || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
                        return -EBADMSG;
        }
        return 0;
}

static const char *attr_get(const Attr *a, size_t n, const char *name) {
        for (size_t i = 0; i < n; i++)
                if (strcmp(a[i].name, name) == 0)
                        return a[i].value;
        return NULL;
}

/* libvirt reads these with base 0 (decimal, 0x hex, leading-0 octal); so do we, strictly. */
static int parse_number(const char *s, unsigned long max, unsigned long *ret) {
        unsigned long v;
        char *end;

        if (!s || !*s || *s == '-' || *s == '+' || is_space(*s))
                return -EBADMSG;
        errno = 0;
        v = strtoul(s, &end, 0);
        if (errno != 0 || *end || v > max)
                return -EBADMSG;
        *ret = v;
        return 0;
}

static int add_address(Parser *x, const Attr *a, size_t n) {
        unsigned long dom, bus, slot, fn;
        char buf[64], canon[PCI_ADDRESS_STRLEN_MAX + 1];
        DomainXml *o = x->out;
        int r;

        if (parse_number(attr_get(a, n, "domain"), 0xffffffffUL, &dom) < 0 ||
            parse_number(attr_get(a, n, "bus"), 0xff, &bus) < 0 ||
            parse_number(attr_get(a, n, "slot"), 0x1f, &slot) < 0 ||
            parse_number(attr_get(a, n, "function"), 7, &fn) < 0)
                return -EBADMSG;
        snprintf(buf, sizeof buf, "%04lx:%02lx:%02lx.%lx", dom, bus, slot, fn);
        r = pci_address_normalize(buf, canon);
        if (r < 0)
                return -EBADMSG;
        for (size_t i = 0; i < o->n_devices; i++)
                if (strcmp(o->devices[i], canon) == 0)
                        return 0;
        if (o->n_devices >= DOMAIN_XML_DEVICES_MAX)
                return -E2BIG;
        strcpy(o->devices[o->n_devices++], canon);
        return 0;
}

static Place place_of(const Parser *x, const char *name, const Attr *a, size_t n, bool *interface) {
        const Frame *parent = x->depth > 0 ? &x->stack[x->depth - 1] : NULL;
        const char *mode, *type;

        *interface = false;
        if (!parent)
                return strcmp(name, "domain") == 0 ? PLACE_DOMAIN : PLACE_OTHER;
        switch (parent->place) {
        case PLACE_DOMAIN:
                if (strcmp(name, "name") == 0)
                        return PLACE_NAME;
                if (strcmp(name, "uuid") == 0)
                        return PLACE_UUID;
                if (strcmp(name, "devices") == 0)
                        return PLACE_DEVICES;
                return PLACE_OTHER;
        case PLACE_DEVICES:
                mode = attr_get(a, n, "mode");
                type = attr_get(a, n, "type");
                /* libvirt's default hostdev mode is subsystem. */
                if (strcmp(name, "hostdev") == 0 && (!mode || strcmp(mode, "subsystem") == 0) && type && strcmp(type, "pci") == 0)
                        return PLACE_HOSTDEV;
                if (strcmp(name, "interface") == 0 && type && strcmp(type, "hostdev") == 0) {
                        *interface = true;
                        return PLACE_HOSTDEV;
                }
                return PLACE_OTHER;
        case PLACE_HOSTDEV:
                return strcmp(name, "source") == 0 ? PLACE_SOURCE : PLACE_OTHER;
        default:
                return PLACE_OTHER;
        }
}

static int text(Parser *x, const char *s, const char *e) {
        Frame *f = x->depth > 0 ? &x->stack[x->depth - 1] : NULL;

        if (f && f->place == PLACE_NAME)
                return decode(s, e, x->out->name, sizeof x->out->name, &x->name_len);
        if (f && f->place == PLACE_UUID)
                return decode(s, e, x->out->uuid, sizeof x->out->uuid, &x->uuid_len);
        if (!f) {
                /* Outside the root only white space. */
                for (; s < e; s++)
                        if (!is_space(*s))
                                return -EBADMSG;
                return 0;
        }
        return decode(s, e, NULL, 0, NULL);
}

static int element_end(Parser *x) {
        Frame *f = &x->stack[x->depth - 1];

        /* A PCI hostdev we cannot place is not passed through silently. */
        if (f->place == PLACE_HOSTDEV && !f->interface && !f->has_address)
                return -EBADMSG;
        x->depth--;
        return 0;
}

static int start_tag(Parser *x) {
        Attr *attrs;
        size_t n_attrs = 0, len;
        char name[ELEMENT_NAME_MAX + 1];
        bool empty = false, interface;
        Frame *f;
        int r = 0;

        x->p++; /* '<' */
        for (len = 0; x->p < x->end && is_name_char(*x->p); x->p++, len++)
                if (len >= ELEMENT_NAME_MAX)
                        return -E2BIG;
        if (len == 0)
                return -EBADMSG;
        memcpy(name, x->p - len, len);
        name[len] = 0;

        attrs = calloc(ATTRS_MAX, sizeof(Attr));
        if (!attrs)
                return -ENOMEM;
        for (;;) {
                const char *v;
                char q;
                bool sp = false;

                while (x->p < x->end && is_space(*x->p))
                        x->p++, sp = true;
                if (x->p >= x->end) {
                        r = -EBADMSG;
                        goto out;
                }
                if (*x->p == '>') {
                        x->p++;
                        break;
                }
                if (*x->p == '/') {
                        if (x->p + 1 >= x->end || x->p[1] != '>') {
                                r = -EBADMSG;
                                goto out;
                        }
                        x->p += 2;
                        empty = true;
                        break;
                }
                if (!sp || n_attrs >= ATTRS_MAX) {
                        r = n_attrs >= ATTRS_MAX ? -E2BIG : -EBADMSG;
                        goto out;
                }
                Attr *a = &attrs[n_attrs];
                for (len = 0; x->p < x->end && is_name_char(*x->p); x->p++, len++)
                        if (len >= ELEMENT_NAME_MAX) {
                                r = -E2BIG;
                                goto out;
                        }
                if (len == 0) {
                        r = -EBADMSG;
                        goto out;
                }
                memcpy(a->name, x->p - len, len);
                a->name[len] = 0;
                if (attr_get(attrs, n_attrs, a->name)) {
                        r = -EBADMSG;
                        goto out;
                }
                while (x->p < x->end && is_space(*x->p))
                        x->p++;
                if (x->p >= x->end || *x->p != '=') {
                        r = -EBADMSG;
                        goto out;
                }
                x->p++;
                while (x->p < x->end && is_space(*x->p))
                        x->p++;
                if (x->p >= x->end || (*x->p != '\'' && *x->p != '"')) {
                        r = -EBADMSG;
                        goto out;
                }
                q = *x->p++;
                v = memchr(x->p, q, x->end - x->p);
                if (!v) {
                        r = -EBADMSG;
                        goto out;
                }
                len = 0;
                a->value[0] = 0;
                r = decode(x->p, v, a->value, sizeof a->value, &len);
                if (r < 0)
                        goto out;
                x->p = v + 1;
                n_attrs++;
        }

        if (x->depth == 0) {
                if (x->seen_root) {
                        r = -EBADMSG;
                        goto out;
                }
                x->seen_root = true;
        }
        if (x->depth >= DEPTH_MAX) {
                r = -E2BIG;
                goto out;
        }
        f = &x->stack[x->depth];
        *f = (Frame) { .place = place_of(x, name, attrs, n_attrs, &interface), .interface = interface };
        strcpy(f->name, name);
        x->depth++;

        /* <address> in a hostdev's <source>: the host device (the guest address is hostdev/address). */
        if (strcmp(name, "address") == 0 && x->depth >= 3 && x->stack[x->depth - 2].place == PLACE_SOURCE) {
                Frame *hostdev = &x->stack[x->depth - 3];
                const char *type = attr_get(attrs, n_attrs, "type");

                if (!type || strcmp(type, "pci") == 0) {
                        if (hostdev->has_address) {
                                r = -EBADMSG;
                                goto out;
                        }
                        r = add_address(x, attrs, n_attrs);
                        if (r < 0)
                                goto out;
                        hostdev->has_address = true;
                }
        }
        if (empty)
                r = element_end(x);
out:
        free(attrs);
        return r;
}

static int end_tag(Parser *x) {
        size_t len;

        x->p += 2; /* "</" */
        for (len = 0; x->p < x->end && is_name_char(*x->p); x->p++, len++)
                ;
        if (x->depth == 0 || len != strlen(x->stack[x->depth - 1].name) ||
            memcmp(x->p - len, x->stack[x->depth - 1].name, len) != 0)
                return -EBADMSG;
        while (x->p < x->end && is_space(*x->p))
                x->p++;
        if (x->p >= x->end || *x->p != '>')
                return -EBADMSG;
        x->p++;
        return element_end(x);
}

int domain_xml_parse(const char *xml, size_t size, DomainXml *ret) {
        Parser x = { .p = xml, .end = xml + size };
        int r;

        if (size > DOMAIN_XML_SIZE_MAX)
                return -E2BIG;
        if (memchr(xml, 0, size))
                return -EBADMSG;
        x.out = calloc(1, sizeof(DomainXml));
        if (!x.out)
                return -ENOMEM;

        while (x.p < x.end) {
                const char *lt = memchr(x.p, '<', x.end - x.p);

                if (!lt)
                        lt = x.end;
                r = text(&x, x.p, lt);
                if (r < 0)
                        goto fail;
                x.p = lt;
                if (x.p >= x.end)
                        break;
                if (starts(&x, "<?")) {
                        if (x.depth > 0 || x.seen_root) {
                                r = -EBADMSG;
                                goto fail;
                        }
                        r = skip_past(&x, "?>");
                } else if (starts(&x, "<!--"))
                        r = skip_past(&x, "-->");
                else if (starts(&x, "<![CDATA[")) {
                        const char *s = x.p + 9;

                        if (x.depth == 0) {
                                r = -EBADMSG;
                                goto fail;
                        }
                        x.p = s;
                        r = skip_past(&x, "]]>");
                        if (r >= 0) {
                                Frame *f = &x.stack[x.depth - 1];
                                /* Raw text: no entity decoding; only name/uuid keep it. */
                                if (f->place == PLACE_NAME || f->place == PLACE_UUID) {
                                        char *buf = f->place == PLACE_NAME ? x.out->name : x.out->uuid;
                                        size_t size_buf = f->place == PLACE_NAME ? sizeof x.out->name : sizeof x.out->uuid;
                                        size_t *len = f->place == PLACE_NAME ? &x.name_len : &x.uuid_len;
                                        size_t n = (size_t) (x.p - 3 - s);

                                        if (*len + n >= size_buf)
                                                r = -E2BIG;
                                        else {
                                                memcpy(buf + *len, s, n);
                                                *len += n;
                                                buf[*len] = 0;
                                        }
                                }
                        }
                } else if (starts(&x, "<!"))
                        r = -EBADMSG;   /* DOCTYPE and entity declarations: not from libvirt */
                else if (starts(&x, "</"))
                        r = end_tag(&x);
                else
                        r = start_tag(&x);
                if (r < 0)
                        goto fail;
        }
        if (x.depth != 0 || !x.seen_root || x.stack[0].place != PLACE_DOMAIN) {
                /* depth is 0 here only if the root closed; stack[0] keeps the root's frame. */
                r = -EBADMSG;
                goto fail;
        }
        *ret = *x.out;
        free(x.out);
        return 0;
fail:
        free(x.out);
        return r;
}
