/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The ListDevices floor of tests/bench/run: a varlink server that answers
 * io.vfiod.Broker.ListDevices with a reply it already holds in memory, so a call costs only what
 * every answer of that size must: sd-varlink reading the call, sd-json formatting the reply's
 * parameters and the write to the AF_UNIX socket — the transport and JSON vfiod uses, with no
 * device table, policy or verdicts behind it.
 *
 *   list-floor SOCKET REPLY-FILE
 *
 * REPLY-FILE is one reply vfiod sent ({"parameters":{...}}), parsed once at start; every call is
 * answered with its parameters, formatted afresh. Listens on SOCKET until SIGTERM. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <systemd/sd-event.h>
#include <systemd/sd-json.h>
#include <systemd/sd-varlink.h>

static int on_list(sd_varlink *link, sd_json_variant *parameters, sd_varlink_method_flags_t flags,
                   void *userdata) {
        (void) parameters;
        (void) flags;
        return sd_varlink_reply(link, userdata);
}

int main(int argc, char **argv) {
        sd_json_variant *reply = NULL, *params;
        sd_varlink_server *s = NULL;
        sd_event *e = NULL;
        sigset_t ss;
        FILE *f;
        int r;

        if (argc != 3) {
                fprintf(stderr, "usage: list-floor SOCKET REPLY-FILE\n");
                return 2;
        }
        f = fopen(argv[2], "re");
        if (!f) {
                fprintf(stderr, "list-floor: %s: %s\n", argv[2], strerror(errno));
                return 1;
        }
        r = sd_json_parse_file(f, argv[2], 0, &reply, NULL, NULL);
        fclose(f);
        params = r >= 0 ? sd_json_variant_by_key(reply, "parameters") : NULL;
        if (!params) {
                fprintf(stderr, "list-floor: %s is not a varlink reply with parameters\n", argv[2]);
                return 1;
        }

        sigemptyset(&ss);
        sigaddset(&ss, SIGTERM);
        sigaddset(&ss, SIGINT);
        sigprocmask(SIG_BLOCK, &ss, NULL);
        if ((r = sd_event_default(&e)) < 0 ||
            (r = sd_event_add_signal(e, NULL, SIGTERM, NULL, NULL)) < 0 ||
            (r = sd_event_add_signal(e, NULL, SIGINT, NULL, NULL)) < 0 ||
            (r = sd_varlink_server_new(&s, SD_VARLINK_SERVER_INHERIT_USERDATA)) < 0 ||
            (r = (sd_varlink_server_set_userdata(s, params), 0)) < 0 ||
            (r = sd_varlink_server_bind_method(s, "io.vfiod.Broker.ListDevices", on_list)) < 0 ||
            (r = sd_varlink_server_listen_address(s, argv[1], 0600)) < 0 ||
            (r = sd_varlink_server_attach_event(s, e, 0)) < 0 ||
            (r = sd_event_loop(e)) < 0) {
                fprintf(stderr, "list-floor: %s\n", strerror(-r));
                return 1;
        }
        sd_varlink_server_unref(s);
        sd_event_unref(e);
        sd_json_variant_unref(reply);
        return 0;
}
