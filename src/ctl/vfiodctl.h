/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* An IOVA range given with --iova=, inclusive. */
typedef struct CtlIovaRange {
        uint64_t start, end;
} CtlIovaRange;

#define CTL_IOVA_RANGES_MAX 64

/* The command line, parsed once in main. */
extern bool arg_json;
extern bool arg_legend;
extern const char *arg_address;
extern uid_t arg_uid;
extern int arg_min_aperture_bits; /* -1 when not given */
extern CtlIovaRange arg_iova[CTL_IOVA_RANGES_MAX];
extern size_t arg_n_iova;
extern bool arg_exec;
extern char **arg_exec_argv; /* acquire --exec: CMD and its arguments, NULL-terminated */

/* Verbs return an exit status (0, EXIT_DENIED, EXIT_USAGE) or a negative errno after printing why. */
int verb_info(int argc, char *argv[]);
int verb_list(int argc, char *argv[]);
int verb_groups(int argc, char *argv[]);
int verb_explain(int argc, char *argv[]);
int verb_monitor(int argc, char *argv[]);
int verb_reload(int argc, char *argv[]);
int verb_bind(int argc, char *argv[]);
int verb_unbind(int argc, char *argv[]);
int verb_acquire(int argc, char *argv[]);
int verb_release(int argc, char *argv[]);
int verb_leases(int argc, char *argv[]);
/* libvirt's qemu hook: argv is NAME OPERATION SUB-OPERATION EXTRA; returns an exit status. */
int libvirt_hook_main(int argc, char *argv[]);
