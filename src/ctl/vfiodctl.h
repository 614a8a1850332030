/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

/* The command line, parsed once in main. */
extern bool arg_json;
extern bool arg_legend;
extern const char *arg_address;
extern uid_t arg_uid;

/* Verbs return an exit status (0, EXIT_DENIED, EXIT_USAGE) or a negative errno after printing why. */
int verb_info(int argc, char *argv[]);
int verb_list(int argc, char *argv[]);
int verb_groups(int argc, char *argv[]);
int verb_explain(int argc, char *argv[]);
int verb_monitor(int argc, char *argv[]);
int verb_reload(int argc, char *argv[]);
