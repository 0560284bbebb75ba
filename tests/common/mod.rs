//! Test harness: thin RAII wrappers over the public C ABI, so integration tests exercise exactly
//! what a C host calls. Nothing here re-implements library behaviour.
#![allow(dead_code, unused_imports)]

use opencde_documents::ffi::client::*;
use opencde_documents::ffi::download::*;
use opencde_documents::ffi::selection::*;
use opencde_documents::ffi::*;
use std::ffi::{c_char, c_void, CStr, CString};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::thread::ThreadId;

pub use cde_simulator::{
    BrowserChoice, DownloadMode, Fault, Origin, SimConfig, SimDocument, Simulator,
};

/// An `OcdeLogFn` that appends to the `Vec<(OcdeLogLevel, String)>` its user data points to.
pub unsafe extern "C" fn collect_log(
    user_data: *mut c_void,
    level: OcdeLogLevel,
    message: *const c_char,
) {
    let out = &mut *(user_data as *mut Vec<(OcdeLogLevel, String)>);
    out.push((
        level,
        CStr::from_ptr(message).to_string_lossy().into_owned(),
    ));
}

/// `ocde_download_selection` into `dir` with up to `n` transfers and no progress callback; the
/// status and the results (the caller frees them with `ocde_download_results_free`).
pub fn download_selection(
    client: &CClient,
    sel: &CSelection,
    dir: &Path,
    n: u32,
) -> (OcdeStatus, *mut OcdeDownloadResults) {
    let d = c(dir.to_str().unwrap());
    let mut results = std::ptr::null_mut();
    let status = unsafe {
        ocde_download_selection(
            client.0,
            sel.0,
            d.as_ptr(),
            n,
            None,
            std::ptr::null_mut(),
            &mut results,
        )
    };
    (status, results)
}

/// The thread's `ocde_last_error()`.
pub fn last_error() -> String {
    unsafe { CStr::from_ptr(ocde_last_error()) }
        .to_string_lossy()
        .into_owned()
}

pub fn c(s: &str) -> CString {
    CString::new(s).unwrap()
}

pub unsafe fn text(p: *const c_char) -> Option<String> {
    (!p.is_null()).then(|| CStr::from_ptr(p).to_string_lossy().into_owned())
}

/// An `OcdeClient*`, freed on drop.
pub struct CClient(pub *mut OcdeClient);

impl CClient {
    pub fn new(url: &str) -> CClient {
        let mut raw = std::ptr::null_mut();
        let status = unsafe { ocde_client_new(c(url).as_ptr(), &mut raw) };
        assert_eq!(status, OcdeStatus::Ok, "{}", last_error());
        CClient(raw)
    }

    pub fn for_sim(sim: &Simulator) -> CClient {
        CClient::new(&sim.documents_api_url())
    }

    pub fn token(self, token: &str) -> CClient {
        let status = unsafe { ocde_client_set_access_token(self.0, c(token).as_ptr()) };
        assert_eq!(status, OcdeStatus::Ok);
        self
    }

    pub fn timeouts(self, connect_ms: u32, stall_ms: u32) -> CClient {
        assert_eq!(
            unsafe { ocde_client_set_timeouts(self.0, connect_ms, stall_ms) },
            OcdeStatus::Ok
        );
        self
    }

    pub fn retries(self, max: u32, base_delay_ms: u32) -> CClient {
        assert_eq!(
            unsafe { ocde_client_set_retries(self.0, max, base_delay_ms) },
            OcdeStatus::Ok
        );
        self
    }

    /// `ocde_download_to_path` with a recording progress callback.
    pub fn download_to_path(
        &self,
        url: &str,
        dest: &Path,
        expected: i64,
        progress: &mut Progress,
    ) -> OcdeStatus {
        let dest = c(dest.to_str().unwrap());
        unsafe {
            ocde_download_to_path(
                self.0,
                c(url).as_ptr(),
                dest.as_ptr(),
                expected,
                Some(progress_cb),
                progress as *mut Progress as *mut c_void,
            )
        }
    }

