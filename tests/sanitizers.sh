#!/usr/bin/env bash
# Sanitizer runs (part of tests/run-all.sh):
#   1. a C test of every export's NULL / invalid-UTF-8 argument handling, built with
#      -fsanitize=address,undefined against the library (LeakSanitizer on);
#   2. the library's Rust unit tests and its C-ABI contract, selection and download tests built
#      with nightly's AddressSanitizer (-Zsanitizer=address).
# The C example's own ASan/UBSan and valgrind runs are in examples/c/e2e.sh.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY

cargo build --quiet -p opencde-documents
out="$(mktemp -d "${TMPDIR:-/tmp}/ocde-san.XXXXXX")"
trap 'rm -rf "$out"' EXIT
gcc -std=c99 -Wall -Wextra -Werror -pedantic -g -fsanitize=address,undefined -fno-omit-frame-pointer \
    -fno-sanitize-recover=undefined -Iinclude tests/c/abi_args.c \
    -Ltarget/debug -lopencde_documents -Wl,-rpath,"$root/target/debug" -o "$out/abi_args"
echo "--- C argument checks under ASan/UBSan/LSan"
ASAN_OPTIONS=detect_leaks=1:halt_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 "$out/abi_args"

echo "--- Rust tests under AddressSanitizer (nightly)"
RUSTFLAGS="-Zsanitizer=address" ASAN_OPTIONS=detect_leaks=0 CARGO_TARGET_DIR=target/asan \
    cargo +nightly test --quiet --target x86_64-unknown-linux-gnu -p opencde-documents \
    --lib --test ffi_contract --test selection --test download
