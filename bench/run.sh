#!/usr/bin/env bash
# bench/run.sh — the benchmark harness: opencde-documents vs curl on this machine, in one run.
#
#   bench/run.sh [--quick] [--runs N] [--out FILE] [--keep]
#
#   --quick     2 runs per case and 10 latency rounds (≈ 5 min) instead of 5 and 20 (≈ 15 min)
#   --runs N    N runs per case
#   --out FILE  also write the final table (Markdown) to FILE
#   --keep      keep the work directory (/tmp/ocde-bench.*) instead of deleting it
#
# Installs what is missing (nginx, curl, openssl, time, gcc, binutils; apt-get, as root), builds
# the release library, the simulator and bench/driver.c, makes random files in a work directory
# under /tmp, serves them with nginx on ephemeral 127.0.0.1 ports (HTTP and HTTPS with a test CA),
# puts cde-simulator in front (its download endpoint answers 303 to nginx, like a real CDE's
# presigned storage), runs every case for us and for curl, and prints one table. See
# bench/README.md. Only 127.0.0.1 is ever contacted.
set -euo pipefail

runs=5
latency_rounds=20
idle_seconds=10
out_file=""
keep=0
while [ $# -gt 0 ]; do
    case "$1" in
        --quick) runs=2; latency_rounds=10 ;;
        --runs) runs="${2:?--runs needs a number}"; shift ;;
        --out) out_file="${2:?--out needs a file}"; shift ;;
        --keep) keep=1 ;;
        -h|--help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "run.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done
case "$runs" in ''|*[!0-9]*|0) echo "run.sh: --runs needs a positive number" >&2; exit 2 ;; esac

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
started_at=$(date +%s)
log() { printf '[bench %4ds] %s\n' "$(( $(date +%s) - started_at ))" "$*" >&2; }
die() { echo "run.sh: $*" >&2; exit 1; }

# Loopback only: no proxy may get in the way of curl or the library (both honour *_PROXY).
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY
export NO_PROXY=127.0.0.1,localhost no_proxy=127.0.0.1,localhost

# ---------------------------------------------------------------------------------------------
# 1. Tools
# ---------------------------------------------------------------------------------------------
nginx_bin="$(command -v nginx || true)"
[ -z "$nginx_bin" ] && [ -x /usr/sbin/nginx ] && nginx_bin=/usr/sbin/nginx
missing=()
[ -n "$nginx_bin" ] || missing+=(nginx)
command -v curl >/dev/null || missing+=(curl)
command -v openssl >/dev/null || missing+=(openssl)
[ -x /usr/bin/time ] || missing+=(time)
command -v gcc >/dev/null || missing+=(gcc libc6-dev)
command -v strip >/dev/null || missing+=(binutils)
if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" -ne 0 ]; then
        die "missing ${missing[*]}: run as root (it installs them with apt-get) or install them"
    fi
    log "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
    # Debian starts a packaged nginx on port 80 where init allows; we never use it.
    nginx_bin="$(command -v nginx || echo /usr/sbin/nginx)"
fi
command -v cargo >/dev/null || die "cargo is missing (install Rust stable)"

