/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The running libvirt domains, as the libvirt watch reports them: the groups they hold, and the
 * hostdevs that reached a domain without vfiod's Bind (a hotplug: libvirt runs no hook for one),
 * judged as that Bind would have been. Nothing here can veto; it journals and marks. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "broker.h"
#include "log.h"
#include "macro.h"
#include "strv.h"

static void domain_warnings_free(DomainWarning *w, size_t n) {
        for (size_t i = 0; i < n; i++)
                strv_free(w[i].failed);
        free(w);
}

void broker_domains_done(Broker *b) {
        free(b->domains);
        b->domains = NULL;
        b->n_domains = 0;
        domain_warnings_free(b->domain_warnings, b->n_domain_warnings);
        b->domain_warnings = NULL;
        b->n_domain_warnings = 0;
}

/* The UUID names a domain for its whole life; its name may be given to another after an undefine. */
static bool same_domain(const char *uuid_a, const char *name_a, const char *uuid_b, const char *name_b) {
        if (uuid_a[0] || uuid_b[0])
                return streq(uuid_a, uuid_b);
        return streq(name_a, name_b);
}

static const DomainXml *find_domain(const DomainXml *l, size_t n, const char *uuid, const char *name) {
        for (size_t i = 0; i < n; i++)
                if (same_domain(l[i].uuid, l[i].name, uuid, name))
                        return &l[i];
        return NULL;
}

static bool domain_uses(const DomainXml *d, const char *address) {
        for (size_t i = 0; d && i < d->n_devices; i++)
                if (streq(d->devices[i], address))
                        return true;
        return false;
}

static const DomainWarning *find_warning(const Broker *b, const DomainXml *dom, const char *address) {
        for (size_t i = 0; i < b->n_domain_warnings; i++) {
                const DomainWarning *w = &b->domain_warnings[i];
                if (streq(w->device, address) && same_domain(w->uuid, w->name, dom->uuid, dom->name))
                        return w;
        }
        return NULL;
}

int broker_mark_domains(Broker *b) {
        Topology *t = &b->topology;
        int r;

        /* Two running domains cannot share a group (VFIO opens a group once): the first one found
         * names it. */
        for (size_t i = 0; i < b->n_domains; i++) {
                const DomainXml *dom = &b->domains[i];

                for (size_t k = 0; k < dom->n_devices; k++) {
                        const PciDevice *dev = topology_find_device(t, dom->devices[k]);
                        const IommuGroup *g = dev ? topology_find_group(t, dev->iommu_group) : NULL;

                        /* The group goes with the device: its other members are not anyone else's either. */
                        for (size_t m = 0; m < (g ? g->n_members : 1); m++) {
                                PciDevice *d = (PciDevice *) (g ? topology_find_device(t, g->members[m]) : dev);
                                if (!d || d->held_by_domain)
                                        continue;
                                d->held_by_domain = strdup(dom->name);
                                if (!d->held_by_domain)
                                        return -ENOMEM;
                        }
                }
        }
        for (size_t i = 0; i < b->n_domain_warnings; i++) {
                const DomainWarning *w = &b->domain_warnings[i];
                PciDevice *d = (PciDevice *) topology_find_device(t, w->device);
                size_t n = 0;

                if (!d || d->domain_failed)
                        continue;
                for (char **c = w->failed; c && *c; c++) {
                        r = strv_push_n(&d->domain_failed, &n, *c);
                        if (r < 0)
                                return r;
                }
        }
        return 0;
}

static int warning_add(Broker *b, const DomainXml *dom, const char *address, const Verdict *v) {
        DomainWarning *nw, w = {};
        size_t n = 0;
        int r;

        for (size_t i = 0; i < v->n_checks; i++) {
                bool seen = false;

                if (v->checks[i].passed)
                        continue;
                for (size_t j = 0; j < n; j++)
                        seen = seen || streq(w.failed[j], v->checks[i].code);
                if (seen)
                        continue;
                r = strv_push_n(&w.failed, &n, v->checks[i].code);
                if (r < 0) {
                        strv_free(w.failed);
                        return r;
                }
        }
        nw = reallocarray(b->domain_warnings, b->n_domain_warnings + 1, sizeof(DomainWarning));
        if (!nw) {
                strv_free(w.failed);
                return -ENOMEM;
        }
        strcpy(w.uuid, dom->uuid);
        strcpy(w.name, dom->name);
        strcpy(w.device, address);
        b->domain_warnings = nw;
        b->domain_warnings[b->n_domain_warnings++] = w;
        return 0;
}

