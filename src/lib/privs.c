/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Dropping privileges with raw system calls rather than libcap: five calls
 * (prctl, capget, capset, setgroups/initgroups, setresuid/setresgid), one
 * capability kept, and no library to install on the gateway for it.  The
 * capability sets are manipulated through the v3 (64-bit) capget/capset
 * ABI, which every kernel knlb runs on (nftables needs >= 3.13) has.
 */
#include <errno.h>
#include <grp.h>
#include <linux/capability.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <fcntl.h>

#include "knlb/lib/log.h"
#include "knlb/lib/privs.h"

#define KEPT_CAP	CAP_NET_ADMIN

static bool has_user(const char *user)
{
	return user && *user;
}

static int fail(char *err, size_t errlen, int ret, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int fail(char *err, size_t errlen, int ret, const char *fmt, ...)
{
	va_list ap;
	size_t n;

	if (!err || !errlen)
		return ret;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	n = strlen(err);
	snprintf(err + n, errlen - n, ": %s", strerror(-ret));
	return ret;
}

/* The v3 ABI: two 32-bit words per set, word 0 for capabilities 0..31. */
static int caps_get(struct __user_cap_data_struct data[2])
{
	struct __user_cap_header_struct hdr = {
		.version = _LINUX_CAPABILITY_VERSION_3,
		.pid = 0,
	};

	if (syscall(SYS_capget, &hdr, data) == -1)
		return -errno;
	return 0;
}

/* Only cap in the effective and permitted sets; NO_CAP: none at all. */
#define NO_CAP	(-1)

static int caps_set_only(int cap)
{
	struct __user_cap_header_struct hdr = {
		.version = _LINUX_CAPABILITY_VERSION_3,
		.pid = 0,
	};
	struct __user_cap_data_struct data[2] = { { 0 }, { 0 } };

	if (cap != NO_CAP) {
		data[CAP_TO_INDEX(cap)].effective = CAP_TO_MASK(cap);
		data[CAP_TO_INDEX(cap)].permitted = CAP_TO_MASK(cap);
	}
	if (syscall(SYS_capset, &hdr, data) == -1)
		return -errno;
	return 0;
}

static bool cap_in(const struct __user_cap_data_struct data[2], int cap,
		   bool effective)
{
	uint32_t set = effective ? data[CAP_TO_INDEX(cap)].effective :
				   data[CAP_TO_INDEX(cap)].permitted;

	return set & CAP_TO_MASK(cap);
}

/*
 * Every capability but kept (NO_CAP: all) out of the bounding set.  The kernel may
 * know more capabilities than our headers: PR_CAPBSET_READ answers EINVAL
 * past the last one, so ask it instead of trusting CAP_LAST_CAP.
 */
static int drop_bounding_set(int kept, bool can_setpcap, char *err,
			     size_t errlen)
{
	int cap, present, kept_back = 0;

	for (cap = 0; (present = prctl(PR_CAPBSET_READ, cap, 0, 0, 0)) >= 0; cap++) {
		if (cap == kept || present == 0)
			continue;
		if (!can_setpcap) {
			kept_back++;
			continue;
		}
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) == -1)
			return fail(err, errlen, -errno,
				    "dropping capability %d from the bounding set", cap);
	}
	if (kept_back)
		log_warn("privileges: %d capabilities stay in the bounding set (no CAP_SETPCAP to drop them); no_new_privs keeps them unusable",
			 kept_back);
	return 0;
}

static int switch_user(const char *user, char *err, size_t errlen)
{
	struct passwd *pw;

	errno = 0;
	pw = getpwnam(user);
	if (!pw)
		return fail(err, errlen, errno ? -errno : -ENOENT,
			    "user \"%s\"", user);
	/* Keep the permitted set across the uid change; capset trims it next. */
	if (prctl(PR_SET_KEEPCAPS, 1L, 0, 0, 0) == -1)
		return fail(err, errlen, -errno, "prctl(PR_SET_KEEPCAPS)");
	if (initgroups(pw->pw_name, pw->pw_gid) == -1)
		return fail(err, errlen, -errno, "setting the groups of user \"%s\"", user);
	if (setresgid(pw->pw_gid, pw->pw_gid, pw->pw_gid) == -1)
		return fail(err, errlen, -errno, "setgid(%u) for user \"%s\"",
			    (unsigned int)pw->pw_gid, user);
	if (setresuid(pw->pw_uid, pw->pw_uid, pw->pw_uid) == -1)
		return fail(err, errlen, -errno, "setuid(%u) for user \"%s\"",
			    (unsigned int)pw->pw_uid, user);
	if (prctl(PR_SET_KEEPCAPS, 0L, 0, 0, 0) == -1)
		return fail(err, errlen, -errno, "prctl(PR_SET_KEEPCAPS, 0)");
	return 0;
}

/* Trust but verify: what the kernel now reports is what we meant. */
static int verify(int kept, const char *user, char *err, size_t errlen)
{
	struct __user_cap_data_struct data[2];
	int ret = caps_get(data);

	if (ret < 0)
		return fail(err, errlen, ret, "capget");
	for (int i = 0; i < 2; i++) {
		uint32_t want = kept != NO_CAP && i == CAP_TO_INDEX(kept) ?
				CAP_TO_MASK(kept) : 0;

		if (data[i].effective != want || data[i].permitted != want ||
		    data[i].inheritable != 0)
			return fail(err, errlen, -EPERM,
				    "capabilities not as set (word %d: eff 0x%x prm 0x%x inh 0x%x)",
				    i, data[i].effective, data[i].permitted,
				    data[i].inheritable);
	}
	if (has_user(user) && (geteuid() == 0 || getuid() == 0 ||
			       setresuid(0, 0, 0) != -1))
		return fail(err, errlen, -EPERM,
			    "still able to be root after switching to user \"%s\"", user);
	return 0;
}

