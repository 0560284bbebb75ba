#!/usr/bin/env bash
# Builds the native library and the CDE simulator, compiles the C# wrapper, its tests and the
# example with Mono's mcs (C# 7.x, .NET Framework 4.x profile), then runs the tests and the example
# against the simulator with mono. Exits non-zero on any failure. Installs nothing: Mono comes from
#   apt-get install -y mono-mcs mono-runtime
# Output goes to bindings/csharp/build/ (gitignored). Extra arguments select tests by name.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
build="$here/build"

missing=()
for tool in mcs mono cargo; do
    command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if ((${#missing[@]})); then
    echo "run-tests.sh: missing ${missing[*]}." >&2
    echo "  Mono: apt-get install -y mono-mcs mono-runtime   (cargo: https://rustup.rs)" >&2
    exit 2
fi

echo "== cargo build (native library and cde-simulator)"
(cd "$root" && cargo build -p opencde-documents -p cde-simulator)
target_dir="${CARGO_TARGET_DIR:-$root/target}"
case "$target_dir" in /*) ;; *) target_dir="$root/$target_dir" ;; esac
native_dir="$target_dir/debug"
simulator="$native_dir/cde-simulator"
for f in "$native_dir/libopencde_documents.so" "$simulator"; do
    [[ -e "$f" ]] || { echo "run-tests.sh: $f was not built" >&2; exit 1; }
done

rm -rf "$build"
mkdir -p "$build"

# mcs accepts -langversion up to 7.2 (a subset of the C# 7.3 the csproj pins); it compiles
# against Mono's .NET Framework 4.x profile, the closest Mono has to netstandard2.0/net48.
mcs_flags=(-langversion:7.2 -warn:4 -warnaserror+ -nologo -debug -r:System.dll -r:System.Core.dll)

echo "== mcs: wrapper"
mcs "${mcs_flags[@]}" -target:library -out:"$build/OpenCde.Documents.dll" \
    -doc:"$build/OpenCde.Documents.xml" "$here"/src/*.cs
echo "== mcs: tests"
mcs "${mcs_flags[@]}" -target:exe -out:"$build/OpenCde.Documents.Tests.exe" \
    -r:"$build/OpenCde.Documents.dll" "$here"/tests/*.cs
echo "== mcs: example"
mcs "${mcs_flags[@]}" -target:exe -out:"$build/OpenCde.Documents.Example.exe" \
    -r:"$build/OpenCde.Documents.dll" "$here"/example/*.cs

export LD_LIBRARY_PATH="$native_dir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export OCDE_SIMULATOR="$simulator"
# The test harness reaches 127.0.0.1 only; never through a proxy.
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY || true

echo "== mono: tests"
status=0
mono --debug "$build/OpenCde.Documents.Tests.exe" "$@" || status=$?

if (($# == 0)); then
    echo "== mono: example against the simulator"
    fifo="$build/simulator.stdin"
    mkfifo "$fifo"
    "$simulator" --token example-token <"$fifo" >"$build/simulator.out" 2>"$build/simulator.err" &
    sim_pid=$!
    exec 3>"$fifo" # holding the write end open keeps the simulator running
    url=""
    for _ in $(seq 1 100); do
        url="$(sed -n 's/^DOCUMENTS_API_URL=//p' "$build/simulator.out" 2>/dev/null || true)"
        [[ -n "$url" ]] && break
        sleep 0.1
    done
    example_status=0
    if [[ -z "$url" ]]; then
        echo "example: the simulator printed no DOCUMENTS_API_URL" >&2
        cat "$build/simulator.err" >&2 || true
        example_status=1
    else
        mono --debug "$build/OpenCde.Documents.Example.exe" "$url" "$build/example-downloads" \
            --token example-token --auto-select || example_status=$?
        count="$(find "$build/example-downloads" -type f | wc -l)"
        if ((example_status == 0 && count != 3)); then
            echo "example: expected 3 downloaded files, found $count" >&2
            example_status=1
        fi
    fi
    exec 3>&- # closing stdin stops the simulator
    wait "$sim_pid" || true
    if ((example_status != 0)); then
        echo "example: FAILED (exit $example_status)" >&2
        status=1
    else
        echo "example: OK"
    fi
fi

exit "$status"