# ---------------------------------------------------------------------------------------------
# 2. Build (one job: the machine is shared)
# ---------------------------------------------------------------------------------------------
target_dir="${CARGO_TARGET_DIR:-$root/target}"
case "$target_dir" in /*) ;; *) target_dir="$root/$target_dir" ;; esac
lib_dir="$target_dir/release"
log "cargo build --release (library, simulator)"
(cd "$root" && cargo build --release --quiet -j "${BENCH_JOBS:-1}" -p opencde-documents -p cde-simulator)
sim_bin="$lib_dir/cde-simulator"
so="$lib_dir/libopencde_documents.so"
[ -x "$sim_bin" ] && [ -f "$so" ] || die "build products missing in $lib_dir"

work="$(mktemp -d /tmp/ocde-bench.XXXXXX)"
chmod 755 "$work" # nginx workers run as an unprivileged user
pids=()
cleanup() {
    local p
    for p in "${pids[@]}"; do
        kill "$p" 2>/dev/null || true
    done
    for p in "${pids[@]}"; do
        wait "$p" 2>/dev/null || true
    done
    if [ "$keep" = 1 ]; then
        echo "run.sh: work directory kept: $work" >&2
    else
        rm -rf "$work"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

drv="$work/driver"
have_selection=0
cflags=(-std=c11 -O2 -Wall -Wextra -Werror -pthread)
if grep -q 'ocde_download_selection' "$root/include/opencde_documents.h"; then
    have_selection=1
    cflags+=(-DHAVE_OCDE_DOWNLOAD_SELECTION)
fi
log "gcc bench/driver.c"
gcc "${cflags[@]}" -I "$root/include" "$here/driver.c" -L "$lib_dir" -lopencde_documents \
    -Wl,-rpath,"$lib_dir" -o "$drv"

# ---------------------------------------------------------------------------------------------
# 3. Files, certificates, nginx, simulators
# ---------------------------------------------------------------------------------------------
www="$work/www"
dl="$work/dl" # same file system as www: the copy limit and the downloads share the disk
mkdir -p "$www" "$dl" "$work/samples" "$work/nginx"
MiB=$((1024 * 1024))
make_random() { # FILE BYTES
    openssl rand -out "$1" "$2" 2>/dev/null || head -c "$2" /dev/urandom >"$1"
    chmod 644 "$1"
}
log "creating random files (1 MiB, 256 MiB, 1 GiB, 16 × 64 MiB) in $work"
make_random "$www/f1m" $MiB
make_random "$www/f256m" $((256 * MiB))
make_random "$www/f1g" $((1024 * MiB))
par_ids=()
for i in $(seq -w 0 15); do
    make_random "$www/p$i" $((64 * MiB))
    par_ids+=("p$i")
done
sync

log "test CA and server certificate (openssl)"
(
    cd "$work"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
        -keyout ca.key -out ca.pem -subj "/CN=ocde-bench test CA" \
        -addext "basicConstraints=critical,CA:TRUE" \
        -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
        -keyout server.key -out server.csr -subj "/CN=127.0.0.1" 2>/dev/null
    printf '%s\n' "subjectAltName=IP:127.0.0.1,DNS:localhost" "basicConstraints=CA:FALSE" \
        "keyUsage=critical,digitalSignature" "extendedKeyUsage=serverAuth" >server.ext
    openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
        -extfile server.ext -out server.pem 2>/dev/null
    chmod 644 ca.pem server.pem server.key
)
ca="$work/ca.pem"

start_nginx() {
    local attempt
    for attempt in 1 2 3 4 5; do
        http_port=$("$drv" free-port)
        https_port=$("$drv" free-port)
        [ "$http_port" != "$https_port" ] || continue
        cat >"$work/nginx/nginx.conf" <<EOF
worker_processes auto;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log warn;
events { worker_connections 256; }
http {
    types { application/octet-stream bin; }
    default_type application/octet-stream;
    sendfile on;
    tcp_nopush on;
    keepalive_timeout 30;
    client_body_temp_path $work/nginx/body;
    proxy_temp_path $work/nginx/proxy;
    fastcgi_temp_path $work/nginx/fastcgi;
    uwsgi_temp_path $work/nginx/uwsgi;
    scgi_temp_path $work/nginx/scgi;
    log_format bench '\$server_port \$uri \$status \$body_bytes_sent \$request_time '
                     '\$ssl_protocol/\$ssl_cipher "\$http_user_agent"';
    access_log $work/nginx/access.log bench;
    server {
        listen 127.0.0.1:$http_port;
        root $www;
    }
    server {
        listen 127.0.0.1:$https_port ssl;
        ssl_certificate $work/server.pem;
        ssl_certificate_key $work/server.key;
        ssl_protocols TLSv1.2 TLSv1.3;
        root $www;
    }
}
EOF
        "$nginx_bin" -p "$work/nginx" -c "$work/nginx/nginx.conf" -e "$work/nginx/error.log" \
            -g 'daemon off;' 2>>"$work/nginx/error.log" &
        nginx_pid=$!
        local i
        for i in $(seq 1 50); do
            if curl -sS -o /dev/null "http://127.0.0.1:$http_port/f1m" 2>/dev/null &&
                curl -sS -o /dev/null --cacert "$ca" "https://127.0.0.1:$https_port/f1m" 2>/dev/null; then
                pids+=("$nginx_pid")
                return 0
            fi
            kill -0 "$nginx_pid" 2>/dev/null || break
            sleep 0.1
        done
        kill "$nginx_pid" 2>/dev/null || true
        wait "$nginx_pid" 2>/dev/null || true
    done
    cat "$work/nginx/error.log" >&2
    die "nginx did not start"
}
log "starting nginx ($nginx_bin) on 127.0.0.1"
start_nginx
: >"$work/nginx/access.log"

start_sim() { # NAME ARGS... → sets sim_api
    local name="$1" i
    shift
    "$sim_bin" --quiet --ignore-stdin "$@" >"$work/$name.out" 2>"$work/$name.err" &
    pids+=("$!")
    for i in $(seq 1 100); do
        sim_api="$(sed -n 's/^DOCUMENTS_API_URL=//p' "$work/$name.out")"
        [ -n "$sim_api" ] && return 0
        sleep 0.1
    done
    cat "$work/$name.err" >&2
    die "simulator $name did not start"
}
spec() { # ID... → --documents spec with each file's size
    local id out=""
    for id in "$@"; do
        out+="${out:+,}$id:$id.bin:$(stat -c %s "$www/$id")"
    done
    printf '%s' "$out"
}
start_sim sim-http --documents "$(spec f1m f256m f1g)" --external-storage "http://127.0.0.1:$http_port"
api_http="$sim_api"
start_sim sim-https --documents "$(spec f1g)" --external-storage "https://127.0.0.1:$https_port"
api_https="$sim_api"
start_sim sim-par --documents "$(spec "${par_ids[@]}")" --external-storage "http://127.0.0.1:$http_port"
api_par="$sim_api"
dl_url() { printf '%s/documents/%s/versions/1/download' "$1" "$2"; } # API ID
log "nginx http://127.0.0.1:$http_port https://127.0.0.1:$https_port; CDE $api_http (http), $api_https (https storage), $api_par (16 documents)"

# ---------------------------------------------------------------------------------------------
# 4. Measuring
# ---------------------------------------------------------------------------------------------
caches_dropped="no"
if (sync && echo 3 >/proc/sys/vm/drop_caches) 2>/dev/null; then
    caches_dropped="yes"
fi
log "page cache dropped before every run: $caches_dropped"

# Before each measured run: no file left at the destination, previous writes on disk (so one
# run's writeback never lands in the next), and, where allowed, a cold page cache.
prepare() {
    rm -rf "$dl"
    mkdir -p "$dl/par"
    sync
    if [ "$caches_dropped" = yes ]; then
        echo 3 >/proc/sys/vm/drop_caches 2>/dev/null || true
    fi
}
field() { # TEXT KEY → value of the first "KEY=value"
    printf '%s\n' "$1" | tr ' ' '\n' | sed -n "s/^$2=//p" | head -n 1
}
sample() { # FILE VALUE
    printf '%s\n' "$2" >>"$work/samples/$1"
}
run_exec() { # LABEL CMD... → sets out (all stdout of the wrapper and of CMD)
    local label="$1"
    shift
    if ! out="$("$drv" exec -- "$@" 2>"$work/last.err")"; then
        cat "$work/last.err" >&2
        printf '%s\n' "$out" >&2
        die "$label failed"
    fi
}
check_same() { # SRC DEST
    cmp -s "$1" "$2" || die "$2 differs from $1"
}

# Single download through the CDE's 303: ours (driver download) or curl.
ours_single() { # CASE API ID [--ca PEM]
    local case="$1" api="$2" id="$3"
    shift 3
    prepare
    run_exec "ours $case" "$drv" download "$(dl_url "$api" "$id")" "$dl/$id.bin" "$@"
    local exec_line
    exec_line="$(printf '%s\n' "$out" | grep '^exec:')"
    sample "$case.ours.wall" "$(field "$exec_line" wall_s)"
    sample "$case.ours.rss" "$(field "$exec_line" maxrss_kib)"
    sample "$case.ours.cpu" "$(awk -v u="$(field "$exec_line" user_s)" -v s="$(field "$exec_line" sys_s)" 'BEGIN{print u+s}')"
    sample "$case.ours.user" "$(field "$exec_line" user_s)"
    sample "$case.ours.sys" "$(field "$exec_line" sys_s)"
    local dline
    dline="$(printf '%s\n' "$out" | grep '^download:')"
    sample "$case.ours.tail" "$(field "$dline" tail_s)"
    sample "$case.ours.ttfb" "$(field "$dline" ttfb_s)"
    sample "$case.ours.inner" "$(field "$dline" wall_s)"
    if [ ! -s "$work/samples/$case.checked.ours" ]; then
        check_same "$www/$id" "$dl/$id.bin"
        echo ok >"$work/samples/$case.checked.ours"
    fi
}
curl_single() { # CASE API ID [curl options]
    local case="$1" api="$2" id="$3"
    shift 3
    prepare
    run_exec "curl $case" curl -sS -L "$@" -o "$dl/$id.bin" "$(dl_url "$api" "$id")"
    sample "$case.curl.wall" "$(field "$out" wall_s)"
    sample "$case.curl.rss" "$(field "$out" maxrss_kib)"
    sample "$case.curl.cpu" "$(awk -v u="$(field "$out" user_s)" -v s="$(field "$out" sys_s)" 'BEGIN{print u+s}')"
    sample "$case.curl.user" "$(field "$out" user_s)"
    sample "$case.curl.sys" "$(field "$out" sys_s)"
    if [ ! -s "$work/samples/$case.checked.curl" ]; then
        check_same "$www/$id" "$dl/$id.bin"
        echo ok >"$work/samples/$case.checked.curl"
    fi
}
# Runs "ours" and "curl" of a case R times, alternating who goes first.
pair() { # CASE API ID CA?
    local case="$1" api="$2" id="$3" tls="${4:-}" r
    local ours_args=() curl_args=()
    if [ -n "$tls" ]; then
        ours_args=(--ca "$ca")
        curl_args=(--cacert "$ca")
    fi
    for r in $(seq 1 "$runs"); do
        if [ $((r % 2)) = 1 ]; then
            ours_single "$case" "$api" "$id" ${ours_args[@]+"${ours_args[@]}"}
            curl_single "$case" "$api" "$id" ${curl_args[@]+"${curl_args[@]}"}
        else
            curl_single "$case" "$api" "$id" ${curl_args[@]+"${curl_args[@]}"}
            ours_single "$case" "$api" "$id" ${ours_args[@]+"${ours_args[@]}"}
        fi
    done
}

log "case 1/6: 1 GiB over HTTP ($runs runs each)"
pair http1g "$api_http" f1g
log "case 2/6: 1 GiB over HTTPS ($runs runs each)"
pair https1g "$api_https" f1g tls
log "case 3/6: peak RSS at 1 MiB and 256 MiB ($runs runs each; 1 GiB comes from case 1)"
pair http1m "$api_http" f1m
pair http256m "$api_http" f256m
# One cross-check that wait4's peak RSS is /usr/bin/time's %M.
prepare
gnu_time_rss="$( { /usr/bin/time -f '%M' curl -sS -L -o "$dl/f1m.bin" "$(dl_url "$api_http" f1m)"; } 2>&1 | tail -n 1)"

log "case 4/6: 16 × 64 MiB: ocde_download_selection N=4, curl --parallel-max 4, sequential loop ($runs runs each)"
par_ours() {
    prepare
    if [ "$have_selection" = 0 ]; then
        return 0
    fi
    run_exec "ours parallel" "$drv" select-download "$api_par" "$dl/par" 4
    sample par.ours.wall "$(field "$(printf '%s\n' "$out" | grep '^exec:')" wall_s)"
    sample par.ours.rss "$(field "$(printf '%s\n' "$out" | grep '^exec:')" maxrss_kib)"
    sample par.ours.select "$(field "$out" select_s)"
    sample par.ours.inner "$(field "$out" download_s)"
    if [ ! -s "$work/samples/par.checked.ours" ]; then
        for id in "${par_ids[@]}"; do check_same "$www/$id" "$dl/par/$id.bin"; done
        echo ok >"$work/samples/par.checked.ours"
    fi
}
par_seq() {
    prepare
    run_exec "ours sequential" "$drv" select-download "$api_par" "$dl/par" 1 --sequential
    sample par.seq.wall "$(field "$(printf '%s\n' "$out" | grep '^exec:')" wall_s)"
    sample par.seq.rss "$(field "$(printf '%s\n' "$out" | grep '^exec:')" maxrss_kib)"
    if [ ! -s "$work/samples/par.checked.seq" ]; then
        for id in "${par_ids[@]}"; do check_same "$www/$id" "$dl/par/$id.bin"; done
        echo ok >"$work/samples/par.checked.seq"
    fi
}
par_curl() {
    prepare
    local args=() id
    for id in "${par_ids[@]}"; do
        args+=(-o "$dl/par/$id.bin" "$(dl_url "$api_par" "$id")")
    done
    run_exec "curl parallel" curl -sS -L --parallel --parallel-max 4 "${args[@]}"
    sample par.curl.wall "$(field "$out" wall_s)"
    sample par.curl.rss "$(field "$out" maxrss_kib)"
    if [ ! -s "$work/samples/par.checked.curl" ]; then
        for id in "${par_ids[@]}"; do check_same "$www/$id" "$dl/par/$id.bin"; done
        echo ok >"$work/samples/par.checked.curl"
    fi
}
# curl --parallel, then `sync FILE…` (fsync of the 16 files): like for like with our fsyncs.
par_curl_sync() {
    prepare
    local args=() id
    for id in "${par_ids[@]}"; do
        args+=(-o "$dl/par/$id.bin" "$(dl_url "$api_par" "$id")")
    done
    # $0 is the folder: after curl, fsync its 16 files.
    run_exec "curl parallel + sync" sh -c 'curl -sS -L --parallel --parallel-max 4 "$@" && sync "$0"/*.bin' \
        "$dl/par" "${args[@]}"
    sample par.curlsync.wall "$(field "$out" wall_s)"
}
for r in $(seq 1 "$runs"); do
    case $((r % 3)) in
        1) par_ours; par_curl; par_seq; par_curl_sync ;;
        2) par_curl; par_seq; par_curl_sync; par_ours ;;
        0) par_curl_sync; par_seq; par_ours; par_curl ;;
    esac
done

log "case 5/6: copy limit (cat of the 1 GiB file to the same disk) and curl + fsync ($runs runs each)"
for r in $(seq 1 "$runs"); do
    prepare
    run_exec "cat" sh -c 'cat "$1" >"$2"' sh "$www/f1g" "$dl/f1g.bin"
    sample copy.cat.wall "$(field "$out" wall_s)"
    prepare
    run_exec "cat+fsync" sh -c 'cat "$1" >"$2" && sync "$2"' sh "$www/f1g" "$dl/f1g.bin"
    sample copy.catsync.wall "$(field "$out" wall_s)"
    prepare
    run_exec "curl+fsync" sh -c 'curl -sS -L -o "$1" "$2" && sync "$1"' sh "$dl/f1g.bin" "$(dl_url "$api_http" f1g)"
    sample copy.curlsync.wall "$(field "$out" wall_s)"
done

log "case 6/6: callback-to-OK latency ($latency_rounds rounds) and CPU while pending (${idle_seconds} s)"
prepare
"$drv" latency "$api_http" --rounds "$latency_rounds" --idle-seconds "$idle_seconds" >"$work/latency.out" ||
    die "driver latency failed: $(cat "$work/latency.out")"
sed -n 's/.* answered_to_ok_ms=\([^ ]*\).*/\1/p' "$work/latency.out" >"$work/samples/latency.ours"
sed -n 's/.* page_get_to_ok_ms=\([^ ]*\).*/\1/p' "$work/latency.out" >"$work/samples/latency.page"
idle_line="$(grep '^idle:' "$work/latency.out")"
idle_cpu_ms="$(field "$idle_line" cpu_ms)"
idle_csw="$(field "$idle_line" voluntary_csw)"
idle_polls="$(field "$idle_line" polls)"

