/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Fuzz harness: a control request as knlbd takes it from any client that
 * can open the socket.  The bytes are what the server reads (at most
 * CTL_REQUEST_MAX); the line ends at the first '\n' as in conn_read(), is
 * split into words by ctl_request_split(), and then goes through what the
 * daemon's dispatch (src/daemon/ctl_commands.c) does before a handler
 * runs: the registry lookup (and the "did you mean" suggestion for an
 * unknown name), --json taken out, the registry's argument check.  The
 * handlers act on a running daemon and are not reached here.  Seeds: real
 * request lines.  See docs/fuzzing.md.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "knlb/ctl/commands.h"
#include "knlb/ctl/request.h"
#include "knlb/ctl/server.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char line[CTL_REQUEST_MAX + 1];
	char *argv[CTL_MAX_ARGS + 1];
	const struct ctl_command *cmd;
	const uint8_t *nl;
	char err[256];
	int argc, n = 0;

	if (size > CTL_REQUEST_MAX)
		size = CTL_REQUEST_MAX;
	nl = memchr(data, '\n', size);
	if (!nl)
		return 0;	/* the server answers "too long" or "truncated" */
	memcpy(line, data, (size_t)(nl - data));
	line[nl - data] = '\0';
	if (ctl_request_split(line, (size_t)(nl - data), argv, &argc, err,
			      sizeof(err)) < 0)
		return 0;
	cmd = ctl_command_find(argv[0]);
	if (!cmd) {
		const char *hint = ctl_command_suggest(argv[0]);

		if (hint && !ctl_command_find(hint))
			__builtin_trap();	/* a suggestion names a command */
		return 0;
	}
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "--json"))
			argv[1 + n++] = argv[i];
	ctl_command_check_args(cmd, n, argv + 1, err, sizeof(err));
	return 0;
}
