/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* What json-c does not give us: byte positions of keys and values, duplicate keys (json-c keeps
 * the last one silently) and escaped NULs (json-c cuts C strings at them). A small scanner runs
 * over text that json-c has already accepted, so it only has to be correct on valid JSON; it is
 * still bounds-checked everywhere and refuses anything it does not expect. */

#include <stdbool.h>
#include <stddef.h>

/* Nesting limit shared by json-c's tokener and the scanner. */
#define POLICY_JSON_DEPTH_MAX 32

typedef struct JsonPathSegment {
        const char *key;                /* object member; NULL for an array element */
        size_t index;                   /* array element */
} JsonPathSegment;

typedef struct JsonPath {
        JsonPathSegment segments[POLICY_JSON_DEPTH_MAX + 1];
        size_t n;
} JsonPath;

typedef enum JsonProblem {
        JSON_PROBLEM_NONE,
        JSON_PROBLEM_DUPLICATE_KEY,     /* offset of the later key */
        JSON_PROBLEM_ESCAPED_NUL,       /* offset of the string that holds \u0000 */
        JSON_PROBLEM_TOO_DEEP,          /* offset of the bracket beyond the limit */
        _JSON_PROBLEM_MAX,
} JsonProblem;

/* Finds the first problem (by offset) of the kinds above. Returns 0 (also when there is a problem:
 * see *ret_problem), -ENOMEM, or -EBADMSG with *ret_offset where the text stops being RFC 8259 JSON
 * (json-c lets single-quoted keys, NaN and "1." through). *ret_key is the duplicated key, owned by
 * the caller. */
int json_scan_check(const char *text, size_t len, JsonProblem *ret_problem, size_t *ret_offset, char **ret_key);

/* Offset of the value at path (or of its key's opening quote, with at_key). -ENOENT if absent. */
int json_scan_locate(const char *text, size_t len, const JsonPath *path, bool at_key, size_t *ret_offset);

/* Offset of the first NUL byte or malformed UTF-8 sequence; len if there is none. *ret_nul tells which. */
size_t text_find_invalid(const char *text, size_t len, bool *ret_nul);

/* 1-based line and column (in characters, not bytes) of a byte offset. */
void text_position(const char *text, size_t len, size_t offset, unsigned *ret_line, unsigned *ret_column);
