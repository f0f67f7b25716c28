-- wrk script for tests/bench/soak.sh: a mix of hits (60%), misses (30%)
-- and bad requests (10%), with a count of answers by status.
local threads = {}
local n = 0

function setup(thread)
	n = n + 1
	thread:set("tid", n)
	table.insert(threads, thread)
end

function init(args)
	codes = {}
	count = 0
end

local bad = {
	"/soak/img/1/w0.jpg", "/soak/img/1/../../etc/passwd",
	"/soak/img/%2e%2e/w100.jpg", "/Soak/img/1/w100.jpg",
	"/soak/img/1/w100.bmp", "/soak/img/1/w99999.jpg",
	"/soak/img/999999/w100.jpg", "/soak/img/1/w100-q0.jpg",
}

function request()
	count = count + 1
	local r = count % 10
	local path
	if r < 6 then
		-- outputs made by the warm-up: nginx serves them
		path = "/soak/img/" .. (count % 20 + 1) .. "/w200.jpg"
	elseif r < 9 then
		-- new outputs: a width no one asked for yet (mostly)
		local w = 100 + (count * 13 + tid * 101) % 900
		local fmt = ({ "jpg", "webp", "png" })[count % 3 + 1]
		path = "/soak/img/" .. (count % 20 + 1) .. "/w" .. w .. "." .. fmt
	else
		path = bad[count % #bad + 1]
	end
	return wrk.format("GET", path)
end

function response(status, headers, body)
	codes[status] = (codes[status] or 0) + 1
end

function done(summary, latency, requests)
	local total = {}
	for _, t in ipairs(threads) do
		for k, v in pairs(t:get("codes")) do
			total[k] = (total[k] or 0) + v
		end
	end
	for k, v in pairs(total) do
		io.write(string.format("status %d %d\n", k, v))
	end
	io.write(string.format("errors connect %d read %d write %d timeout %d\n",
		summary.errors.connect, summary.errors.read,
		summary.errors.write, summary.errors.timeout))
end
