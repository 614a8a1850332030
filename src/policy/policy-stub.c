/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Placeholder so the library links until the loader and evaluator land. */
#include "policy.h"
