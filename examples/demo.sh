#!/usr/bin/env bash
# The five-minute tour: builds the library, the CDE simulator and the C example, starts the
# simulator on 127.0.0.1, lets the C example select and download every document into ./demo-out
# (at the workspace root), lists the files, and stops the simulator.
#
#   examples/demo.sh             the example plays the browser itself (no clicks needed)
#   examples/demo.sh --browser   your browser opens the simulator's page; pick documents there
#   examples/demo.sh --sign-in   first sign in with OAuth2: the simulator's API then requires a
#                                token, and the example gets one by discovery (--server) and
#                                sign-in (--client-id ocde-test-client); with --browser too, your
#                                browser shows the sign-in page first
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

mode=auto
sign_in=false
for arg in "$@"; do
    case "$arg" in
        --browser) mode=browser ;;
        --sign-in) sign_in=true ;;
        -h | --help)
            sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'
            exit 0
            ;;
        *)
            echo "usage: examples/demo.sh [--browser] [--sign-in]" >&2
            exit 1
            ;;
    esac
done

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
sim_args=()
if [ "$sign_in" = true ]; then
    # Lock the API with a random static token that nobody is told: only the tokens the
    # simulator's OAuth2 server issues after a sign-in open it.
    sim_args=(--token "demo-$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')")
fi
mkfifo "$work/sim.stdin"
"$target_dir/debug/cde-simulator" "${sim_args[@]}" <"$work/sim.stdin" >"$work/sim.out" 2>"$work/sim.log" &
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
if [ "$sign_in" = true ]; then
    origin="${api_url%/documents/1.0}"
    echo "     Server (Foundation API, OAuth2): $origin  (the API now requires a token)"
    target=(--server "$origin" --client-id ocde-test-client)
else
    target=(--url "$api_url")
fi

if [ "$mode" = browser ]; then
    if [ "$sign_in" = true ]; then
        echo "3/4  Your browser opens the simulator's sign-in page: press Sign in. Then it opens"
        echo "     the selection page: tick some documents and confirm."
    else
        echo "3/4  Your browser opens the simulator's page: tick some documents and confirm."
    fi
    args=(--timeout 600)
else
    if [ "$sign_in" = true ]; then
        echo "3/4  Signing in, selecting every document and downloading (the example plays the"
        echo "     browser) ..."
    else
        echo "3/4  Selecting every document and downloading (the example plays the browser) ..."
    fi
    args=(--auto --timeout 60)
fi
echo
rc=0
examples/c/build/ocde_example "${target[@]}" --out ./demo-out "${args[@]}" | tee "$work/example.out" || rc=$?
echo
stop_simulator

case "$rc" in
    0) ;;
    2)
        echo "The sign-in or the selection was cancelled; nothing was downloaded."
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
