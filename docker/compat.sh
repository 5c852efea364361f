#!/usr/bin/env bash
# Runs the compat matrix in containers; this is `make compat-docker`.
#
#   bash docker/compat.sh                               # every client × scenario
#   bash docker/compat.sh -clients kcat -run 'gzip'     # flags go to cmd/matrix
#
# 1. builds the broker image (docker/build.sh, a per-run tag);
# 2. makes sure the runner's Debian base exists: debootstrap + docker import,
#    cached as riffle-compat-base:<hash of suite and package list>, so only
#    the first run (or a changed package list) pays for it;
# 3. builds the compat test binaries on the host and the runner image on top
#    of the base (docker/compat-runner.Dockerfile);
# 4. starts the compose project (docker/docker-compose.yml) under a unique
#    name, with the external listener on a free 127.0.0.1 port, and waits for
#    the healthcheck;
# 5. runs cmd/matrix in the runner container on the compose network, so
#    every client reaches the broker through the internal listener
#    (riffle:19092), and prints the same table as `make compat`;
# 6. tears down containers, network, volumes and per-run images on success,
#    failure and Ctrl-C alike.
#
# Environment:
#   COMPAT_CLUSTER        3: the three-node cluster (docker/docker-compose.3.yml),
#                         3c3b: three controllers and three brokers
#                         (docker/docker-compose.3c3b.yml); either sets the seeds
#                         to all three brokers and COMPAT_REPLICATION_FACTOR to 3
#   COMPAT_COMPOSE        compose file (default docker/docker-compose.yml)
#   COMPAT_SEEDS          in-network seeds (default riffle:19092)
#   COMPAT_REPLICATION_FACTOR  replication factor of the matrix's topics (default 1)
#   COMPAT_TIMEOUT        bound on the matrix run (default 30m)
#   COMPAT_REBUILD_BASE=1 rebuild the Debian base even if cached
#   COMPAT_KEEP=1         leave the compose project up (for debugging)
#   DEBIAN_MIRROR         debootstrap mirror (default http://deb.debian.org/debian)
#   RIFFLE_GROUP_INITIAL_REBALANCE_DELAY_MS  broker setting (default 0 here)
# Needs docker, docker compose or docker-compose, go, and root (or sudo) for
# debootstrap when the base is not cached yet.
set -euo pipefail

cd "$(dirname "$0")/.."
root=$(pwd)
start=$(date +%s)

run_id="$$-$(date +%s)"
project="riffle-compat-$run_id"
broker_image="riffle:compat-$run_id"
runner_image="riffle-compat-runner:$run_id"
runner_name="$project-runner"
case "${COMPAT_CLUSTER:-}" in
"") ;;
3)
	: "${COMPAT_COMPOSE:=docker/docker-compose.3.yml}"
	: "${COMPAT_SEEDS:=riffle-1:19092,riffle-2:19092,riffle-3:19092}"
	: "${COMPAT_REPLICATION_FACTOR:=3}"
	;;
3c3b)
	: "${COMPAT_COMPOSE:=docker/docker-compose.3c3b.yml}"
	: "${COMPAT_SEEDS:=riffle-broker-4:19092,riffle-broker-5:19092,riffle-broker-6:19092}"
	: "${COMPAT_REPLICATION_FACTOR:=3}"
	;;
*)
	echo "compat-docker: COMPAT_CLUSTER is 3 or 3c3b, not '$COMPAT_CLUSTER'" >&2
	exit 1
	;;
esac
compose_file=${COMPAT_COMPOSE:-docker/docker-compose.yml}
seeds=${COMPAT_SEEDS:-riffle:19092}
replication_factor=${COMPAT_REPLICATION_FACTOR:-1}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/riffle-compat-docker.XXXXXX")

# The base image: a Debian suite and the packages the clients need.
# python3-cffi-backend is listed because debootstrap does not resolve virtual
# packages, and python3-zstandard depends on python3-cffi-backend-api-*.
# Bump recipe when the way the base is made changes.
suite=bookworm
packages=(ca-certificates kcat python3-cffi-backend python3-confluent-kafka python3-kafka
	python3-lz4 python3-snappy python3-zstandard)
recipe=1
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}

step() { printf '== compat-docker: %s (%ds)\n' "$*" "$(($(date +%s) - start))"; }

as_root() {
	if [[ $(id -u) -eq 0 ]]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
		echo "compat-docker: need root to run: $*" >&2
		return 1
	fi
}

# Compose v2 (`docker compose`) where installed, else v1 (`docker-compose`).
if docker compose version >/dev/null 2>&1; then
	compose_cmd=(docker compose)
elif command -v docker-compose >/dev/null; then
	compose_cmd=(docker-compose)
else
	echo "compat-docker: neither 'docker compose' nor 'docker-compose' is installed" >&2
	exit 1
fi
compose() { "${compose_cmd[@]}" -p "$project" -f "$compose_file" "$@"; }
compose_up=""
runner_pid=""

