/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The varlink front-end: the input is sent as the bytes of one connection (NUL-separated varlink
 * messages) to an sd_varlink_server set up by the daemon's own manager_varlink_init(), with the
 * io.vfiod.Broker IDL and every real method handler bound, over a socketpair. So sd-varlink's
 * framing, the IDL validation, every method's dispatch table and parameter checks (device lists,
 * PCI addresses, IOVA ranges, lease ids, uids) and the reply builders all run. What lies behind
 * the handlers is replaced: no sysfs, no kernel changes, a fixed host and policy; a Bind or
 * Acquire is evaluated against them and answered as the broker would answer a refusal. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/socket.h>
#include <systemd/sd-event.h>
#include <systemd/sd-varlink.h>
#include <unistd.h>

#include "fuzz.h"

/* No listening socket: the fuzzer adds its connections to the server itself. The rest of the
 * listener (per-user accounting, lag checks) is the real one, linked in. */
struct Manager;
static int fuzz_listener_start(struct Manager *m);
static int fuzz_listener_start(struct Manager *m) {
        (void) m;
        return 0;
}
#include "listener.h"
#define listener_start fuzz_listener_start
#include "varlink.c"
#undef listener_start

#define FUZZ_INPUT_MAX (64 * 1024)

static const char fuzz_policy[] =
        "{ \"rules\": ["
        "  { \"name\": \"nics\", \"match\": { \"class\": \"02*\" }, \"allow\": { \"users\": [\"alice\", \"root\"] } },"
        "  { \"name\": \"no-bridges\", \"match\": { \"class\": \"0604*\" }, \"deny\": true }"
        "] }";

/* ---- what lies behind the handlers ---- */

int manager_refresh_facts(Manager *m) {
        return 0;
}

int manager_refresh_groups(Manager *m, const char *const *devices) {
        return 0;
}

int manager_reload_policy(Manager *m, char **ret_error) {
        *ret_error = NULL;
        return 0;
}

int info_build(Manager *m, bool full, sd_json_variant **ret) {
        _cleanup_(sd_json_variant_unrefp) sd_json_variant *policy = NULL, *switches = NULL;
        int r;

        r = query_policy(&m->policy, NULL, full, &policy);
        if (r < 0)
                return r;
        r = query_switches(&m->topology.switches, &switches);
        if (r < 0)
                return r;
        return sd_json_buildo(ret, SD_JSON_BUILD_PAIR_VARIANT("policy", policy),
                              SD_JSON_BUILD_PAIR_VARIANT("switches", switches));
}

void operation_free(Operation *op) {
        if (!op)
                return;
        verdict_done(&op->verdict);
        free(op->message);
        free(op->error_device);
        free(op);
}

int broker_request(Manager *m, LeaseKind kind, const Caller *caller, uid_t uid, pid_t pid, int pidfd,
                   const char *const *devices, unsigned min_aperture_bits, const IovaRange *iova, size_t n_iova,
                   OperationDone done, void *userdata) {
        Operation *op;
        int r;

        if (pidfd >= 0)
                close(pidfd);
        op = calloc(1, sizeof(Operation));
        if (!op)
                return -ENOMEM;
        op->manager = m;
        op->kind = kind;
        op->request = (Request) {
                .devices = devices,
                .min_aperture_bits = min_aperture_bits,
                .iova_ranges = iova,
                .n_iova_ranges = n_iova,
        };
        /* As broker_request: unknown devices first, then the checks. */
        for (size_t i = 0; devices[i]; i++)
                if (!topology_find_device(&m->topology, devices[i])) {
                        op->error_id = "io.vfiod.Broker.NoSuchDevice";
                        op->error_device = strdup(devices[i]);
                        done(m, op, userdata);
                        return 0;
                }
        r = policy_evaluate(&m->policy, &m->topology, &op->request, caller, &op->verdict);
        FUZZ_ASSERT(r == 0);
        if (op->verdict.allowed) {
                op->error_id = "io.vfiod.Broker.BindFailed";
                op->message = strdup("the fuzzer does not touch the kernel");
        } else
                op->error_id = "io.vfiod.Broker.Denied";
        done(m, op, userdata);
        return 0;
}

/* The fixed leases below are always busy: the handlers' Busy replies run, nothing is ended. */
int broker_release(Manager *m, uid_t uid, const char *id, OperationDone done, void *userdata, const Lease **ret_busy) {
        FUZZ_ASSERT(strlen(id) == LEASE_ID_STRLEN);
        for (size_t i = 0; i < m->n_leases; i++)
                if (strcmp(m->leases[i]->id, id) == 0 && (uid == 0 || uid == m->leases[i]->uid)) {
                        *ret_busy = m->leases[i];
                        return -EBUSY;
                }
        return -ENOENT;
}

