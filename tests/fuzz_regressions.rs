//! Replays every saved fuzzing input (seeds and anything the fuzzers found) through the same
//! invariant checks as the cargo-fuzz targets in tests/fuzz/, so a fixed crash stays fixed.

use opencde_documents::fuzzing::{check_callback_request, check_file_name, check_models};
use std::path::Path;

fn replay(target: &str, check: fn(&[u8])) -> usize {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fuzz/regressions")
        .join(target);
    let mut count = 0;
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        let data = std::fs::read(&path).unwrap();
        check(&data);
        count += 1;
    }
    count
}

#[test]
fn model_inputs() {
    assert!(replay("models", check_models) >= 3);
}

#[test]
fn callback_request_inputs() {
    assert!(replay("callback_request", check_callback_request) >= 2);
}

#[test]
fn file_name_inputs() {
    assert!(replay("file_name", check_file_name) >= 1);
}
