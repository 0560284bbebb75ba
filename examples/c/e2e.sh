#!/usr/bin/env bash
# End-to-end test of the C example against the CDE simulator, on 127.0.0.1 only:
#   build (build.sh, cargo build -p cde-simulator), start the simulator with --token (so the API
#   requires a token) and --reference-dir,
#   --auto run (files byte-identical to the references, inside --out, nothing else left there),
#   --auto-cancel run (exit 2, nothing downloaded), wrong token (clean error, token not echoed),
#   sign-in with --server/--client-id (discovery, OAuth2 in the simulator, "signed in as Ada
#   Lovelace", every document byte-identical), --auto-deny (exit 2), --server with --token
#   refused, the --auto and sign-in runs again under valgrind and under ASan/UBSan, no issued
#   token (the simulator's at-/rt-<32 hex>) or code in any sign-in output, and the simulator
#   stopping when its stdin closes.
# Ends with "N passed, M failed"; exits non-zero on any failure. KEEP_TMP=1 keeps the work folder.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
build="$here/build"
example="$build/ocde_example"
target_dir="${CARGO_TARGET_DIR:-$root/target}"
case "$target_dir" in /*) ;; *) target_dir="$PWD/$target_dir" ;; esac
sim_bin="$target_dir/debug/cde-simulator"
CC="${CC:-gcc}"

# Loopback only: never route the library's requests through a proxy from the environment.
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY
export NO_PROXY="127.0.0.1,localhost" no_proxy="127.0.0.1,localhost"

token="e2e-secret-token-7f3a"
wrong_token="e2e-wrong-token-91c4"

passed=0
failed=0
pass() { passed=$((passed + 1)); echo "ok   - $*"; }
fail() { failed=$((failed + 1)); echo "FAIL - $*"; }
# check DESCRIPTION COMMAND...: one counted check.
check() {
    local desc="$1"
    shift
    if "$@"; then pass "$desc"; else fail "$desc"; fi
}
# Shows the end of a log file, indented, after a failure.
show() { [ -s "$1" ] && tail -n "${2:-15}" "$1" | sed 's/^/    | /' || true; }
finish() {
    echo "$passed passed, $failed failed"
    if [ "$failed" -eq 0 ]; then exit 0; else exit 1; fi
}

tmp="$(mktemp -d "${TMPDIR:-/tmp}/ocde-e2e.XXXXXX")"
sim_pid=""
cleanup() {
    exec 3>&- # closing the simulator's stdin stops it
    if [ -n "$sim_pid" ] && kill -0 "$sim_pid" 2>/dev/null; then
        kill "$sim_pid" 2>/dev/null || true
        wait "$sim_pid" 2>/dev/null || true
    fi
    if [ "${KEEP_TMP:-0}" = 1 ]; then echo "kept $tmp"; else rm -rf "$tmp"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- Build ------------------------------------------------------------------------------------
if "$here/build.sh" >"$tmp/build.log" 2>&1; then
    pass "build.sh (library, example, header checks as C99 and C++11)"
else
    fail "build.sh"
    show "$tmp/build.log" 30
    finish
fi
if (cd "$root" && cargo build --quiet -p cde-simulator) >"$tmp/sim-build.log" 2>&1 && [ -x "$sim_bin" ]; then
    pass "cargo build -p cde-simulator"
else
    fail "cargo build -p cde-simulator"
    show "$tmp/sim-build.log" 30
    finish
fi

# Every function the header declares is type-checked by header_check.cpp (and so built as C++).
every_export_checked() {
    local f missing=0 n=0
    for f in $(grep -o 'ocde_[a-z0-9_]*(' "$root/include/opencde_documents.h" | tr -d '(' | sort -u); do
        n=$((n + 1))
        grep -q "&$f)" "$here/header_check.cpp" || { echo "    not in header_check.cpp: $f"; missing=1; }
    done
    echo "    $n functions in the header"
    [ "$n" -gt 40 ] && [ "$missing" -eq 0 ]
}
check "header_check.cpp type-checks every function of the header" every_export_checked

# ---- Simulator: stdin is a fifo this script holds open on fd 3 ---------------------------------
ref="$tmp/reference"
mkfifo "$tmp/sim.stdin"
"$sim_bin" --token "$token" --reference-dir "$ref" <"$tmp/sim.stdin" >"$tmp/sim.out" 2>"$tmp/sim.err" &
sim_pid=$!
exec 3>"$tmp/sim.stdin"
api_url=""
for _ in $(seq 1 100); do
    api_url="$(sed -n 's/^DOCUMENTS_API_URL=//p' "$tmp/sim.out")"
    [ -n "$api_url" ] && break
    kill -0 "$sim_pid" 2>/dev/null || break
    sleep 0.1
done
case "$api_url" in
    http://127.0.0.1:*) pass "simulator serves the Documents API on 127.0.0.1 ($api_url)" ;;
    *)
        fail "simulator printed DOCUMENTS_API_URL=http://127.0.0.1:... (got '${api_url}')"
        show "$tmp/sim.err"
        finish
        ;;
esac
ref_count="$(find "$ref" -maxdepth 1 -name '*.bin' -type f 2>/dev/null | wc -l)"
ref_count=$((ref_count + 0))
if [ "$ref_count" -gt 0 ]; then
    pass "simulator wrote $ref_count reference files"
else
    fail "simulator wrote reference files into --reference-dir"
    show "$tmp/sim.err"
    finish
fi

# verify_downloads NAME OUT_DIR STDOUT_FILE: every "downloaded <id> -> <path>" file is inside
# OUT_DIR and identical to <ref>/<id>.bin; every reference was downloaded; nothing else is left.
verify_downloads() {
    local name="$1" out="$2" log="$3" line rest id path n=0 ok_inside ok_same
    local out_real
    out_real="$(cd "$out" && pwd -P)"
    while IFS= read -r line; do
        case "$line" in
            "downloaded "*" -> "*) ;;
            *) continue ;;
        esac
        rest="${line#downloaded }"
        id="${rest%% -> *}"
        path="${rest#* -> }"
        n=$((n + 1))
        ok_inside=false
        if [ -f "$path" ] && [ ! -L "$path" ] &&
            [ "$(cd "$(dirname -- "$path")" && pwd -P)" = "$out_real" ]; then
            ok_inside=true
        fi
        check "$name: $id saved inside the out dir ($(basename -- "$path"))" $ok_inside
        ok_same=false
        if [ -f "$ref/$id.bin" ] && cmp -s -- "$path" "$ref/$id.bin"; then ok_same=true; fi
        check "$name: $id byte-identical to the reference" $ok_same
    done <"$log"
    check "$name: all $ref_count documents downloaded" test "$n" -eq "$ref_count"
    check "$name: out dir holds exactly the downloaded files (no temporary file left)" \
        test "$(find "$out" -mindepth 1 | wc -l)" -eq "$n"
}

# ---- 1. --auto: select everything and download ------------------------------------------------
out="$tmp/out-auto"
rc=0
timeout 120 "$example" --url "$api_url" --token "$token" --auto --out "$out" --timeout 60 \
    >"$tmp/auto.out" 2>"$tmp/auto.err" || rc=$?
check "--auto exits 0" test "$rc" -eq 0
if [ "$rc" -ne 0 ]; then show "$tmp/auto.err"; show "$tmp/sim.err"; fi
[ -d "$out" ] && verify_downloads "--auto" "$out" "$tmp/auto.out"

# ---- 1b. durability: every document is fsynced before its rename, and its folder after --------
# strace sees the system calls the library makes for the host: for each rename of a temporary
# file onto a downloaded document there must be an fsync since the previous rename (the file's
# own), and one after it before the next download (the folder's, making the rename durable).
if command -v strace >/dev/null 2>&1; then
    out="$tmp/out-strace"
    rc=0
    timeout 120 strace -f -qq -o "$tmp/strace.log" -e trace=fsync,fdatasync,rename,renameat,renameat2 \
        "$example" --url "$api_url" --token "$token" --auto --out "$out" --timeout 60 \
        >"$tmp/strace.out" 2>"$tmp/strace.err" || rc=$?
    check "--auto under strace exits 0" test "$rc" -eq 0
    fsync_then_rename_then_fsync() {
        awk -v out="$out/" '
            /fsync\(|fdatasync\(/ { if ($0 ~ /= 0/) { if (pending) { pending = 0; dirsynced++ } else synced = 1 } next }
            /rename/ && index($0, out) {
                renames++; if (synced) good++; synced = 0; pending = 1; next }
            END { printf "    strace: %d renames into the out dir, %d after an fsync, %d followed by an fsync\n", renames, good, dirsynced
                  exit !(renames >= 3 && good == renames && dirsynced == renames) }
        ' "$tmp/strace.log"
    }
    check "each downloaded file is fsynced, then renamed, then its folder fsynced" fsync_then_rename_then_fsync
    [ -d "$out" ] && verify_downloads "strace" "$out" "$tmp/strace.out"
else
    fail "strace is not installed (the durability check needs it)"
fi

# ---- 2. --auto-cancel: the user presses Cancel ------------------------------------------------
out="$tmp/out-cancel"
rc=0
timeout 120 "$example" --url "$api_url" --token "$token" --auto-cancel --out "$out" --timeout 60 \
    >"$tmp/cancel.out" 2>"$tmp/cancel.err" || rc=$?
check "--auto-cancel exits 2" test "$rc" -eq 2
[ "$rc" -eq 2 ] || show "$tmp/cancel.err"
check "--auto-cancel prints 'cancelled'" grep -qx cancelled "$tmp/cancel.out"
nothing_downloaded() {
    ! grep -q '^downloaded ' "$tmp/cancel.out" && [ -z "$(find "$out" -mindepth 1 2>/dev/null)" ]
}
check "--auto-cancel downloads nothing" nothing_downloaded

# ---- 3. a wrong token: a clean error, and the token is never echoed ---------------------------
out="$tmp/out-wrong-token"
rc=0
timeout 120 "$example" --url "$api_url" --token "$wrong_token" --auto --out "$out" --timeout 60 \
    >"$tmp/wrong.out" 2>"$tmp/wrong.err" || rc=$?
unauthorized_reported() {
    [ "$rc" -eq 1 ] && grep -q '^error: OCDE_STATUS_UNAUTHORIZED: .' "$tmp/wrong.err"
}
tokens_not_echoed() {
    ! grep -qF -e "$wrong_token" -e "$token" -- "$tmp/wrong.out" "$tmp/wrong.err" \
        "$tmp/auto.out" "$tmp/auto.err"
}
check "wrong token exits 1 with 'error: OCDE_STATUS_UNAUTHORIZED: ...'" unauthorized_reported
unauthorized_reported || { show "$tmp/wrong.out"; show "$tmp/wrong.err"; }
check "no token is echoed in the example's output or errors" tokens_not_echoed

# ---- 4. sign-in: --server + --client-id, the example plays the browser (Sign in, select all) --
# The simulator still requires $token, which the example never gets: every API request must carry
# an access token issued by the simulator's OAuth2 server after the sign-in.
origin="${api_url%/documents/1.0}"
client_id="ocde-test-client"
sign_in_args=(--server "$origin" --client-id "$client_id")
expiry_line='^signed in: access token expires at [0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2} UTC$'
# signed_in NAME: the run NAME printed who signed in and (on stderr) the token expiry, once.
signed_in() {
    grep -qx 'signed in as Ada Lovelace (user-1)' "$tmp/$1.out" &&
        [ "$(grep -cE "$expiry_line" "$tmp/$1.err")" -eq 1 ]
}
out="$tmp/out-sign-in"
rc=0
timeout 120 "$example" "${sign_in_args[@]}" --auto --out "$out" --timeout 60 \
    >"$tmp/sign-in.out" 2>"$tmp/sign-in.err" || rc=$?
check "sign-in --auto exits 0" test "$rc" -eq 0
if [ "$rc" -ne 0 ]; then show "$tmp/sign-in.err"; show "$tmp/sim.err"; fi
check "sign-in --auto prints 'signed in as Ada Lovelace (user-1)' and the token expiry" signed_in sign-in
signed_in sign-in || { show "$tmp/sign-in.out"; show "$tmp/sign-in.err"; }
[ -d "$out" ] && verify_downloads "sign-in" "$out" "$tmp/sign-in.out"

# ---- 5. sign-in --auto-deny: the user presses Deny ----------------------------------------------
out="$tmp/out-deny"
rc=0
timeout 120 "$example" "${sign_in_args[@]}" --auto-deny --out "$out" --timeout 60 \
    >"$tmp/deny.out" 2>"$tmp/deny.err" || rc=$?
check "sign-in --auto-deny exits 2" test "$rc" -eq 2
[ "$rc" -eq 2 ] || show "$tmp/deny.err"
check "sign-in --auto-deny prints 'sign-in cancelled'" grep -qx 'sign-in cancelled' "$tmp/deny.out"
denied_cleanly() {
    ! grep -q -e '^signed in' -e '^downloaded ' -e 'selected:$' "$tmp/deny.out" "$tmp/deny.err" &&
        [ -z "$(find "$out" -mindepth 1 2>/dev/null)" ]
}
check "sign-in --auto-deny gets no tokens, selects and downloads nothing" denied_cleanly

# ---- 6. --server and --token are mutually exclusive ------------------------------------------
rc=0
timeout 30 "$example" "${sign_in_args[@]}" --token "$token" --auto --out "$tmp/out-both" \
    >"$tmp/both.out" 2>"$tmp/both.err" || rc=$?
refused_both() {
    [ "$rc" -eq 1 ] && grep -q '^error: ' "$tmp/both.err" && [ ! -e "$tmp/out-both" ] &&
        ! grep -qF -e "$token" -- "$tmp/both.out" "$tmp/both.err"
}
check "--server with --token is refused before anything starts (exit 1)" refused_both

# ---- 7. --auto and the sign-in under valgrind --------------------------------------------------
# valgrind_run NAME DESCRIPTION EXAMPLE-ARGS...: one counted run, summary shown, downloads
# verified.
valgrind_run() {
    local name="$1" desc="$2" rc=0
    shift 2
    out="$tmp/out-$name"
    timeout 600 valgrind --leak-check=full --errors-for-leak-kinds=definite,indirect,possible --error-exitcode=9 \
        --suppressions="$here/valgrind.supp" \
        --log-file="$tmp/$name.log" \
        "$example" "$@" --auto --out "$out" --timeout 300 \
        >"$tmp/$name.out" 2>"$tmp/$name.err" || rc=$?
    check "$desc under valgrind exits 0 (no memory errors, no definite, indirect or possible leaks)" test "$rc" -eq 0
    grep -E "ERROR SUMMARY|definitely lost|indirectly lost|possibly lost|still reachable|All heap blocks" \
        "$tmp/$name.log" | sed 's/^==[0-9]*== */    valgrind: /' || true
    [ "$rc" -eq 0 ] || { show "$tmp/$name.log" 40; show "$tmp/$name.err"; }
    [ -d "$out" ] && verify_downloads "$name" "$out" "$tmp/$name.out"
}
if command -v valgrind >/dev/null 2>&1; then
    valgrind_run valgrind "--auto" --url "$api_url" --token "$token"
    valgrind_run valgrind-sign-in "sign-in --auto" "${sign_in_args[@]}"
    check "valgrind-sign-in: signed in as Ada Lovelace" signed_in valgrind-sign-in