# cleanup removes everything this run created; it runs on every exit path.
# Ctrl-C and TERM become an exit (130/143) so that it runs then too.
cleanup() {
	local status=$?
	set +e
	trap - EXIT INT TERM
	# Named containers of this run: gone already unless interrupted.
	docker rm -f "$runner_name" "$project-check" >/dev/null 2>&1
	if [[ -n "$runner_pid" ]]; then
		kill "$runner_pid" 2>/dev/null
		wait "$runner_pid" 2>/dev/null
	fi
	if [[ -n "$compose_up" ]]; then
		if [[ $status -ne 0 ]]; then
			echo "== compat-docker: last broker log lines"
			compose logs --no-color --tail 30 2>&1 | sed 's/^/    /'
		fi
		if [[ -n "${COMPAT_KEEP:-}" ]]; then
			echo "== compat-docker: COMPAT_KEEP set, leaving project $project up:"
			echo "   ${compose_cmd[*]} -p $project -f $compose_file down -v"
		else
			step "tearing down $project"
			compose down -v --remove-orphans --timeout 10 >/dev/null 2>&1 ||
				echo "compat-docker: compose down failed; see: docker ps -a --filter label=com.docker.compose.project=$project" >&2
		fi
	fi
	if [[ -z "${COMPAT_KEEP:-}" ]]; then
		docker image rm "$runner_image" "$broker_image" >/dev/null 2>&1
	fi
	if [[ -d "$tmp/rootfs" ]]; then remove_rootfs; fi
	rm -rf "$tmp"
	step "finished with status $status"
	exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# remove_rootfs deletes an interrupted debootstrap's tree: first whatever it
# left mounted inside (proc, sys, dev), deepest first, then the files, which
# are owned by root; --one-file-system keeps rm out of anything still mounted.
remove_rootfs() {
	local m
	for m in $(awk -v r="$tmp/rootfs/" 'index($2, r) == 1 { print $2 }' /proc/mounts | sort -r); do
		as_root umount -l "$m" || true
	done
	as_root rm -rf --one-file-system "$tmp/rootfs"
}

# free_port prints a 127.0.0.1 port that nothing accepts connections on;
# bounded, and without any interpreter beyond bash.
free_port() {
	local i p
	for ((i = 0; i < 50; i++)); do
		p=$((20000 + RANDOM % 30000))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			echo "$p"
			return 0
		fi
	done
	echo "compat-docker: no free port found" >&2
	return 1
}

# ensure_base prints the tag of the runner's base image, making it first if
# no image with this package list exists. Older bases are removed after a
# new one is made: nothing else uses them.
ensure_base() {
	local key tag rootfs current
	key=$(printf '%s\n' "recipe=$recipe" "suite=$suite" "variant=minbase" "${packages[@]}" | sort | sha256sum | cut -c1-16)
	tag="riffle-compat-base:$key"
	if [[ -z "${COMPAT_REBUILD_BASE:-}" ]] && docker image inspect "$tag" >/dev/null 2>&1; then
		step "reusing base image $tag" >&2
		echo "$tag"
		return 0
	fi
	command -v debootstrap >/dev/null || {
		echo "compat-docker: debootstrap is needed to make the runner's base (apt-get install debootstrap)" >&2
		return 1
	}
	rootfs="$tmp/rootfs"
	step "debootstrap $suite (${packages[*]}) from $mirror" >&2
	if ! as_root debootstrap --variant=minbase --include="$(
		IFS=,
		echo "${packages[*]}"
	)" "$suite" "$rootfs" "$mirror" >"$tmp/debootstrap.log" 2>&1; then
		echo "compat-docker: debootstrap failed:" >&2
		tail -30 "$tmp/debootstrap.log" >&2
		as_root cat "$rootfs/debootstrap/debootstrap.log" 2>/dev/null | tail -30 >&2
		return 1
	fi
	# Downloaded packages and apt lists are not needed to run the clients.
	as_root sh -c "rm -rf '$rootfs'/var/cache/apt/archives/*.deb '$rootfs'/var/lib/apt/lists/* '$rootfs'/usr/share/doc/* '$rootfs'/usr/share/man/*"
	step "docker import $tag" >&2
	as_root tar --numeric-owner -C "$rootfs" -c . | docker import \
		--change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
		--change 'LABEL io.riffle.compat-base=1' \
		--message "riffle compat base: $suite ${packages[*]}" - "$tag" >/dev/null
	remove_rootfs
	# By id: a rebuilt base leaves the previous one untagged, not renamed.
	current=$(docker image inspect -f '{{.Id}}' "$tag")
	docker image ls -q --no-trunc --filter label=io.riffle.compat-base=1 |
		grep -vxF "$current" | xargs -r docker image rm >/dev/null 2>&1 || true
	echo "$tag"
}

# node_ids lists the project's node containers: not the one-shot
# riffle-*-format services of the cluster files, which have exited.
node_ids() {
	local id
	for id in $(compose ps -q); do
		[[ $(docker inspect -f '{{index .Config.Labels "com.docker.compose.service"}}' "$id") == *-format ]] || echo "$id"
	done
}

