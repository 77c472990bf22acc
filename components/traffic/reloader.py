"""Two small POSIX shell programs that let the Docker router take a new nginx.conf without a restart.

Every property of a Docker container forces its replacement, and the router
publishes a fixed host port, so a new config delivered as part of the
container would mean: stop the only router, then start another. Instead the
config lives in a Docker volume:

- ``WRITER`` runs once per config version in a one-shot container that mounts
  the volume. It moves the new file into place atomically, then waits until
  the router acknowledges that exact content (its SHA-256 in ``<file>.applied``)
  and exits non-zero if that does not happen in time. Pulumi waits for it, so
  nothing declared after it (and no old app container, which Pulumi deletes
  last) goes before the router serves the new config.
- ``RELOADER`` is the router container's entrypoint: it runs nginx and, every
  second, compares the file's digest and the address each upstream server name
  resolves to with what nginx last loaded. On a change it runs ``nginx -t``,
  sends the master SIGHUP (a graceful reload: old workers finish their
  requests), waits for a new worker, and writes the acknowledgement. A config
  nginx refuses is never acknowledged, so the deployment stops there while the
  old config keeps serving. A name that moved (a restarted app container may
  get another address) is picked up by the same reload.

Both use only what busybox and Debian both have (sh, sha256sum, cut, sed,
sort, pgrep, getent where present), so the tests run them as they run in the
containers.
"""

from components.platform.live_file import APPLIED_SUFFIX, WRITER

__all__ = ["APPLIED_SUFFIX", "POLL_SECONDS", "RELOADER", "WRITER"]

POLL_SECONDS = 1
"""How often the reloader looks for a new config or a moved upstream address."""

RELOADER = r"""
set -u
conf=$1
poll=${2:-1}
ack="$conf.applied"
digest() { sha256sum "$conf" | cut -d' ' -f1; }
# Every upstream server name with the first address it resolves to now.
resolved() {
    sed -n 's/^ *server \([^ ;:]*\):[0-9][0-9]*[ ;].*$/\1/p' "$conf" | sort -u | while read -r host; do
        echo "$host $(getent hosts "$host" 2>/dev/null | sed -n '1s/ .*//p')"
    done
}
workers() { pgrep -P "$master" | sort; }
acknowledge() {
    echo "$1" > "$ack.tmp"
    mv -f "$ack.tmp" "$ack"
}
# A worker that was not there before the reload: the master has loaded the new config.
wait_new_worker() {
    tries=0
    while [ "$tries" -lt 100 ]; do
        for pid in $(workers); do
            case " $(echo $1) " in *" $pid "*) ;; *) return 0 ;; esac
        done
        sleep 0.1
        tries=$((tries + 1))
    done
    return 1
}
nginx -e stderr -c "$conf" -g 'daemon off;' &
master=$!
trap 'kill -QUIT "$master" 2>/dev/null; wait "$master"; exit 0' TERM INT QUIT
loaded=$(digest)
names=$(resolved)
until [ -n "$(workers)" ]; do
    kill -0 "$master" 2>/dev/null || { wait "$master"; exit 1; }
    sleep 0.1
done
acknowledge "$loaded"
while kill -0 "$master" 2>/dev/null; do
    sleep "$poll" &
    wait $!
    now=$(digest)
    now_names=$(resolved)
    [ "$now" = "$loaded" ] && [ "$now_names" = "$names" ] && continue
    loaded=$now
    names=$now_names
    if ! nginx -e stderr -t -q -c "$conf" -g 'daemon off;'; then
        echo "perfstack-router: nginx refuses config $now; still serving the previous one" >&2
        continue
    fi
    before=$(workers)
    kill -HUP "$master"
    if wait_new_worker "$before"; then
        acknowledge "$now"
        echo "perfstack-router: serving config $now" >&2
    else
        echo "perfstack-router: nginx did not start workers for config $now" >&2
    fi
done
wait "$master"
"""
