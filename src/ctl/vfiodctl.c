/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <locale.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl-util.h"
#include "hexdecoct.h"
#include "vfiodctl.h"

bool arg_json = false;
bool arg_legend = true;
const char *arg_address = VFIODCTL_DEFAULT_ADDRESS;
uid_t arg_uid = (uid_t) -1;
int arg_min_aperture_bits = -1;
CtlIovaRange arg_iova[CTL_IOVA_RANGES_MAX];
size_t arg_n_iova = 0;
bool arg_exec = false;
char **arg_exec_argv = NULL;
static bool arg_help = false;

typedef struct Verb {
        const char *name;
        const char *synopsis;
        unsigned min_args; /* not counting the verb */
        unsigned max_args;
        int (*run)(int argc, char *argv[]);
        const char *description;
} Verb;

#define REFUSALS_HELP                                                                                   \
        "A refusal exits with status 1 and says why: denied (every failed check with its reason code and\n" \
        "the sentence that names the fix), busy (whose lease holds the device), bind failed, timeout or\n"   \
        "not supported (vfiod's message)."

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
        { "bind", "bind DEVICE...", 1, UINT_MAX, verb_bind,
          "Move the whole IOMMU groups of DEVICE... to vfio-pci, without fds (for VMs that open\n"
          "/dev/vfio/N themselves, e.g. through libvirt). Prints the lease id, the groups and every device\n"
          "now on vfio-pci. The lease lasts until 'unbind' or 'release'. DEVICE is a PCI address,\n"
          "DDDD:BB:DD.F or BB:DD.F.\n"
          REFUSALS_HELP },
        { "unbind", "unbind DEVICE...", 1, UINT_MAX, verb_unbind,
          "Give the groups of DEVICE..., bound earlier with 'bind', back to the drivers they had, and\n"
          "print the devices given back." },
        { "acquire", "acquire DEVICE... [--min-aperture-bits=N] [--iova=START-END]... [--exec -- CMD [ARGS...]]",
          1, UINT_MAX, verb_acquire,
          "Take DEVICE... for yourself: vfiod binds their whole IOMMU groups to vfio-pci if needed, sets\n"
          "up a VFIO container (type1v2) with the groups attached, and passes container, group and device\n"
          "fds. The lease is tied to this vfiodctl process and ends when it exits; vfiodctl releases it\n"
          "explicitly before, so the devices are back where the policy wants them when it returns.\n"
          "\n"
          "Without --exec: print the lease id, each container's usable IOVA ranges, IOMMU page sizes, DMA\n"
          "mappings available and aperture, the groups and the devices; then hold the lease and the fds\n"
          "until SIGINT (Ctrl-C) or SIGTERM, release it and exit 0. With --json, vfiod's reply is printed\n"
          "(its fd fields index the fds passed with it) and the holding line goes to stderr.\n"
          "\n"
          "With --exec -- CMD [ARGS...]: run CMD with the fds at 3, 4, 5, ... as sd_listen_fds_with_names()\n"
          "expects them: containers, then groups, then devices, each in vfiod's order. $LISTEN_FDS,\n"
          "$LISTEN_PID (CMD's pid) and $LISTEN_FDNAMES are set, $VFIOD_LEASE_ID holds the lease id.\n"
          "':' separates the names in $LISTEN_FDNAMES, so no name contains one:\n"
          "  vfio-container            the container, when there is one (the usual case)\n"
          "  vfio-container.N          each container, when vfiod split the request into several\n"
          "                            (policy mixedApertures \"split\"); N is the lowest group in it\n"
          "  vfio-group.N              the group /dev/vfio/N, attached to its container\n"
          "  vfio-device.DDDD-BB-DD.F  the device DDDD:BB:DD.F, written with '-' for ':'\n"
          "No other fd of vfiodctl's reaches CMD (fds vfiodctl inherited stay inherited). vfiodctl waits\n"
          "for CMD and for every process CMD leaves behind (they may hold the fds too: vfiodctl is their\n"
          "subreaper), passes SIGINT, SIGTERM and SIGHUP on to them (except those the terminal sent to\n"
          "CMD too), releases the lease when all are gone, and exits with CMD's exit status: 128+N when CMD\n"
          "was killed by signal N, 127 when CMD was not found, 126 when it could not be run.\n"
          "\n"
          "  --min-aperture-bits=N   Refuse unless the measured IOVA aperture covers at least N bits\n"
          "  --iova=START-END        A range CMD must be able to map, inclusive, hex with 0x or decimal\n"
          "                          (e.g. 0x100000-0x2fffff); may be given several times\n"
          "\n"
          REFUSALS_HELP },
        { "release", "release LEASE-ID", 1, 1, verb_release,
          "End a lease (yours; root may end any): vfiod gives the devices back to their drivers where the\n"
          "policy says so. A lease held by a running 'acquire' ends anyway when that process exits." },
        { "leases", "leases", 0, 0, verb_leases,
          "List the leases: id, kind (acquire: ends with its holder process; bind: ends with unbind or\n"
          "release), uid and pid of the holder, devices, groups and since when. --json for the reply." },
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
               "     --min-aperture-bits=N\n"
               "                         acquire: refuse unless the IOVA aperture covers N bits\n"
               "     --iova=START-END    acquire: an IOVA range that must be mappable (repeatable)\n"
               "     --exec -- CMD...    acquire: run CMD with the fds instead of holding them\n"
               "\nlibvirt-hook NAME OPERATION SUB-OPERATION EXTRA < DOMAIN-XML\n"
               "                         libvirt's qemu hook (/etc/libvirt/hooks/qemu.d/50-vfiod): binds the\n"
               "                         domain's PCI host devices on prepare, gives them back on release\n"
               "\nExit status: 0 success, 1 failure or device denied, 2 usage error;\n"
               "acquire --exec: CMD's exit status.\n",
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
               "  bind DEVICE...         Move the devices' IOMMU groups to vfio-pci; print the lease\n"
               "  unbind DEVICE...       Give groups bound with bind back to their drivers\n"
               "  acquire DEVICE...      Take the devices with ready VFIO fds and hold them until Ctrl-C,\n"
               "    [--exec -- CMD...]   or pass the fds to CMD (sd_listen_fds) and hold them while it runs\n"
               "  release LEASE-ID       End a lease\n"
               "  leases                 Who holds which devices\n"
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

