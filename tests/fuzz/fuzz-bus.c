/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The D-Bus front-end's argument readers (src/daemon/bus.c, included whole): the input picks a
 * method and is a small program that builds its body (strings, integers, arrays of strings and of
 * (tt) structs, in any order and nesting sd-bus allows); the sealed message is read by the same
 * functions the method handlers call. What the handlers do after reading (ask the bus daemon who
 * is calling, ask the broker) is not reached here: that is the broker's, fuzzed through varlink. */
#include <errno.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fuzz.h"

#include "bus.c"

/* ---- what bus.c links against, never reached from the readers ---- */
int manager_get_info(Manager *m, const CallerInfo *caller, sd_json_variant **ret) { abort(); }
int broker_list_devices(Broker *b, const CallerInfo *caller, sd_json_variant **ret) { abort(); }
int broker_list_groups(Broker *b, const CallerInfo *caller, sd_json_variant **ret) { abort(); }
int broker_list_leases(Broker *b, const CallerInfo *caller, sd_json_variant **ret) { abort(); }
int broker_explain(Broker *b, const CallerInfo *caller, const char *const *devices, uid_t as_uid,
                   sd_json_variant **ret, const char **ret_missing) { abort(); }
int broker_reload(Broker *b, const CallerInfo *caller, sd_json_variant **ret, char **ret_error) { abort(); }
int broker_request(Broker *b, const CallerInfo *caller, const BrokerRequest *req, OperationDone done, void *userdata) { abort(); }
int broker_release(Broker *b, const CallerInfo *caller, const char *id, OperationDone done, void *userdata) { abort(); }
int broker_unbind(Broker *b, const CallerInfo *caller, const char *const *devices, OperationDone done, void *userdata) { abort(); }
void broker_end_lease_later(Broker *b, const char *id) { abort(); }
int operation_error_text(const Operation *op, char **ret) { abort(); }
void operation_free(Operation *op) { abort(); }
int caller_info_init(CallerInfo *ret, uid_t uid, gid_t gid, pid_t pid, int pidfd, const gid_t *groups, size_t n_groups) { abort(); }
void caller_info_done(CallerInfo *c) { }

/* ---- the harness ---- */

static sd_bus *fuzz_bus;

static const char *const methods[] = { "Explain", "Bind", "Unbind", "Acquire", "Release" };

/* Strings the readers care about, so the fuzzer need not find them byte by byte. */
static const char *const words[] = {
        "0000:01:00.0", "0000:02:01.0", "01:00.0", "0000:00:1f.7", "ffff:ff:1f.7", "0000:01:00.0 ",
        "0123456789abcdef0123456789abcdef", "0123456789ABCDEF0123456789abcdef", "",
};

typedef struct Reader {
        const uint8_t *data;
        size_t size;
} Reader;

static uint64_t take(Reader *rd, size_t n) {
        uint64_t v = 0;

        for (size_t i = 0; i < n && rd->size > 0; i++, rd->data++, rd->size--)
                v = v << 8 | rd->data[0];
        return v;
}

