#!/usr/bin/env bash
# The local stack: a Tansu broker and a ClickHouse server on loopback, installed when missing,
# started with their own data under one state directory, stopped by the pids this script recorded.
#
#   deploy/local/stack.sh up|down|status|env
#
# Settings (environment):
#   RAPPORT_STACK_DIR              state directory            (default: <checkout>/.rapport)
#   RAPPORT_STACK_KAFKA_PORT       broker port                (default: 19092)
#   RAPPORT_STACK_CH_HTTP_PORT     ClickHouse HTTP port       (default: 18123)
#   RAPPORT_STACK_CH_TCP_PORT      ClickHouse native port     (default: 19000)
#   RAPPORT_STACK_CH_INTERSERVER_PORT                         (default: 19009)
#   RAPPORT_STACK_KAFKA_STORAGE    memory | sqlite            (default: memory)
#   RAPPORT_CACHE_DIR              where the broker binary is cached (default: ~/.cache/rapport)
# For tests of TLS and authentication (rapport-testkit sets them for its private servers):
#   RAPPORT_STACK_KAFKA_ADVERTISED host:port the broker advertises (default: 127.0.0.1:<port>),
#                                  e.g. a TLS proxy's address
#   RAPPORT_STACK_KAFKA_AUTHENTICATION=1   the broker requires SASL (SCRAM users, `tansu user`)
#   RAPPORT_STACK_CH_HTTPS_PORT    ClickHouse HTTPS port, with RAPPORT_STACK_CH_TLS_CERT and
#                                  RAPPORT_STACK_CH_TLS_KEY (PEM files)
#   RAPPORT_STACK_CH_USER, RAPPORT_STACK_CH_PASSWORD   one more ClickHouse user, with a password
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
state=${RAPPORT_STACK_DIR:-$root/.rapport}
kafka_port=${RAPPORT_STACK_KAFKA_PORT:-19092}
ch_http_port=${RAPPORT_STACK_CH_HTTP_PORT:-18123}
ch_tcp_port=${RAPPORT_STACK_CH_TCP_PORT:-19000}
ch_interserver_port=${RAPPORT_STACK_CH_INTERSERVER_PORT:-19009}
kafka_storage=${RAPPORT_STACK_KAFKA_STORAGE:-memory}
kafka_advertised=${RAPPORT_STACK_KAFKA_ADVERTISED:-127.0.0.1:$kafka_port}
kafka_authentication=${RAPPORT_STACK_KAFKA_AUTHENTICATION:-}
ch_https_port=${RAPPORT_STACK_CH_HTTPS_PORT:-}
ch_tls_cert=${RAPPORT_STACK_CH_TLS_CERT:-}
ch_tls_key=${RAPPORT_STACK_CH_TLS_KEY:-}
ch_user=${RAPPORT_STACK_CH_USER:-}
ch_password=${RAPPORT_STACK_CH_PASSWORD:-}
cache=${RAPPORT_CACHE_DIR:-$HOME/.cache/rapport}
tansu_version=0.6.0
tansu_bin=$cache/tansu-$tansu_version/bin/tansu

