-- wrk script for tests/bench/bench.sh:
--
--   wrk -t T -c C -d 12s -s tests/bench/bench.lua URL -- TEMPLATE START COUNT T
--
-- TEMPLATE is a path with "{id}" in it.  With COUNT 0 every request asks
-- for TEMPLATE with {id} = START (a hit, the same file every time).
-- Otherwise request n of thread t (1..T) asks for id
-- START + (t - 1) + T * n: every request of the run a different output
-- (a miss), as long as no more than COUNT requests are made; the summary
-- says "wrapped" when some id was asked for twice.
--
-- done() prints one line for bench.sh to read:
--   result REQ_S P50_MS P99_MS REQUESTS NON2XX ERRORS WRAPPED
local threads = {}

function setup(thread)
	table.insert(threads, thread)
	thread:set("tid", #threads)
end

function init(args)
	template = args[1]
	start = tonumber(args[2])
	count = tonumber(args[3])
	nthreads = tonumber(args[4])
	n = 0
	wrapped = 0
	fixed = wrk.format("GET", (template:gsub("{id}", tostring(start))))
end

function request()
	if count == 0 then
		return fixed
	end
	local k = (tid - 1) + nthreads * n
	n = n + 1
	if k >= count then
		wrapped = 1
		k = k % count
	end
	return wrk.format("GET", (template:gsub("{id}", tostring(start + k))))
end

function done(summary, latency, requests)
	local w = 0
	for _, t in ipairs(threads) do
		if t:get("wrapped") == 1 then
			w = 1
		end
	end
	local e = summary.errors
	io.write(string.format("result %.2f %.3f %.3f %d %d %d %d\n",
		summary.requests / (summary.duration / 1e6),
		latency:percentile(50) / 1000, latency:percentile(99) / 1000,
		summary.requests, e.status, e.connect + e.read + e.write + e.timeout,
		w))
end
