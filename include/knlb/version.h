/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef KNLB_VERSION_H
#define KNLB_VERSION_H

/* knlbd --version and knlb_build_info{version}: one place to bump. */
#define KNLB_VERSION "0.1.0"

#endif
