#!/usr/bin/env bash
# A Docker-compatible container engine for CI machines that have no Docker daemon.
#
#   eval "$(bash .ci/container-engine.sh start)"   # prints `export DOCKER_HOST=...`
#   bash .ci/container-engine.sh stop               # stops the podman service this script started
#   bash .ci/container-engine.sh status
#
# `start` is idempotent. If DOCKER_HOST (or the default /var/run/docker.sock) already answers,
# that engine is used as it is and nothing is installed: real users with Docker need none of this.
# Otherwise it installs podman/runc/debootstrap with apt-get (root only), starts
# `podman system service` on a unix socket under the work folder, and, because base images
# cannot be pulled here, builds a Debian bookworm stand-in for the Dockerfile's BASE_IMAGE
# (python3 + pip at /usr/local/bin, as the official image has) and tags it with the exact name
# the Dockerfile's ARG defaults to.
#
# Everything (podman's storage, run state, socket, logs, the stand-in's rootfs) lives under
# $CONTAINER_ENGINE_WORK (default: <repo>/.ci-work/engine, git-ignored); nothing is cached
# anywhere else. Logs go to stderr and to files there; stdout carries only the export lines.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
work=${CONTAINER_ENGINE_WORK:-$root/.ci-work/engine}
sock=$work/podman.sock
pidfile=$work/podman.pid

log() { echo "container-engine: $*" >&2; }

engine_answers() { # $1: DOCKER_HOST value
  DOCKER_HOST=$1 timeout 20 docker version --format '{{.Server.Version}}' >/dev/null 2>&1
}

base_image_name() { # the default of `ARG BASE_IMAGE=...` in the Dockerfile
  sed -n 's/^ARG BASE_IMAGE=\([^[:space:]]*\).*/\1/p' "$root/Dockerfile" | head -n1
}

