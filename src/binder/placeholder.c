/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Placeholder until the binder module lands. */
#include "binder.h"