cp "$so" "$work/lib.so"
strip "$work/lib.so"
so_bytes=$(stat -c %s "$work/lib.so")
so_unstripped=$(stat -c %s "$so")

# ---------------------------------------------------------------------------------------------
# 5. The table
# ---------------------------------------------------------------------------------------------
# stat FILE → "median min max" (numbers as recorded)
stats() {
    sort -g "$work/samples/$1" | awk '{v[NR]=$1} END {
        if (NR == 0) { print "nan nan nan"; exit }
        m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
        printf "%.9g %.9g %.9g\n", m, v[1], v[NR] }'
}
med() { stats "$1" | cut -d' ' -f1; }
# fmt FILE SCALE DECIMALS → "median [min–max]" with each value divided by SCALE
fmt() {
    if [ ! -s "$work/samples/$1" ]; then
        printf 'n/a'
        return
    fi
    stats "$1" | awk -v s="$2" -v d="$3" '{ printf "%." d "f [%." d "f–%." d "f]", $1 / s, $2 / s, $3 / s }'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || b + 0 == 0) print "n/a"; else printf "%.3f", a / b }'; }
le() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "n/a" || a == "" ) print "n/a"; else print ((a + 0 <= b + 0) ? "yes" : "NO") }'; }
mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }

rows=()
row() { rows+=("| $1 | $2 | $3 | $4 | $5 | $6 |"); }

