#!/usr/bin/env bash
# Runs the load generator against Riffle and against franz-go's kfake, side by
# side in one run, and prints each figure as a ratio Riffle/kfake.
#
#   bash bench/run.sh                       # the full matrix (what `make bench` runs)
#   bash bench/run.sh -partitions 1 -sizes 100 -acks 1   # extra flags go to loadgen
#
# Environment:
#   BENCH_SUBJECT=kfake   measure a second kfake instead of Riffle (checks the
#                         harness itself: every ratio should sit near 1)
#   RIFFLE_BIN            a riffle binary to run instead of building ./cmd/riffle
#   RIFFLE_ARGS           extra arguments for the riffle binary
#   RIFFLE_PORT, RIFFLE_CONTROLLER_PORT, KFAKE_PORT   first ports to try
#   BENCH_OUT             where the raw JSON goes (bench/results/latest.json)
set -euo pipefail

cd "$(dirname "$0")/.."
root=$(pwd)

subject=${BENCH_SUBJECT:-riffle}
case "$subject" in
riffle | kfake) ;;
*)
	echo "bench: BENCH_SUBJECT must be riffle or kfake, not '$subject'" >&2
	exit 2
	;;
esac
out=${BENCH_OUT:-$root/bench/results/latest.json}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/riffle-bench.XXXXXX")
pids=()

# stop ends the brokers we started, by pid: SIGTERM, up to 10 s to exit, then
# SIGKILL.
stop() {
	local pid i
	for pid in "${pids[@]}"; do
		kill -TERM "$pid" 2>/dev/null || true
	done
	for pid in "${pids[@]}"; do
		for ((i = 0; i < 100; i++)); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	pids=()
}
cleanup() {
	stop
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# free_port prints the first port from $1 on (50 tries) that nothing listens on.
free_port() {
	local p
	for ((p = $1; p < $1 + 50; p++)); do
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			echo "$p"
			return 0
		fi
	done
	echo "bench: no free port in $1..$(($1 + 49))" >&2
	return 1
}

# alive fails, showing the broker's log, if process $1 has exited.
alive() {
	if ! kill -0 "$1" 2>/dev/null; then
		echo "bench: $2 exited early; its log:" >&2
		tail -n 40 "$3" >&2 || true
		return 1
	fi
}

echo "bench: building into $tmp/bin" >&2
mkdir -p "$tmp/bin"
go build -o "$tmp/bin/loadgen" ./bench/loadgen
go build -o "$tmp/bin/kfake-broker" ./bench/kfake-broker
riffle_bin=${RIFFLE_BIN:-$tmp/bin/riffle}
if [[ $subject == riffle && -z ${RIFFLE_BIN:-} ]] && ! go build -o "$riffle_bin" ./cmd/riffle; then
	echo "bench: cannot build ./cmd/riffle (BENCH_SUBJECT=kfake runs the harness without it)" >&2
	exit 1
fi

# Peer: kfake with a data directory, so that it too writes every batch to
# segment files (page cache, no fsync per batch, as Kafka and Riffle default).
kfake_port=$(free_port "${KFAKE_PORT:-29192}")
"$tmp/bin/kfake-broker" -port "$kfake_port" -data-dir "$tmp/kfake-data" >"$tmp/kfake.log" 2>&1 &
pids+=($!)
kfake_pid=$!
targets=()

if [[ $subject == riffle ]]; then
	riffle_port=$(free_port "${RIFFLE_PORT:-29092}")
	controller_port=$(free_port "${RIFFLE_CONTROLLER_PORT:-$((riffle_port + 1))}")
	if [[ $controller_port == "$riffle_port" ]]; then
		controller_port=$(free_port $((riffle_port + 1)))
	fi
	# shellcheck disable=SC2086 # RIFFLE_ARGS is a list of words
	"$riffle_bin" \
		--override "log.dirs=$tmp/riffle-data" \
		--override "listeners=PLAINTEXT://127.0.0.1:$riffle_port,CONTROLLER://127.0.0.1:$controller_port" \
		--override "advertised.listeners=PLAINTEXT://127.0.0.1:$riffle_port" \
		${RIFFLE_ARGS:-} >"$tmp/riffle.log" 2>&1 &
	pids+=($!)
	targets+=(-target "riffle=127.0.0.1:$riffle_port@$!")
	subject_log=$tmp/riffle.log
else
	subject_port=$(free_port $((kfake_port + 1)))
	"$tmp/bin/kfake-broker" -port "$subject_port" -data-dir "$tmp/kfake2-data" >"$tmp/kfake2.log" 2>&1 &
	pids+=($!)
	targets+=(-target "kfake2=127.0.0.1:$subject_port@$!")
	subject_log=$tmp/kfake2.log
fi
targets+=(-target "kfake=127.0.0.1:$kfake_port@$kfake_pid")

# The load generator polls both brokers until they answer (-ready-timeout)
# and bounds every phase; timeout(1) bounds the whole run on top of that.
status=0
timeout --signal=TERM --kill-after=15s 600s \
	"$tmp/bin/loadgen" "${targets[@]}" -out "$out" "$@" || status=$?

for i in "${!pids[@]}"; do
	log=$tmp/kfake.log
	((i == 0)) || log=$subject_log
	alive "${pids[$i]}" "broker pid ${pids[$i]}" "$log" || status=1
done
if ((status != 0)); then
	echo "bench: FAILED (status $status); subject log tail:" >&2
	tail -n 20 "$subject_log" >&2 || true
fi
exit "$status"