/* A number as people write bounds: hex with 0x, or decimal (a leading 0 does not mean octal). Only
 * digits: no blanks, signs or suffixes. */
static int parse_u64(const char *s, size_t n, uint64_t *ret) {
        unsigned base = 10;
        uint64_t v = 0;
        size_t i = 0;

        if (n > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
                base = 16;
                i = 2;
        }
        if (i == n)
                return -EINVAL;

        for (; i < n; i++) {
                int d = base == 16 ? unhexchar(s[i]) : (s[i] >= '0' && s[i] <= '9' ? s[i] - '0' : -1);

                if (d < 0)
                        return -EINVAL;
                if (v > (UINT64_MAX - (unsigned) d) / base)
                        return -ERANGE;
                v = v * base + (unsigned) d;
        }

        *ret = v;
        return 0;
}

/* START-END, inclusive. */
static int parse_iova_range(const char *s, CtlIovaRange *ret) {
        const char *dash = strchr(s, '-');
        uint64_t start, end;

        if (!dash || parse_u64(s, dash - s, &start) < 0 || parse_u64(dash + 1, strlen(dash + 1), &end) < 0)
                return -EINVAL; /* overflow included: no IOVA is that large */
        if (start > end)
                return -ERANGE;
        *ret = (CtlIovaRange) { start, end };
        return 0;
}

