/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The varlink front-end: the input is sent as the bytes of one connection (NUL-separated varlink
 * messages) to an sd_varlink_server set up by the daemon's own manager_varlink_init(), with the
 * io.vfiod.Broker IDL and every real method handler bound, over a socketpair. So sd-varlink's
 * framing, the IDL validation, every method's dispatch table and parameter checks (device lists,
 * PCI addresses, IOVA ranges, lease ids, uids) and the reply builders all run. What lies behind
 * the handlers is replaced where it would read or change the host: no sysfs, no kernel changes, a
 * fixed host and policy; a Bind or Acquire is evaluated against them and answered as the broker
 * would answer a refusal. The broker's queries, caller identity and error descriptions are real. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/socket.h>
#include <systemd/sd-event.h>
#include <systemd/sd-varlink.h>
#include <unistd.h>

#include "fuzz.h"
#include "info.h"
#include "query.h"

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
/* The queries, the caller's identity and the error descriptions are the real ones (linked in);
 * what would read the host or change it is replaced. */

int broker_refresh_facts(Broker *b) {
        return 0;
}

int broker_refresh_groups(Broker *b, const char *const *devices) {
        return 0;
}

int broker_reload_policy(Broker *b, char **ret_error) {
        *ret_error = NULL;
        return 0;
}

int info_build(Broker *b, bool full, sd_json_variant **ret) {
        _cleanup_(sd_json_variant_unrefp) sd_json_variant *policy = NULL, *switches = NULL;
        int r;

        r = query_policy(&b->policy, NULL, full, &policy);
        if (r < 0)
                return r;
        r = query_switches(&b->topology.switches, &switches);
        if (r < 0)
                return r;
        return sd_json_buildo(ret, SD_JSON_BUILD_PAIR_VARIANT("policy", policy),
                              SD_JSON_BUILD_PAIR_VARIANT("switches", switches));
}

int manager_get_info(Manager *m, const CallerInfo *caller, sd_json_variant **ret) {
        return broker_get_info(m->broker, caller, ret);
}

void operation_free(Operation *op) {
        if (!op)
                return;
        verdict_done(&op->verdict);
        strv_free_n(op->request_devices, op->n_request_devices);
        free(op->message);
        free(op->error_device);
        free(op);
}

static Operation *op_new(Broker *b, uid_t uid, const char *error_id) {
        Operation *op = calloc(1, sizeof(Operation));

        FUZZ_ASSERT(op);
        *op = (Operation) { .broker = b, .uid = uid, .error_id = error_id };
        return op;
}

int broker_request(Broker *b, const CallerInfo *caller, const BrokerRequest *req, OperationDone done, void *userdata) {
        Operation *op = op_new(b, caller->uid, NULL);
        int r;

        FUZZ_ASSERT(req->n_iova <= IOVA_RANGES_MAX && req->min_aperture_bits <= 64);
        op->kind = req->kind;
        op->request = (Request) {
                .devices = req->devices,
                .min_aperture_bits = req->min_aperture_bits,
                .iova_ranges = req->iova,
                .n_iova_ranges = req->n_iova,
        };
        /* As broker_request: unknown devices first, then the checks. */
        for (size_t i = 0; req->devices[i]; i++) {
                FUZZ_ASSERT(pci_address_is_valid(req->devices[i]));
                if (!topology_find_device(&b->topology, req->devices[i])) {
                        op->error_id = BROKER_ERROR_NO_SUCH_DEVICE;
                        op->error_device = strdup(req->devices[i]);
                        done(b, op, userdata);
                        return 0;
                }
        }
        r = policy_evaluate(&b->policy, &b->topology, &op->request, &caller->caller, &op->verdict);
        FUZZ_ASSERT(r == 0);
        if (op->verdict.allowed) {
                op->error_id = BROKER_ERROR_BIND_FAILED;
                op->message = strdup("the fuzzer does not touch the kernel");
        } else
                op->error_id = BROKER_ERROR_DENIED;
        done(b, op, userdata);
        return 0;
}

/* The fixed leases below are always busy: the handlers' Busy replies run, nothing is ended. */
static int busy(Broker *b, const CallerInfo *caller, const Lease *l, OperationDone done, void *userdata) {
        Operation *op = op_new(b, caller->uid, BROKER_ERROR_BUSY);

        op->error_device = strdup(l->devices[0]);
        strcpy(op->busy_lease_id, l->id);
        op->busy_uid = l->uid;
        done(b, op, userdata);
        return 0;
}

int broker_release(Broker *b, const CallerInfo *caller, const char *id, OperationDone done, void *userdata) {
        Operation *op;

        FUZZ_ASSERT(lease_id_is_valid(id));
        for (size_t i = 0; i < b->n_leases; i++)
                if (strcmp(b->leases[i]->id, id) == 0 && (caller->uid == 0 || caller->uid == b->leases[i]->uid))
                        return busy(b, caller, b->leases[i], done, userdata);
        op = op_new(b, caller->uid, BROKER_ERROR_NO_SUCH_LEASE);
        strcpy(op->busy_lease_id, id);
        done(b, op, userdata);
        return 0;
}

int broker_unbind(Broker *b, const CallerInfo *caller, const char *const *devices, OperationDone done, void *userdata) {
        Operation *op;

        FUZZ_ASSERT(devices[0]);
        for (size_t k = 0; devices[k]; k++) {
                FUZZ_ASSERT(pci_address_is_valid(devices[k]));
                for (size_t i = 0; i < b->n_leases; i++)
                        if (b->leases[i]->kind == LEASE_BIND && lease_has_device(b->leases[i], devices[k]))
                                return busy(b, caller, b->leases[i], done, userdata);
        }
        op = op_new(b, caller->uid, BROKER_ERROR_BIND_FAILED);
        op->error_device = strdup(devices[0]);
        op->message = strdup("not bound by a Bind of yours; nothing to give back");
        done(b, op, userdata);
        return 0;
}

Lease *broker_find_lease(Broker *b, const char *id) {
        for (size_t i = 0; i < b->n_leases; i++)
                if (strcmp(b->leases[i]->id, id) == 0)
                        return b->leases[i];
        return NULL;
}

/* The fixed leases are never ended here. */
int broker_end_lease(Broker *b, Lease *l, OperationDone done, void *userdata) {
        return -EBUSY;
}

void broker_end_lease_later(Broker *b, const char *id) {
}

/* ---- the harness ---- */

static Manager fuzz_manager;
static Broker fuzz_broker;

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
        Broker *b = &fuzz_broker;
        char *error = NULL;

        FUZZ_ASSERT(sd_event_new(&m->event) >= 0);
        m->broker = b;
        b->event = m->event;
        fuzz_host(&b->topology);
        policy_init_defaults(&b->policy);
        FUZZ_ASSERT(policy_parse_text("fuzz.json", fuzz_policy, strlen(fuzz_policy), &b->policy, &error) == 0);
        for (size_t i = 0; i < ELEMENTSOF(fuzz_leases); i++) {
                _cleanup_(sd_json_variant_unrefp) sd_json_variant *v = NULL;

                FUZZ_ASSERT(sd_json_parse(fuzz_leases[i], 0, &v, NULL, NULL) >= 0);
                FUZZ_ASSERT(lease_from_json(v, &fuzz_lease_table[i]) == 0);
        }
        b->leases = fuzz_lease_table;
        b->n_leases = ELEMENTSOF(fuzz_lease_table);
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
