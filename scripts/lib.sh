# shellcheck shell=bash disable=SC2034  # the settings are read by the scripts that source this file
# scripts/lib.sh - sourced by ./dev and the scripts beside it (services, rabbitmq, postgres, demo,
# rabbitmq-cluster): the settings they share, read from the environment (docs/services.md,
# "Overrides"), and the helpers: logging, running as the servers' users, waiting, Debian packages,
# Docker. It defines things and runs nothing.
[[ -n ${KBSYNC_LIB_LOADED:-} ]] && return 0   # sourced once per process, however many scripts ask
KBSYNC_LIB_LOADED=1

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LOG_TAG="${LOG_TAG:-dev}"   # the [tag] of log lines; scripts/rabbitmq-cluster sets its own

# ---------------------------------------------------------------------------
# Settings (all overridable through the environment)
# ---------------------------------------------------------------------------
STATE_DIR="${KBSYNC_STATE_DIR:-$ROOT/.state}"
SERVICES_MODE="${KBSYNC_SERVICES_MODE:-auto}"   # auto | local | docker
WAIT_TIMEOUT="${KBSYNC_WAIT_TIMEOUT:-180}"      # seconds, per service

RABBIT_HOST="${KBSYNC_RABBIT_HOST:-localhost}"
RABBIT_PORT="${KBSYNC_RABBIT_PORT:-5672}"
RABBIT_MGMT_PORT="${KBSYNC_RABBIT_MGMT_PORT:-15672}"
RABBIT_USER="${KBSYNC_RABBIT_USER:-guest}"
RABBIT_PASS="${KBSYNC_RABBIT_PASS:-guest}"
RABBIT_NODE="${KBSYNC_RABBIT_NODE:-kbsync@localhost}"
RABBIT_NODES="${KBSYNC_RABBIT_NODES:-1}"          # 1: the single node (scripts/rabbitmq); more: scripts/rabbitmq-cluster

PG_HOST="${KBSYNC_PG_HOST:-localhost}"
PG_PORT="${KBSYNC_PG_PORT:-5432}"
PG_USER="${KBSYNC_PG_USER:-kbsync}"
PG_PASS="${KBSYNC_PG_PASSWORD:-kbsync}"
PG_DB="${KBSYNC_PG_DB:-kbsync}"

CONFIG="${KBSYNC_CONFIGURATION:-Release}"
CONFIG_LC="$(printf '%s' "$CONFIG" | tr '[:upper:]' '[:lower:]')"
SLN="$ROOT/KbSync.sln"
WORKER_DLL="$ROOT/artifacts/bin/KbSync.KbWorker/$CONFIG_LC/kbworker.dll"
PRODUCER_DLL="$ROOT/artifacts/bin/KbSync.Producer/$CONFIG_LC/kbsync.dll"

SERVICES="$ROOT/scripts/services"          # ./dev services: RabbitMQ and PostgreSQL
CLUSTER="$ROOT/scripts/rabbitmq-cluster"   # the cluster's nodes, ports and state (.state/rabbitmq-cluster)
RMQ_LIB_BIN=/usr/lib/rabbitmq/bin          # Debian layout; falls back to PATH

# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------
log() { printf '[%s] %s\n' "$LOG_TAG" "$*" >&2; }
die() { printf '[%s] ERROR: %s\n' "$LOG_TAG" "$*" >&2; exit 1; }

is_root() { [[ $EUID -eq 0 ]]; }

# as_user USER CMD... : run CMD as USER (root) or as ourselves (non-root dev box)
as_user() {
  local user=$1; shift
  if is_root; then runuser -u "$user" -- "$@"; else "$@"; fi
}
rmq_user() { if is_root; then echo rabbitmq; else id -un; fi; }
pg_user() { if is_root; then echo postgres; else id -un; fi; }

rmq_bin() { # rmq_bin TOOL : the path of a RabbitMQ tool (rabbitmq-server, rabbitmqctl, ...)
  if [[ -x $RMQ_LIB_BIN/$1 ]]; then echo "$RMQ_LIB_BIN/$1"; else command -v "$1"; fi
}

# tcp_open HOST PORT : true when something accepts TCP connections there
# shellcheck disable=SC2016  # $0/$1 expand in the child bash
tcp_open() { timeout 3 bash -c '>"/dev/tcp/$0/$1"' "$1" "$2" 2>/dev/null; }