r_http=$(ratio "$(med http1g.ours.wall)" "$(med http1g.curl.wall)")
row "1 GiB, HTTP, wall s" "$(fmt http1g.ours.wall 1 3)" "$(fmt http1g.curl.wall 1 3)" "$r_http" "≤ 0.95" "$(le "$r_http" 0.95)"
r_https=$(ratio "$(med https1g.ours.wall)" "$(med https1g.curl.wall)")
row "1 GiB, HTTPS, wall s" "$(fmt https1g.ours.wall 1 3)" "$(fmt https1g.curl.wall 1 3)" "$r_https" "≤ 1.00" "$(le "$r_https" 1.0)"
for c in http1m:1\ MiB http256m:256\ MiB http1g:1\ GiB https1g:1\ GiB\ HTTPS; do
    key="${c%%:*}"
    label="${c#*:}"
    o=$(med "$key.ours.rss")
    u=$(med "$key.curl.rss")
    d=$(awk -v o="$o" -v u="$u" 'BEGIN { printf "%+.1f", (o - u) / 1024 }')
    row "peak RSS, $label, MiB" "$(fmt "$key.ours.rss" 1024 1)" "$(fmt "$key.curl.rss" 1024 1)" \
        "$(ratio "$o" "$u") (Δ $d MiB)" "≤ curl + 4 MiB" "$(le "$o" "$(awk -v u="$u" 'BEGIN{print u + 4096}')")"
