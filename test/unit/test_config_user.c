/* SPDX-License-Identifier: GPL-2.0-or-later */
/* [global] user = NAME: the user knlbd runs as after setup must exist. */
#include <criterion/criterion.h>

#include "config-test.h"

Test(config_user, default_is_none)
{
	struct result r = load_ok(SVC BE);

	cr_expect_str_empty(r.cfg->global.user);
	result_free(&r);
}

Test(config_user, existing_user_loads)
{
	struct result r = load_ok("[global]\nuser = nobody\n" SVC BE);

	cr_expect_str_eq(r.cfg->global.user, "nobody");
	result_free(&r);

	r = load_ok(SVC BE "[global]\nuser = root\n");
	cr_expect_str_eq(r.cfg->global.user, "root");
	result_free(&r);
}

Test(config_user, unknown_user_names_file_line_and_user)
{
	expect_only_error("[global]\nlog_level = info\nuser = knlb-no-such-user-q7\n" SVC BE,
			  "test.conf:3: ", "user \"knlb-no-such-user-q7\": no such user");
}

Test(config_user, empty_repeated_and_too_long)
{
	expect_only_error("[global]\nuser =\n" SVC BE, "test.conf:2: ", "user has no value");
	expect_only_error("[global]\nuser = nobody\nuser = root\n" SVC BE,
			  "test.conf:3: ", "user repeated in [global] (first set on line 2)");
	expect_only_error("[global]\nuser = "
			  "u123456789u123456789u123456789u123456789u123456789u123456789u1234\n"
			  SVC BE, "test.conf:2: ", "name too long (max 63 bytes)");
}
