#!/usr/bin/env bash
# The five-minute tour: builds the library, the CDE simulator and the C example, starts the
# simulator on 127.0.0.1, lets the C example select and download every document into ./demo-out
# (at the workspace root), lists the files, and stops the simulator.
#
#   examples/demo.sh             the example plays the browser itself (no clicks needed)
#   examples/demo.sh --browser   your browser opens the simulator's page; pick documents there
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

mode=auto
case "${1:-}" in
    "") ;;
    --browser) mode=browser ;;
    -h | --help)
        sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'
        exit 0
        ;;
    *)
        echo "usage: examples/demo.sh [--browser]" >&2
        exit 1
        ;;
esac

# Everything stays on this machine: no proxy for the loopback simulator.
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY

work="$(mktemp -d "${TMPDIR:-/tmp}/ocde-demo.XXXXXX")"
sim_pid=""
stop_simulator() {
    exec 3>&- # the simulator runs until its stdin closes
    if [ -n "$sim_pid" ]; then
        for _ in 1 2 3 4 5 6 7 8 9 10; do
            kill -0 "$sim_pid" 2>/dev/null || break
            sleep 0.1
        done
        kill "$sim_pid" 2>/dev/null || true
        wait "$sim_pid" 2>/dev/null || true
        sim_pid=""
    fi
}
cleanup() {
    stop_simulator
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "1/4  Building the library, the CDE simulator and the C example ..."
if ! { examples/c/build.sh && cargo build --quiet -p cde-simulator; } >"$work/build.log" 2>&1; then
    cat "$work/build.log" >&2
    echo "The build failed (see above)." >&2
    exit 1
fi
target_dir="${CARGO_TARGET_DIR:-$root/target}"
case "$target_dir" in /*) ;; *) target_dir="$root/$target_dir" ;; esac

echo "2/4  Starting the CDE simulator ..."
mkfifo "$work/sim.stdin"
"$target_dir/debug/cde-simulator" <"$work/sim.stdin" >"$work/sim.out" 2>"$work/sim.log" &
sim_pid=$!
exec 3>"$work/sim.stdin"
api_url=""
for _ in $(seq 1 100); do
    api_url="$(sed -n 's/^DOCUMENTS_API_URL=//p' "$work/sim.out")"
    [ -n "$api_url" ] && break
    kill -0 "$sim_pid" 2>/dev/null || break
    sleep 0.1
done
if [ -z "$api_url" ]; then
    cat "$work/sim.log" >&2
    echo "The simulator did not start (see above)." >&2
    exit 1
fi
echo "     Documents API: $api_url"

if [ "$mode" = browser ]; then
    echo "3/4  Your browser opens the simulator's page: tick some documents and confirm."
    args=(--timeout 600)
else
    echo "3/4  Selecting every document and downloading (the example plays the browser) ..."
    args=(--auto --timeout 60)
fi
echo
rc=0
examples/c/build/ocde_example --url "$api_url" --out ./demo-out "${args[@]}" | tee "$work/example.out" || rc=$?
echo
stop_simulator

case "$rc" in
    0) ;;
    2)
        echo "The selection was cancelled; nothing was downloaded."
        exit 2
        ;;
    *)
        echo "The example failed (exit $rc). Simulator log:" >&2
        tail -n 20 "$work/sim.log" >&2
        exit "$rc"
        ;;
esac

echo "4/4  Downloaded into ./demo-out:"
while IFS= read -r line; do
    case "$line" in
        "downloaded "*" -> "*) ls -l -- "${line#* -> }" | sed 's/^/     /' ;;
    esac
done <"$work/example.out"
echo
echo "Done. The code that did this: examples/c/ocde_example.c"
