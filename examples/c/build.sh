#!/usr/bin/env bash
# Builds the library (cargo build -p opencde-documents), then, into examples/c/build/:
#   ocde_example          the C example, linked to libopencde_documents.so with an rpath
#   header_check_c.o      the header compiled as strict C99
#   header_check_cpp.o    the header compiled as strict C++11
# Usage: examples/c/build.sh        (from anywhere; CC, CXX, CARGO_TARGET_DIR are honoured)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
out="$here/build"
CC="${CC:-gcc}"
CXX="${CXX:-g++}"

# Where cargo puts the library (CARGO_TARGET_DIR may be relative to the current directory).
target_dir="${CARGO_TARGET_DIR:-$root/target}"
case "$target_dir" in
    /*) ;;
    *) target_dir="$PWD/$target_dir" ;;
esac
lib_dir="$target_dir/debug"

echo "==> cargo build -p opencde-documents"
(cd "$root" && cargo build --quiet -p opencde-documents)
if [ ! -f "$lib_dir/libopencde_documents.so" ]; then
    echo "build.sh: $lib_dir/libopencde_documents.so is missing after cargo build" >&2
    exit 1
fi

mkdir -p "$out"
cflags=(-std=c99 -Wall -Wextra -Werror -pedantic -g -O2)
cxxflags=(-std=c++11 -Wall -Wextra -Werror -pedantic -g -O2)
include=(-I "$root/include")

echo "==> $CC: ocde_example"
"$CC" "${cflags[@]}" "${include[@]}" "$here/ocde_example.c" \
    -L "$lib_dir" -lopencde_documents -Wl,-rpath,"$lib_dir" \
    -o "$out/ocde_example"

echo "==> $CC / $CXX: header checks"
"$CC" "${cflags[@]}" "${include[@]}" -c "$here/header_check.c" -o "$out/header_check_c.o"
"$CXX" "${cxxflags[@]}" "${include[@]}" -c "$here/header_check.cpp" -o "$out/header_check_cpp.o"

echo "built: ${out#"$root"/}/ocde_example (library: ${lib_dir#"$root"/}/libopencde_documents.so)"
