/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>
#include <systemd/sd-event.h>

#include "ctl-util.h"
#include "vfiodctl.h"

/* One line for people: "12:04:05  bound            0000:01:00.0  driver vfio-pci  group 9". */
static int print_event(sd_json_variant *e) {
        char event[64], device[64], driver[128], stamp[16] = "--:--:--";
        struct tm tm;
        time_t now;
        int64_t group;
        bool has_group;

        (void) text_clean(event, sizeof event, json_str(e, "event") ?: "-", 32);
        (void) text_clean(device, sizeof device, json_str(e, "device") ?: "", 32);
        (void) text_clean(driver, sizeof driver, json_str(e, "driver") ?: "", 64);

        now = time(NULL);
        if (localtime_r(&now, &tm))
                (void) strftime(stamp, sizeof stamp, "%H:%M:%S", &tm);

        has_group = json_int(e, "iommuGroup", &group);

        /* Pad the event only when something follows it: no trailing blanks. */
        printf("%s  %-*s", stamp, *device || *driver || has_group ? 16 : 0, event);
        if (*device)
                printf("  %s", device);
        if (*driver)
                printf("  driver %s", driver);
        if (has_group)
                printf("  group %" PRIi64, group);
        putchar('\n');

        /* Lines must leave as they happen, also into a pipe. */
        if (fflush(stdout) != 0)
                return -errno;
        return 0;
}

static int monitor_reply(sd_varlink *link, sd_json_variant *parameters, const char *error_id,
                         sd_varlink_reply_flags_t flags, void *userdata) {
        sd_event *e = sd_varlink_get_event(link);
        const char *event;
        int r;

        if (error_id) {
                (void) broker_log_error(VFIOD_INTERFACE ".Monitor", error_id, parameters);
                return sd_event_exit(e, EXIT_FAILURE);
        }

        if (arg_json)
                r = print_json(parameters, true);
        else {
                event = json_str(parameters, "event");
                if (event && streq(event, "ready")) {
                        /* Nothing for people to read in it; say we are listening when someone watches. */
                        if (isatty(STDERR_FILENO))
                                fprintf(stderr, "Watching vfiod events; press Ctrl-C to stop.\n");
                        r = 0;
                } else
                        r = print_event(parameters);
        }
        if (r < 0) {
                ctl_log_errno(r, "failed to write event: %m");
                return sd_event_exit(e, EXIT_FAILURE);
        }

        if (!(flags & SD_VARLINK_REPLY_CONTINUES)) {
                ctl_log("vfiod ended the event stream");
                return sd_event_exit(e, EXIT_FAILURE);
        }
        return 0;
}

int verb_monitor(int argc, char *argv[]) {
        _cleanup_(sd_event_unrefp) sd_event *e = NULL;
        _cleanup_(sd_varlink_close_unrefp) sd_varlink *link = NULL;
        int r;

        r = sd_event_default(&e);
        if (r < 0)
                return ctl_log_errno(r, "Failed to allocate event loop: %m");

        /* SIGINT and SIGTERM end the loop with status 0: interrupting a monitor is how it is used. */
        r = sd_event_set_signal_exit(e, true);
        if (r < 0)
                return ctl_log_errno(r, "Failed to set up signal handling: %m");

        r = broker_connect(arg_address, &link);
        if (r < 0)
                return r;

        /* Events may be hours apart: no call timeout. */
        r = sd_varlink_set_relative_timeout(link, UINT64_MAX);
        if (r < 0)
                return ctl_log_errno(r, "Failed to disable the call timeout: %m");

        r = sd_varlink_bind_reply(link, monitor_reply);
        if (r < 0)
                return ctl_log_errno(r, "Failed to bind reply callback: %m");

        r = sd_varlink_attach_event(link, e, SD_EVENT_PRIORITY_NORMAL);
        if (r < 0)
                return ctl_log_errno(r, "Failed to attach to event loop: %m");

        r = sd_varlink_observe(link, VFIOD_INTERFACE ".Monitor", NULL);
        if (r < 0)
                return ctl_log_errno(r, "failed to call Monitor on vfiod at %s: %m", arg_address);

        r = sd_event_loop(e);
        if (r < 0)
                return ctl_log_errno(r, "Event loop failed: %m");
        return r;
}