done
growth() { awk -v a="$1" -v b="$2" 'BEGIN { d = (a - b) / 1024; if (d < 0.05 && d > -0.05) d = 0; printf "%+.1f", d }'; }
flat_ours=$(growth "$(med http1g.ours.rss)" "$(med http1m.ours.rss)")
flat_curl=$(growth "$(med http1g.curl.rss)" "$(med http1m.curl.rss)")
row "peak RSS growth 1 MiB → 1 GiB, MiB" "$flat_ours" "$flat_curl" "–" "flat (≤ 1 MiB)" "$(le "$flat_ours" 1)"
if [ "$have_selection" = 1 ]; then
    r_par=$(ratio "$(med par.ours.wall)" "$(med par.curl.wall)")
    row "16 × 64 MiB, N=4 (ocde_download_selection vs curl --parallel-max 4), wall s" \
        "$(fmt par.ours.wall 1 3)" "$(fmt par.curl.wall 1 3)" "$r_par" "≤ 1.00" "$(le "$r_par" 1.0)"
else
    row "16 × 64 MiB, N=4 (ocde_download_selection vs curl --parallel-max 4), wall s" \
        "n/a (not built yet)" "$(fmt par.curl.wall 1 3)" "n/a" "≤ 1.00" "n/a"
fi
r_seq=$(ratio "$(med par.seq.wall)" "$(med par.curl.wall)")
row "16 × 64 MiB, our sequential loop (ocde_download_document) vs curl --parallel-max 4, wall s" \
    "$(fmt par.seq.wall 1 3)" "$(fmt par.curl.wall 1 3)" "$r_seq" "(info)" "–"
