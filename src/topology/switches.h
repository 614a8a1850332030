/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "topology.h"

/* Pure: fill the command-line part of KernelSwitches from a command line. */
int kernel_switches_parse_cmdline(const char *cmdline, KernelSwitches *s);
/* Pure: which irq chips /proc/interrupts shows in use, as MSI isolation. */
MsiIsolation interrupts_parse(const char *text);
const char *msi_isolation_to_string(MsiIsolation m);
/* Read everything now: command line, module parameters, interrupt remapping. */
int kernel_switches_read(KernelSwitches *ret);
void kernel_switches_done(KernelSwitches *s);
