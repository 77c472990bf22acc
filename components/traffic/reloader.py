"""The Docker router's entrypoint: runs nginx and takes a new nginx.conf without a restart.

Every property of a Docker container forces its replacement, and the router
publishes a fixed host port, so a new config delivered as part of the
container would mean: stop the only router, then start another. Instead the
config is a ``LiveFile`` in a volume, written by a one-shot container
(``components/platform/live_file.py``), and ``RELOADER`` runs nginx and,
every second, compares the file's digest and the addresses each upstream
server name resolves to with what nginx last loaded. On a change it runs
``nginx -t``, sends the master SIGHUP (a graceful reload: old workers finish
their requests), waits for a new worker, and writes the file's SHA-256 to
``<file>.applied``, which the writer waits for. A config nginx refuses is
never acknowledged, so the deployment stops there while the old config keeps
serving. A name that moved (a restarted app container may get another
address) is picked up by the same reload.

It uses only busybox applets that Alpine's busybox (the nginx image) and
Debian's both have: sh, sha256sum, cut, sed, sort, nslookup, sleep, mv. No
pgrep (not in Debian's) and no getent (not busybox): the tests run it, and the
writer, under Debian's busybox with nothing else on PATH but nginx.
"""

RELOADER = r"""
set -u
conf=$1
poll=${2:-1}
ack="$conf.applied"
digest() { sha256sum "$conf" | cut -d' ' -f1; }
# Every upstream server name with the addresses it resolves to now, asked of the DNS server nginx
# uses (Docker's); a literal address needs no lookup.
addresses() { nslookup "$1" 2>/dev/null | sed -n '/^Name:/,$s/^Address:* *//p' | sort; }
resolved() {
    sed -n 's/^ *server \([^ ;:]*\):[0-9][0-9]*[ ;].*$/\1/p' "$conf" | sort -u | while read -r host; do
        case $host in
        *[!0-9.]*) echo "$host" $(addresses "$host") ;;
        esac
    done
}
# The master's children: the 4th field of /proc/<pid>/stat is the parent (the 2nd may hold spaces).
workers() { sed -n "s/^\([0-9]*\) (.*) . $master .*/\1/p" /proc/[0-9]*/stat 2>/dev/null | sort; }
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