row "16 × 64 MiB, N=4, like for like: ours vs curl --parallel-max 4 + \`sync FILE…\`, wall s" \
    "$(fmt par.ours.wall 1 3)" "$(fmt par.curlsync.wall 1 3)" \
    "$(ratio "$(med par.ours.wall)" "$(med par.curlsync.wall)")" "(info)" "–"
r_cat_o=$(ratio "$(med http1g.ours.wall)" "$(med copy.cat.wall)")
r_cat_c=$(ratio "$(med http1g.curl.wall)" "$(med copy.cat.wall)")
row "copy limit: \`cat\` 1 GiB → same disk = $(fmt copy.cat.wall 1 3) s; 1 GiB HTTP ÷ it" \
    "${r_cat_o}×" "${r_cat_c}×" "–" "(info)" "–"
r_cs_o=$(ratio "$(med http1g.ours.wall)" "$(med copy.catsync.wall)")
r_cs_c=$(ratio "$(med copy.curlsync.wall)" "$(med copy.catsync.wall)")
row "durable copy limit: \`cat\` + \`sync FILE\` = $(fmt copy.catsync.wall 1 3) s; ours (fsyncs) and curl -o + \`sync FILE\` ÷ it" \
    "${r_cs_o}×" "${r_cs_c}× (curl + sync: $(fmt copy.curlsync.wall 1 3) s)" \
    "$(ratio "$(med http1g.ours.wall)" "$(med copy.curlsync.wall)") (ours ÷ curl + sync)" "(info)" "–"