# wait_healthy waits up to 90 s for every container of the project to pass
# its healthcheck, and fails early if one exits or turns unhealthy.
wait_healthy() {
	local ids id st i all
	ids=$(node_ids)
	if [[ -z "$ids" ]]; then
		echo "compat-docker: compose started no containers" >&2
		return 1
	fi
	for ((i = 0; i < 180; i++)); do
		all=1
		for id in $ids; do
			st=$(docker inspect -f '{{.State.Status}}/{{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}' "$id")
			case "$st" in
			running/healthy) ;;
			running/starting) all="" ;;
			running/none)
				echo "compat-docker: container $id has no healthcheck" >&2
				return 1
				;;
			*)
				echo "compat-docker: container $id is $st" >&2
				return 1
				;;
			esac
		done
		if [[ -n "$all" ]]; then return 0; fi
		sleep 0.5
	done
	echo "compat-docker: containers not healthy after 90 s" >&2
	return 1
}

step "building the broker image $broker_image"
bash docker/build.sh "$broker_image" >"$tmp/build.log" 2>&1 || {
	cat "$tmp/build.log" >&2
	exit 1
}

base=$(ensure_base)

step "building the compat test binaries"
mkdir -p "$tmp/runner/bin"
(
	cd compat-tests
	go test -c -o "$tmp/runner/bin/" ./clients/...
	go build -o "$tmp/runner/bin/matrix" ./cmd/matrix
)
cp docker/compat-runner.Dockerfile "$tmp/runner/Dockerfile"

step "building the runner image $runner_image"
docker build -q --build-arg "BASE=$base" -t "$runner_image" "$tmp/runner" >"$tmp/runner-build.log" 2>&1 || {
	cat "$tmp/runner-build.log" >&2
	exit 1
}

# Free host ports for the external listeners: RIFFLE_EXTERNAL_PORT for the
# one-broker file, _1.._3 for the cluster files.
port=$(free_port)
export RIFFLE_IMAGE="$broker_image" RIFFLE_EXTERNAL_PORT="$port"
RIFFLE_EXTERNAL_PORT_1=$port RIFFLE_EXTERNAL_PORT_2=$(free_port) RIFFLE_EXTERNAL_PORT_3=$(free_port)
export RIFFLE_EXTERNAL_PORT_1 RIFFLE_EXTERNAL_PORT_2 RIFFLE_EXTERNAL_PORT_3
# Kafka's 3 s default delays every new group's first rebalance; tests lower
# it, as they do against Apache Kafka.
export RIFFLE_GROUP_INITIAL_REBALANCE_DELAY_MS=${RIFFLE_GROUP_INITIAL_REBALANCE_DELAY_MS:-0}
step "starting $compose_file as project $project (external listener 127.0.0.1:$port)"
compose_up=1
compose up -d >"$tmp/compose.log" 2>&1 || {
	cat "$tmp/compose.log" >&2
	exit 1
}
wait_healthy

# The network compose made for the project; the runner joins it.
network=$(docker inspect -f '{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{end}}' "$(node_ids | head -1)" | awk '{print $1}')

# The (first) external listener answers on the host and advertises itself
# there; both compose files publish it on $port.
if command -v kcat >/dev/null; then
	if ! kcat -b "127.0.0.1:$port" -L -m 10 2>&1 | grep -q "at 127.0.0.1:$port"; then
		echo "compat-docker: the external listener 127.0.0.1:$port does not advertise itself" >&2
		kcat -b "127.0.0.1:$port" -L -m 10 >&2 || true
		exit 1
	fi
fi
# The runner sees the internal listener's advertised address: the matrix
# below cannot reach the host's 127.0.0.1, so it runs on the internal one.
first_seed=${seeds%%,*}
if ! docker run --rm --name "$project-check" --network "$network" "$runner_image" kcat -b "$seeds" -L -m 10 >"$tmp/md.txt" 2>&1 ||
	! grep -q "at $first_seed" "$tmp/md.txt"; then
	echo "compat-docker: the runner does not see the broker at $first_seed:" >&2
	cat "$tmp/md.txt" >&2
	exit 1
fi
echo "   runner sees: $(grep -m1 'at ' "$tmp/md.txt" | sed 's/^ *//')"

step "running the matrix in $runner_name against $seeds (replication factor $replication_factor)"
# In the background, so that Ctrl-C reaches the trap at once; the container
# is removed by name in cleanup whatever happens to the docker CLI.
timeout "${COMPAT_TIMEOUT:-30m}" docker run --rm --name "$runner_name" --network "$network" \
	-e BROKER_SEEDS="$seeds" -e COMPAT_REPLICATION_FACTOR="$replication_factor" "$runner_image" /compat/bin/matrix -bin /compat/bin "$@" &
runner_pid=$!
status=0
wait "$runner_pid" || status=$?
runner_pid=""
if [[ $status -eq 124 ]]; then
	echo "compat-docker: the matrix did not finish within ${COMPAT_TIMEOUT:-30m}" >&2
fi
exit "$status"