int broker_unbind(Manager *m, uid_t uid, const char *const *devices, OperationDone done, void *userdata,
                  const char **ret_device, const Lease **ret_busy) {
        FUZZ_ASSERT(devices[0]);
        for (size_t k = 0; devices[k]; k++) {
                FUZZ_ASSERT(pci_address_is_valid(devices[k]));
                for (size_t i = 0; i < m->n_leases; i++)
                        if (m->leases[i]->kind == LEASE_BIND && lease_has_device(m->leases[i], devices[k])) {
                                *ret_device = devices[k];
                                *ret_busy = m->leases[i];
                                return -EBUSY;
                        }
        }
        *ret_device = devices[0];
        return -ENOENT;
}

Lease *broker_find_lease(Manager *m, const char *id) {
        for (size_t i = 0; i < m->n_leases; i++)
                if (strcmp(m->leases[i]->id, id) == 0)
                        return m->leases[i];
        return NULL;
}

/* The fixed leases are never ended here. */
int broker_end_lease(Manager *m, Lease *l, OperationDone done, void *userdata) {
        return -EBUSY;
}

/* ---- the harness ---- */

static Manager fuzz_manager;

/* What a state journal holds after a restart: a Bind of root's and an Acquire of alice's. */
static const char *const fuzz_leases[] = {
        "{\"id\":\"fedcba9876543210fedcba9876543210\",\"kind\":\"bind\",\"phase\":\"active\",\"uid\":0,\"pid\":0,"
        "\"pidStartTime\":0,\"since\":1,\"restoreOnRelease\":true,\"devices\":[\"0000:00:03.0\"],\"groups\":[1],"
        "\"moved\":[{\"address\":\"0000:00:03.0\",\"originalDriver\":\"e1000e\",\"originalOverride\":\"\"}]}",
        "{\"id\":\"0123456789abcdef0123456789abcdef\",\"kind\":\"acquire\",\"phase\":\"active\",\"uid\":1000,\"pid\":4242,"
        "\"pidStartTime\":7,\"since\":2,\"restoreOnRelease\":false,\"devices\":[\"0000:02:02.0\"],\"groups\":[3],\"moved\":[]}",
};
static Lease *fuzz_lease_table[ELEMENTSOF(fuzz_leases)];

int LLVMFuzzerInitialize(int *argc, char ***argv) {
        Manager *m = &fuzz_manager;
        char *error = NULL;

        FUZZ_ASSERT(sd_event_new(&m->event) >= 0);
        fuzz_host(&m->topology);
        policy_init_defaults(&m->policy);
        FUZZ_ASSERT(policy_parse_text("fuzz.json", fuzz_policy, strlen(fuzz_policy), &m->policy, &error) == 0);
        for (size_t i = 0; i < ELEMENTSOF(fuzz_leases); i++) {
                _cleanup_(sd_json_variant_unrefp) sd_json_variant *v = NULL;

                FUZZ_ASSERT(sd_json_parse(fuzz_leases[i], 0, &v, NULL, NULL) >= 0);
                FUZZ_ASSERT(lease_from_json(v, &fuzz_lease_table[i]) == 0);
        }
        m->leases = fuzz_lease_table;
        m->n_leases = ELEMENTSOF(fuzz_lease_table);
        FUZZ_ASSERT(manager_varlink_init(m) == 0);
        return 0;
}

/* FUZZ_VARLINK_SHOW=1 prints the daemon's replies, to see what a seed reaches. */
static void drain(int fd) {
        static int show = -1;
        char buf[4096];
        ssize_t n;

        if (show < 0)
                show = !!getenv("FUZZ_VARLINK_SHOW");
        while ((n = read(fd, buf, sizeof(buf))) > 0)
                if (show)
                        for (ssize_t i = 0; i < n; i++)
                                fputc(buf[i] ?: '\n', stderr);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        Manager *m = &fuzz_manager;
        sd_varlink *link = NULL;
        int fds[2];

        if (size > FUZZ_INPUT_MAX)
                return 0;
        FUZZ_ASSERT(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, fds) == 0);
        /* Far below the socket buffer: written in one go, then end of input. */
        FUZZ_ASSERT(size == 0 || write(fds[1], data, size) == (ssize_t) size);
        FUZZ_ASSERT(write(fds[1], "", 1) == 1);
        FUZZ_ASSERT(shutdown(fds[1], SHUT_WR) == 0);

        FUZZ_ASSERT(sd_varlink_server_add_connection(m->varlink_server, fds[0], &link) >= 0);

        /* The server reads, answers and, at end of input, hangs up; bounded in case it does not. */
        for (unsigned i = 0; i < 10000 && sd_varlink_server_current_connections(m->varlink_server) > 0; i++) {
                FUZZ_ASSERT(sd_event_run(m->event, 0) >= 0);
                drain(fds[1]);
        }
        /* A Monitor call stays open after the caller's end of input, as it should. */
        if (sd_varlink_server_current_connections(m->varlink_server) > 0)
                (void) sd_varlink_close(link);
        FUZZ_ASSERT(sd_varlink_server_current_connections(m->varlink_server) == 0);
        FUZZ_ASSERT(m->n_monitors == 0);
        drain(fds[1]);
        close(fds[1]);
        return 0;
}