else
    fail "valgrind is not installed"
fi

# ---- 8. --auto and the sign-in built with AddressSanitizer + UndefinedBehaviorSanitizer --------
asan="$build/ocde_example_asan"
if "$CC" -std=c99 -Wall -Wextra -Werror -pedantic -g -O1 -fno-omit-frame-pointer \
    -fsanitize=address,undefined -fno-sanitize-recover=undefined -I "$root/include" \
    "$here/ocde_example.c" -L "$target_dir/debug" -lopencde_documents \
    -Wl,-rpath,"$target_dir/debug" -o "$asan" >"$tmp/asan-build.log" 2>&1; then
    out="$tmp/out-asan"
    rc=0
    ASAN_OPTIONS="detect_leaks=1:abort_on_error=0" UBSAN_OPTIONS="print_stacktrace=1" \
        timeout 300 "$asan" --url "$api_url" --token "$token" --auto --out "$out" --timeout 120 \
        >"$tmp/asan.out" 2>"$tmp/asan.err" || rc=$?
    check "--auto under ASan/UBSan exits 0" test "$rc" -eq 0
    [ "$rc" -eq 0 ] || show "$tmp/asan.err" 40
    [ -d "$out" ] && verify_downloads "asan" "$out" "$tmp/asan.out"
    out="$tmp/out-asan-sign-in"
    rc=0
    ASAN_OPTIONS="detect_leaks=1:abort_on_error=0" UBSAN_OPTIONS="print_stacktrace=1" \
        timeout 300 "$asan" "${sign_in_args[@]}" --auto --out "$out" --timeout 120 \
        >"$tmp/asan-sign-in.out" 2>"$tmp/asan-sign-in.err" || rc=$?
    check "sign-in --auto under ASan/UBSan exits 0" test "$rc" -eq 0
    [ "$rc" -eq 0 ] || show "$tmp/asan-sign-in.err" 40
    [ -d "$out" ] && verify_downloads "asan-sign-in" "$out" "$tmp/asan-sign-in.out"
