#!/bin/bash
# tests/e2e/test_ops.sh: what an operator relies on: statsd events, the
# status page and /metrics, -config with SIGHUP reload, and SIGUSR2
# restarts under constant load with no failed request.  Work files:
# tests/out/ops/.
set -u
cd "$(dirname "$0")/../.." || exit 1
. deploy/stack.sh
. tests/e2e/check.sh
NAME=ops

OUT=$PWD/tests/out/ops
SRC=$OUT/src
STORE=$OUT/store
CONF=$OUT/image-server.conf
T=$OUT # get's body and headers
rm -rf "$OUT"
mkdir -p "$SRC/ops/img" "$STORE"
check_start "$OUT/run"

# restart PID: SIGUSR2 to the responder; prints the pid in its pid file
# once that names another process (or after 5 s).
restart() {
	kill -USR2 "$1"
	for _ in $(seq 50); do
		[ "$(cat "$STACK_DIR/image-server.pid" 2>/dev/null)" != "$1" ] && break
		sleep 0.1
	done
	cat "$STACK_DIR/image-server.pid"
}

free_ports 24000 UPORT PORT
for id in $(seq 1 40); do
	convert -size 400x300 "plasma:fractal" -quality 90 "$SRC/ops/img/$id.jpg"
done

# A statsd stand-in: every UDP datagram on UPORT, one per line.
perl -MIO::Socket::INET -e '
	my $s = IO::Socket::INET->new(LocalAddr => "127.0.0.1",
		LocalPort => $ARGV[0], Proto => "udp") or die "udp: $!";
	$| = 1;
	while (defined $s->recv(my $m, 4096)) { print "$m\n" }' "$UPORT" \
	>"$OUT/statsd.txt" 2>"$OUT/statsd.err" &
_stack_add $! "statsd listener"

cat >"$CONF" <<CONF
# written by test_ops.sh
default_quality = 60
statsd 127.0.0.1:$UPORT
statsd_prefix = image_server
source file://$SRC/{model}/{field}/{id}.jpg
CONF
stack_responder ops -config "$CONF" -store "$STORE" -threads 4 \
	-pid_file "$STACK_DIR/image-server.pid" || exit 1
FIRST=${STACK_PIDS[-1]}
stack_nginx ops "$PORT" "$STORE" "$STACK_DIR/ops.sock" || exit 1

quality() { identify -format '%Q' "$T/body" 2>/dev/null; }

# --- statsd: the names operators rely on, exactly, and the new timers -------
OPS_T0=$(date +%s)
get "$PORT" /ops/img/1/w100.jpg
expect "statsd: a new output" "$code" 200
get "$PORT" /ops/img/999/w100.jpg
expect "statsd: a missing original" "$code" 404
sleep 0.3
ev=$OUT/statsd.txt
expect "statsd: original_downloaded" "$(grep -cx 'image_server.original_downloaded:1|c' "$ev")" 1
expect_re "statsd: original_download_time timer" "$(grep -c '^image_server.original_download_time:[0-9.]*|ms$' "$ev")" '^1$'
expect "statsd: image_request" "$(grep -cx 'image_server.image_request:1|c' "$ev")" 1
expect "statsd: image_request.jpg" "$(grep -cx 'image_server.image_request.jpg:1|c' "$ev")" 1
expect_re "statsd: image_processing_time timer" "$(grep -c '^image_server.image_processing_time:[0-9.]*|ms$' "$ev")" '^1$'
expect "statsd: original_unavailable" "$(grep -cx 'image_server.original_unavailable:1|c' "$ev")" 1
expect "statsd: image_request_fail" "$(grep -cx 'image_server.image_request_fail:1|c' "$ev")" 1
expect "statsd: nothing else" "$(grep -vc '^image_server\.' "$ev")" 0
# timers: NAME COUNT: NAME was sent COUNT times, each a |ms timer
timers() {
	expect "statsd: $1 timers" "$(grep -c "^image_server\.$1:[0-9.]*|ms\$" "$ev")" "$2"
}
timers request_time.made 1
timers request_time.refused 1
timers stage_time.fetch 2 # one original fetched, one missing
timers stage_time.check 1
timers stage_time.decode 1
timers stage_time.resize 1
timers stage_time.encode 1
timers stage_time.write 2 # the original and the output
timers stage_time.lock_wait 0

