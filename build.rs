//! Generates include/opencde_documents.h from src/ffi/ with cbindgen. CI regenerates it and fails
//! when the committed header differs.

use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-changed=src/ffi");
    println!("cargo:rerun-if-changed=cbindgen.toml");
    let crate_dir =
        PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let config = match cbindgen::Config::from_file(crate_dir.join("cbindgen.toml")) {
        Ok(c) => c,
        Err(e) => panic!("cbindgen.toml: {e}"),
    };
    // Only the FFI layer declares the C API; cbindgen follows its `pub mod`s from mod.rs (listing
    // the files again would declare every function twice).
    let result = cbindgen::Builder::new()
        .with_config(config)
        .with_src(crate_dir.join("src/ffi/mod.rs"))
        .generate();
    match result {
        Ok(bindings) => {
            bindings.write_to_file(crate_dir.join("include/opencde_documents.h"));
        }
        Err(e) => panic!("cbindgen failed: {e}"),
    }
}