# pid_alive PIDFILE COMM : true when the first line of PIDFILE is a live process named COMM
# (the name check guards against stale pid files whose pid was reused)
pid_alive() {
  local pid comm
  [[ -r $1 ]] || return 1
  pid="$(head -n1 "$1" 2>/dev/null | tr -dc '0-9')"
  [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null || return 1
  comm="$(cat "/proc/$pid/comm" 2>/dev/null)" || return 0
  [[ $comm == "$2"* ]]
}
pid_of() { head -n1 "$1" 2>/dev/null | tr -dc '0-9'; }

rel() { local p=$1; printf '%s' "${p#"$ROOT"/}"; }

# Make sure USER can reach DIR (every ancestor needs +x for it).
ensure_traversable() {
  local user=$1 dir=$2 d
  is_root || return 0
  runuser -u "$user" -- test -x "$dir" 2>/dev/null && return 0
  local part parts=()
  d=/
  IFS=/ read -r -a parts <<<"${dir#/}"
  for part in "${parts[@]}"; do
    d="${d%/}/$part"
    if ! runuser -u "$user" -- test -x "$d" 2>/dev/null; then
      log "granting o+x on $d so user '$user' can reach $(rel "$dir")"
      chmod o+x "$d"
    fi
  done
}

mkdir_owned() { # mkdir_owned USER MODE DIR...
  local user=$1 mode=$2; shift 2
  mkdir -p "$@"
  chmod "$mode" "$@"
  if is_root; then chown "$user:" "$@"; fi
}

write_owned() { # write_owned USER FILE  (content on stdin)
  cat >"$2"
  if is_root; then chown "$1:" "$2"; fi
}

# erlang_cookie FILE USER : a random Erlang cookie in FILE (mode 0400, USER's) unless it has one.
# The server and rabbitmqctl read it from the same HOME.
erlang_cookie() {
  local cookie=$1 user=$2 rnd
  [[ -s $cookie ]] && return 0
  rnd="$(LC_ALL=C tr -dc '[:upper:]' < <(head -c 4096 /dev/urandom))"
  (umask 077; printf '%s' "${rnd:0:32}" >"$cookie")
  if is_root; then chown "$user:" "$cookie"; fi
  chmod 0400 "$cookie"
}

# wait_until TIMEOUT WHAT PID CMD... : poll CMD every second; give up early
# when PID (if not empty) is no longer alive
wait_until() {
  local timeout=$1 what=$2 pid=$3; shift 3
  local start=$SECONDS
  until "$@" >/dev/null 2>&1; do
    if [[ -n $pid ]] && ! kill -0 "$pid" 2>/dev/null; then
      log "the server process exited while waiting for $what"
      return 1
    fi
    if (( SECONDS - start >= timeout )); then
      log "timed out after ${timeout}s waiting for $what"
      return 1
    fi
    sleep 1
  done
}

show_tail() { # show_tail FILE...
  local f
  for f in "$@"; do
    [[ -s $f ]] || continue
    printf -- '----- tail of %s -----\n' "$f" >&2
    tail -n 40 "$f" | cut -c1-300 >&2 || true
  done
}

# ---------------------------------------------------------------------------
# Docker
# ---------------------------------------------------------------------------
DOCKER_OK=""   # cached result of `docker info`
docker_engine_ok() {
  if [[ -z $DOCKER_OK ]]; then
    DOCKER_OK=no
    if command -v docker >/dev/null 2>&1 && timeout 15 docker info >/dev/null 2>&1; then DOCKER_OK=yes; fi
  fi
  [[ $DOCKER_OK == yes ]]
}

compose() {
  if docker compose version >/dev/null 2>&1; then
    docker compose -f "$ROOT/docker-compose.yml" "$@"
  elif command -v docker-compose >/dev/null 2>&1; then
    docker-compose -f "$ROOT/docker-compose.yml" "$@"
  else
    die "a Docker engine answers but neither 'docker compose' nor 'docker-compose' is available"
  fi
}

use_docker() {
  case "$SERVICES_MODE" in
    local) return 1 ;;
    docker) docker_engine_ok || die "KBSYNC_SERVICES_MODE=docker but no Docker engine answers (docker info failed)"; return 0 ;;
    auto) docker_engine_ok ;;
    *) die "KBSYNC_SERVICES_MODE must be auto, local or docker (got '$SERVICES_MODE')" ;;
  esac
}

# The compose services ./dev started are listed in this file, one a line: `down` stops only those.
DOCKER_MARKER="$STATE_DIR/docker-services"

docker_marked() { [[ -f $DOCKER_MARKER ]] && grep -qx "$1" "$DOCKER_MARKER"; }

docker_up() { # docker_up SERVICE
  local svc=$1
  log "$svc: starting with docker compose"
  compose up -d "$svc" >&2
  mkdir -p "$STATE_DIR"
  docker_marked "$svc" || echo "$svc" >>"$DOCKER_MARKER"
}

docker_stop() { # docker_stop SERVICE : stops a compose service ./dev started, and forgets it
  log "$1: stopping docker compose service"
  compose stop "$1" >&2 || true
  sed -i "/^$1\$/d" "$DOCKER_MARKER"
}

# ---------------------------------------------------------------------------
# Debian packages
# ---------------------------------------------------------------------------
# `apt-get update` runs once per ./dev command: the flag is passed on to the scripts it runs.
_KBSYNC_APT_UPDATED="${_KBSYNC_APT_UPDATED:-0}"
ensure_packages() { # ensure_packages PKG...
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  (( ${#missing[@]} )) || return 0
  is_root || die "missing packages: ${missing[*]} (run: sudo apt-get update && sudo apt-get install -y ${missing[*]})"
  command -v apt-get >/dev/null 2>&1 || die "missing packages ${missing[*]} and no apt-get here"

  # Keep the distro's own init scripts from starting servers on our ports.
  local added_policy=0
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT   # also when interrupted
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod 0755 /usr/sbin/policy-rc.d
    added_policy=1
  fi
  local rc=0 apt_log="$STATE_DIR/apt.log"
  mkdir -p "$STATE_DIR"
  if (( _KBSYNC_APT_UPDATED == 0 )); then
    log "apt-get update"
    apt-get update >>"$apt_log" 2>&1 || rc=$?
    export _KBSYNC_APT_UPDATED=1
  fi
  if (( rc == 0 )); then
    log "apt-get install ${missing[*]} (a minute or so; output in $(rel "$apt_log"))"
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" \
      >>"$apt_log" 2>&1 || rc=$?
  fi
  if (( added_policy )); then rm -f /usr/sbin/policy-rc.d; trap - EXIT; fi
  if (( rc != 0 )); then show_tail "$apt_log"; die "apt-get failed (exit $rc) installing ${missing[*]}"; fi
}