    /// `ocde_download_document`; returns the status and the written path.
    pub fn download_document(
        &self,
        sel: &CSelection,
        index: usize,
        dir: &Path,
        progress: &mut Progress,
    ) -> (OcdeStatus, Option<PathBuf>) {
        let dir = c(dir.to_str().unwrap());
        let mut out: *mut c_char = std::ptr::null_mut();
        let status = unsafe {
            ocde_download_document(
                self.0,
                sel.0,
                index,
                dir.as_ptr(),
                Some(progress_cb),
                progress as *mut Progress as *mut c_void,
                &mut out,
            )
        };
        let path = unsafe { text(out) }.map(PathBuf::from);
        unsafe { ocde_string_free(out) };
        (status, path)
    }
}

impl Drop for CClient {
    fn drop(&mut self) {
        unsafe { ocde_client_free(self.0) }
    }
}

/// What a progress callback saw; `abort_after` makes it return non-zero once `received` reaches it.
#[derive(Default)]
pub struct Progress {
    pub calls: Vec<(u64, i64)>,
    pub threads: Vec<ThreadId>,
    pub abort_after: Option<u64>,
}

unsafe extern "C" fn progress_cb(user_data: *mut c_void, received: u64, total: i64) -> i32 {
    let p = &mut *(user_data as *mut Progress);
    p.calls.push((received, total));
    p.threads.push(std::thread::current().id());
    match p.abort_after {
        Some(limit) if received >= limit => 1,
        _ => 0,
    }
}

/// What the `open_url` callback saw, and what it returns.
pub struct Opener {
    pub urls: Mutex<Vec<(String, ThreadId)>>,
    pub result: i32,
}

impl Opener {
    pub fn new() -> Opener {
        Opener {
            urls: Mutex::new(Vec::new()),
            result: 0,
        }
    }
}

/// The `OcdeOpenUrlFn` recording into the `Opener` its user data points to.
pub unsafe extern "C" fn open_cb(user_data: *mut c_void, url: *const c_char) -> i32 {
    let o = &*(user_data as *const Opener);
    o.urls.lock().unwrap().push((
        CStr::from_ptr(url).to_string_lossy().into_owned(),
        std::thread::current().id(),
    ));
    o.result
}

/// Selection options as a C host would fill them.
#[derive(Default, Clone)]
pub struct Opts {
    pub expires_in_s: u32,
    pub port: u16,
    pub server_context: Option<String>,
    pub extensions: Vec<String>,
}

/// An `OcdeSelection*`, freed on drop.
pub struct CSelection(pub *mut OcdeSelection);

unsafe impl Send for CSelection {}
unsafe impl Sync for CSelection {}

/// `ocde_selection_start` with the recording opener; `Err` carries the status and last error.
pub fn start(
    client: &CClient,
    opts: &Opts,
    opener: &Opener,
) -> Result<CSelection, (OcdeStatus, String)> {
    let ctx = opts.server_context.as_deref().map(c);
    let exts: Vec<CString> = opts.extensions.iter().map(|e| c(e)).collect();
    let ext_ptrs: Vec<*const c_char> = exts.iter().map(|e| e.as_ptr()).collect();
    let mut o = std::mem::MaybeUninit::<OcdeSelectionOptions>::uninit();
    unsafe {
        ocde_selection_options_init(o.as_mut_ptr(), std::mem::size_of::<OcdeSelectionOptions>())
    };
    let mut o = unsafe { o.assume_init() };
    o.callback_expires_in_s = opts.expires_in_s;
    o.callback_port = opts.port;
    o.server_context = ctx.as_ref().map_or(std::ptr::null(), |c| c.as_ptr());
    o.supported_file_extensions = if ext_ptrs.is_empty() {
        std::ptr::null()
    } else {
        ext_ptrs.as_ptr()
    };
    o.supported_file_extensions_count = ext_ptrs.len();
    let mut sel = std::ptr::null_mut();
    let status = unsafe {
        ocde_selection_start(
            client.0,
            &o,
            Some(open_cb),
            opener as *const Opener as *mut c_void,
            &mut sel,
        )
    };
    if status == OcdeStatus::Ok {
        assert!(!sel.is_null());
        Ok(CSelection(sel))
    } else {
        assert!(sel.is_null(), "out_selection written on failure");
        Err((status, last_error()))
    }
}

