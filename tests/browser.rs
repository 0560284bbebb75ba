//! A real browser on the CDE simulator's selection page: Debian's headless Chromium, driven through
//! chromedriver's W3C WebDriver HTTP API, ticks documents and presses Download or Cancel; the
//! library's loopback listener must receive the callback and `ocde_selection_poll` must report it.
//! One test first signs in on the simulator's OAuth2 page (`ocde_sign_in_start` / `_poll`), then
//! selects and downloads with the token that sign-in obtained.
//!
//! These tests need `/usr/bin/chromium` and `/usr/bin/chromedriver`
//! (`apt-get install -y chromium chromium-driver`; `OCDE_CHROMIUM` / `OCDE_CHROMEDRIVER` point
//! elsewhere). They are `#[ignore]`d so that a plain `cargo test` reports them as ignored; with
//! `--ignored` and no Chromium they fail with a message saying what is missing.
//!
//!     cargo test -j 1 --test browser -- --ignored --test-threads=1
//!
//! All traffic stays on 127.0.0.1: chromedriver is started without `--allowed-ips` (with it,
//! chromedriver listens on every interface and only filters by peer address; without it, it binds
//! the loopback addresses only), Chromium runs with `--no-proxy-server` and without background
//! networking, and the WebDriver client ignores proxy variables. Chromedriver runs in a process
//! group of its own, which is killed (Chromium included) when the test ends, pass or fail.

