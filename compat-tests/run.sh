#!/usr/bin/env bash
# Runs the compat matrix (every client × every scenario) against a broker and
# prints the table. This is what `make compat` runs.
#
#   bash compat-tests/run.sh                    # builds ./cmd/riffle, starts it, tests it
#   BROKER_SEEDS=host:9092 bash compat-tests/run.sh   # an already running broker
#   COMPAT_BROKER=kfake bash compat-tests/run.sh      # franz-go's kfake instead, to compare
#   bash compat-tests/run.sh -run 'gzip|zstd' -clients kcat,sarama   # flags go to cmd/matrix
#
# Environment: BROKER_SEEDS, COMPAT_BROKER (riffle|kfake), RIFFLE_ARGS (extra
# broker arguments), COMPAT_BIN (where test binaries go), KCAT, PYTHON.
set -euo pipefail

cd "$(dirname "$0")"
compat=$(pwd)
root=$(cd .. && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/riffle-compat.XXXXXX")
bin=${COMPAT_BIN:-$tmp/bin}
broker_pid=""

# cleanup stops the broker we started (by pid: TERM, up to 10 s, then KILL)
# and removes its data, on success, failure and Ctrl-C alike.
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

# free_port prints a TCP port nothing listens on right now.
free_port() {
	/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# wait_port waits up to 30 s for host:port to accept connections.
wait_port() {
	local host=${1%:*} port=${1##*:} i
	for ((i = 0; i < 300; i++)); do
		if ! kill -0 "$broker_pid" 2>/dev/null; then
			echo "compat: the broker exited during start-up; its log:" >&2
			cat "$tmp/broker.log" >&2 || true
			return 1
		fi
		if (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null; then
			return 0
		fi
		sleep 0.1
	done
	echo "compat: nothing listens on $1 after 30 s; broker log:" >&2
	tail -50 "$tmp/broker.log" >&2 || true
	return 1
}

echo "== compat: building test binaries into $bin"
mkdir -p "$bin"
go test -c -o "$bin/" ./clients/...
go build -o "$bin/matrix" ./cmd/matrix

if [[ -z "${BROKER_SEEDS:-}" ]]; then
	port=$(free_port)
	case "${COMPAT_BROKER:-riffle}" in
	riffle)
		ctrl=$(free_port)
		echo "== compat: building riffle"
		(cd "$root" && go build -o "$tmp/riffle" ./cmd/riffle)
		echo "== compat: starting riffle on 127.0.0.1:$port (data in $tmp/data)"
		# shellcheck disable=SC2086 # RIFFLE_ARGS is a list of arguments
		# Kafka's 3 s group.initial.rebalance.delay.ms would delay every new
		# group's first rebalance; tests lower it, as against Apache Kafka.
		"$tmp/riffle" --config "$root/config/server.properties" \
			--override "log.dirs=$tmp/data" \
			--override "listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$ctrl" \
			--override "advertised.listeners=PLAINTEXT://127.0.0.1:$port" \
			--override "group.initial.rebalance.delay.ms=0" \
			${RIFFLE_ARGS:-} >"$tmp/broker.log" 2>&1 &
		broker_pid=$!
		;;
	kfake)
		echo "== compat: starting kfake on 127.0.0.1:$port"
		go build -o "$tmp/kfake-broker" ./cmd/kfake-broker
		"$tmp/kfake-broker" -port "$port" -partitions 1 >"$tmp/broker.log" 2>&1 &
		broker_pid=$!
		;;
	*)
		echo "compat: COMPAT_BROKER must be riffle or kfake" >&2
		exit 2
		;;
	esac
	export BROKER_SEEDS="127.0.0.1:$port"
	wait_port "$BROKER_SEEDS"
fi

echo "== compat: running the matrix against $BROKER_SEEDS"
status=0
"$bin/matrix" -bin "$bin" "$@" || status=$?
if [[ $status -ne 0 && -n "$broker_pid" ]]; then
	echo "== compat: last broker log lines ($tmp/broker.log)"
	tail -20 "$tmp/broker.log" || true
fi
exit $status
