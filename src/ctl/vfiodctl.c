/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <getopt.h>
#include <locale.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl-util.h"
#include "vfiodctl.h"

bool arg_json = false;
bool arg_legend = true;
const char *arg_address = VFIODCTL_DEFAULT_ADDRESS;
uid_t arg_uid = (uid_t) -1;
static bool arg_help = false;

typedef struct Verb {
        const char *name;
        const char *synopsis;
        unsigned min_args; /* not counting the verb */
        unsigned max_args;
        int (*run)(int argc, char *argv[]);
        const char *description;
} Verb;

static const Verb verbs[] = {
        { "info", "info", 0, 0, verb_info,
          "Show the vfiod version, what the kernel offers for VFIO (container, type1 backend, vfio-pci),\n"
          "the kernel's DMA-safety switches, the IOMMU units with their DMA address width (or why it is\n"
          "not known), the policy files in force with any errors, and the safety checks the policy relaxes." },
        { "list", "list", 0, 0, verb_list,
          "List every PCI device: address, vendor:device ids, class, driver, state (host, unbound, vfio),\n"
          "IOMMU group and unit, and whether you would be allowed to take it (and if not, which checks\n"
          "failed). This is the default command." },
        { "groups", "groups", 0, 0, verb_groups,
          "List every IOMMU group: its members, whether VFIO would accept it as it is (no member on a host\n"
          "driver), its reserved regions, and whether you would be allowed to take all its endpoints." },
        { "explain", "explain DEVICE [--uid=USER]", 1, 1, verb_explain,
          "Show every check vfiod makes before handing out DEVICE, passed or failed, each with the reason\n"
          "code, what it is about and one sentence naming the fix; then the verdict and the rule that\n"
          "decided. DEVICE is a PCI address, DDDD:BB:DD.F or BB:DD.F. With --uid=, judge for that user\n"
          "instead of you (root only). Exits with status 1 when the device would be refused." },
        { "monitor", "monitor", 0, 0, verb_monitor,
          "Print one line per topology or policy event (added, removed, changed, bound, unbound,\n"
          "policy-reloaded) until interrupted with Ctrl-C or SIGTERM, which exits with status 0.\n"
          "With --json, one JSON object per line, the first being {\"event\":\"ready\"}." },
        { "reload", "reload", 0, 0, verb_reload,
          "Ask vfiod to re-read its policy files (root only). A file that does not parse is rejected with\n"
          "its path, line and column, the previous policy stays, and the exit status is 1." },
};

static const Verb *verb_find(const char *name) {
        for (size_t i = 0; i < ELEMENTSOF(verbs); i++)
                if (streq(verbs[i].name, name))
                        return verbs + i;
        return NULL;
}

static void help_options(void) {
        printf("\nOptions:\n"
               "  -h --help              Show this help; after a command, that command's help\n"
               "     --version           Show the package version\n"
               "     --json              Print vfiod's reply as JSON, for scripts\n"
               "     --no-legend         Do not print table headers and footers\n"
               "     --address=ADDRESS   Talk to vfiod at this socket (or varlink URL, e.g. exec:PATH)\n"
               "                         instead of %s\n"
               "     --uid=USER          explain: judge for this user name or uid (root only)\n"
               "\nExit status: 0 success, 1 failure or device denied, 2 usage error.\n",
               VFIODCTL_DEFAULT_ADDRESS);
}

static int help(const Verb *verb) {
        if (verb) {
                printf("%s [OPTIONS...] %s\n\n%s\n", program_invocation_short_name, verb->synopsis,
                       verb->description);
                help_options();
                return 0;
        }

        printf("%s [OPTIONS...] COMMAND ...\n\n"
               "Ask vfiod, the VFIO device-assignment broker, about this host.\n\n"
               "Commands:\n"
               "  info                   Version, kernel VFIO support and switches, IOMMU units, policy\n"
               "  list                   PCI devices with state and verdict (the default)\n"
               "  groups                 IOMMU groups with members, reserved regions and verdict\n"
               "  explain DEVICE         Every check made before handing out DEVICE; status 1 if denied\n"
               "  monitor                Print topology and policy events until interrupted\n"
               "  reload                 Re-read the policy (root only)\n"
               "  help [COMMAND]         Show this help, or the help of COMMAND\n",
               program_invocation_short_name);
        help_options();
        printf("\nSee '%s help COMMAND' for more about a command.\n", program_invocation_short_name);
        return 0;
}

