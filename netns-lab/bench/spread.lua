-- SPDX-License-Identifier: GPL-2.0-or-later
--
-- spread.lua: wrk script that points wrk's threads at the addresses in
-- WRK_TARGETS ("ADDR:PORT ADDR:PORT ..."), thread i at target i (modulo
-- their number), starting at offset WRK_OFFSET.  Plain routing has no VIP:
-- with this each wrk process reaches every backend, as it does through a
-- balancer, instead of one process talking to one backend only.
local targets = {}
for t in string.gmatch(os.getenv("WRK_TARGETS") or "", "%S+") do
	table.insert(targets, t)
end
local n = tonumber(os.getenv("WRK_OFFSET") or "0")

function setup(thread)
	if #targets == 0 then
		return
	end
	local t = targets[n % #targets + 1]
	n = n + 1
	local host, port = string.match(t, "^(.*):(%d+)$")
	host = string.gsub(host, "^%[(.*)%]$", "%1")	-- [IPv6]: the bare address
	thread.addr = wrk.lookup(host, port)[1]
end
