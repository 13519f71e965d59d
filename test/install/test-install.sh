#!/usr/bin/env bash
# make install into a throwaway DESTDIR: check the tree, run the installed
# knlbd, verify the installed unit, reinstall over an edited config,
# uninstall.  No root needed; touches nothing outside its /tmp directory.
set -euo pipefail
cd "$(dirname "$0")/../.."

BUILD=${KNLB_BUILD:-build}
MAKE=${MAKE:-make}
D=$(mktemp -d /tmp/knlb-install-XXXXXX)
cleanup() { rm -rf "$D"; }
trap cleanup EXIT

fail() { echo "test-install: FAIL: $*" >&2; echo "--- tree:" >&2; (cd "$D" && find . | sort) >&2; exit 1; }
pass() { echo "test-install: ok: $*"; }

install_into() {	# DESTDIR PREFIX
	"$MAKE" -s --no-print-directory BUILD="$BUILD" DESTDIR="$1" PREFIX="$2" install
}

# --- a package-style install: PREFIX=/usr, staged in DESTDIR ---
out=$(install_into "$D/root" /usr)
R=$D/root
for f in usr/sbin/knlbd usr/share/man/man8/knlbd.8 usr/share/man/man5/knlb.conf.5 \
	 usr/lib/systemd/system/knlbd.service etc/knlb/knlb.conf; do
	[ -f "$R/$f" ] || fail "$f not installed"
done
[ -x "$R/usr/sbin/knlbd" ] || fail "knlbd not executable"
for m in docs/*.8 docs/*.5; do
	[ -f "$R/usr/share/man/man${m##*.}/${m##*/}" ] || fail "man page $m not installed"
done
[ -x "$R/usr/sbin/knlbctl" ] || fail "knlbctl not installed"
if [ -f conf/knlbctl.bash-completion ]; then
	[ -f "$R/usr/share/bash-completion/completions/knlbctl" ] || fail "bash completion not installed"
fi
pass "tree under DESTDIR with PREFIX=/usr"

# The installed unit names installed paths, never DESTDIR.
unit=$R/usr/lib/systemd/system/knlbd.service
grep -qx 'ExecStart=/usr/sbin/knlbd -c /etc/knlb/knlb.conf' "$unit" || fail "ExecStart: $(grep ExecStart= "$unit")"
grep -q "$D" "$unit" && fail "DESTDIR leaked into the unit"
grep -qx 'ExecReload=/usr/sbin/knlbctl -s /run/knlb/knlb.sock reload' "$unit" ||
	fail "ExecReload: $(grep ExecReload= "$unit")"
pass "unit ExecStart=/usr/sbin/knlbd, ExecReload=knlbctl reload"

# The installed binary runs, and accepts the installed configuration.
v=$("$R/usr/sbin/knlbd" --version) || fail "knlbd --version exited $?"
[[ $v =~ ^knlbd\ [0-9]+\.[0-9]+\.[0-9]+$ ]] || fail "knlbd --version printed '$v'"
pass "installed knlbd: '$v'"

# The installed configuration programs nothing: no [service] section, only
# commented examples, and those examples are valid once uncommented.
cmp -s conf/installed.conf.dist "$R/etc/knlb/knlb.conf" || fail "installed knlb.conf is not conf/installed.conf.dist"
! grep -q '^\[service' "$R/etc/knlb/knlb.conf" || fail "the installed knlb.conf has a service"
awk '/^; \[service/ { on = 1 } on && /^; [a-z[]/ { sub(/^; /, ""); print; next } !on { print }' \
	"$R/etc/knlb/knlb.conf" >"$D/examples.conf"
grep -q '^\[service' "$D/examples.conf" || fail "no commented [service] example in installed.conf.dist"
t=$("$R/usr/sbin/knlbd" -t -c "$D/examples.conf" 2>&1) || fail "knlbd -t on installed.conf.dist's examples uncommented: $t"
pass "installed knlb.conf has no service; its examples uncommented: $t"
t=$("$R/usr/sbin/knlbd" -t -c "$R/etc/knlb/knlb.conf" 2>&1) || fail "knlbd -t on the installed config: $t"
grep -q 'configuration OK: no services (knlbd will run idle)' <<<"$t" ||
	fail "knlbd -t on the installed config does not say it will run idle: $t"
pass "knlbd -t on the installed config: $t"

# systemd-analyze verify: the unit with its paths pointed into DESTDIR (the
# binary must exist for verify), man pages not looked up (not installed).
if command -v systemd-analyze >/dev/null; then
	mkdir -p "$D/verify"
	sed -e "s|/usr/sbin/knlb|$R/usr/sbin/knlb|g" -e "s|/etc/knlb/|$R/etc/knlb/|g" \
		"$unit" >"$D/verify/knlbd.service"
	if ! v=$(systemd-analyze verify --man=no "$D/verify/knlbd.service" 2>&1) || [ -n "$v" ]; then
		fail "systemd-analyze verify: $v"
	fi
	pass "systemd-analyze verify: no complaint"
else
	echo "test-install: systemd-analyze not installed (make deps installs systemd): unit not verified" >&2
	exit 1
fi

# --- PREFIX=/usr/local: the unit follows ---
install_into "$D/local" /usr/local >/dev/null
grep -qx 'ExecStart=/usr/local/sbin/knlbd -c /etc/knlb/knlb.conf' \
	"$D/local/usr/local/lib/systemd/system/knlbd.service" || fail "PREFIX=/usr/local: ExecStart not rewritten"
[ -x "$D/local/usr/local/sbin/knlbd" ] || fail "PREFIX=/usr/local: no sbin/knlbd"
pass "PREFIX=/usr/local: ExecStart=/usr/local/sbin/knlbd"

# --- an operator's configuration survives reinstalling and uninstalling ---
echo "; edited by the operator" >>"$R/etc/knlb/knlb.conf"
cp "$R/etc/knlb/knlb.conf" "$D/operator.conf"
out=$(install_into "$R" /usr)
cmp -s "$R/etc/knlb/knlb.conf" "$D/operator.conf" || fail "install overwrote the operator's knlb.conf"
grep -q "knlb.conf exists: kept" <<<"$out" || fail "no 'kept' message: $out"
pass "reinstall kept the edited knlb.conf"

"$MAKE" -s --no-print-directory BUILD="$BUILD" DESTDIR="$R" PREFIX=/usr uninstall >/dev/null
left=$(cd "$R" && find . \( -type f -o -type l \) | sort)
[ "$left" = "./etc/knlb/knlb.conf" ] || fail "after uninstall, left: $left"
cmp -s "$R/etc/knlb/knlb.conf" "$D/operator.conf" || fail "uninstall changed knlb.conf"
pass "uninstall left only the operator's knlb.conf"
