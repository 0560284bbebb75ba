#!/usr/bin/env bash
# Bounded fuzzing of the JSON models, the callback request parser and the file-name sanitiser
# (libFuzzer through cargo-fuzz, nightly toolchain).
#   tests/fuzz/run.sh [SECONDS_PER_TARGET]        default 30
# Installs cargo-fuzz from crates.io if missing. Inputs that crash are copied into
# tests/fuzz/regressions/<target>/ (replayed by `cargo test --test fuzz_regressions`) and make
# this script fail. The corpus grows in target/fuzz-corpus/ (not committed).
set -euo pipefail
seconds="${1:-30}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked --quiet
status=0
for target in models callback_request file_name; do
    corpus="target/fuzz-corpus/$target"
    mkdir -p "$corpus"
    cp -n tests/fuzz/regressions/"$target"/* "$corpus"/ 2>/dev/null || true
    echo "--- fuzzing $target for ${seconds}s"
    if ! cargo +nightly fuzz run --fuzz-dir tests/fuzz "$target" "$corpus" -- \
        -max_total_time="$seconds" -max_len=65536 -rss_limit_mb=2048 -print_final_stats=1 \
        2> >(grep -E '^(stat::number_of_executed_units|stat::peak_rss_mb|==|SUMMARY|Done)' >&2); then
        status=1
        for crash in tests/fuzz/artifacts/"$target"/*; do
            [ -e "$crash" ] || continue
            cp "$crash" tests/fuzz/regressions/"$target"/
            echo "saved $(basename "$crash") as a regression input for $target"
        done
    fi
done
if [ "$status" -eq 0 ]; then
    echo "fuzzing: 3 passed, 0 failed"
else
    echo "fuzzing found crashes: fix them, and commit tests/fuzz/regressions/"
fi
exit "$status"