mod common;
use common::*;
use opencde_documents::ffi::client::OcdeClient;
use opencde_documents::ffi::signin::{
    ocde_client_new_for_server, ocde_client_set_oauth, ocde_sign_in_free, ocde_sign_in_poll,
    ocde_sign_in_start, ocde_sign_in_url, OcdeSignIn,
};
use opencde_documents::ffi::OcdeStatus;
use serde_json::{json, Value};
use std::ffi::{c_char, c_void, CStr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Upper bound of every wait in these tests (browser start, page loads, the selection's poll).
const WAIT: Duration = Duration::from_secs(30);
/// The W3C WebDriver key of an element reference.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// Calls `f` every 100 ms until it returns `Some`, at most `WAIT`; panics naming `what` after.
fn wait_for<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {WAIT:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Polls the selection until it leaves PENDING, at most `WAIT`.
fn poll_final(sel: &CSelection) -> OcdeStatus {
    let deadline = Instant::now() + WAIT;
    loop {
        let status = sel.poll(200);
        if status != OcdeStatus::Pending || Instant::now() >= deadline {
            return status;
        }
    }
}

/// The selected document ids, sorted.
fn selected_ids(sel: &CSelection) -> Vec<String> {
    let mut ids: Vec<String> = (0..sel.count())
        .map(|i| sel.document(i).document_id)
        .collect();
    ids.sort();
    ids
}

fn is_executable(p: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    }
    #[cfg(not(unix))]
    {
        p.is_file()
    }
}

/// `(chromium, chromedriver)`; panics with an install hint if either is missing.
fn tools() -> (PathBuf, PathBuf) {
    let tool = |var: &str, default: &str| {
        std::env::var_os(var)
            .map(PathBuf::from)
            .unwrap_or_else(|| default.into())
    };
    let chromium = tool("OCDE_CHROMIUM", "/usr/bin/chromium");
    let driver = tool("OCDE_CHROMEDRIVER", "/usr/bin/chromedriver");
    let missing: Vec<String> = [&chromium, &driver]
        .into_iter()
        .filter(|p| !is_executable(p))
        .map(|p| p.display().to_string())
        .collect();
    assert!(
        missing.is_empty(),
        "the browser tests need Debian's Chromium and chromedriver, but {} is missing or not \
         executable: install them with `apt-get install -y chromium chromium-driver` (or set \
         OCDE_CHROMIUM / OCDE_CHROMEDRIVER)",
        missing.join(" and ")
    );
    (chromium, driver)
}

/// The last lines of a log file, for failure messages.
fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// A chromedriver child process in its own process group, killed with the group on drop.
struct Driver {
    child: Child,
    base: String,
    out: PathBuf,
    log: PathBuf,
}

impl Driver {
    /// Starts chromedriver on an ephemeral loopback port (it prints the port it got) and waits
    /// until `/status` says it is ready.
    fn start(chromedriver: &Path, dir: &Path) -> Driver {
        let out = dir.join("chromedriver.out");
        let log = dir.join("chromedriver.log");
        let stdout = std::fs::File::create(&out).unwrap();
        let stderr = stdout.try_clone().unwrap();
        let mut cmd = Command::new(chromedriver);
        cmd.arg("--port=0")
            .arg(format!("--log-path={}", log.display()))
            // Chromium's crash database and caches go to the temporary folder, not to ~/.config.
            .env("XDG_CONFIG_HOME", dir.join("config"))
            .env("XDG_CACHE_HOME", dir.join("cache"))
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr);
        #[cfg(unix)]
        {
            use std::os::unix::process::CommandExt;
            cmd.process_group(0);
        }
        // If the test process dies without unwinding (Ctrl-C, a harness timeout), the kernel
        // kills chromedriver; Chromium then exits because its DevTools pipe closes.
        #[cfg(target_os = "linux")]
        unsafe {
            use std::os::unix::process::CommandExt;
            cmd.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", chromedriver.display()));
        let mut driver = Driver {
            child,
            base: String::new(),
            out,
            log,
        };
        const STARTED: &str = "started successfully on port ";
        let port: u16 = wait_for("chromedriver to print its port", || {
            driver.assert_running();
            let text = std::fs::read_to_string(&driver.out).unwrap_or_default();
            let rest = &text[text.find(STARTED)? + STARTED.len()..];
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            digits.parse().ok()
        });
        driver.base = format!("http://127.0.0.1:{port}");
        let agent = agent(Duration::from_secs(5));
        wait_for("chromedriver's /status to say ready", || {
            driver.assert_running();
            let mut resp = agent.get(format!("{}/status", driver.base)).call().ok()?;
            let body: Value = serde_json::from_str(&resp.body_mut().read_to_string().ok()?).ok()?;
            (body["value"]["ready"] == true).then_some(())
        });
        driver
    }

    fn assert_running(&mut self) {
        if let Ok(Some(exit)) = self.child.try_wait() {
            panic!(
                "chromedriver exited ({exit}):\n{}\n{}",
                tail(&self.out, 20),
                tail(&self.log, 20)
            );
        }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        // The group id is the child's pid, which stays ours until it is reaped below, so the
        // signal reaches only chromedriver and the Chromium processes it started.
        #[cfg(unix)]
        unsafe {
            libc::kill(-(self.child.id() as libc::pid_t), libc::SIGKILL);
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!(
                "--- chromedriver output ---\n{}\n--- chromedriver log (tail) ---\n{}",
                tail(&self.out, 20),
                tail(&self.log, 40)
            );
        }
    }
}

/// A ureq agent for loopback WebDriver calls: bounded, no proxy, error statuses as responses.
fn agent(timeout: Duration) -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(Some(timeout))
        .http_status_as_error(false)
        .proxy(None)
        .max_redirects(0)
        .build()
        .into()
}

/// A WebDriver session in headless Chromium. Dropping it ends the session, then the driver.
struct Browser {
    session: String,
    agent: ureq::Agent,
    driver: Driver,
    _dir: TempDir,
}

impl Browser {
    fn launch(tag: &str) -> Browser {
        let (chromium, chromedriver) = tools();
        let dir = TempDir::new(&format!("browser-{tag}"));
        let profile = dir.path().join("profile");
        std::fs::create_dir_all(&profile).unwrap();
        let driver = Driver::start(&chromedriver, dir.path());
        // Page loads are bounded by the session's own timeouts (30 s); the client gives each
        // call a little more, and session creation (Chromium's start) up to a minute.
        let agent = agent(Duration::from_secs(60));
        let caps = json!({
            "capabilities": {
                "alwaysMatch": {
                    "pageLoadStrategy": "normal",
                    "unhandledPromptBehavior": "dismiss",
                    "timeouts": { "implicit": 0, "pageLoad": 30_000, "script": 30_000 },
                    "goog:chromeOptions": {
                        "binary": chromium.display().to_string(),
                        "args": [
                            "--headless",
                            "--no-sandbox",
                            "--disable-gpu",
                            "--no-first-run",
                            "--no-default-browser-check",
                            "--disable-background-networking",
                            "--disable-component-update",
                            "--disable-sync",
                            "--disable-quic",
                            "--disable-dev-shm-usage",
                            "--disable-extensions",
                            "--no-proxy-server",
                            "--password-store=basic",
                            "--remote-debugging-pipe",
                            "--window-size=1280,900",
                            format!("--user-data-dir={}", profile.display()),
                        ]
                    }
                }
            }
        });
        let url = format!("{}/session", driver.base);
        let value = send(&agent, "POST", &url, Some(&caps))
            .unwrap_or_else(|e| panic!("cannot start a Chromium session: {e}"));
        let session = value["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no sessionId in {value}"))
            .to_string();
        Browser {
            session,
            agent,
            driver,
            _dir: dir,
        }
    }

    /// One WebDriver command on this session; `Ok` is the response's `value`.
    fn cmd(&self, method: &str, path: &str, body: Option<&Value>) -> Result<Value, String> {
        let url = format!("{}/session/{}{path}", self.driver.base, self.session);
        send(&self.agent, method, &url, body)
    }

    /// Like `cmd`, but panics on a WebDriver error.
    fn must(&self, method: &str, path: &str, body: Option<&Value>) -> Value {
        self.cmd(method, path, body)
            .unwrap_or_else(|e| panic!("WebDriver {method} {path}: {e}"))
    }

    fn goto(&self, url: &str) {
        self.must("POST", "/url", Some(&json!({ "url": url })));
    }

    fn url(&self) -> Result<String, String> {
        Ok(self
            .cmd("GET", "/url", None)?
            .as_str()
            .unwrap_or("")
            .to_string())
    }

    fn source(&self) -> Result<String, String> {
        Ok(self
            .cmd("GET", "/source", None)?
            .as_str()
            .unwrap_or("")
            .to_string())
    }

    /// The element matching the CSS selector, if there is one now.
    fn find(&self, css: &str) -> Result<String, String> {
        let v = self.cmd(
            "POST",
            "/element",
            Some(&json!({ "using": "css selector", "value": css })),
        )?;
        v[ELEMENT]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| format!("no element reference in {v}"))
    }

    /// Waits for the element, then clicks it.
    fn click(&self, css: &str) {
        let el = wait_for(&format!("element {css}"), || self.find(css).ok());
        self.must("POST", &format!("/element/{el}/click"), Some(&json!({})));
    }

    fn is_selected(&self, css: &str) -> bool {
        let el = self
            .find(css)
            .unwrap_or_else(|e| panic!("element {css}: {e}"));
        self.must("GET", &format!("/element/{el}/selected"), None) == true
    }

    /// The element's rendered text, if the element is there now.
    fn text(&self, css: &str) -> Option<String> {
        let el = self.find(css).ok()?;
        let v = self.cmd("GET", &format!("/element/{el}/text"), None).ok()?;
        v.as_str().map(str::to_string)
    }

    /// Ticks the checkbox of each document id and checks that it is ticked.
    fn tick(&self, ids: &[&str]) {
        for id in ids {
            let css = format!("input[type=checkbox][name=doc][value=\"{id}\"]");
            self.click(&css);
            assert!(self.is_selected(&css), "{id} is ticked after the click");
        }
    }

    /// Waits until the browser shows a page under `url_prefix` whose source contains `needle`;
    /// returns that source.
    fn wait_page(&self, url_prefix: &str, needle: &str) -> String {
        let mut last = (String::new(), String::new());
        let deadline = Instant::now() + WAIT;
        loop {
            if let (Ok(url), Ok(source)) = (self.url(), self.source()) {
                if url.starts_with(url_prefix) && source.contains(needle) {
                    return source;
                }
                last = (url, source);
            }
            assert!(
                Instant::now() < deadline,
                "timed out after {WAIT:?} waiting for a page under {url_prefix} containing \
                 {needle:?}; the browser is at {} showing:\n{}",
                last.0,
                last.1
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Closing the session lets Chromium exit cleanly; the driver's drop kills whatever is
        // left either way.
        let url = format!("{}/session/{}", self.driver.base, self.session);
        let _ = send(&agent(Duration::from_secs(10)), "DELETE", &url, None);
    }
}

/// A WebDriver HTTP call; `Ok` is the JSON `value`, `Err` describes an HTTP or WebDriver error.
fn send(
    agent: &ureq::Agent,
    method: &str,
    url: &str,
    body: Option<&Value>,
) -> Result<Value, String> {
    let result = match method {
        "GET" => agent.get(url).call(),
        "DELETE" => agent.delete(url).call(),
        "POST" => agent
            .post(url)
            .header("Content-Type", "application/json")
            .send(body.unwrap_or(&json!({})).to_string()),
        other => unreachable!("method {other}"),
    };
    let mut resp = result.map_err(|e| format!("{method} {url}: {e}"))?;
    let status = resp.status().as_u16();
    let text = resp
        .body_mut()
        .read_to_string()
        .map_err(|e| format!("{method} {url}: reading the answer: {e}"))?;
    let json: Value = serde_json::from_str(&text)
        .map_err(|e| format!("{method} {url}: HTTP {status}, not JSON ({e}): {text}"))?;
    if status == 200 {
        Ok(json["value"].clone())
    } else {
        Err(format!(
            "{method} {url}: HTTP {status} {}: {}",
            json["value"]["error"], json["value"]["message"]
        ))
    }
}

/// A simulator, a client, and a selection whose `open_url` recorded the CDE page's URL.
fn begin(config: SimConfig) -> (Simulator, CClient, CSelection, String) {
    let sim = Simulator::start(config).unwrap();
    let client = CClient::for_sim(&sim);
    let opener = Opener::new();
    let sel = start(&client, &Opts::default(), &opener).unwrap_or_else(|e| panic!("start: {e:?}"));
    let urls = opener.urls.lock().unwrap().clone();
    assert_eq!(urls.len(), 1, "open_url called once: {urls:?}");
    let page = urls[0].0.clone();
    assert_eq!(page, sel.url());
    (sim, client, sel, page)
}

/// The requests a real browser (not our client) sent to the CDE, as `METHOD target`.
fn browser_requests(sim: &Simulator) -> Vec<String> {
    sim.requests()
        .iter()
        .filter(|r| {
            r.header("User-Agent")
                .is_some_and(|ua| ua.contains("Chrome"))
        })
        .map(|r| format!("{} {}", r.method, r.target))
        .collect()
}

#[test]
#[ignore = "needs Debian chromium + chromedriver; run by tests/run-all.sh with --ignored"]
fn chromium_ticks_two_documents_and_the_navigation_callback_delivers_them() {
    let browser = Browser::launch("navigation");
    let (sim, _client, sel, page) = begin(SimConfig::default());

    browser.goto(&page);
    browser.tick(&["doc-1", "doc-3"]);
    browser.click("#download");

    let status = poll_final(&sel);
    assert_eq!(status, OcdeStatus::Ok, "{}", last_error());
    assert_eq!(selected_ids(&sel), ["doc-1", "doc-3"]);

    // The browser followed the CDE's 303 to our listener and shows its success page.
    let callback = registered_callback(&sim);
    let source = browser.wait_page(&callback, "reached the application");
    assert!(source.contains("id=\"ocde-result\""), "{source}");
    let final_url = browser.url().unwrap();
    assert!(final_url.contains("selected_documents_url="), "{final_url}");
    // Chromium itself sent the form: the confirm request carries both ticked ids.
    let confirms: Vec<String> = browser_requests(&sim)
        .into_iter()
        .filter(|r| r.contains("/confirm?"))
        .collect();
    assert_eq!(confirms.len(), 1, "{confirms:?}");
    assert!(
        confirms[0].ends_with("/confirm?doc=doc-1&doc=doc-3"),
        "{confirms:?}"
    );
}

#[test]
#[ignore = "needs Debian chromium + chromedriver; run by tests/run-all.sh with --ignored"]
fn chromium_clicks_cancel_and_the_selection_is_user_cancelled() {
    let browser = Browser::launch("cancel");
    let (sim, _client, sel, page) = begin(SimConfig::default());

    browser.goto(&page);
    browser.click("#cancel");

    let status = poll_final(&sel);
    assert_eq!(status, OcdeStatus::UserCancelled, "{}", last_error());
    assert_eq!(sel.count(), 0);

    let callback = registered_callback(&sim);
    browser.wait_page(&callback, "cancelled");
    let result = browser.text("#ocde-result").unwrap_or_default();
    assert!(result.contains("cancelled"), "{result}");
    assert!(
        browser
            .url()
            .unwrap()
            .contains("user_cancelled_selection=true"),
        "{:?}",
        browser.url()
    );
}

#[test]
#[ignore = "needs Debian chromium + chromedriver; run by tests/run-all.sh with --ignored"]
fn chromium_xhr_callback_delivers_the_selection_and_the_page_stays() {
    let browser = Browser::launch("xhr");
    let (sim, _client, sel, page) = begin(SimConfig {
        xhr_callback: true,
        ..Default::default()
    });

    browser.goto(&page);
    browser.tick(&["doc-2", "doc-3"]);
    browser.click("#download");

    let status = poll_final(&sel);
    assert_eq!(status, OcdeStatus::Ok, "{}", last_error());
    assert_eq!(selected_ids(&sel), ["doc-2", "doc-3"]);

    // The page learns that the cross-origin XHR finished and shows it; no navigation happened.
    let shown = wait_for("the page's status to say it was sent", || {
        browser
            .text("#status")
            .filter(|t| t.contains("Sent to the application"))
    });
    assert_eq!(shown, "Sent to the application");
    assert_eq!(
        browser.url().unwrap(),
        page,
        "the browser stayed on the CDE page"
    );
    let requests = browser_requests(&sim);
    assert!(
        requests
            .iter()
            .any(|r| r.ends_with("/selection-url?doc=doc-2&doc=doc-3")),
        "{requests:?}"
    );
    assert!(
        !requests.iter().any(|r| r.contains("/confirm")),
        "{requests:?}"
    );
}

// Sign-in in a real browser (issue "A real browser: Debian's headless Chromium signs in on the
// simulator's page and then selects documents, in one test, through the public C functions").
// The helpers below are those of tests/signin.rs, with every wait bounded by `WAIT`.

/// The OAuth2 client id the simulator knows (`SimConfig::oauth_client_id`'s default).
const CLIENT_ID: &str = "ocde-test-client";

/// What the token callback received, one `(access, refresh, expires_at)` per call.
#[derive(Default)]
struct Tokens(Mutex<Vec<(String, Option<String>, i64)>>);

impl Tokens {
    fn sets(&self) -> Vec<(String, Option<String>, i64)> {
        self.0.lock().unwrap().clone()
    }
}

unsafe extern "C" fn on_tokens(
    user_data: *mut c_void,
    access: *const c_char,
    refresh: *const c_char,
    expires_at: i64,
) {
    let t = &*(user_data as *const Tokens);
    let refresh =
        (!refresh.is_null()).then(|| CStr::from_ptr(refresh).to_string_lossy().into_owned());
    t.0.lock().unwrap().push((
        CStr::from_ptr(access).to_string_lossy().into_owned(),
        refresh,
        expires_at,
    ));
}

/// A client made from the server URL (`ocde_client_new_for_server`), with the OAuth client id
/// and the token recorder (`ocde_client_set_oauth`). `tokens` must outlive the client.
fn client_for(sim: &Simulator, tokens: &Tokens) -> CClient {
    let mut raw: *mut OcdeClient = std::ptr::null_mut();
    let status = unsafe { ocde_client_new_for_server(c(&sim.cde_origin()).as_ptr(), &mut raw) };
    assert_eq!(status, OcdeStatus::Ok, "{}", last_error());
    let status = unsafe {
        ocde_client_set_oauth(
            raw,
            c(CLIENT_ID).as_ptr(),
            std::ptr::null(),
            Some(on_tokens),
            tokens as *const Tokens as *mut c_void,
        )
    };
    assert_eq!(status, OcdeStatus::Ok, "{}", last_error());
    CClient(raw)
}

/// An `OcdeSignIn*`, freed on drop.
struct SignIn(*mut OcdeSignIn);

impl SignIn {
    /// `ocde_sign_in_start` (default expiry) whose `open_url` records the URL in `opener`.
    fn start(client: &CClient, opener: &Opener) -> SignIn {
        let mut raw = std::ptr::null_mut();
        let status = unsafe {
            ocde_sign_in_start(
                client.0,
                0,
                Some(record_url),
                opener as *const Opener as *mut c_void,
                &mut raw,
            )
        };
        assert_eq!(status, OcdeStatus::Ok, "{}", last_error());
        assert!(!raw.is_null());
        SignIn(raw)
    }

    fn url(&self) -> String {
        unsafe { text(ocde_sign_in_url(self.0)) }.unwrap()
    }

    /// Polls until the sign-in leaves PENDING, at most `WAIT`.
    fn poll_final(&self) -> OcdeStatus {
        let deadline = Instant::now() + WAIT;
        loop {
            let status = unsafe { ocde_sign_in_poll(self.0, 200) };
            if status != OcdeStatus::Pending || Instant::now() >= deadline {
                return status;
            }
        }
    }
}

impl Drop for SignIn {
    fn drop(&mut self) {
        unsafe { ocde_sign_in_free(self.0) }
    }
}

unsafe extern "C" fn record_url(user_data: *mut c_void, url: *const c_char) -> i32 {
    let o = &*(user_data as *const Opener);
    o.urls.lock().unwrap().push((
        CStr::from_ptr(url).to_string_lossy().into_owned(),
        std::thread::current().id(),
    ));
    0
}

/// The single URL an opener recorded.
fn opened_url(opener: &Opener) -> String {
    let urls = opener.urls.lock().unwrap().clone();
    assert_eq!(urls.len(), 1, "open_url called once: {urls:?}");
    urls[0].0.clone()
}

#[test]
#[ignore = "needs Debian chromium + chromedriver; run by tests/run-all.sh with --ignored"]
fn chromium_signs_in_on_the_simulator_page_then_selects_two_documents_with_the_issued_token() {
    let browser = Browser::launch("sign-in");
    // The CDE API needs a token the client is never given: only a token issued by the
    // simulator's OAuth server after the browser's sign-in can open it.
    let sim = Simulator::start(SimConfig {
        required_token: Some("unknown-to-the-client".into()),
        ..Default::default()
    })
    .unwrap();
    let tokens = Tokens::default();
    let client = client_for(&sim, &tokens);
    // Before signing in, the CDE refuses the client and no page is opened.
    let refused = Opener::new();
    let (status, message) = start(&client, &Opts::default(), &refused)
        .err()
        .expect("a selection before sign-in is refused");
    assert_eq!(status, OcdeStatus::Unauthorized, "{message}");
    assert!(refused.urls.lock().unwrap().is_empty());

    // Sign in: the library opens the authorization page, Chromium presses "Sign in".
    let opener = Opener::new();
    let sign_in = SignIn::start(&client, &opener);
    let authorize = opened_url(&opener);
    assert_eq!(authorize, sign_in.url());
    assert!(
        authorize.starts_with(&format!("{}/oauth/authorize?", sim.cde_origin()))
            && authorize.contains("code_challenge_method=S256")
            && authorize.contains("state="),
        "{authorize}"
    );
    let redirect_uri = url::Url::parse(&authorize)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "redirect_uri")
        .unwrap_or_else(|| panic!("no redirect_uri in {authorize}"))
        .1
        .into_owned();
    assert!(
        redirect_uri.starts_with("http://127.0.0.1:"),
        "{redirect_uri}"
    );
    browser.goto(&authorize);
    let client_shown = wait_for("the sign-in page to name the client", || {
        browser.text("#client-id")
    });
    assert_eq!(client_shown, CLIENT_ID);
    browser.click("#sign-in");

    // The browser follows the 302 to our loopback listener, which answers at once (without
    // waiting for a poll) that the application is signed in. The page is awaited before the
    // poll on purpose: the poll that ends the flow stops the listener, and stopping shuts down
    // every open connection, also one whose answer is not written yet (`accept_loop` in
    // src/listener.rs), which Chromium shows as ERR_EMPTY_RESPONSE about once in 15 runs.
    browser.wait_page(&redirect_uri, "signed in");
    let result = browser.text("#ocde-result").unwrap_or_default();
    assert!(result.contains("signed in"), "{result}");
    let landed = browser.url().unwrap();
    assert!(
        landed.contains("code=") && landed.contains("state="),
        "{landed}"
    );
    assert!(tokens.sets().is_empty(), "no tokens before the poll");

    let status = sign_in.poll_final();
    assert_eq!(status, OcdeStatus::Ok, "{}", last_error());
    let sets = tokens.sets();
    assert_eq!(sets.len(), 1, "the token callback fired once");
    let (access, refresh, expires_at) = sets[0].clone();
    assert!(
        sim.issued_access_tokens().contains(&access),
        "the access token is one the simulator issued"
    );
    assert!(refresh.is_some() && expires_at > 0);
    // Chromium itself showed the page and sent the form; the library (not the browser) made
    // the one token request, with the PKCE verifier.
    let requests = browser_requests(&sim);
    assert!(
        requests
            .iter()
            .any(|r| r.starts_with("GET /oauth/authorize?")),
        "{requests:?}"
    );
    assert!(
        requests.iter().any(|r| r == "POST /oauth/authorize"),
        "{requests:?}"
    );
    assert!(
        !requests.iter().any(|r| r.contains("/oauth/token")),
        "{requests:?}"
    );
    let token_requests = sim.token_requests();
    assert_eq!(token_requests.len(), 1, "{token_requests:?}");
    assert_eq!(token_requests[0]["grant_type"], "authorization_code");
    assert!(token_requests[0]["code_verifier"]
        .as_str()
        .is_some_and(|v| v.len() >= 43));

    // Select with the same client: Chromium ticks doc-1 and doc-2 and presses Download.
    let opener = Opener::new();
    let sel = start(&client, &Opts::default(), &opener).unwrap_or_else(|e| panic!("start: {e:?}"));
    let page = opened_url(&opener);
    assert_eq!(page, sel.url());
    browser.goto(&page);
    browser.tick(&["doc-1", "doc-2"]);
    browser.click("#download");

    // The page first, then the poll, for the reason given above.
    let callback = registered_callback(&sim);
    browser.wait_page(&callback, "reached the application");
    let status = poll_final(&sel);
    assert_eq!(status, OcdeStatus::Ok, "{}", last_error());
    assert_eq!(selected_ids(&sel), ["doc-1", "doc-2"]);

    // One of them downloads: the issued token opens the CDE's download endpoint.
    let doc = sel.document(0);
    let dir = TempDir::new("browser-sign-in");
    let (status, path) = client.download_document(&sel, 0, dir.path(), &mut Progress::default());
    assert_eq!(status, OcdeStatus::Ok, "{}", last_error());
    let path = path.expect("the written path");
    assert_eq!(
        std::fs::read(&path).unwrap(),
        sim.document(&doc.document_id).unwrap().content,
        "{} holds {}'s bytes",
        path.display(),
        doc.document_id
    );

    // Every token the client sent to the CDE was the issued one (never the required token it
    // does not know), and no token went to storage; the signed-in client made the API calls.
    let bearer = format!("Bearer {access}");
    let sent: Vec<String> = sim
        .requests()
        .into_iter()
        .filter_map(|r| {
            r.authorization
                .clone()
                .map(|a| format!("{} {} {a}", r.method, r.path()))
        })
        .collect();
    assert!(
        sent.iter().all(|s| s.ends_with(&bearer)),
        "only the issued token was sent: {sent:?}"
    );
    for (method, path) in [
        ("POST", "/documents/1.0/select-documents"),
        (
            "GET",
            &format!(
                "/documents/1.0/documents/{}/versions/1/download",
                doc.document_id
            ),
        ),
    ] {
        assert!(
            sent.iter()
                .any(|s| s.starts_with(&format!("{method} {path} "))),
            "{method} {path} with the token: {sent:?}"
        );
    }
    assert_token_stayed_home(&sim);
    assert_eq!(tokens.sets().len(), 1, "no refresh was needed");
}
