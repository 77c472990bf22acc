"""The one-shot writer of a ``LiveFile``: puts the new content into the volume and waits until applied.

It moves the new file into place atomically, then waits until the workload
acknowledges that exact content (its SHA-256 in ``<file>.applied``) and exits
non-zero if that does not happen in time. The engine waits for it, so nothing
declared after it (and no replaced container, which the engine deletes last)
goes before the workload runs with the new file. The router's side of the
protocol is components/traffic/reloader.py. POSIX sh with busybox or Debian tools.
"""

APPLIED_SUFFIX = ".applied"
"""The acknowledgement file next to the live file: the SHA-256 of the content the workload runs with."""

WRITER = r"""
set -eu
new=$1 target=$2 timeout=$3
ack="$target.applied"
want=$(sha256sum "$new" | cut -d' ' -f1)
# No acknowledgement yet: no router has run on this volume, and the one that
# starts next reads the file as it starts.
waits=yes
[ -e "$ack" ] || waits=no
cp "$new" "$target.tmp"
mv -f "$target.tmp" "$target"
[ "$waits" = yes ] || exit 0
waited=0
until [ "$(cat "$ack" 2>/dev/null || true)" = "$want" ]; do
    if [ "$waited" -ge "$timeout" ]; then
        echo "the router has not applied the new config after ${timeout}s (see its log): stopping here" >&2
        exit 1
    fi
    sleep 1
    waited=$((waited + 1))
done
echo "the router serves config $want"
"""
