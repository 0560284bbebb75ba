#![no_main]
//! Fuzz target: see opencde_documents::fuzzing::check_file_name for the invariants.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    opencde_documents::fuzzing::check_file_name(data);
});