impl CSelection {
    pub fn url(&self) -> String {
        unsafe { text(ocde_selection_url(self.0)) }.unwrap()
    }
    pub fn poll(&self, timeout_ms: u32) -> OcdeStatus {
        unsafe { ocde_selection_poll(self.0, timeout_ms) }
    }
    /// Polls until the status is not PENDING (at most `rounds` polls of 200 ms).
    pub fn wait(&self, rounds: u32) -> OcdeStatus {
        for _ in 0..rounds {
            let s = self.poll(200);
            if s != OcdeStatus::Pending {
                return s;
            }
        }
        OcdeStatus::Pending
    }
    pub fn abort(&self) {
        unsafe { ocde_selection_abort(self.0) }
    }
    pub fn count(&self) -> usize {
        unsafe { ocde_selection_count(self.0) }
    }
    pub fn server_context(&self) -> Option<String> {
        unsafe { text(ocde_selection_server_context(self.0)) }
    }
    pub fn document(&self, index: usize) -> Doc {
        let mut d = std::mem::MaybeUninit::<OcdeDocument>::uninit();
        let status = unsafe { ocde_selection_get(self.0, index, d.as_mut_ptr()) };
        assert_eq!(status, OcdeStatus::Ok, "{}", last_error());
        let d = unsafe { d.assume_init() };
        unsafe {
            Doc {
                document_id: text(d.document_id).unwrap(),
                title: text(d.title).unwrap(),
                file_name: text(d.file_name).unwrap(),
                size_in_bytes: d.size_in_bytes,
                version_number: text(d.version_number).unwrap(),
                version_index: d.version_index,
                creation_date: text(d.creation_date).unwrap(),
                download_url: text(d.download_url).unwrap(),
                metadata_url: text(d.metadata_url).unwrap(),
                versions_url: text(d.versions_url).unwrap(),
                version_url: text(d.version_url).unwrap(),
                details_url: text(d.details_url),
            }
        }
    }
}

impl Drop for CSelection {
    fn drop(&mut self) {
        unsafe { ocde_selection_free(self.0) }
    }
}

/// An `OcdeDocument` copied out.
#[derive(Debug, Clone)]
pub struct Doc {
    pub document_id: String,
    pub title: String,
    pub file_name: String,
    pub size_in_bytes: i64,
    pub version_number: String,
    pub version_index: i64,
    pub creation_date: String,
    pub download_url: String,
    pub metadata_url: String,
    pub versions_url: String,
    pub version_url: String,
    pub details_url: Option<String>,
}

/// A fresh empty folder under the target dir, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let base = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
        let dir = base.join(
            format!(
                "{tag}-{}-{:?}",
                std::process::id(),
                std::thread::current().id()
            )
            .replace(['(', ')'], ""),
        );
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
    pub fn path(&self) -> &Path {
        &self.0
    }
    /// Every entry name in the folder, sorted (hidden temporary files included).
    pub fn entries(&self) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(&self.0)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Starts a simulator with `config`, a client for it, and a selection that the simulated
/// browser completes with `choice`; returns all three after `poll` reached a final status.
pub fn selected(
    config: SimConfig,
    token: Option<&str>,
    choice: BrowserChoice,
) -> (Simulator, CClient, CSelection, OcdeStatus) {
    let sim = Simulator::start(config).unwrap();
    let mut client = CClient::for_sim(&sim);
    if let Some(t) = token {
        client = client.token(t);
    }
    let opener = Opener::new();
    let sel = start(&client, &Opts::default(), &opener).unwrap_or_else(|e| panic!("start: {e:?}"));
    sim.browse(&sel.url(), choice).unwrap();
    let status = sel.wait(50);
    (sim, client, sel, status)
}

/// The callback URL the library registered with the simulator in its latest select-documents POST.
pub fn registered_callback(sim: &Simulator) -> String {
    let selects = sim.select_requests();
    selects.last().unwrap()["callback"]["url"]
        .as_str()
        .unwrap()
        .to_string()
}

/// The download link the simulator gives document `id`.
pub fn download_url(sim: &Simulator, id: &str) -> String {
    format!(
        "{}/documents/1.0/documents/{id}/versions/1/download",
        sim.cde_origin()
    )
}

/// Every request that carried a token went to the CDE origin, never to storage.
pub fn assert_token_stayed_home(sim: &Simulator) {
    for r in sim.requests() {
        if r.authorization.is_some() {
            assert_eq!(r.origin, Origin::Cde, "token sent to storage: {}", r.target);
        }
    }
}

/// The first request the simulator received on `path`.
pub fn request_to(sim: &Simulator, path: &str) -> cde_simulator::LoggedRequest {
    sim.requests()
        .into_iter()
        .find(|r| r.path() == path)
        .unwrap_or_else(|| panic!("no request to {path}"))
}
