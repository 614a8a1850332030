/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Placeholder until the vfio module lands. */
#include "vfio.h"