lat_med=$(med latency.ours)
row "callback → OK latency of ocde_selection_poll, ms ($latency_rounds rounds)" "$(fmt latency.ours 1 2)" "–" "–" "≤ 10 ms" "$(le "$lat_med" 10)"
row "CPU while PENDING, ${idle_seconds} s of ocde_selection_poll(sel, 500), ms" \
    "$(printf '%.1f' "$idle_cpu_ms") ($idle_polls polls, $idle_csw wake-ups)" "–" "–" "~0 (≤ 10 ms)" "$(le "$idle_cpu_ms" 10)"
so_mib=$(awk -v b="$so_bytes" 'BEGIN { printf "%.2f", b / 1048576 }')
row "stripped libopencde_documents.so, MiB" "$so_mib ($so_bytes bytes; unstripped $(mib $((so_unstripped / 1024))))" "–" "–" "≤ 4 MiB" "$(le "$so_mib" 4)"

median_of() { med "$1" | awk '{ printf "%.3f", $1 }'; }
cipher_of() { # PORT UA-substring → the cipher nginx logged for it
    awk -v p="$1" -v ua="$2" '$1 == p && index($0, ua) { c = $6 } END { print (c == "" ? "?" : c) }' "$work/nginx/access.log"
}
nginx_time_of() { # PORT URI UA-substring → median nginx $request_time
    awk -v p="$1" -v u="$2" -v ua="$3" '$1 == p && $2 == u && index($0, ua) { print $5 }' "$work/nginx/access.log" | sort -g |
        awk '{v[NR]=$1} END { if (NR == 0) print "?"; else print ((NR % 2) ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2) }'
}
ours_ua="$(awk '$2 == "/f1g" && !index($0, "curl/") { sub(/^[^"]*"/, ""); sub(/"$/, ""); print; exit }' "$work/nginx/access.log")"