static int parse_uid(const char *s, uid_t *ret) {
        struct passwd *pw;
        unsigned long u;
        char *end;

        /* A number is a uid even when no user of that number exists: vfiod judges uids, not names. */
        if (*s >= '0' && *s <= '9') {
                errno = 0;
                u = strtoul(s, &end, 10);
                if (errno != 0 || *end != 0 || u >= (uid_t) -1)
                        return -EINVAL;
                *ret = (uid_t) u;
                return 0;
        }

        errno = 0;
        pw = getpwnam(s);
        if (!pw)
                return errno > 0 ? -errno : -ESRCH;
        *ret = pw->pw_uid;
        return 0;
}

static int parse_argv(int argc, char *argv[]) {
        enum {
                ARG_VERSION = 0x100,
                ARG_JSON,
                ARG_NO_LEGEND,
                ARG_ADDRESS,
                ARG_UID,
        };
        static const struct option options[] = {
                { "help",      no_argument,       NULL, 'h'           },
                { "version",   no_argument,       NULL, ARG_VERSION   },
                { "json",      no_argument,       NULL, ARG_JSON      },
                { "no-legend", no_argument,       NULL, ARG_NO_LEGEND },
                { "address",   required_argument, NULL, ARG_ADDRESS   },
                { "uid",       required_argument, NULL, ARG_UID       },
                {}
        };
        int c, r;

        /* Options may come before or after the command, as people type them. */
        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        arg_help = true;
                        break;
                case ARG_VERSION:
                        printf("vfiodctl %s\n", VFIOD_VERSION);
                        return 0;
                case ARG_JSON:
                        arg_json = true;
                        break;
                case ARG_NO_LEGEND:
                        arg_legend = false;
                        break;
                case ARG_ADDRESS:
                        if (!*optarg) {
                                ctl_log("--address= needs a socket path");
                                return -EINVAL;
                        }
                        arg_address = optarg;
                        break;
                case ARG_UID:
                        r = parse_uid(optarg, &arg_uid);
                        if (r == -EINVAL) {
                                ctl_log("--uid=%s is not a valid uid", optarg);
                                return r;
                        }
                        if (r < 0) {
                                ctl_log_errno(r, "--uid=%s: no such user", optarg);
                                return r;
                        }
                        break;
                case '?':
                        /* getopt_long() already said what was wrong. */
                        return -EINVAL;
                default:
                        abort();
                }

        return 1;
}

int main(int argc, char *argv[]) {
        const Verb *verb;
        char **args;
        int n_args, r;

        /* For the glyphs and character widths only; output stays in English. */
        (void) setlocale(LC_CTYPE, "");

        r = parse_argv(argc, argv);
        if (r <= 0)
                return r < 0 ? EXIT_USAGE : EXIT_SUCCESS;

        args = argv + optind;
        n_args = argc - optind;

        if (n_args > 0 && streq(args[0], "help")) {
                if (n_args > 2) {
                        ctl_log("help takes at most one command");
                        return EXIT_USAGE;
                }
                arg_help = true;
                args++;
                n_args--;
        }

        verb = verb_find(n_args > 0 ? args[0] : "list");
        if (!verb) {
                ctl_log("unknown command '%s'; see '%s --help'", args[0], program_invocation_short_name);
                return EXIT_USAGE;
        }
        if (arg_help)
                return help(n_args > 0 ? verb : NULL);

        if (n_args > 0) {
                args++;
                n_args--;
        }
        if ((unsigned) n_args < verb->min_args) {
                ctl_log("%s: missing argument; usage: %s %s", verb->name, program_invocation_short_name,
                        verb->synopsis);
                return EXIT_USAGE;
        }
        if ((unsigned) n_args > verb->max_args) {
                ctl_log("%s: too many arguments; usage: %s %s", verb->name, program_invocation_short_name,
                        verb->synopsis);
                return EXIT_USAGE;
        }
        if (arg_uid != (uid_t) -1 && verb->run != verb_explain) {
                ctl_log("--uid= only applies to explain");
                return EXIT_USAGE;
        }

        r = verb->run(n_args, args);

        /* Output that did not reach its destination is a failure the caller must see. */
        if (fflush(stdout) != 0 || ferror(stdout)) {
                ctl_log_errno(errno > 0 ? errno : EIO, "failed to write output: %m");
                return EXIT_FAILURE;
        }
        return r < 0 ? EXIT_FAILURE : r;
}
