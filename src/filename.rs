//! Turning a server-supplied `file_name` into a base name that is safe to create inside the
//! host's folder on Windows, macOS and Linux alike.

use std::collections::{HashMap, HashSet};

/// Longest safe name, in bytes (below every common file-system limit of 255, leaving room for
/// the temporary-file decoration and a " (N)" suffix).
pub const MAX_NAME_BYTES: usize = 200;
/// Used when nothing usable is left of a name.
pub const FALLBACK_NAME: &str = "document";

const WINDOWS_RESERVED: &[&str] = &[
    "CON", "PRN", "AUX", "NUL", "COM1", "COM2", "COM3", "COM4", "COM5", "COM6", "COM7", "COM8",
    "COM9", "COM¹", "COM²", "COM³", "LPT1", "LPT2", "LPT3", "LPT4", "LPT5", "LPT6", "LPT7", "LPT8",
    "LPT9", "LPT¹", "LPT²", "LPT³", "CONIN$", "CONOUT$",
];

/// Reduces `name` to a safe base name: no path separators or `..`, `<>:"/\|?*` and control
/// characters replaced by `_`, leading dots/spaces and trailing dots/spaces trimmed, Windows device
/// names (`CON`, `nul.tar.gz`, ...) prefixed with `_`, at most [`MAX_NAME_BYTES`] bytes with the
/// extension kept. Never empty, never `.` or `..`.
pub fn safe_file_name(name: &str) -> String {
    let replaced: String = name
        .chars()
        .map(|c| match c {
            '<' | '>' | ':' | '"' | '/' | '\\' | '|' | '?' | '*' => '_',
            c if c.is_control() => '_',
            c => c,
        })
        .collect();
    // Leading dots would hide the file on Unix (and ".." must never survive); trailing dots and
    // spaces are silently dropped by Windows, so a name ending in them would not round-trip.
    let mut s = replaced
        .trim_start_matches([' ', '.'])
        .trim_end_matches(['.', ' '])
        .to_string();
    if s.is_empty() {
        return FALLBACK_NAME.to_string();
    }
    // Cut first, then judge: cutting trims trailing dots and spaces of the stem, which can turn
    // "COM1      …xyz.ifc" into "COM1.ifc".
    s = cap_length(&s, MAX_NAME_BYTES);
    if is_windows_device_name(&s) {
        s = cap_length(&format!("_{s}"), MAX_NAME_BYTES);
    }
    s
}

/// `CON`, `nul.tar.gz`, `COM1 .txt`: names Windows opens as a device, whatever the extension.
fn is_windows_device_name(name: &str) -> bool {
    let stem_upper = name
        .split('.')
        .next()
        .unwrap_or("")
        .trim_end()
        .to_uppercase();
    WINDOWS_RESERVED.contains(&stem_upper.as_str())
}

/// Cuts `name` to at most `max` bytes on a character boundary, keeping a short extension.
fn cap_length(name: &str, max: usize) -> String {
    if name.len() <= max {
        return name.to_string();
    }
    let (stem, ext) = split_extension(name);
    let ext = if ext.len() <= 16 { ext } else { "" };
    let stem = prefix_within(stem, max - ext.len()).trim_end_matches(['.', ' ']);
    format!("{stem}{ext}")
}

/// The longest prefix of `text` of at most `max` bytes that ends on a character boundary.
pub fn prefix_within(text: &str, max: usize) -> &str {
    let mut cut = text.len().min(max);
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    &text[..cut]
}

/// Splits "model.ifc" into ("model", ".ifc"); a leading dot is not an extension.
pub fn split_extension(name: &str) -> (&str, &str) {
    match name.rfind('.') {
        Some(i) if i > 0 => (&name[..i], &name[i..]),
        _ => (name, ""),
    }
}

/// Makes every name of a list unique, case-insensitively (Windows and macOS folders ignore case):
/// the second "a.ifc" becomes "a (2).ifc", and so on. The order decides who keeps the plain name.
/// Linear in the number of names (a hostile selection may repeat one name a million times).
pub fn unique_names(names: &[String]) -> Vec<String> {
    let mut taken: HashSet<String> = HashSet::with_capacity(names.len());
    // Per lower-cased name, the next counter to try: repeats never rescan from 2.
    let mut next: HashMap<String, usize> = HashMap::new();
    let mut out = Vec::with_capacity(names.len());
    for name in names {
        let key = name.to_lowercase();
        let mut candidate = name.clone();
        if taken.contains(&key) {
            let n = next.entry(key).or_insert(2);
            loop {
                candidate = with_counter(name, *n);
                *n += 1;
                if !taken.contains(&candidate.to_lowercase()) {
                    break;
                }
            }
        }
        taken.insert(candidate.to_lowercase());
        out.push(candidate);
    }
    out
}

