/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* An Operation's error, described once for every front-end: as varlink's error parameters and
 * as one text (D-Bus messages, logs). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker.h"
#include "macro.h"

static bool is_error(const Operation *op, const char *id) {
        return op->error_id && strcmp(op->error_id, id) == 0;
}

int operation_error_json(const Operation *op, sd_json_variant **ret) {
        _cleanup_(sd_json_variant_unrefp) sd_json_variant *checks = NULL, *reasons = NULL;
        int r;

        if (is_error(op, BROKER_ERROR_NO_SUCH_LEASE))
                return sd_json_buildo(ret, SD_JSON_BUILD_PAIR_STRING("leaseId", op->busy_lease_id));
        if (is_error(op, BROKER_ERROR_NO_SUCH_DEVICE))
                return sd_json_buildo(ret, SD_JSON_BUILD_PAIR_STRING("device", strna(op->error_device)));
        if (is_error(op, BROKER_ERROR_BUSY)) {
                bool reveal = op->busy_lease_id[0] != '\0';
                return sd_json_buildo(ret,
                                      SD_JSON_BUILD_PAIR_STRING("device", strna(op->error_device)),
                                      SD_JSON_BUILD_PAIR_CONDITION(reveal, "leaseId", SD_JSON_BUILD_STRING(op->busy_lease_id)),
                                      SD_JSON_BUILD_PAIR_CONDITION(reveal, "uid", SD_JSON_BUILD_UNSIGNED(op->busy_uid)),
                                      SD_JSON_BUILD_PAIR_CONDITION(reveal && op->busy_pid > 0, "pid", SD_JSON_BUILD_INTEGER(op->busy_pid)),
                                      SD_JSON_BUILD_PAIR_CONDITION(!!op->message, "message", SD_JSON_BUILD_STRING(op->message)));
        }
        if (!is_error(op, BROKER_ERROR_DENIED))
                return sd_json_buildo(ret,
                                      SD_JSON_BUILD_PAIR_CONDITION(is_error(op, BROKER_ERROR_BIND_FAILED) && !!op->error_device,
                                                                   "device", SD_JSON_BUILD_STRING(op->error_device)),
                                      SD_JSON_BUILD_PAIR_STRING("message", strna(op->message)));

        r = sd_json_variant_new_array(&checks, NULL, 0);
        if (r >= 0)
                r = sd_json_variant_new_array(&reasons, NULL, 0);
        for (size_t i = 0; r >= 0 && i < op->verdict.n_checks; i++) {
                const Check *c = &op->verdict.checks[i];
                bool seen = false;

                if (c->passed)
                        continue;
                r = sd_json_variant_append_arraybo(&checks,
                                                   SD_JSON_BUILD_PAIR_STRING("code", c->code),
                                                   SD_JSON_BUILD_PAIR_BOOLEAN("passed", false),
                                                   SD_JSON_BUILD_PAIR_STRING("subject", strna(c->subject)),
                                                   SD_JSON_BUILD_PAIR_STRING("sentence", strna(c->sentence)));
                for (size_t j = 0; j < i; j++)
                        seen = seen || (!op->verdict.checks[j].passed && strcmp(op->verdict.checks[j].code, c->code) == 0);
                if (r >= 0 && !seen)
                        r = sd_json_variant_append_arrayb(&reasons, SD_JSON_BUILD_STRING(c->code));
        }
        if (r < 0)
                return r;
        return sd_json_buildo(ret,
                              SD_JSON_BUILD_PAIR_VARIANT("reasons", reasons),
                              SD_JSON_BUILD_PAIR_VARIANT("checks", checks),
                              SD_JSON_BUILD_PAIR_STRING("message", strna(op->message)));
}

int operation_error_text(const Operation *op, char **ret) {
        _cleanup_free_ char *text = NULL;
        size_t size = 0;
        FILE *f;

        f = open_memstream(&text, &size);
        if (!f)
                return -ENOMEM;
        if (is_error(op, BROKER_ERROR_NO_SUCH_LEASE))
                fputs(strna(op->message), f);
        else if (is_error(op, BROKER_ERROR_NO_SUCH_DEVICE))
                fprintf(f, "no PCI device %s", strna(op->error_device));
        else if (is_error(op, BROKER_ERROR_BUSY) && op->busy_lease_id[0])
                fprintf(f, "%s: held by lease %s of uid %u%s%s", strna(op->error_device), op->busy_lease_id,
                        (unsigned) op->busy_uid, op->message ? ": " : "", strempty(op->message));
        else if (is_error(op, BROKER_ERROR_BUSY))
                fprintf(f, "%s: held by another user's lease", strna(op->error_device));
        else if (op->error_device && !strstr(strempty(op->message), op->error_device))
                fprintf(f, "%s: %s", op->error_device, strna(op->message));
        else
                fputs(strna(op->message), f);
        /* Denied: one line per failed check, "code: subject: sentence", for people and scripts. */
        for (size_t i = 0; is_error(op, BROKER_ERROR_DENIED) && i < op->verdict.n_checks; i++)
                if (!op->verdict.checks[i].passed)
                        fprintf(f, "\n%s: %s: %s", op->verdict.checks[i].code, strna(op->verdict.checks[i].subject),
                                strna(op->verdict.checks[i].sentence));
        if (fclose(f) != 0)
                return -ENOMEM;
        *ret = TAKE_PTR(text);
        return 0;
}