else
    # gcc on Debian 12 ships libasan/libubsan: a failed sanitizer build is a failure, not a skip.
    fail "$CC cannot build the example with -fsanitize=address,undefined"
    show "$tmp/asan-build.log" 20
fi

# ---- 9. no token (or authorization code) ever appears in the sign-in runs' output -------------
# The tokens the simulator issues are unknown out here; their shape is not: "at-" / "rt-" and 32
# lowercase hex digits (tests/cde-simulator/src/oauth.rs, issue_tokens), codes 32 hex digits sent
# as code=... . First make sure that is still the shape, so the grep below cannot pass vacuously.
sim_oauth="$root/tests/cde-simulator/src/oauth.rs"
token_shape_known() {
    grep -qF 'format!("at-{}", random_id())' "$sim_oauth" &&
        grep -qF 'format!("rt-{}", random_id())' "$sim_oauth" &&
        echo "at-0123456789abcdef0123456789abcdef" | grep -qE '(at|rt)-[0-9a-f]{32}'
}
check "the simulator still issues tokens shaped (at|rt)-<32 hex> (guards the check below)" \
    token_shape_known
sign_in_outputs=()
for name in sign-in deny valgrind-sign-in asan-sign-in; do
    for f in "$tmp/$name.out" "$tmp/$name.err"; do
        [ -f "$f" ] && sign_in_outputs+=("$f")
    done
done
no_token_in_output() {
    [ "${#sign_in_outputs[@]}" -ge 4 ] &&
        ! grep -qE -e '(at|rt)-[0-9a-f]{32}' -e 'code=[0-9a-f]{32}' -- "${sign_in_outputs[@]}"
}
check "no access/refresh token or code in the stdout/stderr of ${#sign_in_outputs[@]} sign-in outputs" \
    no_token_in_output
no_token_in_output || grep -nE -e '(at|rt)-[0-9a-f]{32}' -e 'code=[0-9a-f]{32}' -- \
    "${sign_in_outputs[@]}" | sed -E 's/[0-9a-f]{32}/<redacted>/g; s/^/    | /' || true

# ---- 10. closing the simulator's stdin stops it -----------------------------------------------
exec 3>&-
for _ in $(seq 1 50); do
    kill -0 "$sim_pid" 2>/dev/null || break
    sleep 0.1
done
rc=0
if kill -0 "$sim_pid" 2>/dev/null; then
    fail "simulator stops when its stdin closes"
else
    wait "$sim_pid" || rc=$?
    sim_pid=""
    check "simulator stops when its stdin closes (exit 0)" test "$rc" -eq 0
fi

finish