# --- the status page and /metrics (straight from the responder's nginx) ---
get "$PORT" /status
expect "status: 200" "$code" 200
st=$(cat "$T/body")
expect_re "status: JSON with version" "$st" '^\{"version":"[0-9.]+",'
expect_re "status: counts the outputs made" "$st" '"made":1[,}]'
expect_re "status: counts originals downloaded" "$st" '"originals_downloaded":1[,}]'
expect_re "status: counts refusals" "$st" '"refused":1[,}]'
expect_re "status: being processed now" "$st" '"processing":0[,}]'
expect_re "status: redis state" "$st" '"redis":"off"'
get "$PORT" '/status?format=html'
expect "status: html" "$code" 200
expect_re "status: html page" "$(cat "$T/body")" '<h1>image-server'
get "$PORT" /metrics
expect "metrics: 200" "$code" 200
expect_re "metrics: made counter" "$(grep '^image_server_made_total ' "$T/body")" '^image_server_made_total 1$'
expect_re "metrics: TYPE lines" "$(grep -c '^# TYPE image_server_' "$T/body")" '^[1-9][0-9]$'

# --- durations and the status figures add up --------------------------------
# Known requests after the two above: three new outputs, a herd of eight
# on one more (one made; the others wait for it, or find it stored), two
# refusals. The responder's log says how each was answered and in how
# many ms; the histograms, /status and its last minute must say the same.
get "$PORT" /ops/img/3/w120.jpg
expect "figures: a jpg made" "$code" 200
get "$PORT" /ops/img/3/w120.webp
expect "figures: a webp made from the stored original" "$code" 200
webp_bytes=$(stat -c %s "$T/body")
get "$PORT" /ops/img/4/x90.png
expect "figures: a png made" "$code" 200
herd=()
for i in 1 2 3 4 5 6 7 8; do
	curl -s -o /dev/null -w '%{http_code}\n' "http://127.0.0.1:$PORT/ops/img/5/w130.jpg" >"$OUT/herd.$i" &
	herd+=($!)
done
wait "${herd[@]}"
expect "figures: the herd answered 200" "$(cat "$OUT"/herd.* | sort -u)" 200
get "$PORT" /ops/img/5/w0.jpg
expect "figures: a bad spec" "$code" 400
get "$PORT" /ops/img/998/w100.jpg
expect "figures: a missing original" "$code" 404
first_request_age=$(($(date +%s) - OPS_T0))

get "$PORT" /status
cp "$T/body" "$OUT/figures.json"
get "$PORT" /metrics
cp "$T/body" "$OUT/figures.prom"
st=$OUT/figures.json prom=$OUT/figures.prom
# The log's image lines: TIME LEVEL METHOD PATH STATUS BYTES MS [DECODER]
# HOW (made, store, waited), or refused: REASON.
awk '$3 == "GET" && $4 ~ /^\/ops\// && $7 ~ /ms$/ {
	how = $5 >= 500 ? "failed" : $5 >= 400 ? "refused" : $NF
	ms = $7; sub(/ms$/, "", ms)
	print how, ms, $5, $4 }' "$STACK_DIR/ops.log" >"$OUT/figures.log"
logged() { awk -v h="$1" '$1 == h { n++ } END { print n + 0 }' "$OUT/figures.log"; }
expect_re "log: a made line names its decoder" \
	"$(awk '$3 == "GET" && $4 ~ /^\/ops\// && $NF == "made" { print $8; exit }' "$STACK_DIR/ops.log")" \
	'^(jpegdc|jpegprog|libjpeg|libjpeg-progressive|libpng|libpng-interlaced|libwebp|libwebp-lossless|magick)$'
# metric SERIES: its value in the /metrics page ("" if absent)
metric() { awk -v s="$1" '$1 == s { print $2; exit }' "$prom"; }
# metric_total NAME: the sum over NAME's series
metric_total() { awk -v n="$1" 'index($1, n "{") == 1 || $1 == n { t += $2 } END { print t + 0 }' "$prom"; }
R=image_server_request_duration_seconds
S=image_server_stage_duration_seconds
for how in made waited store refused failed; do
	expect "figures: $R{outcome=\"$how\"} counts the log's $how" \
		"$(metric "${R}_count{outcome=\"$how\"}")" "$(logged "$how")"
