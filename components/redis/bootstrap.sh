#!/bin/sh
# Start one member of the Redis Sentinel set, pointed at the CURRENT master.
#
#   bootstrap.sh redis      a data node: master or replica, as the Sentinels say
#   bootstrap.sh sentinel   a Sentinel monitoring the master the other Sentinels know
#
# The master moves at runtime (failover), so it is decided here, at every start:
#   1. the first Sentinel in SENTINEL_HOSTS that knows the master wins;
#   2. if none does (first boot, or every Sentinel restarted), pod 0 is the master,
#      unless pod 0 itself reports being a replica: then its master is.
#
# Environment (POSIX sh: busybox ash in the redis:alpine image, dash on Debian):
#   SENTINEL_HOSTS        required, "host:port host:port ..." of every Sentinel
#   MY_HOST               required, this pod's address as the others reach it; pod 0's
#                         must be spelled exactly as FALLBACK_MASTER_HOST
#   FALLBACK_MASTER_HOST  required, pod 0's address (<statefulset>-0.<headless service>)
#   FALLBACK_MASTER_PORT  default 6379
#   MY_PORT               default 6379 (redis) / 26379 (sentinel)
#   POD_ORDINAL           default: the hostname's suffix after the last "-"
#   SENTINEL_MASTER_NAME  default perfstack
#   REDIS_PASSWORD_FILE   optional, the password for redis-cli (data nodes and Sentinels)
#   CONF_PATH             the read-only template: redis.conf or sentinel.conf
#   SENTINEL_CONF         sentinel only, the writable copy Sentinel runs from
#                         (default /data/sentinel.conf); Sentinel rewrites it at runtime
#   QUERY_TIMEOUT         seconds per redis-cli question (default 3)
set -eu

role=${1:?usage: bootstrap.sh redis|sentinel}
: "${SENTINEL_HOSTS:?}" "${MY_HOST:?}" "${FALLBACK_MASTER_HOST:?}"
master_name=${SENTINEL_MASTER_NAME:-perfstack}
fallback_port=${FALLBACK_MASTER_PORT:-6379}
if [ -n "${REDIS_PASSWORD_FILE:-}" ]; then
    # redis-cli reads the password from the environment, so it never shows in `ps`.
    REDISCLI_AUTH=$(cat "$REDIS_PASSWORD_FILE")
    export REDISCLI_AUTH
fi

log() { echo "bootstrap.sh ($role $MY_HOST:${MY_PORT:-default port}): $*" >&2; }

# ask HOST PORT COMMAND...: one question, bounded in time (a dead peer must not hang the boot).
ask() {
    host=$1 port=$2
    shift 2
    timeout "${QUERY_TIMEOUT:-3}" redis-cli -h "$host" -p "$port" --raw -e "$@" 2>/dev/null
}

# Prints "host port" of the master the first answering Sentinel knows; fails if none knows one.
sentinel_master() {
    for sentinel in $SENTINEL_HOSTS; do
        reply=$(ask "${sentinel%:*}" "${sentinel##*:}" SENTINEL get-master-addr-by-name "$master_name") ||
            continue
        # shellcheck disable=SC2086 # split the two lines of the reply into host and port
        set -- $reply
        if [ $# -eq 2 ] && [ "$2" -gt 0 ] 2>/dev/null; then
            echo "$1 $2"
            return 0
        fi
    done
    return 1
}

# Prints "host port" of pod 0, or of pod 0's master when pod 0 already is a replica.
fallback_master() {
    # shellcheck disable=SC2046 # ROLE of a replica: "slave", master host, master port, ...
    set -- $(ask "$FALLBACK_MASTER_HOST" "$fallback_port" ROLE || true)
    if [ "${1:-}" = slave ]; then
        echo "$2 $3"
    else
        echo "$FALLBACK_MASTER_HOST $fallback_port"
    fi
}

case $role in
redis)
    my_port=${MY_PORT:-6379}
    conf=${CONF_PATH:-/usr/local/etc/redis/redis.conf}
    ordinal=${POD_ORDINAL:-$(hostname | sed 's/.*-//')}
    if master=$(sentinel_master); then
        log "the Sentinels name $master as master"
    elif [ "$ordinal" = 0 ]; then
        log "no Sentinel knows a master: pod 0 starts as master"
        master="$MY_HOST $my_port"
    else
        master=$(fallback_master)
        log "no Sentinel knows a master: following pod 0 ($master)"
    fi
    set -- redis-server "$conf" --replica-announce-ip "$MY_HOST"
    # shellcheck disable=SC2086 # "host port" are the two arguments of --replicaof
    [ "$master" = "$MY_HOST $my_port" ] || set -- "$@" --replicaof $master
    unset REDISCLI_AUTH # keep the password out of the server's environment
    exec "$@"
    ;;
sentinel)
    my_port=${MY_PORT:-26379}
    template=${CONF_PATH:-/usr/local/etc/redis/sentinel.conf}
    conf=${SENTINEL_CONF:-/data/sentinel.conf}
    if master=$(sentinel_master); then
        log "the Sentinels name $master as master"
    else
        master=$(fallback_master)
        log "no Sentinel knows a master: monitoring $master (pod 0 or its master)"
    fi
    # shellcheck disable=SC2086
    set -- $master
    # A fresh copy at every start: Sentinel's own rewrite does not always read back (7.0 writes
    # auth-pass unquoted). Kept: its ID, so its peers do not count it twice, and the replicas it
    # knew but the master, among them a master just failed away from, which it turns back into a
    # replica once that one reports as master (a copy without them would leave it master alone).
    {
        sed "s|^sentinel monitor $master_name [^ ]* [^ ]* |sentinel monitor $master_name $1 $2 |" "$template"
        echo "sentinel announce-ip $MY_HOST"
        echo "sentinel announce-port $my_port"
        if [ -f "$conf" ]; then
            grep '^sentinel myid ' "$conf" || true
            grep "^sentinel known-replica $master_name " "$conf" | grep -v " $1 $2\$" || true
        fi
    } >"$conf.new"
    if ! grep -q "^sentinel monitor $master_name $1 $2 " "$conf.new"; then
        log "$template has no 'sentinel monitor $master_name <host> <port> <quorum>' line"
        exit 1
    fi
    mv "$conf.new" "$conf"
    unset REDISCLI_AUTH
    exec redis-sentinel "$conf"
    ;;
*)
    echo "usage: bootstrap.sh redis|sentinel" >&2
    exit 2
    ;;
esac
