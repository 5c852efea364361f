#!/usr/bin/env bash
# Fault injection against a Riffle cluster in containers; this is `make chaos`.
#
#   bash docker/chaos.sh                      # three-node cluster, every scenario, 5 min of kills
#   bash docker/chaos.sh -short               # CI length: 60 s of kills
#   CHAOS_COMPOSE=docker/docker-compose.yml bash docker/chaos.sh -short -scenarios kill,txn
#   bash docker/chaos.sh -dry-run             # print the schedule, start nothing
#
# Flags go to compat-tests/cmd/chaos (see its doc comment and
# compat-tests/README.md). This script:
# 1. builds the broker image (docker/build.sh, a per-run tag) unless
#    RIFFLE_IMAGE names one, and the chaos binary on the host;
# 2. starts the compose file as a project with a unique name, the external
#    listeners on free 127.0.0.1 ports, and waits for the healthchecks;
# 3. runs chaos from the host, telling it which container is which node
#    (KAFKA_NODE_ID), with replication factor and min.insync.replicas 1 when
#    the file has a single broker. Clients use the brokers' in-network
#    listeners (riffle-N:19092), dialled at the containers' addresses on the
#    compose network (-resolve-containers), not the published ports: Docker's
#    port proxy accepts connections for a node that is down and closes them,
#    which clients take for a fatal error instead of a refused connection;
# 4. tears down containers, network, volumes and the per-run image on
#    success, failure and Ctrl-C alike (a paused container is removed too;
#    the iptables rules of an isolation live in the container's network
#    namespace and go with it).
#
# Environment:
#   CHAOS_COMPOSE   compose file (default docker/docker-compose.3.yml)
#   CHAOS_HISTORY   keep the run's history (JSON) at this path; judge it
#                   again with: go run ./cmd/chaos -check FILE (in compat-tests)
#   CHAOS_TIMEOUT   bound on the chaos run (default 40m)
#   CHAOS_KEEP=1    leave the project up afterwards
#   CHAOS_PUBLISHED=1  connect through the published host ports instead
#   RIFFLE_IMAGE    use this image instead of building one
# Needs docker, docker compose or docker-compose, go, nsenter and iptables
# (the isolation scenario), and root for the last two.
set -euo pipefail

cd "$(dirname "$0")/.."
root=$(pwd)
start=$(date +%s)
step() { printf '== chaos: %s (%ds)\n' "$*" "$(($(date +%s) - start))"; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/riffle-chaos.XXXXXX")
step "building the chaos binary"
(cd compat-tests && go build -o "$tmp/chaos" ./cmd/chaos)

for a in "$@"; do
	if [[ $a == -dry-run || $a == --dry-run ]]; then
		"$tmp/chaos" "$@"
		rm -rf "$tmp"
		exit 0
	fi
done

run_id="$$-$(date +%s)"
project="riffle-chaos-$run_id"
compose_file=${CHAOS_COMPOSE:-docker/docker-compose.3.yml}
built_image=""

if docker compose version >/dev/null 2>&1; then
	compose_cmd=(docker compose)
elif command -v docker-compose >/dev/null; then
	compose_cmd=(docker-compose)
else
	echo "chaos: neither 'docker compose' nor 'docker-compose' is installed" >&2
	exit 1
fi
compose() { "${compose_cmd[@]}" -p "$project" -f "$compose_file" "$@"; }
compose_up=""
chaos_pid=""

cleanup() {
	local status=$?
	set +e
	trap - EXIT INT TERM
	if [[ -n "$chaos_pid" ]]; then
		kill "$chaos_pid" 2>/dev/null
		wait "$chaos_pid" 2>/dev/null
	fi
	if [[ -n "$compose_up" ]]; then
		# A paused container cannot be stopped; resume it first.
		for id in $(compose ps -q 2>/dev/null); do
			[[ $(docker inspect -f '{{.State.Paused}}' "$id" 2>/dev/null) == true ]] && docker unpause "$id" >/dev/null 2>&1
		done
		if [[ $status -ne 0 ]]; then
			echo "== chaos: last log lines of each node"
			compose logs --no-color --tail 20 2>&1 | sed 's/^/    /'
		fi
		if [[ -n "${CHAOS_KEEP:-}" ]]; then
			echo "== chaos: CHAOS_KEEP set, leaving project $project up:"
			echo "   ${compose_cmd[*]} -p $project -f $compose_file down -v"
		else
			step "tearing down $project"
			compose down -v --remove-orphans --timeout 10 >/dev/null 2>&1 ||
				echo "chaos: compose down failed; see: docker ps -a --filter label=com.docker.compose.project=$project" >&2
		fi
	fi
	if [[ -n "$built_image" && -z "${CHAOS_KEEP:-}" ]]; then
		docker image rm "$built_image" >/dev/null 2>&1
	fi
	rm -rf "$tmp"
	step "finished with status $status"
	exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

free_port() {
	local i p
	for ((i = 0; i < 50; i++)); do
		p=$((20000 + RANDOM % 30000))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			echo "$p"
			return 0
		fi
	done
	echo "chaos: no free port found" >&2
	return 1
}

# node_ids lists the project's node containers: not the one-shot
# riffle-*-format services of the cluster files, which have exited.
node_ids() {
	local id
	for id in $(compose ps -q); do
		[[ $(docker inspect -f '{{index .Config.Labels "com.docker.compose.service"}}' "$id") == *-format ]] || echo "$id"
	done
}

# wait_healthy: every container of the project passes its healthcheck
# within 120 s; fails early if one exits.
wait_healthy() {
	local ids id st i all
	ids=$(node_ids)
	[[ -n "$ids" ]] || {
		echo "chaos: compose started no containers" >&2
		return 1
	}
	for ((i = 0; i < 240; i++)); do
		all=1
		for id in $ids; do
			st=$(docker inspect -f '{{.State.Status}}/{{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}' "$id")
			case "$st" in
			running/healthy | running/none) ;;
			running/starting) all="" ;;
			*)
				echo "chaos: container $id is $st" >&2
				return 1
				;;
			esac
		done
		[[ -z "$all" ]] || return 0
		sleep 0.5
	done
	echo "chaos: containers not healthy after 120 s" >&2
	return 1
}