/*
 * The common path of privs_drop() and privs_drop_all(): no_new_privs, the
 * bounding and ambient sets, the user, then only kept (or nothing).
 */
static int drop_to(int kept, const char *user, char *err, size_t errlen)
{
	struct __user_cap_data_struct data[2];
	int ret;

	ret = caps_get(data);
	if (ret < 0)
		return fail(err, errlen, ret, "capget");
	if (has_user(user) &&
	    (!cap_in(data, CAP_SETUID, true) || !cap_in(data, CAP_SETGID, true)))
		return fail(err, errlen, -EPERM,
			    "user = %s needs knlbd started as root (CAP_SETUID and CAP_SETGID)",
			    user);
	/* Affects execve only, so it can come first; nothing we do needs one. */
	if (prctl(PR_SET_NO_NEW_PRIVS, 1L, 0, 0, 0) == -1)
		return fail(err, errlen, -errno, "prctl(PR_SET_NO_NEW_PRIVS)");
	/* Before the uid change, while CAP_SETPCAP is still effective. */
	ret = drop_bounding_set(kept, cap_in(data, CAP_SETPCAP, true), err, errlen);
	if (ret < 0)
		return ret;
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) == -1 &&
	    errno != EINVAL)	/* EINVAL: kernel < 4.3, no ambient set */
		return fail(err, errlen, -errno, "clearing the ambient capabilities");
	if (has_user(user)) {
		ret = switch_user(user, err, errlen);
		if (ret < 0)
			return ret;
	}
	ret = caps_set_only(kept);
	if (ret < 0)
		return fail(err, errlen, ret, kept == NO_CAP ? "capset (none)" :
			    "capset (keep CAP_NET_ADMIN only)");
	return verify(kept, user, err, errlen);
}

int privs_drop(const char *user, char *err, size_t errlen)
{
	struct __user_cap_data_struct data[2];
	int ret;

	ret = caps_get(data);
	if (ret < 0)
		return fail(err, errlen, ret, "capget");
	if (!cap_in(data, KEPT_CAP, false))
		return fail(err, errlen, -EPERM,
			    "knlbd does not hold CAP_NET_ADMIN, which it needs to keep");
	return drop_to(KEPT_CAP, user, err, errlen);
}

int privs_drop_all(const char *user, char *err, size_t errlen)
{
	/* root without a user of its own still must not be root. */
	if (!has_user(user) && (getuid() == 0 || geteuid() == 0))
		user = "nobody";
	return drop_to(NO_CAP, user, err, errlen);
}

int privs_chown_path(const char *path, const char *user, char *err,
		     size_t errlen)
{
	struct passwd *pw;

	if (!has_user(user))
		return 0;
	errno = 0;
	pw = getpwnam(user);
	if (!pw)
		return fail(err, errlen, errno ? -errno : -ENOENT,
			    "user \"%s\"", user);
	if (fchownat(AT_FDCWD, path, pw->pw_uid, pw->pw_gid,
		     AT_SYMLINK_NOFOLLOW) == -1)
		return fail(err, errlen, -errno, "chown %s to user \"%s\"",
			    path, user);
	return 0;
}

/* Shells that let nobody log in: a daemon's account has one of these. */
static bool is_nologin_shell(const char *shell)
{
	static const char *const nologin[] = {
		"/usr/sbin/nologin", "/sbin/nologin", "/bin/false",
		"/usr/bin/false",
	};

	for (size_t i = 0; i < sizeof(nologin) / sizeof(nologin[0]); i++)
		if (strcmp(shell, nologin[i]) == 0)
			return true;
	return false;
}

#define OVERFLOW_ID	65534	/* nobody / nogroup on Debian and the kernel */

bool privs_account_shared(const struct passwd *pw, const char *group,
			  char *why, size_t whylen)
{
	if (strcmp(pw->pw_name, "nobody") == 0 || pw->pw_uid == OVERFLOW_ID) {
		snprintf(why, whylen, "\"%s\" (uid %u) is the account of every unprivileged service",
			 pw->pw_name, (unsigned)pw->pw_uid);
		return true;
	}
	if (pw->pw_gid == OVERFLOW_ID ||
	    (group && (!strcmp(group, "nogroup") || !strcmp(group, "nobody")))) {
		snprintf(why, whylen, "\"%s\" has the shared primary group %s (gid %u)",
			 pw->pw_name, group ? group : "?", (unsigned)pw->pw_gid);
		return true;
	}
	/* passwd(5): an empty shell field means /bin/sh. */
	if (!pw->pw_shell || !*pw->pw_shell || !is_nologin_shell(pw->pw_shell)) {
		snprintf(why, whylen, "\"%s\" has a login shell (%s): a person's account",
			 pw->pw_name, pw->pw_shell && *pw->pw_shell ? pw->pw_shell : "/bin/sh");
		return true;
	}
	return false;
}