{
    echo "## opencde-documents benchmark — $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo
    echo "Machine: $(nproc) cores, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1), kernel $(uname -r), $(awk '/MemTotal/ { printf "%.0f GiB RAM", $2 / 1048576 }' /proc/meminfo); load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)."
    echo "Versions: opencde-documents $(sed -n 's/^version = "\(.*\)"/\1/p' "$root/Cargo.toml" | head -n 1) ($(cd "$root" && git rev-parse --short HEAD 2>/dev/null || echo '?')$(cd "$root" && git diff --quiet 2>/dev/null || echo ', modified tree')), $(rustc --version | cut -d' ' -f1-2), $(curl --version | head -n 1 | cut -d' ' -f1-2,5), $("$nginx_bin" -v 2>&1 | sed 's/.*: //')."
    echo "Runs per case: $runs (median [min–max]); runs of a case alternate who goes first. Page cache dropped before every run: $caches_dropped (and \`sync\` before every run, always)."
    echo "Wall time and peak RSS are the whole process (fork → wait4), measured the same way for both (wait4's ru_maxrss = \`/usr/bin/time -f %M\`; cross-check on curl 1 MiB: \`/usr/bin/time -f %M\` $gnu_time_rss KiB, wait4 median $(med http1m.curl.rss) KiB)."
    echo
    echo "| case | ours: median [min–max] | curl: median [min–max] | ratio ours/curl | goal | met? |"
    echo "| --- | --- | --- | --- | --- | --- |"
    printf '%s\n' "${rows[@]}"
    echo
    echo "Details (medians):"
    echo
    for c in http1g https1g; do
        w=$(median_of "$c.ours.inner")
        t=$(median_of "$c.ours.tail")
        echo "- $c ours: first body byte after $(awk -v v="$(median_of "$c.ours.ttfb")" 'BEGIN{printf "%.1f", v*1000}') ms; fsync+rename after the last byte $(awk -v v="$t" 'BEGIN{printf "%.3f", v}') s = $(awk -v t="$t" -v w="$w" 'BEGIN{printf "%.0f", 100*t/w}')% of the call; CPU user+sys ours $(median_of "$c.ours.user")+$(median_of "$c.ours.sys") s vs curl $(median_of "$c.curl.user")+$(median_of "$c.curl.sys") s."
    done
    echo "- smaller files, wall s: 1 MiB ours $(fmt http1m.ours.wall 1 3) vs curl $(fmt http1m.curl.wall 1 3); 256 MiB ours $(fmt http256m.ours.wall 1 3) vs curl $(fmt http256m.curl.wall 1 3) (ratio $(ratio "$(med http256m.ours.wall)" "$(med http256m.curl.wall)"); fsync+rename $(median_of http256m.ours.tail) s)."
    echo "- nginx \$request_time for /f1g (server side, median; includes curl + fsync runs on HTTP): HTTP ours $(nginx_time_of "$http_port" /f1g "$ours_ua") s, curl $(nginx_time_of "$http_port" /f1g curl/) s; HTTPS ours $(nginx_time_of "$https_port" /f1g "$ours_ua") s, curl $(nginx_time_of "$https_port" /f1g curl/) s."
    echo "- TLS as negotiated with nginx: ours $(cipher_of "$https_port" "$ours_ua"), curl $(cipher_of "$https_port" curl/)."
    if [ "$have_selection" = 1 ]; then
        echo "- 16 × 64 MiB ours: selection (start → OK) $(awk -v v="$(median_of par.ours.select)" 'BEGIN{printf "%.1f", v*1000}') ms of the process; ocde_download_selection itself $(median_of par.ours.inner) s; peak RSS N=4 $(mib "$(median_of par.ours.rss)") MiB, sequential $(mib "$(median_of par.seq.rss)") MiB, curl --parallel $(mib "$(median_of par.curl.rss)") MiB."
    fi
    echo "- callback → OK: from the first byte of our listener's answer at the browser to ocde_selection_poll returning OK (includes GET selected documents); from the browser's page GET: $(fmt latency.page 1 2) ms."
} >"$work/table.md"

cat "$work/table.md"
if [ -n "$out_file" ]; then
    cp "$work/table.md" "$out_file"
    log "table written to $out_file"
fi
log "done in $(( $(date +%s) - started_at )) s"
