#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# test/fresh/run.sh [COMMAND...] — the README on a fresh Debian 12.
#
# Builds (once, cached) a minimal bookworm root with debootstrap, unpacks a
# pristine copy of it, clones the current commit into it, and runs there, as
# root, exactly what the README tells a new user to type:
#
#     apt-get install make        (the README's "first" line)
#     make demo
#     make test
#
# and then the Debian package: make deb, and test/install/test-deb.sh
# installing it there with apt.  Or the COMMANDs given (each a shell line
# run in the clone); KNLB_DEB=FILE copies FILE into the clone as knlb.deb.
# Prints each command's elapsed time and PASS/FAIL; exit 0 only if all pass.
#
# Each command runs in private mount and PID namespaces (unshare --mount
# --pid --fork), pivot_root'ed into the fresh tree: /proc, /sys, /dev, a
# tmpfs /run and /tmp are mounted there and vanish with it, nothing reaches
# the host's mount table, and any process the command leaves behind dies
# with its PID namespace.  On exit, a leftover process rooted in the tree
# is killed by pid anyway, and the tree is removed.
# No systemd runs in the root: that is the point (policy-rc.d, deb-systemd-
# helper and the host-clean test must hold there).
#
# Environment: KNLB_FRESH_DIR (default /var/tmp/knlb-fresh): cache and work
# area; KNLB_FRESH_KEEP=1 keeps the root after the run (for a look inside);
# KNLB_FRESH_MIRROR (default: the host's first deb.debian.org-style URI).
set -euo pipefail
trap 'echo "test-fresh: FAIL: line $LINENO: $BASH_COMMAND (exit $?)" >&2' ERR

