/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The varlink front-end's Bind/Acquire when the broker fails before it starts (F23): broker_request()
 * returns -ENOMEM without calling its done callback, so the reference vl_request() took for that
 * callback must be dropped there, or every such call leaks its connection's sd_varlink. The real
 * varlink.c, listener.c and caller.c over a socketpair; the broker behind them is a stub that always
 * fails that way. A leaked sd_varlink has nothing left to observe but its memory (its fd is closed
 * at the hang-up either way), so the test counts the heap. */
#include <errno.h>
#include <malloc.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>
#include <systemd/sd-event.h>
#include <systemd/sd-varlink.h>
#include <unistd.h>
#include <cmocka.h>

#if defined(__SANITIZE_ADDRESS__)
/* libasan's (GCC ships no sanitizer headers); glibc's arena is unused under ASan. */
size_t __sanitizer_get_current_allocated_bytes(void);
#  define HEAP_IN_USE() __sanitizer_get_current_allocated_bytes()
#else
#  define HEAP_IN_USE() (mallinfo2().uordblks)
#endif

/* No listening socket: the test adds its connections to the server itself. */
struct Manager;
static int test_listener_start(struct Manager *m);
static int test_listener_start(struct Manager *m) {
        (void) m;
        return 0;
}
#include "listener.h"
#define listener_start test_listener_start
#include "varlink.c"
#undef listener_start
#include "info.h"

/* ---- the broker and manager behind the handlers: only broker_request() is reached ---- */

static unsigned requests;

int broker_request(Broker *b, const CallerInfo *caller, const BrokerRequest *req, OperationDone done, void *userdata) {
        requests++;
        return -ENOMEM;   /* as when its first calloc() fails: done is never called */
}

int broker_release(Broker *b, const CallerInfo *caller, const char *id, OperationDone done, void *userdata) {
        return -ENOSYS;
}

int broker_unbind(Broker *b, const CallerInfo *caller, const char *const *devices, OperationDone done, void *userdata) {
        return -ENOSYS;
}

Lease *broker_find_lease(Broker *b, const char *id) {
        return NULL;
}

int broker_end_lease(Broker *b, Lease *l, OperationDone done, void *userdata) {
        return -ENOSYS;
}

void broker_end_lease_later(Broker *b, const char *id) {
}

int broker_refresh_facts(Broker *b) {
        return 0;
}

int broker_refresh_groups(Broker *b, const char *const *devices) {
        return 0;
}

int broker_reload_policy(Broker *b, char **ret_error) {
        *ret_error = NULL;
        return -ENOSYS;
}

int info_build(Broker *b, bool full, sd_json_variant **ret) {
        return -ENOSYS;
}

int manager_get_info(Manager *m, const CallerInfo *caller, sd_json_variant **ret) {
        return -ENOSYS;
}

void operation_free(Operation *op) {
        free(op);
}

/* ---- the test ---- */

static Manager manager;
static Broker broker;

/* One connection: a call, its reply read, then hang up and let the server notice. Returns the
 * reply's "error" (empty for a success reply), or NULL if none came. */
static char *one_call(const char *method, const char *params) {
        Manager *m = &manager;
        sd_varlink *link = NULL;
        char buf[4096], *msg = NULL, *error = NULL;
        size_t have = 0;
        int fds[2];

        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, fds), 0);
        assert_true(asprintf(&msg, "{\"method\":\"io.vfiod.Broker.%s\",\"parameters\":%s}", method, params) > 0);
        assert_int_equal(write(fds[1], msg, strlen(msg) + 1), (ssize_t) strlen(msg) + 1);
        free(msg);
        assert_true(sd_varlink_server_add_connection(m->varlink_server, fds[0], &link) >= 0);

        for (unsigned i = 0; i < 1000 && !memchr(buf, 0, have); i++) {
                ssize_t n;

                assert_true(sd_event_run(m->event, 0) >= 0);
                n = read(fds[1], buf + have, sizeof(buf) - 1 - have);
                if (n > 0)
                        have += (size_t) n;
        }
        close(fds[1]);
        for (unsigned i = 0; i < 1000 && sd_varlink_server_current_connections(m->varlink_server) > 0; i++)
                assert_true(sd_event_run(m->event, 0) >= 0);
        assert_int_equal(sd_varlink_server_current_connections(m->varlink_server), 0);

        if (!memchr(buf, 0, have))
                return NULL;
        {
                _cleanup_(sd_json_variant_unrefp) sd_json_variant *v = NULL;
                sd_json_variant *e;

                assert_true(sd_json_parse(buf, 0, &v, NULL, NULL) >= 0);
                e = sd_json_variant_by_key(v, "error");
                error = strdup(e ? sd_json_variant_string(e) : "");
        }
        return error;
}

/* Each failed request is answered with an error, and its connection is freed after the hang-up. */
static void test_enomem_releases_connection(void **state) {
        static const char *const methods[] = { "Bind", "Acquire" };
        enum { WARMUP = 16, ROUNDS = 256 };

        for (size_t k = 0; k < ELEMENTSOF(methods); k++) {
                size_t before;
                unsigned r0;

                for (unsigned i = 0; i < WARMUP; i++)
                        free(one_call(methods[k], "{\"devices\":[\"0000:00:03.0\"]}"));
                before = HEAP_IN_USE();
                r0 = requests;
                for (unsigned i = 0; i < ROUNDS; i++) {
                        char *e = one_call(methods[k], "{\"devices\":[\"0000:00:03.0\"]}");

                        assert_non_null(e);                     /* answered */
                        assert_string_not_equal(e, "");         /* with an error */
                        free(e);
                }
                assert_int_equal(requests - r0, ROUNDS);        /* each reached the broker */
                /* A leaked sd_varlink is about 370 bytes; allow 64 a call for the allocator's noise. */
                size_t after = HEAP_IN_USE();
                print_message("%s: heap in use %zu -> %zu bytes over %d failed requests\n",
                              methods[k], before, after, ROUNDS);
                assert_true(after < before + 64 * ROUNDS);
        }
}

static int setup(void **state) {
        Manager *m = &manager;

        assert_true(sd_event_new(&m->event) >= 0);
        m->broker = &broker;
        broker.event = m->event;
        policy_init_defaults(&broker.policy);
        assert_int_equal(manager_varlink_init(m), 0);
        return 0;
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_enomem_releases_connection),
        };

        return cmocka_run_group_tests(tests, setup, NULL);
}