say() { printf 'stack: %s\n' "$*"; }
fail() {
  printf 'stack: error: %s\n' "$1" >&2
  [ $# -lt 2 ] || printf 'stack: fix: %s\n' "$2" >&2
  exit 1
}

pid_alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

port_owner() {
  command -v ss >/dev/null 2>&1 || return 0
  ss -Hltnp "sport = :$1" 2>/dev/null | sed -n 's/.*users:((\("[^"]*",pid=[0-9]*\).*/\1/p' | head -n 1
}

check_port_free() { # name port variable
  if port_open "$2"; then
    local owner; owner=$(port_owner "$2")
    fail "port $2 for $1 is already in use${owner:+ by $owner}" \
      "stop whatever listens on 127.0.0.1:$2, or choose another port with $3=<port>"
  fi
}

ensure_tansu() {
  [ -x "$tansu_bin" ] && return 0
  command -v cargo >/dev/null 2>&1 || fail "cargo is needed to build the Tansu broker" "install Rust with rustup"
  mkdir -p "$cache"
  local log=$cache/tansu-$tansu_version-build.log
  say "building Tansu $tansu_version into $cache (once; about 12 minutes on 2 cores; log: $log)"
  if ! cargo install tansu --version "$tansu_version" --features dynostore,libsql --locked \
      --root "$cache/tansu-$tansu_version" >"$log" 2>&1; then
    tail -n 15 "$log" >&2
    fail "building Tansu $tansu_version failed (full log: $log)" \
      "read the error above; a C compiler (gcc) and network access to crates.io are required"
  fi
}

ensure_clickhouse() {
  command -v clickhouse-server >/dev/null 2>&1 && return 0
  [ -x /usr/sbin/clickhouse-server ] && return 0
  command -v apt-get >/dev/null 2>&1 || fail "clickhouse-server is not installed and apt-get is not available" \
    "install ClickHouse so that clickhouse-server is on PATH"
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || fail "clickhouse-server is not installed and installing it needs root" \
      "run: sudo apt-get install clickhouse-server clickhouse-client"
    sudo=sudo
  fi
  say "installing clickhouse-server with apt-get"
  local log=$state/apt.log
  export DEBIAN_FRONTEND=noninteractive
  if ! { $sudo apt-get update -qq && $sudo apt-get install -y -qq clickhouse-server clickhouse-client; } >"$log" 2>&1; then
    tail -n 15 "$log" >&2
    fail "apt-get could not install clickhouse-server (log: $log)" \
      "check that the Debian package index is reachable: apt-get update"
  fi
}

# Starts a daemon in its own session (so it outlives this shell and ignores its terminal's
# signals) and records the daemon's own pid: the child shell writes $$ and then execs into it.
spawn() { # pidfile log workdir command...
  local pidfile=$1 log=$2 dir=$3; shift 3
  rm -f "$pidfile"
  setsid bash -c 'echo $$ >"$0"; cd "$1" && exec "${@:3}" </dev/null >"$2" 2>&1' "$pidfile" "$dir" "$log" "$@" &
  for _ in $(seq 1 50); do
    [ -s "$pidfile" ] && return 0
    sleep 0.1
  done
  fail "could not start $4" "check that $4 is executable"
}

wait_until() { # what seconds pidfile logfile command...
  local what=$1 seconds=$2 pidfile=$3 log=$4; shift 4
  local deadline=$((SECONDS + seconds))
  until "$@"; do
    if ! pid_alive "$pidfile"; then
      tail -n 20 "$log" >&2 || true
      rm -f "$pidfile"
      fail "$what exited during start-up (log: $log)" "read the log lines above"
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      tail -n 20 "$log" >&2 || true
      kill "$(cat "$pidfile")" 2>/dev/null || true
      rm -f "$pidfile"
      fail "$what did not answer within ${seconds}s (log: $log)" "read the log lines above"
    fi
    sleep 0.2
  done
}

apt_install() { # what-for packages...
  local what=$1; shift
  command -v apt-get >/dev/null 2>&1 || fail "$* not installed and apt-get is not available" \
    "install $* (or your distribution's equivalent) for $what"
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || fail "installing $* needs root" "run: sudo apt-get install $*"
    sudo=sudo
  fi
  say "installing $* with apt-get ($what)"
  mkdir -p "$state"
  local log=$state/apt-$1.log
  export DEBIAN_FRONTEND=noninteractive
  if ! { $sudo apt-get update -qq && $sudo apt-get install -y -qq "$@"; } >"$log" 2>&1; then
    tail -n 15 "$log" >&2
    fail "apt-get could not install $* (log: $log)" \
      "check that the Debian package index is reachable: apt-get update"
  fi
}

# What the build links: librdkafka is compiled with the system's OpenSSL (TLS, SCRAM, OAUTHBEARER)
# and libcurl (OAUTHBEARER's OIDC token requests), found through pkg-config.
# The openssl command makes the demo's and the tests' certificates.
ensure_build_deps() {
  command -v pkg-config >/dev/null 2>&1 && pkg-config --exists openssl libcurl \
    && command -v openssl >/dev/null 2>&1 && return 0
  apt_install "building librdkafka with TLS and OAuth" pkg-config libssl-dev libcurl4-openssl-dev openssl
}

# What the TLS tests run besides the stack: stunnel, a real TLS-terminating proxy for Kafka
# (Tansu 0.6 accepts --cert/--key but serves plain TCP). Installed once, like ClickHouse.
ensure_tls_tools() {
  command -v stunnel4 >/dev/null 2>&1 && return 0
  apt_install "the TLS tests' Kafka proxy" stunnel4
}

clickhouse_answers() {
  [ "$(curl -fsS --max-time 2 "http://127.0.0.1:$ch_http_port/ping" 2>/dev/null)" = "Ok." ]
}

start_tansu() {
  local dir=$state/tansu pidfile=$state/tansu/pid
  mkdir -p "$dir"
  if pid_alive "$pidfile"; then
    say "broker already running (pid $(cat "$pidfile"))"
    return 0
  fi
  local storage
  case $kafka_storage in
    memory) storage="memory://tansu/" ;;
    # Tansu resolves the path against its working directory ($dir), even an absolute one.
    sqlite) storage="sqlite://tansu.db" ;;
    *) fail "unknown RAPPORT_STACK_KAFKA_STORAGE=$kafka_storage" "use memory or sqlite" ;;
  esac
  # setsid: the broker must outlive the shell that started it and not get its terminal's signals.
  local auth=()
  [ -z "$kafka_authentication" ] || auth=(--authentication)
  spawn "$pidfile" "$dir/broker.log" "$dir" "$tansu_bin" broker \
    --listener-url "tcp://127.0.0.1:$kafka_port" \
    --advertised-listener-url "tcp://$kafka_advertised" \
    --storage-engine "$storage" "${auth[@]}"
  wait_until "the broker" 60 "$pidfile" "$dir/broker.log" port_open "$kafka_port"
  say "broker (Tansu $tansu_version, $kafka_storage storage${kafka_authentication:+, SASL required}) listening on 127.0.0.1:$kafka_port, advertising $kafka_advertised"
}

