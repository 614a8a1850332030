/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "domain-xml.h"

/* The libvirt domain XML reader of the hook and the daemon's watch: which addresses count (the
 * host's, in <source>, of PCI hostdevs and hostdev interfaces; not the guest's), and strictness. */

static int parse(const char *xml, DomainXml *d) {
        memset(d, 0, sizeof *d);
        return domain_xml_parse(xml, strlen(xml), d);
}

static const char domain[] =
        "<?xml version='1.0'?>\n"
        "<!-- a comment -->\n"
        "<domain type='qemu' id='3'>\n"
        "  <name>vm&amp;1 &#xe9;</name>\n"
        "  <uuid>6A3C8E0C-1b7d-4f5e-9c2a-0123456789ab</uuid>\n"
        "  <metadata><hostdev mode='subsystem' type='pci'><source><address domain='0' bus='9' slot='0' function='0'/></source></hostdev></metadata>\n"
        "  <devices>\n"
        "    <emulator>/usr/bin/qemu-system-x86_64</emulator>\n"
        "    <hostdev mode='subsystem' type='pci' managed='yes'>\n"
        "      <driver name='vfio'/>\n"
        "      <source>\n"
        "        <address domain='0x0000' bus='0x01' slot='0x00' function='0x0'/>\n"
        "      </source>\n"
        "      <address type='pci' domain='0x0000' bus='0x00' slot='0x05' function='0x0'/>\n"
        "    </hostdev>\n"
        "    <hostdev type=\"pci\" managed=\"no\"><source><address domain=\"0\" bus=\"2\" slot=\"1\" function=\"0\"/></source></hostdev>\n"
        "    <hostdev mode='subsystem' type='usb'><source><vendor id='0x1'/><product id='0x2'/></source></hostdev>\n"
        "    <interface type='hostdev' managed='yes'>\n"
        "      <mac address='52:54:00:6d:90:02'/>\n"
        "      <source><address type='pci' domain='0x0000' bus='0x02' slot='0x02' function='0x0'/></source>\n"
        "    </interface>\n"
        "    <interface type='network'><source network='default'/><address type='pci' domain='0' bus='3' slot='0' function='0'/></interface>\n"
        "    <hostdev mode='subsystem' type='pci'><source><address domain='0' bus='1' slot='0' function='0'/></source></hostdev>\n"
        "  </devices>\n"
        "</domain>\n";

static void test_domain(void **state) {
        DomainXml d;

        assert_int_equal(parse(domain, &d), 0);
        assert_string_equal(d.name, "vm&1 \xc3\xa9");
        assert_string_equal(d.uuid, "6A3C8E0C-1b7d-4f5e-9c2a-0123456789ab");
        assert_int_equal(d.n_devices, 3);
        assert_string_equal(d.devices[0], "0000:01:00.0");
        assert_string_equal(d.devices[1], "0000:02:01.0");
        assert_string_equal(d.devices[2], "0000:02:02.0");
}

static void test_no_devices(void **state) {
        DomainXml d;

        assert_int_equal(parse("<domain><name>a</name><devices/></domain>", &d), 0);
        assert_int_equal(d.n_devices, 0);
        assert_string_equal(d.name, "a");
}

static void test_malformed(void **state) {
        static const char *const bad[] = {
                "",
                "<domain>",
                "<domain></domains>",
                "<domain><name>a</domain></name>",
                "<domain/><domain/>",
                "<other/>",
                "x<domain/>",
                "<!DOCTYPE domain [<!ENTITY x 'y'>]><domain/>",
                "<domain a='1' a='2'/>",
                "<domain a='1'b='2'/>",
                "<domain a=1/>",
                "<domain><name>&foo;</name></domain>",
                "<domain><name>&#0;</name></domain>",
                "<domain><name>&#xd800;</name></domain>",
                "<domain><name>a<</name></domain>",
                /* a PCI hostdev whose host address we cannot read is not let through */
                "<domain><devices><hostdev mode='subsystem' type='pci'><source/></hostdev></devices></domain>",
                "<domain><devices><hostdev type='pci'><source><address domain='0' bus='1' slot='0'/></source></hostdev></devices></domain>",
                "<domain><devices><hostdev type='pci'><source><address domain='0' bus='0x100' slot='0' function='0'/></source></hostdev></devices></domain>",
                "<domain><devices><hostdev type='pci'><source><address domain='0' bus='1' slot='0x20' function='0'/></source></hostdev></devices></domain>",
                "<domain><devices><hostdev type='pci'><source><address domain='0' bus='1' slot='0' function='8'/></source></hostdev></devices></domain>",
                "<domain><devices><hostdev type='pci'><source><address domain='0' bus='-1' slot='0' function='0'/></source></hostdev></devices></domain>",
                "<domain><devices><hostdev type='pci'><source><address domain='0' bus='1x' slot='0' function='0'/></source></hostdev></devices></domain>",
                "<domain><devices><hostdev type='pci'><source><address domain='0' bus='1' slot='0' function='0'/>"
                "<address domain='0' bus='2' slot='0' function='0'/></source></hostdev></devices></domain>",
        };

        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
                DomainXml d;
                int r = parse(bad[i], &d);
                if (r >= 0)
                        fail_msg("accepted: %s", bad[i]);
        }
}

static void test_limits(void **state) {
        char *deep = malloc(70 * 8 + 1);
        DomainXml d;
        size_t n = 0;

        assert_non_null(deep);
        n += sprintf(deep, "<domain>");
        for (int i = 0; i < 65; i++)
                n += sprintf(deep + n, "<a>");
        assert_int_equal(domain_xml_parse(deep, n, &d), -E2BIG);
        free(deep);

        assert_int_equal(domain_xml_parse("<domain>\0</domain>", 18, &d), -EBADMSG);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_domain),
                cmocka_unit_test(test_no_devices),
                cmocka_unit_test(test_malformed),
                cmocka_unit_test(test_limits),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
