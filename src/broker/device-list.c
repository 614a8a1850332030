/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The devices of a request, checked the same way whichever front-end it came through. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "broker.h"
#include "macro.h"

void device_list_done(DeviceList *l) {
        free(l->buf);
        free(l->list);
        *l = (DeviceList) {};
}

int device_list_parse(const char *const *in, size_t n, DeviceList *ret) {
        _cleanup_(device_list_done) DeviceList l = {};

        if (n == 0 || n > REQUEST_DEVICES_MAX)
                return -EINVAL;
        l.buf = calloc(n, sizeof(*l.buf));
        l.list = calloc(n + 1, sizeof(char *));
        if (!l.buf || !l.list)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                if (!in[i] || pci_address_normalize(in[i], l.buf[i]) < 0)
                        return -EINVAL;
                for (size_t j = 0; j < i; j++)
                        if (strcmp(l.buf[j], l.buf[i]) == 0)
                                return -EINVAL;
                l.list[i] = l.buf[i];
        }
        l.n = n;
        *ret = l;
        l = (DeviceList) {};
        return 0;
}