start_clickhouse() {
  local dir=$state/clickhouse pidfile=$state/clickhouse/pid
  mkdir -p "$dir"/{log,data,tmp,user_files,format_schemas}
  if pid_alive "$pidfile"; then
    say "clickhouse already running (pid $(cat "$pidfile"))"
    return 0
  fi
  sed -e "s|@STATE@|$dir|g" -e "s|@HTTP_PORT@|$ch_http_port|" -e "s|@TCP_PORT@|$ch_tcp_port|" \
    -e "s|@INTERSERVER_PORT@|$ch_interserver_port|" "$root/deploy/local/clickhouse/config.xml" >"$dir/config.xml"
  cp "$root/deploy/local/clickhouse/users.xml" "$dir/users.xml"
  rm -rf "$dir/config.d" "$dir/users.d"
  if [ -n "$ch_https_port" ]; then
    [ -r "$ch_tls_cert" ] && [ -r "$ch_tls_key" ] || fail "RAPPORT_STACK_CH_HTTPS_PORT needs readable RAPPORT_STACK_CH_TLS_CERT and RAPPORT_STACK_CH_TLS_KEY" \
      "point both at PEM files"
    mkdir -p "$dir/config.d"
    # Merged into config.xml by the server (its config.d directory). No client certificates.
    cat >"$dir/config.d/https.xml" <<XML
<?xml version="1.0"?>
<yandex>
    <https_port>$ch_https_port</https_port>
    <openSSL>
        <server>
            <certificateFile>$ch_tls_cert</certificateFile>
            <privateKeyFile>$ch_tls_key</privateKeyFile>
            <verificationMode>none</verificationMode>
            <loadDefaultCAFile>false</loadDefaultCAFile>
            <cacheSessions>true</cacheSessions>
            <disableProtocols>sslv2,sslv3,tlsv1,tlsv1_1</disableProtocols>
            <preferServerCiphers>true</preferServerCiphers>
        </server>
    </openSSL>
</yandex>
XML
  fi
  if [ -n "$ch_user" ]; then
    mkdir -p "$dir/users.d"
    local hash; hash=$(printf '%s' "$ch_password" | sha256sum | cut -d' ' -f1)
    cat >"$dir/users.d/$ch_user.xml" <<XML
<?xml version="1.0"?>
<yandex>
    <users>
        <$ch_user>
            <password_sha256_hex>$hash</password_sha256_hex>
            <networks><ip>127.0.0.1</ip><ip>::1</ip></networks>
            <profile>default</profile>
            <quota>default</quota>
        </$ch_user>
    </users>
</yandex>
XML
  fi
  local bin; bin=$(command -v clickhouse-server || echo /usr/sbin/clickhouse-server)
  spawn "$pidfile" "$dir/log/stdout.log" "$dir" "$bin" --config-file="$dir/config.xml"
  wait_until "ClickHouse" 60 "$pidfile" "$dir/log/clickhouse-server.err.log" clickhouse_answers
  local version; version=$(curl -fsS "http://127.0.0.1:$ch_http_port/" --data-binary 'SELECT version()')
  say "clickhouse $version listening on http://127.0.0.1:$ch_http_port (native 127.0.0.1:$ch_tcp_port${ch_https_port:+, https 127.0.0.1:$ch_https_port})"
}