/// "model.ifc", 3 → "model (3).ifc", cutting the stem (never the counter) to stay within
/// [`MAX_NAME_BYTES`] + 8.
fn with_counter(name: &str, n: usize) -> String {
    let (stem, ext) = split_extension(name);
    let suffix = format!(" ({n})");
    let room = (MAX_NAME_BYTES + 8).saturating_sub(suffix.len() + ext.len());
    format!("{}{suffix}{ext}", prefix_within(stem, room))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn separators_and_traversal_never_survive() {
        assert_eq!(safe_file_name("..\\..\\evil.dll"), "_.._evil.dll");
        assert_eq!(safe_file_name("/etc/passwd"), "_etc_passwd");
        assert_eq!(safe_file_name("Проект/模型 ü.ifc"), "Проект_模型 ü.ifc");
        for bad in ["..", ".", "...", "", "   ", " . "] {
            let s = safe_file_name(bad);
            assert_eq!(s, FALLBACK_NAME, "{bad:?}");
        }
    }

    #[test]
    fn windows_rules() {
        assert_eq!(safe_file_name("A:B.ifc"), "A_B.ifc");
        assert_eq!(safe_file_name("CON.ifc"), "_CON.ifc");
        assert_eq!(safe_file_name("nul.tar.gz"), "_nul.tar.gz");
        assert_eq!(safe_file_name("model .ifc."), "model .ifc");
        assert_eq!(safe_file_name("a\u{0}b\u{7}c\n.ifc"), "a_b_c_.ifc");
        assert_eq!(safe_file_name("console.ifc"), "console.ifc");
    }

    #[test]
    fn long_names_keep_their_extension() {
        let long = format!("{}.ifc", "x".repeat(300));
        let s = safe_file_name(&long);
        assert!(s.len() <= MAX_NAME_BYTES);
        assert!(s.ends_with(".ifc"));
        let wide = format!("{}.ifc", "模".repeat(100));
        let s = safe_file_name(&wide);
        assert!(s.len() <= MAX_NAME_BYTES && s.ends_with(".ifc"));
    }

    /// What Windows, macOS and Linux all accept as one file name in a folder.
    fn valid_everywhere(name: &str) -> bool {
        let stem = name
            .split('.')
            .next()
            .unwrap_or("")
            .trim_end()
            .to_uppercase();
        !name.is_empty()
            && name.len() <= 255
            && name != "."
            && name != ".."
            && !name
                .chars()
                .any(|c| "<>:\"/\\|?*".contains(c) || c.is_control())
            && !name.ends_with(['.', ' '])
            && !WINDOWS_RESERVED.contains(&stem.as_str())
    }

    #[test]
    fn the_hostile_name_list_becomes_valid_everywhere() {
        let long = "n".repeat(300) + ".ifc";
        let cases: &[(&str, Option<&str>)] = &[
            ("A:B.ifc", Some("A_B.ifc")),
            ("CON.ifc", Some("_CON.ifc")),
            ("nul.tar.gz", Some("_nul.tar.gz")),
            ("model .ifc.", Some("model .ifc")),
            ("..\\..\\evil.dll", Some("_.._evil.dll")),
            ("/etc/passwd", Some("_etc_passwd")),
            ("", Some(FALLBACK_NAME)),
            ("....", Some(FALLBACK_NAME)),
            ("lpt9", Some("_lpt9")),
            ("a\tb.ifc", Some("a_b.ifc")),
            (&long, None),
        ];
        for (input, expected) in cases {
            let safe = safe_file_name(input);
            assert!(valid_everywhere(&safe), "{input:?} -> {safe:?}");
            if let Some(e) = expected {
                assert_eq!(&safe, e, "{input:?}");
            }
        }
        let capped = safe_file_name(&long);
        assert!(
            capped.len() <= MAX_NAME_BYTES && capped.ends_with(".ifc"),
            "{capped}"
        );
    }

    #[test]
    fn a_device_name_hidden_behind_trailing_spaces_is_still_prefixed() {
        // Cutting to the length limit trims the stem's trailing spaces: judge after the cut.
        let com1 = format!("COM1{}xyz.ifc", " ".repeat(192));
        assert_eq!(safe_file_name(&com1), "_COM1.ifc");
        let aux = format!("aux{}z", " ".repeat(200));
        assert_eq!(safe_file_name(&aux), "_aux");
        assert!(valid_everywhere(&safe_file_name(&com1)));
    }

    #[test]
    fn many_repeats_of_one_name_stay_linear_and_distinct() {
        // 20 000 empty entries of a hostile selection all fall back to "document".
        let names = vec![FALLBACK_NAME.to_string(); 20_000];
        let unique = unique_names(&names);
        let distinct: HashSet<String> = unique.iter().map(|n| n.to_lowercase()).collect();
        assert_eq!(distinct.len(), names.len());
        assert_eq!(unique[1], "document (2)");
        assert_eq!(unique[19_999], "document (20000)");
    }

    #[test]
    fn a_counter_is_never_cut_away_from_a_long_name() {
        let long = format!("{}.ifc", "L".repeat(196));
        assert_eq!(long.len(), MAX_NAME_BYTES);
        let names = vec![long.clone(); 3];
        let unique = unique_names(&names);
        assert!(
            unique[1].ends_with(" (2).ifc") && unique[2].ends_with(" (3).ifc"),
            "{unique:?}"
        );
        assert!(unique.iter().all(|n| n.len() <= MAX_NAME_BYTES + 8));
    }

    #[test]
    fn duplicates_get_numbered_case_insensitively() {
        let names = vec![
            "a.ifc".to_string(),
            "A.ifc".to_string(),
            "a.ifc".to_string(),
            "b".to_string(),
        ];
        assert_eq!(
            unique_names(&names),
            vec!["a.ifc", "A (2).ifc", "a (3).ifc", "b"]
        );
    }
}
