#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# knlb-ha-notify.sh STATE [CONNTRACKD_CONF] — keepalived's notify script
# for a knlb pair (conf/ha/keepalived-gw*.conf, docs/high-availability.md),
# in the manner of conntrack-tools' doc/sync/primary-backup.sh.  STATE is
# MASTER, BACKUP or FAULT (the vrrp_sync_group's new state).
#
# MASTER: the flows the old master replicated become ours:
#   conntrackd -c   commit the external cache into the kernel table (knlbd
#                   sees the entries as conntrack events, with their ct mark,
#                   and counts them: docs/high-availability.md)
#   conntrackd -f   flush both caches (what was committed is in the kernel)
#   conntrackd -R   rebuild the internal cache from the kernel table
#   conntrackd -B   bulk-send it to the peer, now our backup
# BACKUP and FAULT: the peer is (or becomes) master:
#   conntrackd -t   flush the kernel table after PurgeTimeout: our entries
#                   are the peer's now, stale ones would clash later
#   conntrackd -n   ask the master for a full resync of its flows
# knlbd itself needs nothing: it runs on both gateways with the same config
# and programs identical tables whatever keepalived's state.
#
# Every failure is logged (logger) and the script goes on: keepalived
# must not wait on a half-done notify.
CONF=${2:-/etc/conntrackd/conntrackd.conf}
CONNTRACKD=${CONNTRACKD:-/usr/sbin/conntrackd}

say() {
	logger -t knlb-ha-notify -- "$*" 2>/dev/null || true
	echo "knlb-ha-notify: $*" >&2
}

run() {
	"$CONNTRACKD" -C "$CONF" "$@" || say "conntrackd -C $CONF $*: failed (status $?)"
}

case ${1:-} in
MASTER)
	say "MASTER: committing the replicated flows"
	run -c
	run -f
	run -R
	run -B
	;;
BACKUP|FAULT)
	say "$1: handing the flows to the master"
	run -t
	run -n
	;;
*)
	echo "usage: knlb-ha-notify.sh MASTER|BACKUP|FAULT [CONNTRACKD_CONF]" >&2
	exit 2
	;;
esac
exit 0