stop_one() { # name pidfile
  local pidfile=$2
  if ! [ -f "$pidfile" ]; then
    return 0
  fi
  local pid; pid=$(cat "$pidfile")
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
      kill -9 "$pid" 2>/dev/null || true
      say "$1 did not stop within 10s; killed pid $pid"
    else
      say "$1 stopped (pid $pid)"
    fi
  fi
  rm -f "$pidfile"
}

status_one() { # name pidfile port
  if pid_alive "$2"; then
    say "$1: running, pid $(cat "$2"), 127.0.0.1:$3"
  elif [ -f "$2" ]; then
    say "$1: not running (stale pid file $2)"
    return 1
  else
    say "$1: not running"
    return 1
  fi
}

print_env() {
  cat <<ENV
RAPPORT_KAFKA__BROKERS=127.0.0.1:$kafka_port
RAPPORT_CLICKHOUSE__URL=http://127.0.0.1:$ch_http_port
ENV
}

# Every port is checked before anything starts, so a clash never leaves half a stack running.
preflight() {
  if ! pid_alive "$state/tansu/pid"; then
    check_port_free "the broker" "$kafka_port" RAPPORT_STACK_KAFKA_PORT
  fi
  if ! pid_alive "$state/clickhouse/pid"; then
    check_port_free "ClickHouse HTTP" "$ch_http_port" RAPPORT_STACK_CH_HTTP_PORT
    check_port_free "ClickHouse native" "$ch_tcp_port" RAPPORT_STACK_CH_TCP_PORT
    check_port_free "ClickHouse interserver" "$ch_interserver_port" RAPPORT_STACK_CH_INTERSERVER_PORT
  fi
}

cmd=${1:-}
case $cmd in
  up)
    mkdir -p "$state"
    preflight
    ensure_tansu
    ensure_clickhouse
    start_tansu
    start_clickhouse
    say "state in $state; stop with: make down"
    ;;
  down)
    stop_one broker "$state/tansu/pid"
    stop_one clickhouse "$state/clickhouse/pid"
    ;;
  status)
    rc=0
    status_one broker "$state/tansu/pid" "$kafka_port" || rc=1
    status_one clickhouse "$state/clickhouse/pid" "$ch_http_port" || rc=1
    exit $rc
    ;;
  # One ClickHouse alone, for tests that stop and restart a private server (see rapport-testkit).
  clickhouse-up)
    mkdir -p "$state"
    if ! pid_alive "$state/clickhouse/pid"; then
      check_port_free "ClickHouse HTTP" "$ch_http_port" RAPPORT_STACK_CH_HTTP_PORT
      check_port_free "ClickHouse native" "$ch_tcp_port" RAPPORT_STACK_CH_TCP_PORT
      check_port_free "ClickHouse interserver" "$ch_interserver_port" RAPPORT_STACK_CH_INTERSERVER_PORT
      [ -z "$ch_https_port" ] || check_port_free "ClickHouse HTTPS" "$ch_https_port" RAPPORT_STACK_CH_HTTPS_PORT
    fi
    ensure_clickhouse
    start_clickhouse
    ;;
  clickhouse-down) stop_one clickhouse "$state/clickhouse/pid" ;;
  # One broker alone, for tests that stop and restart a private broker (sqlite storage survives).
  broker-up)
    mkdir -p "$state"
    pid_alive "$state/tansu/pid" || check_port_free "the broker" "$kafka_port" RAPPORT_STACK_KAFKA_PORT
    ensure_tansu
    start_tansu
    ;;
  broker-down) stop_one broker "$state/tansu/pid" ;;
  # A SCRAM user on the running broker (started without RAPPORT_STACK_KAFKA_AUTHENTICATION:
  # Tansu's own client cannot authenticate); kept across restarts by sqlite storage.
  broker-user)
    [ $# -eq 4 ] || fail "usage: $0 broker-user scram256|scram512 NAME PASSWORD"
    pid_alive "$state/tansu/pid" || fail "the broker is not running" "start it with broker-up first"
    "$tansu_bin" user create --broker "tcp://127.0.0.1:$kafka_port" --mechanism "$2" "$3" "$4" >/dev/null \
      || fail "tansu could not create user $3"
    ;;
  env) print_env ;;
  tls-tools) ensure_tls_tools ;;
  build-deps) ensure_build_deps ;;
  *)
    echo "usage: $0 up|down|status|env|clickhouse-up|clickhouse-down|broker-up|broker-down|broker-user|tls-tools|build-deps" >&2
    exit 2
    ;;
esac
