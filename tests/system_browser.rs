//! `open_url` NULL: the library opens the system browser itself (through the webbrowser crate),
//! and a failure to open is an error the host sees. Each case runs in a child process so that
//! the BROWSER and PATH changes cannot leak into other tests.

mod common;
use common::*;
use opencde_documents::ffi::selection::{ocde_selection_free, ocde_selection_start};
use opencde_documents::ffi::OcdeStatus;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// In the child: start a selection with `open_url` NULL and report the status on stderr.
fn child_start() {
    let sim = Simulator::start(SimConfig::default()).unwrap();
    let client = CClient::for_sim(&sim);
    let mut sel = std::ptr::null_mut();
    let status = unsafe {
        ocde_selection_start(
            client.0,
            std::ptr::null(),
            None,
            std::ptr::null_mut(),
            &mut sel,
        )
    };
    let url = if sel.is_null() {
        String::new()
    } else {
        CSelection(sel).url()
    };
    eprintln!("STATUS={status:?} URL={url} ERROR={}", last_error());
    if status == OcdeStatus::Ok {
        // Give the browser stand-in time to record the URL while the selection is alive.
        std::thread::sleep(Duration::from_millis(300));
    } else {
        unsafe { ocde_selection_free(sel) };
    }
}

fn run_child(test: &str, browser: &str, path_env: &str) -> String {
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env("OCDE_BROWSER_CHILD", "1")
        .env("BROWSER", browser)
        .env("PATH", path_env)
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "child failed: {stderr}");
    stderr
}

#[test]
fn null_open_url_launches_the_system_browser_with_the_exact_url() {
    if std::env::var_os("OCDE_BROWSER_CHILD").is_some() {
        return child_start();
    }
    let dir = TempDir::new("browser-ok");
    let record = dir.path().join("opened.txt");
    let script = dir.path().join("fake-browser");
    std::fs::write(
        &script,
        format!("#!/bin/sh\nprintf '%s' \"$1\" > '{}'\n", record.display()),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let stderr = run_child(
        "null_open_url_launches_the_system_browser_with_the_exact_url",
        script.to_str().unwrap(),
        "/usr/bin:/bin",
    );
    assert!(stderr.contains("STATUS=Ok"), "{stderr}");
    let url = stderr
        .split("URL=")
        .nth(1)
        .unwrap()
        .split(' ')
        .next()
        .unwrap()
        .to_string();
    assert!(url.starts_with("http://127.0.0.1:"), "{stderr}");
    let opened = wait_for_file(&record);
    assert_eq!(
        opened, url,
        "the browser got exactly the selection page URL"
    );
}

/// A selection page URL as real CDEs hand them out: a query with `&`, an encoded `&`, a fragment.
const URL_WITH_AMPERSANDS: &str =
    "http://127.0.0.1:9/ui/select?session=a1&lang=en&next=%2Fx%26y%3D1&mode=pick#docs";

#[test]
fn a_url_with_ampersands_reaches_the_browser_whole() {
    if std::env::var_os("OCDE_BROWSER_CHILD").is_some() {
        let url = c(URL_WITH_AMPERSANDS);
        let status = unsafe { opencde_documents::ffi::ocde_open_system_browser(url.as_ptr()) };
        eprintln!("STATUS={status:?} ERROR={}", last_error());
        return;
    }
    let dir = TempDir::new("browser-amp");
    let record = dir.path().join("opened.txt");
    let script = dir.path().join("fake-browser");
    // Records every argument it got, one per line: a URL cut at `&` would show up as several.
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nprintf '%s\\n' \"$@\" > '{}'\n",
            record.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let stderr = run_child(
        "a_url_with_ampersands_reaches_the_browser_whole",
        script.to_str().unwrap(),
        "/usr/bin:/bin",
    );
    assert!(stderr.contains("STATUS=Ok"), "{stderr}");
    let opened = wait_for_file(&record);
    assert_eq!(
        opened,
        format!("{URL_WITH_AMPERSANDS}\n"),
        "one argument, byte for byte"
    );
}

#[test]
fn failure_to_open_the_system_browser_is_reported() {
    if std::env::var_os("OCDE_BROWSER_CHILD").is_some() {
        return child_start();
    }
    let dir = TempDir::new("browser-none");
    // No BROWSER that exists and a PATH with no xdg-open, gio, x-www-browser...
    let stderr = run_child(
        "failure_to_open_the_system_browser_is_reported",
        "/nonexistent/browser",
        dir.path().to_str().unwrap(),
    );
    assert!(stderr.contains("STATUS=Io"), "{stderr}");
    assert!(stderr.contains("system browser"), "{stderr}");
}

fn wait_for_file(path: &Path) -> String {
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(text) = std::fs::read_to_string(path) {
            if !text.is_empty() {
                return text;
            }
        }
        assert!(Instant::now() < until, "browser stand-in never ran");
        std::thread::sleep(Duration::from_millis(20));
    }
}
