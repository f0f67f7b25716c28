# tests/e2e/pages.sh: the check that the responder's own pages are for
# localhost only, shared by the web-server tests.  Sourced after check.sh;
# uses the sourcing script's get PORT PATH [CURL_ARGS] ($code, $T/body,
# $T/headers) and header NAME helpers.

# private_pages WHAT PORT LOG: the responder's own pages, /status and
# /metrics, answer from 127.0.0.1 and are refused (403) by the web server
# from any other address, so the responder (log LOG) never sees those
# requests; no other spelling of the paths gets a page either. The other
# address is 127.0.0.2: also loopback, since the servers listen on
# 127.0.0.1 only (Linux lets a socket bound to 127.0.0.2 connect there).
private_pages() {
	local what=$1 port=$2 log=$3 n seen path
	local other=(--interface 127.0.0.2) pages=' /(status|metrics) '
	get "$port" /status
	if [ "$code" = 200 ] && [ "$(header Content-Type)" = application/json ] &&
		grep -q '"version":"[^"]' "$T/body" && grep -q '"requests":[0-9]' "$T/body"; then
		pass "$what: /status from 127.0.0.1: 200 JSON with version and requests"
	else
		fail "$what: /status from 127.0.0.1: 200 JSON with version and requests" \
			"$code '$(header Content-Type)' $(head -c 200 "$T/body")"
	fi
	get "$port" '/status?format=html'
	expect_re "$what: /status?format=html from 127.0.0.1: 200 HTML" \
		"$code $(header Content-Type)" '^200 text/html'
	get "$port" /metrics
	if [ "$code" = 200 ] && grep -q -E '^image_server_requests_total [0-9]+$' "$T/body"; then
		pass "$what: /metrics from 127.0.0.1: 200 with image_server_requests_total"
	else
		fail "$what: /metrics from 127.0.0.1: 200 with image_server_requests_total" \
			"$code $(head -c 200 "$T/body" | tr '\n' '|')"
	fi

	# The responder's request count and log lines for its pages, before
	# and after the refused requests: it must not have seen them. (It logs
	# a request before it answers, so the last line is in already.)
	get "$port" /status
	n=$(json "$T/body" requests)
	seen=$(grep -c -E "$pages" "$log")
	for path in /status '/status?format=html' /metrics; do
		get "$port" "$path" "${other[@]}"
		expect "$what: $path from 127.0.0.2: 403" "$code" 403
	done
	get "$port" /status "${other[@]}" -I
	expect "$what: HEAD /status from 127.0.0.2: 403" "$code" 403
	expect "$what: the responder has no log line for the refused requests" \
		"$(grep -c -E "$pages" "$log")" "$seen"
	get "$port" /status
	expect "$what: the responder counted none of the refused requests" \
		"$(json "$T/body" requests)" "$((n + 1))"

	# Other spellings: the web server either refuses them itself (it
	# decodes and normalises the path before matching) or passes them and
	# the responder refuses them (it answers the exact paths only). Either
	# way an answer (4xx, so 127.0.0.2 was reached) and never the page.
	for path in '/status?x' '/status?format=html&x' /status/ //status /%73tatus \
		/./status /x/../status /STATUS '/status%3Fx' '/status;x' '/metrics?x' \
		/metrics/ //metrics /%6detrics /x/../metrics; do
		get "$port" "$path" "${other[@]}"
		if [[ $code =~ ^4 ]] && ! grep -q -e '"requests"' -e image_server_ "$T/body"; then
			pass "$what: $path from 127.0.0.2: no page ($code)"
		else
			fail "$what: $path from 127.0.0.2: no page" "$code $(head -c 100 "$T/body")"
		fi
	done
	# (absolute-form request target: GET http://host/status)
	get "$port" / "${other[@]}" --request-target "http://127.0.0.1:$port/status"
	expect "$what: GET http://127.0.0.1:$port/status from 127.0.0.2: 403" "$code" 403
}