/* Judge the use of address's group by dom as a Bind of it for dom would be judged: the request is
 * every hostdev of dom in that group (half a group is refused as it would be for anyone), the
 * caller root (the hook runs as libvirtd's user), the decision the broker's own (broker_decide()).
 * A refusal marks each of those devices and is journalled once. The checks see the host as it is
 * now, after libvirt moved the device: what the host used it for before is gone from the facts. */
static int judge_group(Broker *b, const DomainXml *dom, const char *address) {
        _cleanup_(caller_info_done) CallerInfo root = {};
        _cleanup_(verdict_done) Verdict v = {};
        _cleanup_free_ char **devices = NULL;
        const char *one[2] = { address, NULL };
        const PciDevice *d;
        LeaseOwner owner = {};
        size_t n = 0;
        int r;

        r = broker_refresh_groups(b, one);
        if (r < 0)
                return r;
        d = topology_find_device(&b->topology, address);
        if (!d)
                return 0;       /* gone again; the next snapshot says what it is now */
        /* vfiod bound it (the hook's Bind, or any lease on its group): judged then. */
        if (broker_lease_holding(b, d->address, d->iommu_group))
                return 0;

        devices = calloc(dom->n_devices + 1, sizeof(char *));
        if (!devices)
                return -ENOMEM;
        for (size_t i = 0; i < dom->n_devices; i++) {
                const PciDevice *m = topology_find_device(&b->topology, dom->devices[i]);

                if (m && (m == d || (d->iommu_group >= 0 && m->iommu_group == d->iommu_group)))
                        devices[n++] = (char *) dom->devices[i];
        }

        r = broker_refresh_facts(b);
        if (r < 0)
                return r;
        r = caller_from_uid(0, &root);
        if (r < 0)
                return r;
        const Request req = { .devices = (const char *const *) devices, .persistent = true, .domain = dom->name };
        r = broker_decide(b, &req, &root.caller, &v);
        if (r < 0)
                return r;
        if (v.allowed)
                return 0;

        if (lease_owner_set(&owner, "libvirt-domain", dom->name, dom->uuid) < 0) {
                /* Not a label the hook could have given (libvirt allows more): journal it as found. */
                strcpy(owner.kind, "libvirt-domain");
                snprintf(owner.name, sizeof owner.name, "%s", dom->name);
        }
        journal_domain_unchecked((const char *const *) devices, &b->topology, &v, &owner);
        for (size_t i = 0; i < n; i++)
                if (!find_warning(b, dom, devices[i])) {
                        r = warning_add(b, dom, devices[i], &v);
                        if (r < 0)
                                return r;
                }
        return 1;
}

int broker_set_domains(Broker *b, DomainXml *domains, size_t n) {
        _cleanup_free_ DomainXml *old = b->domains;
        size_t n_old = b->n_domains, k = 0;
        bool marked = false;
        int r;

        b->domains = domains;
        b->n_domains = n;

        /* A warning lasts while its domain uses the device. */
        for (size_t i = 0; i < b->n_domain_warnings; i++) {
                DomainWarning *w = &b->domain_warnings[i];
                const DomainXml *dom = find_domain(domains, n, w->uuid, w->name);

                if (dom && domain_uses(dom, w->device))
                        b->domain_warnings[k++] = *w;
                else
                        strv_free(w->failed);
        }
        b->n_domain_warnings = k;

        r = broker_mark_holders(b);
        if (r < 0)
                return r;

        /* A hostdev the domain did not have in the last snapshot: hotplugged, or the domain is new
         * (started, or running when vfiod started). */
        for (size_t i = 0; i < n; i++) {
                const DomainXml *dom = &domains[i];
                const DomainXml *was = find_domain(old, n_old, dom->uuid, dom->name);

                for (size_t j = 0; j < dom->n_devices; j++) {
                        if (domain_uses(was, dom->devices[j]) || find_warning(b, dom, dom->devices[j]))
                                continue;
                        r = judge_group(b, dom, dom->devices[j]);
                        if (r < 0)
                                log_warning_errno(r, "Cannot judge %s, which libvirt domain '%s' uses: %m",
                                                  dom->devices[j], dom->name);
                        marked = marked || r > 0;
                }
        }
        return marked ? broker_mark_holders(b) : 0;
}