SRC=$(cd "$(dirname "$0")/../.." && pwd)
DIR=${KNLB_FRESH_DIR:-/var/tmp/knlb-fresh}
SUITE=bookworm
BASE=$DIR/$SUITE-minbase.tar
MIRROR=${KNLB_FRESH_MIRROR:-http://deb.debian.org/debian}

if [ $# -gt 0 ]; then
	cmds=("$@")
else
	cmds=("apt-get update -qq && apt-get install -y -qq make" "make demo" "make test"
	      "make deb && test/install/test-deb.sh build/deb/knlb_*_*.deb")
fi

if [ "$(id -u)" != 0 ]; then
	echo "test-fresh: needs root (debootstrap, chroot, mounts)" >&2
	exit 77
fi
mkdir -p "$DIR"

# --- the cached base: debootstrap's minimal set, nothing else ------------
if [ ! -s "$BASE" ]; then
	if ! command -v debootstrap >/dev/null; then
		echo "test-fresh: installing debootstrap"
		apt-get update -qq || { echo "test-fresh: apt-get update failed: is the archive reachable?" >&2; exit 1; }
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
	fi
	echo "test-fresh: debootstrap --variant=minbase $SUITE (once; cached in $BASE)"
	t0=$SECONDS
	tmp=$(mktemp -d "$DIR/base.XXXXXX")
	if ! debootstrap --variant=minbase "$SUITE" "$tmp" "$MIRROR" >"$DIR/debootstrap.log" 2>&1; then
		echo "test-fresh: debootstrap failed (is $MIRROR reachable?); last lines of $DIR/debootstrap.log:" >&2
		tail -20 "$DIR/debootstrap.log" >&2
		rm -rf "$tmp"
		exit 1
	fi
	rm -rf "$tmp"/var/cache/apt/archives/*.deb
	tar -C "$tmp" -cf "$BASE.new" .
	mv "$BASE.new" "$BASE"
	rm -rf "$tmp"
	echo "test-fresh: base root built in $((SECONDS - t0)) s"
fi

# --- a pristine copy, and the clone --------------------------------------
ROOT=$(mktemp -d "$DIR/root.XXXXXX")
chmod 755 "$ROOT"
cleanup() {
	local rc=$? pid r
	trap - ERR
	# Processes left running inside the root (a daemon of a failed test):
	# ours, found by their root directory, killed by pid.
	for r in /proc/[0-9]*/root; do
		pid=${r#/proc/}; pid=${pid%/root}
		[ "$(readlink "$r" 2>/dev/null)" = "$ROOT" ] || continue
		echo "test-fresh: killing leftover pid $pid ($(cat "/proc/$pid/comm" 2>/dev/null))" >&2
		kill -9 "$pid" 2>/dev/null || true
	done
	# The mounts lived in the private namespace; make sure none leaked.
	if grep -q " $ROOT" /proc/self/mountinfo; then
		echo "test-fresh: mounts left under $ROOT (unmounting):" >&2
		grep " $ROOT" /proc/self/mountinfo | awk '{print $5}' | sort -r | while read -r m; do
			umount -l "$m" || true
		done
	fi
	if [ "${KNLB_FRESH_KEEP:-0}" = 1 ]; then
		echo "test-fresh: root kept in $ROOT"
	else
		rm -rf --one-file-system "$ROOT"
	fi
	exit "$rc"
}
trap cleanup EXIT
tar -C "$ROOT" -xf "$BASE"
# tar restores "./" as mktemp made it (0700): / must be 0755, or no user but
# root can reach any file (knlbd as user = nobody cannot read its config).
chmod 755 "$ROOT"

rev=$(git -C "$SRC" rev-parse HEAD)
if [ -n "$(git -C "$SRC" status --porcelain --untracked-files=no)" ]; then
	echo "test-fresh: note: $SRC has uncommitted changes; the clone tests commit $rev only" >&2
fi
git clone -q --no-hardlinks "$SRC" "$ROOT/root/knlb"
git -C "$ROOT/root/knlb" checkout -q "$rev"
rm -rf "$ROOT/root/knlb/.git/hooks"
if [ -n "${KNLB_DEB:-}" ]; then cp "$KNLB_DEB" "$ROOT/root/knlb/knlb.deb"; fi

# apt sources and name resolution as the host has them (only what apt reads).
rm -f "$ROOT"/etc/apt/sources.list "$ROOT"/etc/apt/sources.list.d/*
for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
	[ -f "$f" ] && cp "$f" "$ROOT$f"
done
cp -L /etc/resolv.conf "$ROOT/etc/resolv.conf"

# --- run each command in a private mount namespace, chrooted -------------
inner=$(cat <<'EOF'
set -eu
R=$1; shift
mount --make-rprivate /
# The root a mount point of its own (ip netns exec remounts /), then the
# root of this mount namespace (pivot_root, not chroot): paths the kernel
# prints for processes in the lab's namespaces (/proc/PID/exe) are then the
# same as on a real machine.
mount --bind "$R" "$R"
mount -t proc proc "$R/proc"
mount --rbind /sys "$R/sys"
mount --rbind /dev "$R/dev"
mount -t tmpfs -o mode=755 tmpfs "$R/run"
mkdir -p "$R/run/netns" "$R/run/lock"
mount -t tmpfs -o mode=1777 tmpfs "$R/tmp"
cd "$R"
mkdir -p .oldroot
pivot_root . .oldroot
cd /
umount -l /.oldroot
rmdir /.oldroot
exec /usr/bin/env -i HOME=/root TERM=dumb PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
	LANG=C.UTF-8 KNLB_FRESH_ROOT=1 /bin/bash -c 'cd /root/knlb && eval "$1"' bash "$1"
EOF
)
status=0
summary=()
for c in "${cmds[@]}"; do
	echo "test-fresh: === $c"
	t0=$SECONDS
	rc=0
	# A PID namespace too: whatever the command leaves running dies with it.
	# Also into a log: CI shows only the tail, and the digest below is what
	# says which test failed.
	unshare --mount --pid --fork --propagation private bash -c "$inner" bash "$ROOT" "$c" 2>&1 |
		tee "$DIR/command.log" || rc=$?
	dt=$((SECONDS - t0))
	if [ "$rc" = 0 ]; then r=PASS; else r="FAIL (exit $rc)"; status=1; fi
	if [ "$rc" != 0 ]; then
		echo "test-fresh: what failed in \`$c\` (whole output: $DIR/command.log):"
		"$SRC/test/failure-digest.sh" "$DIR/command.log"
	fi
	summary+=("$(printf '%-60s %4d m %02d s  %s' "$c" $((dt / 60)) $((dt % 60)) "$r")")
	echo "test-fresh: === $c: $r after ${dt} s"
	[ "$rc" = 0 ] || break
done

echo "test-fresh: commit $rev on a fresh $SUITE root (debootstrap --variant=minbase):"
printf '  %s\n' "${summary[@]}"
if [ "$status" = 0 ]; then echo "test-fresh: PASS"; else echo "test-fresh: FAIL"; fi
exit "$status"
