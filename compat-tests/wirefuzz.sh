#!/usr/bin/env bash
# Builds riffle and cmd/wirefuzz, starts the broker on free ports with a
# temporary data directory, runs the fuzzer (fuzz mode, then memory mode)
# against it with -broker-pid so its RSS is watched, and stops it. This is
# what `make fuzz` and CI run.
#
#   bash compat-tests/wirefuzz.sh                         # 60 s fuzz + 60 s memory
#   WIREFUZZ_TIME=10m bash compat-tests/wirefuzz.sh -seed 7
#   WIREFUZZ_MEMORY_TIME=0 bash compat-tests/wirefuzz.sh  # fuzz mode only
#
# Arguments go to both wirefuzz runs (e.g. -seed, -allow, -max-rss-mib).
# Environment: WIREFUZZ_TIME (fuzz duration, default 60s), WIREFUZZ_MEMORY_TIME
# (default 60s, 0 skips), WIREFUZZ_MEMORY_RSS_MIB (memory mode's RSS bound,
# default 1536: with Kafka's default unbounded queued.max.request.bytes the
# flood legitimately holds one request and one response per connection, and
# a bounded broker peaks near 1 GiB), RIFFLE_ARGS (extra broker arguments),
# WIREFUZZ_OUT (directory for the request frames of findings).
set -euo pipefail

cd "$(dirname "$0")"
root=$(cd .. && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/riffle-wirefuzz.XXXXXX")
broker_pid=""

cleanup() {
	local i
	if [[ -n "$broker_pid" ]] && kill -0 "$broker_pid" 2>/dev/null; then
		kill -TERM "$broker_pid" 2>/dev/null || true
		for ((i = 0; i < 100; i++)); do
			kill -0 "$broker_pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$broker_pid" 2>/dev/null || true
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
	/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

echo "== wirefuzz: building riffle and wirefuzz"
(cd "$root" && go build -o "$tmp/riffle" ./cmd/riffle)
go build -o "$tmp/wirefuzz" ./cmd/wirefuzz

port=$(free_port)
ctrl=$(free_port)
echo "== wirefuzz: starting riffle on 127.0.0.1:$port (data in $tmp/data, log $tmp/broker.log)"
# shellcheck disable=SC2086 # RIFFLE_ARGS is a list of arguments
"$tmp/riffle" --config "$root/config/server.properties" \
	--override "log.dirs=$tmp/data" \
	--override "listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$ctrl" \
	--override "advertised.listeners=PLAINTEXT://127.0.0.1:$port" \
	--override "group.initial.rebalance.delay.ms=0" \
	${RIFFLE_ARGS:-} >"$tmp/broker.log" 2>&1 &
broker_pid=$!
for ((i = 0; i < 300; i++)); do
	if ! kill -0 "$broker_pid" 2>/dev/null; then
		echo "wirefuzz: the broker exited during start-up; its log:" >&2
		cat "$tmp/broker.log" >&2
		exit 1
	fi
	(exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
	sleep 0.1
done

out=()
[[ -n "${WIREFUZZ_OUT:-}" ]] && out=(-out "$WIREFUZZ_OUT")
status=0
"$tmp/wirefuzz" -brokers "127.0.0.1:$port" -broker-pid "$broker_pid" \
	-duration "${WIREFUZZ_TIME:-60s}" "${out[@]}" "$@" || status=$?
mem=${WIREFUZZ_MEMORY_TIME:-60s}
if [[ "$mem" != 0 ]] && kill -0 "$broker_pid" 2>/dev/null; then
	"$tmp/wirefuzz" -mode memory -brokers "127.0.0.1:$port" -broker-pid "$broker_pid" \
		-max-rss-mib "${WIREFUZZ_MEMORY_RSS_MIB:-1536}" \
		-duration "$mem" "${out[@]}" "$@" || status=$((status > 0 ? status : $?))
fi
if ! kill -0 "$broker_pid" 2>/dev/null; then
	echo "== wirefuzz: the broker died; last log lines:"
	tail -30 "$tmp/broker.log"
	status=1
elif [[ $status -ne 0 ]]; then
	echo "== wirefuzz: last broker log lines ($tmp/broker.log)"
	tail -20 "$tmp/broker.log"
fi
exit $status