if [[ -z "${RIFFLE_IMAGE:-}" ]]; then
	built_image="riffle:chaos-$run_id"
	step "building the broker image $built_image"
	bash docker/build.sh "$built_image" >"$tmp/build.log" 2>&1 || {
		cat "$tmp/build.log" >&2
		exit 1
	}
	export RIFFLE_IMAGE="$built_image"
fi

RIFFLE_EXTERNAL_PORT=$(free_port)
RIFFLE_EXTERNAL_PORT_1=$RIFFLE_EXTERNAL_PORT RIFFLE_EXTERNAL_PORT_2=$(free_port) RIFFLE_EXTERNAL_PORT_3=$(free_port)
export RIFFLE_EXTERNAL_PORT RIFFLE_EXTERNAL_PORT_1 RIFFLE_EXTERNAL_PORT_2 RIFFLE_EXTERNAL_PORT_3
export RIFFLE_GROUP_INITIAL_REBALANCE_DELAY_MS=${RIFFLE_GROUP_INITIAL_REBALANCE_DELAY_MS:-0}
step "starting $compose_file as project $project"
compose_up=1
compose up -d >"$tmp/compose.log" 2>&1 || {
	cat "$tmp/compose.log" >&2
	exit 1
}
wait_healthy

# Which container is which node, and where the brokers' client listeners
# are published on the host.
nodes="" seeds="" published="" brokers=0
for id in $(node_ids); do
	name=$(docker inspect -f '{{.Name}}' "$id")
	name=${name#/}
	node=$(docker inspect -f '{{range .Config.Env}}{{println .}}{{end}}' "$id" | sed -n 's/^KAFKA_NODE_ID=//p')
	nodes+="${nodes:+,}$node=$name"
	hp=$(docker inspect -f '{{range $p, $b := .NetworkSettings.Ports}}{{if eq $p "9092/tcp"}}{{range $b}}{{.HostIp}}:{{.HostPort}}{{end}}{{end}}{{end}}' "$id")
	if [[ -n "$hp" ]]; then
		published+="${published:+,}$hp"
		seeds+="${seeds:+,}$(docker inspect -f '{{.Config.Hostname}}' "$id"):19092"
		brokers=$((brokers + 1))
	fi
done
[[ -n "$seeds" ]] || {
	echo "chaos: no container publishes a client listener (9092)" >&2
	exit 1
}
defaults=(-resolve-containers)
if [[ -n "${CHAOS_PUBLISHED:-}" ]]; then
	seeds=$published defaults=()
fi
if ((brokers == 1)); then defaults+=(-rf 1 -min-isr 1); fi
echo "   nodes $nodes; client listeners $seeds (published on $published)"

history=${CHAOS_HISTORY:-$tmp/history.json}
step "running chaos ${defaults[*]} $*"
timeout "${CHAOS_TIMEOUT:-40m}" "$tmp/chaos" -seeds "$seeds" -nodes "$nodes" -history "$history" "${defaults[@]}" "$@" &
chaos_pid=$!
status=0
wait "$chaos_pid" || status=$?
chaos_pid=""
if [[ $status -eq 124 ]]; then
	echo "chaos: the run did not finish within ${CHAOS_TIMEOUT:-40m}" >&2
fi
[[ -z "${CHAOS_HISTORY:-}" ]] || echo "   history kept at $history"
exit "$status"