/* Append what the input says; stop at the first thing sd-bus refuses. Returns the open depth. */
static unsigned build(sd_bus_message *m, Reader *rd) {
        unsigned depth = 0;
        size_t budget = 2048;   /* values in all: sd-bus's builder is not what is fuzzed here */
        int r = 0;

        for (; r >= 0 && rd->size > 0 && budget > 0; budget--) {
                uint64_t v;

                switch (take(rd, 1) % 10) {
                case 0: {       /* a string: a word, or printable bytes */
                        char s[64];
                        size_t n = take(rd, 1) % sizeof(s);

                        if (n < ELEMENTSOF(words)) {
                                r = sd_bus_message_append_basic(m, 's', words[n]);
                                break;
                        }
                        n -= ELEMENTSOF(words);
                        for (size_t i = 0; i < n; i++)
                                s[i] = (char) (32 + take(rd, 1) % 95);
                        s[n] = 0;
                        r = sd_bus_message_append_basic(m, 's', s);
                        break;
                }
                case 1: v = take(rd, 4); { uint32_t u = (uint32_t) v; r = sd_bus_message_append_basic(m, 'u', &u); } break;
                case 2: v = take(rd, 8); { int64_t x = (int64_t) v; r = sd_bus_message_append_basic(m, 'x', &x); } break;
                case 3: v = take(rd, 8); r = sd_bus_message_append_basic(m, 't', &v); break;
                case 4: r = sd_bus_message_open_container(m, 'a', "s"); depth += r >= 0; break;
                case 5: r = sd_bus_message_open_container(m, 'a', "(tt)"); depth += r >= 0; break;
                case 6: r = sd_bus_message_open_container(m, 'r', "tt"); depth += r >= 0; break;
                case 7: {       /* a whole (tt) */
                        uint64_t a = take(rd, 8), b = take(rd, 8);
                        r = sd_bus_message_append(m, "(tt)", a, b);
                        break;
                }
                case 8:         /* many strings at once: arrays beyond the limit of 256 */
                        v = take(rd, 2) % 600;
                        for (uint64_t i = 0; r >= 0 && i < v && budget > 1; i++, budget--)
                                r = sd_bus_message_append_basic(m, 's', words[i % 2]);
                        break;
                default:
                        if (depth > 0) {
                                r = sd_bus_message_close_container(m);
                                depth -= r >= 0;
                        }
                }
        }
        return depth;
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
        int fds[2];

        FUZZ_ASSERT(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, fds) == 0);
        FUZZ_ASSERT(sd_bus_new(&fuzz_bus) >= 0);
        FUZZ_ASSERT(sd_bus_set_fd(fuzz_bus, fds[0], fds[0]) >= 0);
        /* Started, never authenticated: enough to make messages, nothing is ever sent. */
        FUZZ_ASSERT(sd_bus_start(fuzz_bus) >= 0);
        return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(device_list_done) DeviceList devices = {};
        Reader rd = { data, size };
        const char *method;
        IovaRange iova[IOVA_RANGES_MAX];
        size_t n_iova = 0;
        uint32_t bits = 0;
        unsigned depth;
        int r;

        if (size < 1 || size > 16 * 1024)
                return 0;
        method = methods[take(&rd, 1) % ELEMENTSOF(methods)];
        FUZZ_ASSERT(sd_bus_message_new_method_call(fuzz_bus, &m, VFIOD_BUS_NAME, VFIOD_BUS_PATH,
                                                   VFIOD_BUS_INTERFACE, method) >= 0);
        depth = build(m, &rd);
        for (; depth > 0; depth--)
                if (sd_bus_message_close_container(m) < 0)
                        return 0;
        if (sd_bus_message_seal(m, 1, 0) < 0 || sd_bus_message_rewind(m, true) < 0)
                return 0;

        if (streq(method, "Release")) {
                const char *id;

                r = read_lease_id(m, &id, &error);
                FUZZ_ASSERT(r < 0 || lease_id_is_valid(id));
                return 0;
        }
        r = bus_devices(m, &devices, &error);
        if (r < 0)
                return 0;
        /* Whatever came in, what goes to the broker is 1..256 distinct canonical addresses. */
        FUZZ_ASSERT(devices.n >= 1 && devices.n <= REQUEST_DEVICES_MAX && !devices.list[devices.n]);
        for (size_t i = 0; i < devices.n; i++) {
                char canonical[PCI_ADDRESS_STRLEN_MAX + 1];

                FUZZ_ASSERT(pci_address_normalize(devices.list[i], canonical) >= 0);
                FUZZ_ASSERT(streq(canonical, devices.list[i]));
                for (size_t j = 0; j < i; j++)
                        FUZZ_ASSERT(!streq(devices.list[j], devices.list[i]));
        }
        if (streq(method, "Explain")) {
                uid_t uid;

                r = read_explain_uid(m, &uid, &error);
                FUZZ_ASSERT(r < 0 || uid == (uid_t) -1 || uid < UINT32_MAX);
        } else if (streq(method, "Acquire")) {
                r = read_acquire_args(m, &bits, iova, &n_iova, &error);
                if (r >= 0) {
                        FUZZ_ASSERT(bits <= 64 && n_iova <= IOVA_RANGES_MAX);
                        for (size_t i = 0; i < n_iova; i++)
                                FUZZ_ASSERT(iova[i].start <= iova[i].end);
                }
        }
        return 0;
}
