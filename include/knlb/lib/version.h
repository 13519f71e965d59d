/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef KNLB_VERSION_H
#define KNLB_VERSION_H

/* knlbd and knlbctl ship together and print the same version. */
#define KNLB_VERSION "0.2.0"

#endif