static int parse_argv(int argc, char *argv[]) {
        enum {
                ARG_VERSION = 0x100,
                ARG_JSON,
                ARG_NO_LEGEND,
                ARG_ADDRESS,
                ARG_UID,
                ARG_MIN_APERTURE_BITS,
                ARG_IOVA,
                ARG_EXEC,
        };
        static const struct option options[] = {
                { "help",              no_argument,       NULL, 'h'                   },
                { "version",           no_argument,       NULL, ARG_VERSION           },
                { "json",              no_argument,       NULL, ARG_JSON              },
                { "no-legend",         no_argument,       NULL, ARG_NO_LEGEND         },
                { "address",           required_argument, NULL, ARG_ADDRESS           },
                { "uid",               required_argument, NULL, ARG_UID               },
                { "min-aperture-bits", required_argument, NULL, ARG_MIN_APERTURE_BITS },
                { "iova",              required_argument, NULL, ARG_IOVA              },
                { "exec",              no_argument,       NULL, ARG_EXEC              },
                {}
        };
        char given[TEXT_MAX];
        uint64_t u;
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
                case ARG_MIN_APERTURE_BITS:
                        if (parse_u64(optarg, strlen(optarg), &u) < 0 || u < 1 || u > 64) {
                                (void) text_clean(given, sizeof given, optarg, 64);
                                ctl_log("--min-aperture-bits=%s: expected a number of bits, 1 to 64", given);
                                return -EINVAL;
                        }
                        arg_min_aperture_bits = (int) u;
                        break;
                case ARG_IOVA:
                        if (arg_n_iova >= CTL_IOVA_RANGES_MAX) {
                                ctl_log("--iova= may be given at most %d times", CTL_IOVA_RANGES_MAX);
                                return -E2BIG;
                        }
                        r = parse_iova_range(optarg, arg_iova + arg_n_iova);
                        if (r < 0) {
                                (void) text_clean(given, sizeof given, optarg, 64);
                                ctl_log("--iova=%s: %s", given,
                                        r == -ERANGE ? "START is above END"
                                                     : "expected START-END, inclusive, hex with 0x or decimal "
                                                       "(e.g. 0x100000-0x2fffff)");
                                return r;
                        }
                        arg_n_iova++;
                        break;
                case ARG_EXEC:
                        arg_exec = true;
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
        _cleanup_free_ char **merged = NULL;
        char **command = NULL;
        int n_command = 0;
        const Verb *verb;
        char **args;
        int n_args, r;

        /* For the glyphs and character widths only; output stays in English. */
        (void) setlocale(LC_CTYPE, "");

        /* libvirt's hook: its arguments are libvirt's (a domain name may start with '-'), never
         * options of ours. */
        if (argc >= 2 && streq(argv[1], "libvirt-hook"))
                return libvirt_hook_main(argc - 2, argv + 2);

        /* "--" ends vfiodctl's own command line: what follows is acquire's CMD, never options of ours.
         * Look for it before getopt_long(), which permutes argv and would lose where it was. */
        for (int i = 1; i < argc; i++)
                if (streq(argv[i], "--")) {
                        command = argv + i + 1;
                        n_command = argc - i - 1;
                        argv[i] = NULL;
                        argc = i;
                        break;
                }

        r = parse_argv(argc, argv);
        if (r <= 0)
                return r < 0 ? EXIT_USAGE : EXIT_SUCCESS;

        args = argv + optind;
        n_args = argc - optind;

        /* For every other command "--" only ends the options: what follows are more arguments. */
        if (command && !(n_args > 0 && streq(args[0], "acquire")) && n_command > 0) {
                merged = calloc(n_args + n_command + 1, sizeof(char *));
                if (!merged) {
                        ctl_log_errno(ENOMEM, "Out of memory: %m");
                        return EXIT_FAILURE;
                }
                memcpy(merged, args, n_args * sizeof(char *));
                memcpy(merged + n_args, command, n_command * sizeof(char *));
                args = merged;
                n_args += n_command;
                command = NULL;
        }

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
        if (arg_uid != (uid_t) -1 && verb->run != verb_explain) {
                ctl_log("--uid= only applies to explain");
                return EXIT_USAGE;
        }
        if (verb->run != verb_acquire) {
                if (arg_min_aperture_bits >= 0 || arg_n_iova > 0 || arg_exec) {
                        ctl_log("--min-aperture-bits=, --iova= and --exec only apply to acquire");
                        return EXIT_USAGE;
                }
        } else {
                if (arg_exec && (!command || n_command == 0)) {
                        ctl_log("acquire: --exec needs a command: --exec -- CMD [ARGS...]");
                        return EXIT_USAGE;
                }
                if (!arg_exec && command && n_command > 0) {
                        ctl_log("acquire: a command after -- needs --exec: --exec -- CMD [ARGS...]");
                        return EXIT_USAGE;
                }
                if (arg_exec)
                        arg_exec_argv = command; /* argv is NULL-terminated after it */
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

        r = verb->run(n_args, args);

        /* Output that did not reach its destination is a failure the caller must see. */
        if (fflush(stdout) != 0 || ferror(stdout)) {
                ctl_log_errno(errno > 0 ? errno : EIO, "failed to write output: %m");
                return EXIT_FAILURE;
        }
        return r < 0 ? EXIT_FAILURE : r;
}
