//! Invariant checks shared by the cargo-fuzz targets (`tests/fuzz/`) and the regression test that
//! replays their saved inputs (`tests/fuzz_regressions.rs`). Each panics when an invariant breaks;
//! none may panic on its own for any input.
#![doc(hidden)]

use crate::filename::{safe_file_name, unique_names, MAX_NAME_BYTES};
use crate::listener::{judge_raw, parse_callback_query, CallbackOutcome, Verdict};
use crate::models::{error_body_message, SelectDocumentsResponse, SelectedDocuments};

/// JSON models: parsing never panics; a parsed selection's strings round-trip through C strings.
pub fn check_models(data: &[u8]) {
    if let Ok(sel) = SelectedDocuments::parse(data) {
        for d in &sel.documents {
            let names = [&d.document_id, &d.title, &d.file_name, &d.download_url];
            for n in names {
                let _ = crate::ffi::boundary::c_string(n);
            }
        }
    }
    let _ = SelectDocumentsResponse::parse(data);
    if let Some(message) = error_body_message(data) {
        assert!(
            !message.chars().any(char::is_control),
            "control characters in {message:?}"
        );
        assert!(message.chars().count() <= 301);
    }
}

/// The callback request parser: never panics; only a GET of the exact path with a loopback Host
/// is ever accepted, and an accepted selection URL is non-empty.
pub fn check_callback_request(data: &[u8]) {
    const PATH: &str = "/00112233445566778899aabbccddeeff";
    if let Some(Verdict::Accept(outcome)) = judge_raw(data, PATH, 8080) {
        {
            let text = String::from_utf8_lossy(data);
            assert!(text.starts_with("GET "), "accepted non-GET: {text:?}");
            let target = text.split(' ').nth(1).unwrap_or("");
            assert_eq!(
                target.split('?').next(),
                Some(PATH),
                "accepted another path: {text:?}"
            );
            if let CallbackOutcome::Selected(url) = outcome {
                assert!(!url.is_empty());
            }
        }
    }
    if let Ok(query) = std::str::from_utf8(data) {
        let _ = parse_callback_query(query);
    }
}

/// The file-name sanitiser: the result is always one valid name on Windows, macOS and Linux,
/// and a list of names becomes a list of distinct names (ignoring case).
pub fn check_file_name(data: &[u8]) {
    let name = String::from_utf8_lossy(data);
    let safe = safe_file_name(&name);
    assert!(
        !safe.is_empty() && safe != "." && safe != "..",
        "{name:?} -> {safe:?}"
    );
    assert!(
        safe.len() <= MAX_NAME_BYTES,
        "{name:?} -> {} bytes",
        safe.len()
    );
    assert!(
        !safe
            .chars()
            .any(|c| "<>:\"/\\|?*".contains(c) || c.is_control()),
        "{safe:?}"
    );
    assert!(
        !safe.ends_with(['.', ' ']) && !safe.starts_with(['.', ' ']),
        "{safe:?}"
    );
    let stem = safe
        .split('.')
        .next()
        .unwrap_or("")
        .trim_end()
        .to_uppercase();
    let reserved = [
        "CON", "PRN", "AUX", "NUL", "COM1", "LPT1", "COM9", "LPT9", "CONIN$", "CONOUT$",
    ];
    assert!(!reserved.contains(&stem.as_str()), "{safe:?}");
    let list: Vec<String> = name.split('\n').map(safe_file_name).collect();
    let unique = unique_names(&list);
    let mut lower: Vec<String> = unique.iter().map(|n| n.to_lowercase()).collect();
    lower.sort();
    lower.dedup();
    assert_eq!(lower.len(), unique.len(), "duplicates in {unique:?}");
}
