#!/usr/bin/env bash
# Runs every test of the project: the README's second command, and what CI runs.
#   1. cargo build + header drift check (include/opencde_documents.h must match src/ffi/)
#   2. cargo clippy (warnings are errors) and rustfmt check
#   3. Rust unit and integration tests of the whole workspace (library through its C ABI, simulator)
#   4. the C example end to end against the simulator, the header compiled as C99 and C++, valgrind
#   5. file-system faults on a tmpfs (as root), the real-browser tests (Chromium)
#   6. sanitizers (ASan/UBSan on a C test of the ABI, nightly ASan on Rust tests), bounded fuzzing
#   7. the C# wrapper's tests under Mono
# Prints one closing line "N passed, M failed" over the suites and exits non-zero if any failed.
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

passed=0
failed=0
skipped=0
failures=()
suite() { # suite NAME COMMAND...
    local name="$1"; shift
    echo
    echo "=== $name ==="
    if "$@"; then
        passed=$((passed + 1))
        echo "=== $name: passed ==="
    else
        failed=$((failed + 1))
        failures+=("$name")
        echo "=== $name: FAILED ==="
    fi
}

header_drift() {
    cargo build --workspace --quiet || return 1
    if ! git diff --exit-code --stat -- include/; then
        echo "include/opencde_documents.h differs from what cbindgen generates from src/ffi/."
        echo "Run 'cargo build' and commit the header."
        return 1
    fi
    if [ -n "$(git ls-files --others --exclude-standard -- include/)" ]; then
        echo "untracked generated files in include/"; return 1
    fi
}

root_only_tests() {
    cargo test --test filesystem -- --ignored
}

browser_tests() {
    cargo test --test browser -- --ignored --test-threads=1
}

lint() {
    cargo fmt --all -- --check && cargo clippy --workspace --all-targets --quiet -- -D warnings
}

suite "header drift check" header_drift
suite "rustfmt and clippy" lint
suite "Rust tests (workspace)" cargo test --workspace
if [ "$(id -u)" = 0 ]; then
    suite "file-system faults on a mounted tmpfs (root)" root_only_tests
else
    skipped=$((skipped + 1))
    echo
    echo "=== SKIPPED: file-system fault tests (disk full, read-only folder) need root to mount a tmpfs ==="
fi
suite "real browser: headless Chromium through chromedriver" browser_tests
suite "C example end to end, header as C99/C++, valgrind, ASan" bash examples/c/e2e.sh
suite "sanitizers: C argument checks (ASan/UBSan/LSan), Rust tests under ASan" bash tests/sanitizers.sh
suite "fuzzing: models, callback request parser, file names (${OCDE_FUZZ_SECONDS:-30} s each)" \
    bash tests/fuzz/run.sh "${OCDE_FUZZ_SECONDS:-30}"
suite "C# wrapper under Mono" bash bindings/csharp/run-tests.sh

echo
if [ "$failed" -gt 0 ]; then
    echo "failed suites: ${failures[*]}"
fi
echo "suites: $passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