done
made=$(logged made) waited=$(logged waited) stored=$(logged store)
expect "figures: five outputs made (with the one above)" "$made" 5
# (a late one of the herd finds the file stored by the web server)
# (how many wait depends on the machine's speed; waiters held for sure
# are counted below, with a make held open)
expect_re "figures: the herd: one made, the others waited or stored" "$((waited + stored))" '^[0-7]$'
for f in made waited refused failed; do
	expect "figures: /status $f matches the log" "$(json "$st" "$f")" "$(logged "$f")"
done
expect "figures: /status from_store matches the log" "$(json "$st" from_store)" "$stored"
if [ "$first_request_age" -lt 50 ]; then
	for how in made waited store refused failed; do
		expect "figures: last_minute.$how" "$(json "$st" "last_minute.$how")" "$(logged "$how")"
	done
	n=$(wc -l <"$OUT/figures.log")
	expect "figures: last_minute.requests" "$(json "$st" last_minute.requests)" "$n"
	expect "figures: per_second is the last minute's requests / 60" \
		"$(awk -v g="$(json "$st" per_second)" 'BEGIN { printf "%.3f", g }')" \
		"$(awk -v n="$n" 'BEGIN { printf "%.3f", n / 60 }')"
	# nearest-rank percentiles of the misses' logged ms; the page's are
	# within 4.5% (the fine buckets) and the log's 0.05 ms rounding
	for q in 50 99; do
		want=$(awk '$1 == "made" || $1 == "waited" { print $2 }' "$OUT/figures.log" | sort -n |
			awk -v q="$q" '{ v[NR] = $1 } END { r = int(q * NR / 100); if (r < q * NR / 100) r++; print v[r] }')
		got=$(json "$st" "p${q}_ms")
		if awk -v g="$got" -v w="$want" 'BEGIN { d = g - w; if (d < 0) d = -d; exit !(d <= 0.045 * w + 0.15) }'; then
			pass "figures: p${q}_ms $got, the log's $want"
		else
			fail "figures: p${q}_ms" "got $got, the log's nearest rank is $want"
		fi
	done
else
	skip "figures: the last minute" "the run took ${first_request_age}s, past the minute"
fi
sum_ms=$(awk '$1 == "made" { t += $2 } END { print t + 0 }' "$OUT/figures.log")
if awk -v g="$(metric "${R}_sum{outcome=\"made\"}")" -v w="$sum_ms" -v n="$made" \
	'BEGIN { d = g * 1000 - w; if (d < 0) d = -d; exit !(d <= 0.05 * n + 0.001) }'; then
	pass "figures: ${R}_sum{outcome=\"made\"} is the log's ${sum_ms} ms"
else
	fail "figures: ${R}_sum{outcome=\"made\"}" "$(metric "${R}_sum{outcome=\"made\"}") s, the log says $sum_ms ms"
fi
down=$(json "$st" originals_downloaded) unav=$(json "$st" originals_unavailable)
stage() { # stage NAME: the count of stage NAME over its formats
	awk -v s="${S}_count{stage=\"$1\"" 'index($1, s) == 1 { t += $2 } END { print t + 0 }' "$prom"
}
expect "figures: a fetch per original fetched or missing" "$(stage fetch)" "$((down + unav))"
expect "figures: a check per original kept" "$(stage check)" "$down"
for s in decode resize encode; do
	expect "figures: a $s per output made" "$(stage "$s")" "$made"
done
expect "figures: a write per original and output" "$(stage write)" "$((down + made))"
expect "figures: a lock_wait per waiter" "$(stage lock_wait)" "$waited"
expect "figures: decode of jpeg into webp" \
	"$(metric "${S}_count{stage=\"decode\",input=\"jpeg\",output=\"webp\"}")" 1
expect "figures: fetch labelled by the original's format" \
	"$(metric "${S}_count{stage=\"fetch\",input=\"jpeg\"}")" "$down"
expect "figures: output_bytes counts the outputs made" \
	"$(metric_total image_server_output_bytes_count)" "$made"
expect "figures: output_bytes_sum of the one webp is its size" \
	"$(metric 'image_server_output_bytes_sum{output="webp"}')" "$webp_bytes"
