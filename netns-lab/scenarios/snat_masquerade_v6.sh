#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# snat_masquerade_v6.sh — snat_masquerade.sh over IPv6
# (KNLB_LAB_FAMILY=6): the lab's IPv6 VIP, the backends as [ADDR]:PORT,
# IPv6 clients; the same assertions.
KNLB_LAB_FAMILY=6 KNLB_LAB_NAME=$(basename "$0" .sh) exec "$(dirname "$0")/snat_masquerade.sh" "$@"