write_confs() {
  mkdir -p "$work/storage" "$work/run" "$work/tmp" "$work/conf" "$work/networks"
  # default_ulimits = []: runc cannot apply the default rlimits here ("error setting rlimit").
  # cgroupfs + runc: crun refuses this host's hybrid cgroups. tmp_dir: this service's own lock/state
  # folder, so it never meets another podman on the machine.
  cat >"$work/conf/containers.conf" <<EOF
[containers]
default_ulimits = []

[network]
network_config_dir = "$work/networks"

[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
runtime = "runc"
image_copy_tmp_dir = "$work/tmp"
tmp_dir = "$work/libpod"
EOF
  cat >"$work/conf/storage.conf" <<EOF
[storage]
driver = "overlay"
graphroot = "$work/storage"
runroot = "$work/run"
EOF
}

podman_env() {
  export CONTAINERS_CONF=$work/conf/containers.conf
  export CONTAINERS_STORAGE_CONF=$work/conf/storage.conf
  export TMPDIR=$work/tmp
}

install_tools() {
  local missing=() packages=()
  for tool in podman runc debootstrap; do
    command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
  done
  [ ${#missing[@]} -gt 0 ] && packages+=(podman runc buildah debootstrap)
  # The compose test needs a compose CLI: Debian's docker-compose (v1) works with podman's Docker API.
  if ! docker compose version >/dev/null 2>&1 && ! command -v docker-compose >/dev/null 2>&1; then
    packages+=(docker-compose)
  fi
  [ ${#packages[@]} -eq 0 ] && return 0
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    log "cannot install ${packages[*]} (needs root and apt-get)"
    [ ${#missing[@]} -eq 0 ]  # only a missing compose CLI is not fatal here
    return
  fi
  log "installing ${packages[*]} with apt-get"
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${packages[@]}"; } \
    >"$work/apt.log" 2>&1 || {
    tail -n 20 "$work/apt.log" >&2
    return 1
  }
}

start_service() {
  if [ -S "$sock" ] && engine_answers "unix://$sock"; then
    return 0
  fi
  podman_env
  rm -f "$sock"
  log "starting podman system service on unix://$sock"
  setsid podman system service --time=0 "unix://$sock" \
    </dev/null >"$work/podman-service.log" 2>&1 9>&- &
  echo $! >"$pidfile"
  for _ in $(seq 1 60); do
    if [ -S "$sock" ] && engine_answers "unix://$sock"; then
      return 0
    fi
    sleep 0.5
  done
  log "podman service did not answer; its log:"
  tail -n 30 "$work/podman-service.log" >&2 || true
  return 1
}

debian_mirror() {
  local mirror
  mirror=$(sed -n 's/^URIs:[[:space:]]*\([^[:space:]]*\).*/\1/p' /etc/apt/sources.list.d/debian.sources \
    2>/dev/null | grep -v security | head -n1 || true)
  if [ -z "$mirror" ]; then
    mirror=$(awk '$1 == "deb" && $3 == "bookworm" {print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
  fi
  echo "${mirror:-http://deb.debian.org/debian}"
}

build_stand_in_base() { # $1: image name to tag
  local name=$1 rootfs=$work/rootfs mirror
  podman_env
  if podman image exists "$name"; then
    return 0
  fi
  mirror=$(debian_mirror)
  log "building a stand-in for $name (debootstrap bookworm from $mirror, about a minute)"
  rm -rf "$rootfs"
  debootstrap --variant=minbase --include=python3,python3-venv,python3-pip,ca-certificates \
    bookworm "$rootfs" "$mirror" >"$work/debootstrap.log" 2>&1 || {
    tail -n 20 "$work/debootstrap.log" >&2
    return 1
  }
  # python/pip at /usr/local/bin as the official python images have them: a venv at /usr/local.
  chroot "$rootfs" python3 -m venv /usr/local >>"$work/debootstrap.log" 2>&1
  ln -sf python3 "$rootfs/usr/local/bin/python"
  # pip inside a build reaches the package registry here only through this machine's CA bundle.
  cp /etc/ssl/certs/ca-certificates.crt "$rootfs/etc/ssl/certs/ca-certificates.crt"
  printf '[global]\ncert = /etc/ssl/certs/ca-certificates.crt\n' >"$rootfs/etc/pip.conf"
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
  tar -C "$rootfs" -c . | podman import \
    --change 'ENV PATH=/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["python3"]' - "$name" >/dev/null
  rm -rf "$rootfs"
  log "tagged stand-in base image $name"
}

ensure_base_image() { # only for the podman engine this script runs: real Docker pulls the base
  local name
  name=$(base_image_name)
  [ -n "$name" ] || { log "no ARG BASE_IMAGE= default in $root/Dockerfile"; return 1; }
  build_stand_in_base "$name"
}

cmd_start() {
  mkdir -p "$work"
  if [ -n "${DOCKER_HOST:-}" ] && engine_answers "$DOCKER_HOST"; then
    log "using the engine at DOCKER_HOST=$DOCKER_HOST"
    echo "export DOCKER_HOST=$DOCKER_HOST"
    return 0
  fi
  if [ -z "${DOCKER_HOST:-}" ] && [ -S /var/run/docker.sock ] && engine_answers unix:///var/run/docker.sock; then
    log "using the engine at /var/run/docker.sock"
    echo "export DOCKER_HOST=unix:///var/run/docker.sock"
    return 0
  fi
  command -v docker >/dev/null 2>&1 || { log "no docker CLI on PATH"; return 1; }
  install_tools
  write_confs
  start_service
  ensure_base_image
  echo "export DOCKER_HOST=unix://$sock"
}

cmd_stop() {
  if [ -f "$pidfile" ]; then
    local pid
    pid=$(cat "$pidfile")
    if kill -0 "$pid" 2>/dev/null; then
      podman_env
      CONTAINER_HOST=unix://$sock podman --remote rm -af -t 5 >/dev/null 2>&1 || true
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 1 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
      log "stopped podman service (pid $pid)"
    fi
    rm -f "$pidfile" "$sock"
  fi
  # Leftovers of this engine only, found by their command line naming this work folder: conmon monitors
  # (podman 4.3's exec sessions can outlive their container) and `podman container cleanup` exit
  # commands, which mount the storage while they run. Give them a moment, SIGKILL what remains (a
  # SIGTERMed conmon would start yet another cleanup), let cleanups finish, then unmount.
  local proc
  wait_engine_processes 20
  for proc in $(engine_processes); do kill -9 "$proc" 2>/dev/null || true; done
  wait_engine_processes 20
  awk -v prefix="$work/" 'index($2, prefix) == 1 {print $2}' /proc/mounts | sort -r | while read -r mnt; do
    umount "$mnt" 2>/dev/null || umount -l "$mnt" 2>/dev/null || true
  done
}

wait_engine_processes() { # $1: quarter-seconds at most
  local _
  for _ in $(seq 1 "$1"); do
    [ -z "$(engine_processes)" ] && return 0
    sleep 0.25
  done
}

engine_processes() { # conmon/podman processes of this engine (their arguments name $work/)
  local proc
  for proc in $(pgrep -x conmon 2>/dev/null; pgrep -x podman 2>/dev/null); do
    if tr '\0' ' ' <"/proc/$proc/cmdline" 2>/dev/null | grep -qF -- "$work/"; then
      echo "$proc"
    fi
  done
}

cmd_base_image() {
  write_confs
  ensure_base_image
}

cmd_status() {
  if [ -S "$sock" ] && engine_answers "unix://$sock"; then
    echo "running: unix://$sock"
  else
    echo "not running"
    return 1
  fi
}

with_lock() { # one start/stop at a time per work folder (engineers share a work tree)
  mkdir -p "$work"
  exec 9>"$work/lock"
  flock -w 600 9 || { log "timed out waiting for $work/lock"; return 1; }
  "$@"
}

case "${1:-start}" in
  start) with_lock cmd_start ;;
  stop) with_lock cmd_stop ;;
  status) cmd_status ;;
  base-image) with_lock cmd_base_image ;;
  *) echo "usage: $0 start|stop|status|base-image" >&2; exit 2 ;;
esac