expect "figures: outputs_total counts the 200s" \
	"$(metric_total image_server_outputs_total)" "$((made + waited + stored))"
expect "figures: outputs_total{output=\"png\"}" "$(metric 'image_server_outputs_total{output="png"}')" 1
for c in 400 404; do
	expect "figures: responses_total{code=\"$c\"}" \
		"$(metric "image_server_responses_total{code=\"$c\"}")" \
		"$(awk -v c="$c" '$3 == c { n++ } END { print n + 0 }' "$OUT/figures.log")"
done
# Every histogram's buckets rise to its +Inf bucket, which is its _count.
bad=$(awk '/_bucket\{/ { k = $1; sub(/,?le="[^"]*"\}$/, "", k)
	if (k in last && $2 + 0 < last[k]) print $1; last[k] = $2 + 0 }' "$prom")
expect "figures: no histogram bucket falls" "$bad" ""
inf_vs_count=$(awk '/le="\+Inf"/ { k = $1; sub(/_bucket/, "", k); sub(/,?le="\+Inf"/, "", k); sub(/\{\}/, "", k); inf[k] = $2 }
	/_count[{ ]/ { k = $1; sub(/_count/, "", k); cnt[k] = $2 }
	END { for (k in cnt) if (inf[k] != cnt[k]) print k; for (k in inf) if (!(k in cnt)) print k }' "$prom")
expect "figures: every +Inf bucket is its _count" "$inf_vs_count" ""
missing_help=$(awk '/^# HELP / { h[$3] = 1 } /^# TYPE / { t[$3] = 1 }
	/^[a-z]/ { n = $1; sub(/\{.*/, "", n); b = n; sub(/_(bucket|sum|count)$/, "", b)
		if (!(n in t) && !(b in t)) print n; if (!(n in h) && !(b in h)) print n }' "$prom" | sort -u)
expect "figures: every metric has # HELP and # TYPE" "$missing_help" ""
expect_re "figures: RSS gauge" "$(metric process_resident_memory_bytes)" '^[1-9][0-9]{5,}$'
expect_re "figures: /status rss_bytes" "$(json "$st" rss_bytes)" '^[1-9][0-9]{5,}$'
if command -v promtool >/dev/null; then
	if promtool check metrics <"$prom" >"$OUT/promtool.txt" 2>&1; then
		pass "metrics: promtool check metrics on the real page"
	else
		fail "metrics: promtool check metrics on the real page" "$(head -c 300 "$OUT/promtool.txt")"
	fi
else
	skip "metrics: promtool check metrics on the real page" "promtool not installed (Debian package prometheus)"
fi

# --- what is being made now, waiting for it, and the last errors ------------
# An original that is a FIFO: the fetch blocks in open() until a writer
# comes, so the make is in progress for as long as the test wants; then
# the source refuses it (not a regular file: 404). Two more requests for
# the same output wait for it meanwhile (of the 4 threads, one is left
# for /status).
mkfifo "$SRC/ops/img/77.jpg"
curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/ops/img/77/w100.jpg" >"$OUT/fifo.code" &
fifo_curl=$!
making_seen() { get "$PORT" /status && grep -q '"path":"ops/img/77/original"' "$T/body"; }
if wait_until 5 making_seen; then
	cp "$T/body" "$OUT/making.json"
	pass "making: the original being fetched is listed"
	expect "making: the output waiting on it, first (the longest)" \
		"$(json "$OUT/making.json" making.0.path)" ops/img/77/w100.jpg
	sleep 1.1
	get "$PORT" /status
	expect_re "making: how long, in seconds" "$(json "$T/body" making.0.seconds)" '^[1-9][0-9]*(\.[0-9])?$'
	expect "making: the gauge" "$(get "$PORT" /metrics; awk '$1 == "image_server_making" { print $2 }' "$T/body")" 2
	get "$PORT" '/status?format=html'
	expect_re "making: on the HTML page" "$(cat "$T/body")" '<td class=p>ops/img/77/w100\.jpg<td class=n>[0-9.]+ s'
else
	fail "making: the original being fetched is listed" "$(head -c 300 "$T/body")"
fi
get "$PORT" /metrics
cp "$T/body" "$prom"
waits0=$(stage lock_wait)
get "$PORT" /status
asked0=$(json "$T/body" requests) polls=0
waiters=()
for i in 1 2; do
	curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/ops/img/77/w100.jpg" >"$OUT/fifo.code.$i" &
	waiters+=($!)
done
arrived() { # both waiters reached the responder (each /status counts itself)
	get "$PORT" /status
	polls=$((polls + 1))
	[ "$(($(json "$T/body" requests) - asked0 - polls))" -ge 2 ]
}
wait_until 10 arrived || fail "making: two more requests arrive" "$(head -c 200 "$T/body")"
sleep 0.2 # (from the accept to the wait: no step that blocks)
: >"$SRC/ops/img/77.jpg" # a writer comes and goes: the read ends
wait "$fifo_curl" "${waiters[@]}"
expect "making: then refused, the maker and its waiters" \
	"$(cat "$OUT/fifo.code" "$OUT"/fifo.code.? | tr '\n' ' ')" "404404404"
get "$PORT" /metrics
cp "$T/body" "$prom"
expect "making: a lock_wait for each waiter" "$(stage lock_wait)" "$((waits0 + 2))"
get "$PORT" /status
cp "$T/body" "$OUT/errors.json"
expect "making: nothing left being made" "$(json "$OUT/errors.json" making)" "[]"
for i in 0 1 2; do
	expect "errors: the last ones first: path $i" "$(json "$OUT/errors.json" errors.$i.path)" /ops/img/77/w100.jpg
done
expect "errors: its status" "$(json "$OUT/errors.json" errors.0.status)" 404
expect_re "errors: its message" "$(json "$OUT/errors.json" errors.0.message)" 'not found'
expect_re "errors: its time" "$(json "$OUT/errors.json" errors.0.time)" "^$(date -u +%Y-%m-%d)T[0-9:]{8}Z\$"
expect "errors: the one before" "$(json "$OUT/errors.json" errors.3.path)" /ops/img/998/w100.jpg
# A path with markup and a quote: escaped on both pages.
get "$PORT" '/ops/img/1/w1<b>"x.jpg'
expect "errors: a path with markup is refused" "$code" 400
get "$PORT" /status
cp "$T/body" "$OUT/escaped.json"
expect "errors: the path, as JSON" "$(json "$OUT/escaped.json" errors.0.path)" '/ops/img/1/w1<b>"x.jpg'
get "$PORT" '/status?format=html'
cp "$T/body" "$OUT/status.html"
expect "errors: no markup from a path on the HTML page" "$(grep -c -F 'w1<b>' "$OUT/status.html")" 0
expect "errors: the path escaped on the HTML page" \
	"$(grep -c '/ops/img/1/w1&lt;b&gt;&quot;x.jpg' "$OUT/status.html")" 1
expect_re "html: refreshes itself" "$(cat "$OUT/status.html")" '<meta http-equiv=refresh content=[0-9]+>'
for part in 'requests/s, last minute<' 'p50 of misses<' 'p99 of misses<' '<h2>Being made now' \
	'<h2>Last errors' '<h2>Where the time goes' '>jobs queued</span>' '<b>off</b><span>redis<'; do
	expect "html: shows $part" "$(grep -c -F "$part" "$OUT/status.html")" 1
done

# --- the Grafana dashboard's queries, on a real Prometheus ------------------
# Each query of deploy/grafana/image-server.json names only families of the
# real page, and a Prometheus that scrapes it accepts and answers it.
DASH=deploy/grafana/image-server.json
exprs=$(perl -MJSON::PP -e 'local $/; my $d = decode_json(<STDIN>);
	for my $p (@{$d->{panels}}) { print "$_->{expr}\n" for @{$p->{targets}} }' <"$DASH")
expect_re "dashboard: JSON with queries" "$(echo "$exprs" | wc -l)" '^[1-9][0-9]$'
unknown=$(echo "$exprs" | grep -oE '\b(image_server|process)_[a-z_]+' | sort -u |
	sed -E 's/_(bucket|sum|count)$//' | while read -r m; do
		grep -q "^# TYPE $m " "$prom" || echo "$m"
	done)
expect "dashboard: every metric it names is on /metrics" "$unknown" ""
if command -v prometheus >/dev/null; then
	free_ports 25500 PPORT
	cat >"$OUT/prometheus.yml" <<YML
global: {scrape_interval: 1s}
scrape_configs:
  - job_name: image-server
    static_configs: [{targets: ["127.0.0.1:$PORT"]}]
YML
	prometheus --config.file="$OUT/prometheus.yml" --storage.tsdb.path="$OUT/prometheus" \
		--web.listen-address="127.0.0.1:$PPORT" >"$OUT/prometheus.log" 2>&1 &
	prom_pid=$!
	_stack_add "$prom_pid" prometheus
	# three scrapes: a rate over them has two points
	scraped() {
		curl -s "http://127.0.0.1:$PPORT/api/v1/query" \
			--data-urlencode 'query=count_over_time(image_server_info[1m])' |
			grep -qE '"value":\[[0-9.]+,"([3-9]|[1-9][0-9])"\]'
	}
	if wait_until 20 scraped; then
		bad="" empty=""
		while read -r q; do
			q=${q//\$__rate_interval/1m}
			q=${q//\$instance/.*}
			r=$(curl -s "http://127.0.0.1:$PPORT/api/v1/query" --data-urlencode "query=$q")
			[[ $r == '{"status":"success"'* ]] || bad="$bad | $q: $(echo "$r" | head -c 200)"
			[[ $r == *'"result":[]'* ]] && empty="$empty | $q"
		done <<<"$exprs"
		expect "dashboard: Prometheus accepts every query" "$bad" ""
		# But those that need what this run has not: a memory budget, a
		# 5xx, Redis (for the queue).
		expect "dashboard: every query has an answer (but budget, 5xx, queue)" \
			"$(echo "$empty" | tr '|' '\n' | grep -v -e budget -e '5\.\.' -e queue_jobs -e '^ *$')" ""
	else
		fail "dashboard: Prometheus scraped /metrics" "$(tail -c 300 "$OUT/prometheus.log")"
	fi
	kill "$prom_pid" 2>/dev/null
	wait "$prom_pid" 2>/dev/null
	stack_forget "$prom_pid"
else
	skip "dashboard: Prometheus accepts every query" "prometheus not installed"
fi

# --- configuration file and SIGHUP -----------------------------------------
get "$PORT" /ops/img/2/w100.jpg
expect "config: a new output" "$code" 200
expect "config: quality from the file" "$(quality)" 60
sed -i 's/^default_quality = 60/default_quality = 40/; s/^statsd_prefix = image_server/statsd_prefix = imgs2/' "$CONF"
kill -HUP "$FIRST"
wait_line "$STACK_DIR/ops.log" "configuration reloaded" || fail "reload logged" "no line"
get "$PORT" /ops/img/2/w101.jpg
expect "reload: new output" "$code" 200
expect "reload: quality applied" "$(quality)" 40
sleep 0.3
expect "reload: statsd prefix applied" "$(grep -cx 'imgs2.image_request:1|c' "$ev")" 1
echo "default_quality = 500" >>"$CONF"
kill -HUP "$FIRST"
wait_line "$STACK_DIR/ops.log" "reload refused" || fail "bad file logged" "no line"
expect_re "reload: the reason names file and line" \
	"$(grep 'reload refused' "$STACK_DIR/ops.log")" 'image-server.conf:6: -default_quality'
get "$PORT" /ops/img/2/w102.jpg
expect "bad file: still serving" "$code" 200
expect "bad file: running configuration kept" "$(quality)" 40
sed -i '$d' "$CONF"
echo "drain_seconds 9" >>"$CONF"
kill -HUP "$FIRST"
wait_line "$STACK_DIR/ops.log" "drain_seconds changed; only a restart" || fail "restart-only option logged" "no line"
get "$PORT" /ops/img/2/w103.jpg
expect "restart-only change: still serving" "$code" 200
sed -i '$d' "$CONF"

# --- SIGUSR2 twice under constant load: no failed request ------------------
# Four clients loop over new outputs (misses, made by the responder) and
# /status for 7 s; the responder is restarted at 1.5 s and 4 s.
load() { # load N: requests until $OUT/stop exists; codes to $OUT/load.N
	local n=$1 i=0
	while [ ! -e "$OUT/stop" ]; do
		i=$((i + 1))
		local id=$(( (n * 7 + i) % 40 + 1 ))
		curl -s --max-time 20 -o /dev/null -w '%{http_code}\n' \
			"http://127.0.0.1:$PORT/ops/img/$id/w$((100 + (n * 300 + i) % 1500)).jpg"
		curl -s --max-time 20 -o /dev/null -w '%{http_code}\n' \
			"http://127.0.0.1:$PORT/status"
	done >"$OUT/load.$n"
}
pids=()
for n in 1 2 3 4; do
	load "$n" &
	pids+=($!)
done
sleep 1.5
old=$(cat "$STACK_DIR/image-server.pid")
expect "restart 1: the pid file names the first process" "$old" "$FIRST"
second=$(restart "$old")
wait "$FIRST"
expect "restart 1: the first process exited 0" "$?" 0
sleep 2.5
third=$(restart "$second")
for _ in $(seq 100); do kill -0 "$second" 2>/dev/null || break; sleep 0.1; done
sleep 1
touch "$OUT/stop"
wait "${pids[@]}"
total=$(cat "$OUT"/load.* | wc -l)
bad=$(cat "$OUT"/load.* | grep -vc '^200$')
expect_re "restarts: requests answered during the run ($total)" "$total" '^[0-9]{2,}$'
expect "restarts: no failed request" "$bad" 0
expect_re "restarts: three processes in turn" "$FIRST $second $third" '^([0-9]+) ([0-9]+) ([0-9]+)$'
[ "$second" != "$FIRST" ] && [ "$third" != "$second" ] && pass "restarts: new pids" ||
	fail "restarts: new pids" "$FIRST $second $third"
kill -0 "$second" 2>/dev/null && fail "restart 2: old process gone" "pid $second runs" ||
	pass "restart 2: old process gone"
kill -0 "$third" 2>/dev/null && pass "restart 2: new process serving" ||
	fail "restart 2: new process serving" "pid $third"
expect "restarts: logged" "$(grep -c 'restart: started' "$STACK_DIR/ops.log")" 2

# The newest copy is not one stack_stop knows: stop it here.
kill -TERM "$third" 2>/dev/null
for _ in $(seq 100); do kill -0 "$third" 2>/dev/null || break; sleep 0.1; done
kill -0 "$third" 2>/dev/null && fail "last copy stops on SIGTERM" "still running" ||
	pass "last copy stops on SIGTERM"
expect "pid file removed by the last copy" "$([ -e "$STACK_DIR/image-server.pid" ] && echo present || echo gone)" gone

# --- -log syslog: lines reach /dev/log ---------------------------------------
# In a private mount namespace, /dev is a tmpfs of our own (with the few
# devices a process needs), so a listener can own /dev/log there without
# touching the host's.
cat >"$OUT/syslog.sh" <<'SH'
set -e
out=$1 bin=$2
mkdir -p "$out/olddev"
mount --bind /dev "$out/olddev"
mount -t tmpfs tmpfs /dev
for n in null zero random urandom; do
	touch "/dev/$n"
	mount --bind "$out/olddev/$n" "/dev/$n"
done
ln -s /proc/self/fd /dev/fd
perl -MIO::Socket::UNIX -MSocket -e '
	my $s = IO::Socket::UNIX->new(Type => SOCK_DGRAM, Local => "/dev/log")
		or die "listen /dev/log: $!";
	$| = 1;
	while (defined $s->recv(my $m, 4096)) { print "$m\n" }' >"$out/syslog.txt" &
listener=$!
for _ in $(seq 50); do [ -S /dev/log ] && break; sleep 0.1; done
"$bin" -log syslog -socket "$out/syslog.sock" -store "$out/store" -e production \
	2>"$out/syslog.stderr" &
pid=$!
sleep 1
kill -TERM "$pid"
wait "$pid"
sleep 0.2
kill "$listener"
SH
if unshare -m bash "$OUT/syslog.sh" "$OUT" "$STACK_BIN" 2>"$OUT/syslog.err"; then
	expect_re "syslog: the start line, tagged" "$(cat "$OUT/syslog.txt")" 'image-server\[[0-9]+\]: image-server [0-9.]+ started'
	expect_re "syslog: the stop line" "$(cat "$OUT/syslog.txt")" 'image-server stopped'
	expect "syslog: nothing on stderr" "$(wc -c <"$OUT/syslog.stderr")" 0
else
	fail "syslog: private mount namespace" "$(head -c 300 "$OUT/syslog.err")"
fi
