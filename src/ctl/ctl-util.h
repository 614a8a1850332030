/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <systemd/sd-json.h>
#include <systemd/sd-varlink.h>

#include "macro.h"

#ifndef streq
#define streq(a, b) (strcmp((a), (b)) == 0)
#endif

static inline bool isempty(const char *s) {
        return !s || !*s;
}

/* Must match VFIOD_VARLINK_ADDRESS in src/daemon/manager.h. */
#define VFIODCTL_DEFAULT_ADDRESS "/run/vfiod/io.vfiod.Broker"
#define VFIOD_INTERFACE "io.vfiod.Broker"

/* Exit statuses: 0 success, 1 failure or denied, 2 the command line was wrong. */
#define EXIT_DENIED 1
#define EXIT_USAGE 2

/* Calls that change the host (Bind, Unbind, Acquire, Release) wait for the kernel to rebind drivers;
 * vfiod bounds that itself and answers Timeout. This is only the backstop for a vfiod that hangs. */
#define CTL_CHANGE_TIMEOUT_USEC (300ULL * 1000000ULL)

/* The longest text taken from a reply and printed, in bytes; anything longer is cut with an ellipsis. */
#define TEXT_MAX 4096

#define ANSI_RED "\x1b[0;31m"
#define ANSI_GREEN "\x1b[0;32m"
#define ANSI_YELLOW "\x1b[0;33m"
#define ANSI_BOLD "\x1b[0;1m"
#define ANSI_NORMAL "\x1b[0m"

/* Messages for people, on stderr, prefixed with the program name. %m means -error. */
void ctl_log(const char *format, ...) _printf_(1, 2);
int ctl_log_errno(int error, const char *format, ...) _printf_(2, 3);

bool colors_enabled(void);
bool utf8_enabled(void);
/* The escape sequence when colours are on, "" otherwise. */
const char *ansi(const char *sequence);
const char *glyph_check_mark(void);
const char *glyph_cross_mark(void);
const char *glyph_dash(void);
const char *glyph_ellipsis(void);

/* Copy s into buf for a terminal: control characters and invalid UTF-8 become '?', and the text is
 * cut with an ellipsis at max_width columns or when buf is full. Returns the width in columns. */
size_t text_clean(char *buf, size_t size, const char *s, size_t max_width);
/* Columns the (already clean) text takes. */
size_t text_width(const char *s);

/* Typed look-ups into a reply: a field that is missing or of the wrong type (or an empty string)
 * reads as absent. */
const char *json_str(sd_json_variant *o, const char *key);
int json_bool(sd_json_variant *o, const char *key); /* -1 when absent */
bool json_int(sd_json_variant *o, const char *key, int64_t *ret);
/* A non-negative integer, also above INT64_MAX (bitmaps). */
bool json_uint64(sd_json_variant *o, const char *key, uint64_t *ret);
sd_json_variant *json_array(sd_json_variant *o, const char *key);
sd_json_variant *json_object(sd_json_variant *o, const char *key);
/* The string elements of an array joined by sep, bounded by size; "" when there are none. Returns
 * how many strings were joined. */
size_t json_join(sd_json_variant *array, const char *sep, char *buf, size_t size);
/* The same for the integer elements of an array. */
size_t json_join_ints(sd_json_variant *array, const char *sep, char *buf, size_t size);

/* Free a NULL-terminated array of malloc'd strings. */
void ctl_strv_free(char **l);
DEFINE_TRIVIAL_CLEANUP_FUNC(char **, ctl_strv_free);

const char *yes_no(int b);

/* Print a reply for scripts: one JSON object, pretty only on a terminal. */
int print_json(sd_json_variant *v, bool one_line);

int broker_connect(const char *address, sd_varlink **ret);
/* Call an io.vfiod.Broker method; on an error reply print one line about it and return < 0. The reply
 * is owned by the connection and valid until the next call on it. */
int broker_call(sd_varlink *link, const char *method, sd_json_variant *parameters, sd_json_variant **ret);
/* Print one line for an error reply to method; returns a negative errno that matches it. */
int broker_log_error(const char *method, const char *error_id, sd_json_variant *parameters);
