//! A simulated OpenCDE Documents API server for testing download-flow clients.
//!
//! [`Simulator::start`] runs two real HTTP/1.1 servers on loopback (127.0.0.1 only):
//!
//! * the **CDE origin** (`http://127.0.0.1:P1`): the Documents API under `/documents/1.0`
//!   (`select-documents`, selected documents, document versions, metadata, download) and the HTML
//!   selection pages under `/ui/select/<session>`;
//! * the **storage origin** (`http://127.0.0.1:P2`): presigned-URL blob storage that answers 400
//!   to any `Authorization` header, checks its `sig` query parameter byte for byte, and can produce
//!   exact transfer faults ([`Fault`]).
//!
//! Both are hand-written on `std::net::TcpListener` (thread per connection, 10 s read timeout,
//! every response `Connection: close`). [`Simulator::browse`] plays the user and the browser.
//!
//! Paths on the CDE origin:
//!
//! | path | what |
//! | --- | --- |
//! | `POST /documents/1.0/select-documents` | starts a session (auth) |
//! | `GET /ui/select/<session>` | selection page (`?auto=all`, `?auto=cancel` redirect at once) |
//! | `GET /ui/select/<session>/confirm?doc=<id>…` | 303 to the callback with `selected_documents_url` |
//! | `GET /ui/select/<session>/cancel` | 303 to the callback with `user_cancelled_selection=true` |
//! | `GET /ui/select/<session>/selection-url?doc=<id>…` | the selected-documents URL as text (used by the XHR page) |
//! | `GET /documents/1.0/selections/<selection>` | `{server_context, documents}` (auth) |
//! | `GET /documents/1.0/documents/<id>/versions` | `{documents:[DocumentVersion]}` (auth) |
//! | `GET /documents/1.0/documents/<id>/versions/1` | the DocumentVersion (auth) |
//! | `GET /documents/1.0/documents/<id>/versions/1/metadata` | `{metadata:[…]}` (auth) |
//! | `GET /documents/1.0/documents/<id>/versions/1/download` | redirect to storage, or bytes (auth) |
//! | `GET /ui/documents/<id>` | an HTML details page |
//! | `GET /files/<id>` | the document's bytes, no token (target of the `SameOrigin*` download modes) |
//! | `GET /foundation/versions` | Foundation API versions: foundation and documents 1.0 (public) |
//! | `GET /foundation/1.0/auth` | OAuth2 discovery (public; 404 with [`SimConfig::no_auth_endpoint`]) |
//! | `GET /foundation/1.0/current-user` | `{"id":"user-1","name":"Ada Lovelace"}` (always needs a Bearer token) |
//! | `GET /oauth/authorize?…` | sign-in page (`?auto=allow`, `?auto=deny` redirect at once); 400 page when invalid |
//! | `POST /oauth/authorize` | the sign-in form (`request=…&decision=allow\|deny`): 302 to the loopback redirect URI |
//! | `POST /oauth/token` | authorization code (PKCE) and refresh token grants |
//!
//! The CDE API endpoints that check [`SimConfig::required_token`] also accept the access tokens
//! the token endpoint issued, until they expire ([`SimConfig::access_token_lifetime`]).
//! [`Simulator::browse_sign_in`] plays the user on the sign-in page.
//!
//! Paths on the storage origin: `GET /blob/<id>?sv=2024-01-01&sig=ab%2Fcd%2Bef%3D` and, when
//! [`SimConfig::selected_documents_on_storage`] is set, `GET /selections/<selection>?sv=…&sig=…`.
//!
//! A document's bytes (storage `/blob/<id>`, CDE `/files/<id>`, [`DownloadMode::Direct200`])
//! honour `Range: bytes=N-` (see [`RangeMode`]), apply the document's [`Fault`], and are counted
//! per document ([`Simulator::byte_requests`]).

// The only `unsafe` is the `setsockopt(SO_LINGER)` call of `Fault::ResetAfter` (in `http`).
#![deny(unsafe_code)]
#![warn(missing_docs)]

mod http;
mod oauth;
mod routes;
pub mod tls;

use std::collections::HashMap;
use std::io::{self, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

pub use http::{parse_query, percent_decode, percent_encode};
pub use oauth::{
    base64url_encode, basic_authorization, pkce_s256_challenge, CURRENT_USER_ID, CURRENT_USER_NAME,
};

/// The raw `sig` query value that the storage origin expects, byte for byte.
/// A client that decodes or re-encodes the query of a presigned URL gets 403.
pub const STORAGE_SIG: &str = "ab%2Fcd%2Bef%3D";

/// The query of every presigned storage URL the simulator hands out.
pub const STORAGE_QUERY: &str = "sv=2024-01-01&sig=ab%2Fcd%2Bef%3D";

/// The body of the storage origin's 400 answer to a request carrying `Authorization`.
pub const STORAGE_AUTH_ERROR: &str = "<Error><Code>InvalidAuthenticationInfo</Code><Message>Authorization header not allowed with SAS</Message></Error>";

/// The `creation_date` of every simulated document version.
pub const CREATION_DATE: &str = "2024-05-17T09:12:44.123Z";

/// A document the simulated CDE offers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimDocument {
    /// `document_id`.
    pub id: String,
    /// `title`.
    pub title: String,
    /// `file_description.name`.
    pub file_name: String,
    /// The bytes served on download.
    pub content: Vec<u8>,
    /// `file_description.size_in_bytes` as sent; `None` sends `content.len()`.
    pub declared_size: Option<i64>,
    /// Applied when the document's bytes are served (by the storage, or by the CDE in
    /// [`DownloadMode::Direct200`]).
    pub fault: Option<Fault>,
}

impl SimDocument {
    /// A document with no declared-size override and no fault.
    pub fn new(id: &str, title: &str, file_name: &str, content: Vec<u8>) -> Self {
        SimDocument {
            id: id.to_string(),
            title: title.to_string(),
            file_name: file_name.to_string(),
            content,
            declared_size: None,
            fault: None,
        }
    }

    /// Sets [`SimDocument::fault`] (builder style).
    pub fn with_fault(mut self, fault: Fault) -> Self {
        self.fault = Some(fault);
        self
    }

    /// A document of `len` zero bytes that are never held in memory: empty `content` and
    /// [`Fault::VirtualZeros`]`(len)`. The title is the file name.
    pub fn zeros(id: &str, file_name: &str, len: u64) -> Self {
        SimDocument::new(id, file_name, file_name, Vec::new()).with_fault(Fault::VirtualZeros(len))
    }

    /// The size of the bytes served: the [`Fault::VirtualZeros`] length, else `content.len()`.
    pub(crate) fn served_len(&self) -> u64 {
        match self.fault {
            Some(Fault::VirtualZeros(n)) => n,
            _ => self.content.len() as u64,
        }
    }

    /// Sets [`SimDocument::declared_size`] (builder style).
    pub fn with_declared_size(mut self, size: i64) -> Self {
        self.declared_size = Some(size);
        self
    }
}

/// How `GET …/versions/1/download` answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum DownloadMode {
    /// 303 See Other to the presigned storage URL (the spec's way).
    #[default]
    See303,
    /// 302 Found to the presigned storage URL (seen with Azure SAS).
    Found302,
    /// 307 Temporary Redirect to the presigned storage URL.
    Temporary307,
    /// 200 with the bytes from the CDE origin itself (the document's fault applied).
    Direct200,
    /// 303 to `/files/<id>` on the CDE origin itself (same origin: the client must still drop
    /// the token, as the spec's diagram says). `/files/<id>` needs no token and logs what came.
    SameOrigin303,
    /// 307 to `/files/<id>` on the CDE origin itself (same origin, not a 303: the token may stay).
    SameOrigin307,
    /// 307 with a relative `Location: /files/<id>` (same origin, to be resolved against the
    /// download URL; `/files/<id>` needs no token).
    RelativeSameOrigin307,
    /// 301 Moved Permanently to the presigned storage URL.
    Moved301,
    /// 308 Permanent Redirect to the presigned storage URL.
    Permanent308,
    /// 302 to storage `/bounce/<id>`, which answers 302 back to `/files/<id>` on the CDE origin:
    /// a token dropped on the way to storage must not come back on the return hop.
    BounceViaStorage,
}

/// How a document's bytes answer `Range: bytes=N-` (the only form understood; N below the size).
///
/// Ranges are considered when the document has no fault, when its [`Fault::FailFirst`] /
/// [`Fault::TruncateFirst`] budget is used up, or with [`Fault::VirtualZeros`]; other faults
/// ignore `Range`. Other `Range` forms (`bytes=0-99`, suffixes, several ranges, other units,
/// garbage) are ignored (200, full body). `bytes=N-` with N at or beyond the size answers
/// `416` with `Content-Range: bytes */<size>` in the Honour and WrongStart modes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum RangeMode {
    /// `206 Partial Content`, `Content-Range: bytes N-{len-1}/{len}`, `Content-Length: len-N`,
    /// the bytes from N.
    #[default]
    Honour,
    /// `Range` is ignored: 200 with the full body.
    Ignore,
    /// A broken server: 206 with `Content-Range: bytes {N+1}-{len-1}/{len}` and the bytes from
    /// N+1 (`Content-Length: len-N-1`).
    WrongStart,
    /// A broken server: `416 Range Not Satisfiable` to any `Range: bytes=N-` (even with N below
    /// the size).
    Unsatisfiable,
    /// A broken server: 206 with only the next 100 bytes (`Content-Range: bytes N-{N+99}/{len}`,
    /// `Content-Length: 100`) although `bytes=N-` asked for the rest of the file.
    ShortPart,
    /// A broken server: 206 from N to the end, but `Content-Range` names a total one byte larger
    /// than the file (as if the file had changed between the two requests).
    OtherTotal,
}

/// The `ETag` of document bytes (storage like S3 and Azure always sends one).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum EtagMode {
    /// A strong ETag that stays the same (`"<id>-v1"`); an `If-Range` that differs from it
    /// makes a `Range` request answer 200 with the whole file (RFC 9110 §13.1.5).
    #[default]
    Stable,
    /// No `ETag` and no `Last-Modified`: a client cannot tell whether the file changed.
    Omitted,
    /// A new strong ETag on every request (the file changes between attempts): an `If-Range`
    /// never matches, so a resume gets 200 with the whole file.
    ChangesEveryRequest,
}

/// A transfer fault applied when a document's bytes are served.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Send `Content-Length` of the full size, then only the first N bytes, then close the socket.
    /// (N at or beyond the size sends a complete body.)
    TruncateAfter(usize),
    /// Send the headers (full `Content-Length`) and the first N bytes, then nothing for the
    /// duration with the socket open, then close.
    StallAfter(usize, Duration),
    /// `Transfer-Encoding: chunked`, send the first N bytes as complete chunks, then close without
    /// the terminating zero-size chunk.
    ChunkedCutAfter(usize),
    /// No `Content-Length` and not chunked: the whole body, then close (a complete, close-delimited
    /// body).
    CloseDelimited,
    /// Answer this status with this body (`text/plain`, correctly framed) instead of the bytes.
    Status(u16, String),
    /// `Transfer-Encoding: chunked` with the complete body and the terminating chunk (no
    /// `Content-Length`): a complete, framed body of unannounced length.
    Chunked,
    /// The complete body with `Content-Length`, sent in 1 KiB writes at about this many bytes
    /// per second (a slow but never stalling server; progress is reported thousands of times).
    Throttle(u64),
    /// The first `times` requests for the document's bytes answer `status` with the body
    /// `temporarily unavailable` (`text/plain`, correctly framed) and, when `retry_after` is
    /// `Some(n)`, `Retry-After: n`. Later requests serve the document normally (honouring
    /// `Range`). Requests are counted per document: [`Simulator::byte_requests`].
    FailFirst {
        /// How many requests fail.
        times: u32,
        /// The status they answer (e.g. 503, 429, 500).
        status: u16,
        /// `Retry-After` seconds, if any.
        retry_after: Option<u64>,
    },
    /// The first request for the bytes behaves like [`Fault::TruncateAfter`]`(N)` (full
    /// `Content-Length`, N bytes, then a clean close); later requests serve the document normally
    /// (honouring `Range`, so a client can resume).
    TruncateFirst(usize),
    /// Full `Content-Length`, the first N bytes, then an abortive close: `SO_LINGER {on, 0}` and
    /// close, so the peer sees a TCP reset (`ECONNRESET`) instead of a clean end of stream. (N at
    /// or beyond the size sends the whole body, then resets all the same.)
    ResetAfter(usize),
    /// 200 with `Content-Encoding: gzip` and the raw (not compressed) bytes, framed with
    /// `Content-Length`: a client that decodes gzip fails or alters the bytes.
    Gzip,
    /// Ignores `content` and serves this many zero bytes with `Content-Length`, written from a
    /// fixed zero buffer (never allocated whole, so 5 000 000 000 works). `size_in_bytes` in the
    /// JSON is this number unless [`SimDocument::declared_size`] is set. Honours `Range`.
    /// See [`SimDocument::zeros`].
    VirtualZeros(u64),
}

/// How the token endpoint treats HTTP Basic client authentication
/// (`Authorization: Basic base64(client_id:client_secret)`, RFC 6749 §2.3.1).
/// `GET /foundation/1.0/auth` announces `http_basic_supported: true` unless `Refused`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum BasicMode {
    /// The secret may come by HTTP Basic or as `client_secret` in the body (not both at once).
    #[default]
    Either,
    /// With a [`SimConfig::oauth_client_secret`], the secret must come by HTTP Basic; a
    /// `client_secret` in the body answers 401 `invalid_client`.
    Required,
    /// HTTP Basic answers 401 `invalid_client` (even for a public client); credentials go in the
    /// body only.
    Refused,
}

/// How the simulator behaves.
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// The documents offered, in this order. Default: [`default_documents`].
    pub documents: Vec<SimDocument>,
    /// How the download endpoint answers.
    pub download_mode: DownloadMode,
    /// `Some(t)`: every CDE API endpoint (under `/documents/1.0/`; not the HTML pages, not the
    /// storage) requires `Authorization: Bearer t`, else 401 `{"message": …}`.
    pub required_token: Option<String>,
    /// The callback uses the older `selected_url=` instead of `selected_documents_url=`.
    pub legacy_callback_name: bool,
    /// The selected-documents JSON omits `document_id`.
    pub omit_document_id: bool,
    /// The selected-documents JSON omits `server_context`.
    pub omit_server_context: bool,
    /// The selection page reaches the callback with a cross-origin `XMLHttpRequest` instead of a
    /// navigation (the tab stays on the CDE page).
    pub xhr_callback: bool,
    /// `selected_documents_url` points to the storage origin (a pre-authenticated URL on another
    /// origin, which rejects `Authorization` with 400).
    pub selected_documents_on_storage: bool,
    /// `expires_in` answered by `select-documents` (informative: not enforced). Default 60.
    pub select_documents_expires_in: u64,
    /// Print one line per request to stderr (never an `Authorization` value). Default false.
    pub log_to_stderr: bool,
    /// How document bytes answer `Range: bytes=N-`. Default [`RangeMode::Honour`].
    pub range_mode: RangeMode,
    /// The `ETag` of document bytes. Default [`EtagMode::Stable`].
    pub etag_mode: EtagMode,
    /// `Some(bytes)`: `GET …/selections/<id>` (on either origin, any id; auth and signature are
    /// still checked) answers 200 `application/json` with exactly these bytes (malformed, huge,
    /// wrong types: whatever the test wants), streamed from here. Default `None`.
    pub selection_body: Option<Vec<u8>>,
    /// The selections answer (generated or [`SimConfig::selection_body`]) announces its full
    /// `Content-Length` but sends only the first half (rounded down), then closes. Default false.
    pub truncate_selection_body: bool,
    /// `Some(pause)`: the selected-documents answer arrives one byte per `pause` (a server that
    /// drips its answer: neither stalled nor done). Default `None`.
    pub drip_selection_body: Option<Duration>,
    /// `Some(base)`: the download endpoint's redirects (the 303/302/307/301/308 modes, which
    /// otherwise point to the simulator's own storage `/blob/<id>?…`) point to
    /// `{base}/{document_id}` instead (id percent-encoded, one `/` between them), e.g. a static
    /// file server such as nginx for benchmarks. Nothing else changes: the simulator never
    /// contacts that server. Default `None`.
    pub external_storage: Option<String>,
    /// `GET /foundation/versions` lists the documents API without `api_base_url`. Default false.
    pub omit_api_base_url: bool,
    /// `GET /foundation/1.0/auth` answers 404 `{"message": …}` (a server without OAuth
    /// discovery). Default false.
    pub no_auth_endpoint: bool,
    /// The only client id the OAuth server knows. Default `"ocde-test-client"`.
    pub oauth_client_id: String,
    /// `Some(secret)`: a confidential client; token requests must authenticate with this secret
    /// (by HTTP Basic or `client_secret`, see [`SimConfig::oauth_basic`]). `None` (default): a
    /// public client, identified by `client_id` only; a non-empty secret answers 401.
    pub oauth_client_secret: Option<String>,
    /// Where the token endpoint accepts the client secret. Default [`BasicMode::Either`].
    pub oauth_basic: BasicMode,
    /// The authorization endpoint requires a `code_challenge` (announced as `pkce_required`).
    /// Default true.
    pub pkce_required: bool,
    /// The authorization endpoint also accepts `code_challenge_method=plain` (and a challenge
    /// without a method, which RFC 7636 says is plain). Default false: S256 only.
    pub pkce_method_plain: bool,
    /// How long an authorization code can be exchanged, in seconds. Default 60.
    pub oauth_code_lifetime: u64,
    /// How long an issued access token is accepted, in seconds (the `expires_in` answered).
    /// Default 3600.
    pub access_token_lifetime: u64,
    /// The token endpoint answers 201 instead of 200. Default false.
    pub token_status_201: bool,
    /// The token endpoint sends `expires_in` as a string (`"3600"`). Default false.
    pub expires_in_as_string: bool,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            documents: default_documents(),
            download_mode: DownloadMode::See303,
            required_token: None,
            legacy_callback_name: false,
            omit_document_id: false,
            omit_server_context: false,
            xhr_callback: false,
            selected_documents_on_storage: false,
            select_documents_expires_in: 60,
            log_to_stderr: false,
            range_mode: RangeMode::Honour,
            etag_mode: EtagMode::Stable,
            selection_body: None,
            truncate_selection_body: false,
            drip_selection_body: None,
            external_storage: None,
            omit_api_base_url: false,
            no_auth_endpoint: false,
            oauth_client_id: "ocde-test-client".to_string(),
            oauth_client_secret: None,
            oauth_basic: BasicMode::Either,
            pkce_required: true,
            pkce_method_plain: false,
            oauth_code_lifetime: 60,
            access_token_lifetime: 3600,
            token_status_201: false,
            expires_in_as_string: false,
        }
    }
}

/// Deterministic pseudo-random bytes (xorshift64*, seeded from `seed` with FNV-1a): the same seed
/// always gives the same bytes, and they are not all zeros.
pub fn pseudo_random_bytes(seed: &str, len: usize) -> Vec<u8> {
    let mut state: u64 = 0xcbf2_9ce4_8422_2325;
    for b in seed.bytes() {
        state ^= u64::from(b);
        state = state.wrapping_mul(0x0000_0100_0000_01b3);
    }
    if state == 0 {
        state = 0x9e37_79b9_7f4a_7c15;
    }
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        out.extend_from_slice(&state.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes());
    }
    out.truncate(len);
    out
}

/// The three default documents: `doc-1` "Structural model level 2" / `Structure L2.ifc`
/// (1 500 000 bytes), `doc-2` "Архитектура" / `Проект/模型 ü.ifc` (a hostile-ish name with a slash,
/// 70 000 bytes), `doc-3` "Site plan" / `site-plan.pdf` (12 345 bytes). Contents come from
/// [`pseudo_random_bytes`] seeded with the id.
pub fn default_documents() -> Vec<SimDocument> {
    vec![
        SimDocument::new(
            "doc-1",
            "Structural model level 2",
            "Structure L2.ifc",
            pseudo_random_bytes("doc-1", 1_500_000),
        ),
        SimDocument::new(
            "doc-2",
            "Архитектура",
            "Проект/模型 ü.ifc",
            pseudo_random_bytes("doc-2", 70_000),
        ),
        SimDocument::new(
            "doc-3",
            "Site plan",
            "site-plan.pdf",
            pseudo_random_bytes("doc-3", 12_345),
        ),
    ]
}

/// Which of the two servers received a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// The CDE origin (API and HTML pages).
    Cde,
    /// The storage origin (presigned blobs).
    Storage,
}

/// One request as received by either origin.
#[derive(Clone, Debug)]
pub struct LoggedRequest {
    /// Which server received it.
    pub origin: Origin,
    /// The method, as sent.
    pub method: String,
    /// The raw request target (path and query) as sent.
    pub target: String,
    /// The `Authorization` header value, if any.
    pub authorization: Option<String>,
    /// All headers in order, as sent (names in the sender's case).
    pub headers: Vec<(String, String)>,
}

impl LoggedRequest {
    /// The first header with this name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The raw path (target without its query).
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or("")
    }
}

/// What the simulated user does on the selection page.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BrowserChoice {
    /// Tick these document ids and press Download.
    Select(Vec<String>),
    /// Tick every document and press Download.
    SelectAll,
    /// Press Cancel.
    Cancel,
}

/// What the simulated browser ended on: the client's callback answer.
#[derive(Clone, Debug)]
pub struct BrowserOutcome {
    /// The full URL the browser requested on the client's listener.
    pub callback_url: String,
    /// The status the callback answered.
    pub status: u16,
    /// The callback's answer body (lossy UTF-8).
    pub body: String,
}

/// A selection session created by `select-documents`.
#[derive(Clone, Debug)]
pub(crate) struct Session {
    pub callback_url: String,
    pub server_context: String,
}

/// A confirmed selection.
#[derive(Clone, Debug)]
pub(crate) struct Selection {
    pub session: String,
    pub doc_ids: Vec<String>,
}

#[derive(Default)]
pub(crate) struct State {
    pub log: Vec<LoggedRequest>,
    pub selects: Vec<serde_json::Value>,
    pub sessions: HashMap<String, Session>,
    pub selections: HashMap<String, Selection>,
    /// Requests for each document's bytes (by id) that reached the serving code.
    pub byte_requests: HashMap<String, u32>,
    /// Authorization requests, codes and tokens of the OAuth server.
    pub oauth: oauth::OAuthState,
}

pub(crate) struct Shared {
    pub config: SimConfig,
    pub cde_origin: String,
    pub storage_origin: String,
    pub state: Mutex<State>,
    pub stop: AtomicBool,
    conns: Mutex<HashMap<u64, TcpStream>>,
    workers: Mutex<Vec<JoinHandle<()>>>,
    next_conn: AtomicU64,
}

/// Locks a mutex, ignoring poisoning (a panicking thread must not take the server down).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Shared {
    pub fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    pub fn document(&self, id: &str) -> Option<&SimDocument> {
        self.config.documents.iter().find(|d| d.id == id)
    }

    /// Counts one more request for this document's bytes; returns the new count (1 for the first).
    pub fn count_byte_request(&self, id: &str) -> u32 {
        let mut st = self.state();
        let n = st.byte_requests.entry(id.to_string()).or_insert(0);
        *n = n.saturating_add(1);
        *n
    }
}

/// A fresh 128-bit random id in hex (OS CSPRNG; falls back to a time-and-counter mix).
pub(crate) fn random_id() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut bytes = [0u8; 16];
    if getrandom::getrandom(&mut bytes).is_err() {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let c = COUNTER.fetch_add(1, Ordering::SeqCst);
        let seed = format!("{nanos}-{c}-{}", std::process::id());
        bytes.copy_from_slice(&pseudo_random_bytes(&seed, 16));
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A running simulator: the CDE and the storage servers. Dropping it stops both servers, closes
/// open connections and joins every thread.
pub struct Simulator {
    shared: Arc<Shared>,
    cde_addr: SocketAddr,
    storage_addr: SocketAddr,
    accept_threads: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for Simulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Simulator")
            .field("cde_origin", &self.shared.cde_origin)
            .field("storage_origin", &self.shared.storage_origin)
            .finish()
    }
}

impl Simulator {
    /// Starts both servers on ephemeral loopback ports.
    pub fn start(config: SimConfig) -> io::Result<Simulator> {
        Self::start_on(config, 0, 0)
    }

    /// Starts both servers on these loopback ports (0 picks an ephemeral port).
    pub fn start_on(config: SimConfig, cde_port: u16, storage_port: u16) -> io::Result<Simulator> {
        let cde = TcpListener::bind(("127.0.0.1", cde_port))?;
        let storage = TcpListener::bind(("127.0.0.1", storage_port))?;
        let cde_addr = cde.local_addr()?;
        let storage_addr = storage.local_addr()?;
        let shared = Arc::new(Shared {
            config,
            cde_origin: format!("http://127.0.0.1:{}", cde_addr.port()),
            storage_origin: format!("http://127.0.0.1:{}", storage_addr.port()),
            state: Mutex::new(State::default()),
            stop: AtomicBool::new(false),
            conns: Mutex::new(HashMap::new()),
            workers: Mutex::new(Vec::new()),
            next_conn: AtomicU64::new(0),
        });
        let mut accept_threads = Vec::new();
        for (listener, origin) in [(cde, Origin::Cde), (storage, Origin::Storage)] {
            let sh = Arc::clone(&shared);
            let name = format!("cde-sim-accept-{origin:?}");
            let spawned = std::thread::Builder::new()
                .name(name)
                .spawn(move || accept_loop(listener, origin, sh));
            match spawned {
                Ok(h) => accept_threads.push(h),
                Err(e) => {
                    // Stop what was started before failing.
                    let sim = Simulator {
                        shared,
                        cde_addr,
                        storage_addr,
                        accept_threads,
                    };
                    drop(sim);
                    return Err(e);
                }
            }
        }
        Ok(Simulator {
            shared,
            cde_addr,
            storage_addr,
            accept_threads,
        })
    }

    /// `http://127.0.0.1:P1/documents/1.0` (no trailing slash).
    pub fn documents_api_url(&self) -> String {
        format!("{}/documents/1.0", self.shared.cde_origin)
    }

    /// `http://127.0.0.1:P1`.
    pub fn cde_origin(&self) -> String {
        self.shared.cde_origin.clone()
    }

    /// `http://127.0.0.1:P2`.
    pub fn storage_origin(&self) -> String {
        self.shared.storage_origin.clone()
    }

    /// A clone of the document with this id, for comparing bytes.
    pub fn document(&self, id: &str) -> Option<SimDocument> {
        self.shared.document(id).cloned()
    }

    /// The configuration the simulator runs with.
    pub fn config(&self) -> &SimConfig {
        &self.shared.config
    }

    /// Every request either origin received (with a parsable head), in arrival order.
    pub fn requests(&self) -> Vec<LoggedRequest> {
        self.shared.state().log.clone()
    }

    /// How many requests for this document's bytes (GET or HEAD) have reached the storage
    /// (`/blob/<id>` with a valid signature and no `Authorization`), `/files/<id>` or the
    /// [`DownloadMode::Direct200`] download so far; 0 for an unknown id. This is the count that
    /// [`Fault::FailFirst`] and [`Fault::TruncateFirst`] use.
    pub fn byte_requests(&self, id: &str) -> u32 {
        self.shared
            .state()
            .byte_requests
            .get(id)
            .copied()
            .unwrap_or(0)
    }

    /// The JSON bodies POSTed to `select-documents` (every body that parsed as JSON), in order.
    pub fn select_requests(&self) -> Vec<serde_json::Value> {
        self.shared.state().selects.clone()
    }

    /// The callback URL registered for the session of this `select_documents_url`, as the client
    /// sent it.
    pub fn callback_url_for(&self, select_documents_url: &str) -> Option<String> {
        let session = session_of(select_documents_url)?;
        self.shared
            .state()
            .sessions
            .get(&session)
            .map(|s| s.callback_url.clone())
    }

    /// Makes every refresh token issued so far invalid: presenting one answers 400
    /// `{"error":"invalid_grant"}`. Access tokens stay valid until they expire.
    pub fn revoke_refresh_tokens(&self) {
        self.shared.state().oauth.revoke_refresh_tokens();
    }

    /// Every access token the token endpoint has issued, in order (expired ones included).
    pub fn issued_access_tokens(&self) -> Vec<String> {
        self.shared.state().oauth.issued_access_tokens()
    }

    /// The form fields of every `POST /oauth/token`, in order, each as a JSON object of strings
    /// (the first value of each name, as decoded; secrets and verifiers included, for tests to
    /// check) plus `"basic_auth": true|false` (whether `Authorization: Basic …` came). Recorded
    /// whatever the answer was.
    pub fn token_requests(&self) -> Vec<serde_json::Value> {
        self.shared.state().oauth.token_requests.clone()
    }

    /// Plays the user and the browser on the sign-in page: GET `authorize_url` (the
    /// `/oauth/authorize?…` URL the client opens in a browser), press **Sign in** (`allow`) or
    /// **Deny** by POSTing the page's form, take the 302 `Location` and GET it on the client's
    /// loopback listener with browser headers (redirects from there are not followed). Returns
    /// what the listener answered.
    ///
    /// An authorize URL that the server rejects (400 page) is an `Err` with the page's message;
    /// only loopback addresses are ever contacted.
    pub fn browse_sign_in(
        &self,
        authorize_url: &str,
        allow: bool,
    ) -> Result<BrowserOutcome, String> {
        const UA: &str = "Mozilla/5.0 (X11; Linux x86_64) cde-simulator-browser/1.0";
        const NAV_ACCEPT: &str = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";
        let nav_headers: [(&str, &str); 3] = [
            ("User-Agent", UA),
            ("Accept", NAV_ACCEPT),
            ("Accept-Language", "en-US,en;q=0.9"),
        ];
        let page_url = url::Url::parse(authorize_url)
            .map_err(|e| format!("authorize URL {authorize_url:?} is not a URL: {e}"))?;
        let page = http::raw_get(&page_url, &nav_headers)?;
        let page_html = String::from_utf8_lossy(&page.body).into_owned();
        if page.status != 200 {
            return Err(format!(
                "the authorization endpoint answered {}: {}",
                page.status,
                html_text_of(&page_html, "<p id=\"error\">").unwrap_or(page_html.clone())
            ));
        }
        let button = if allow {
            "id=\"sign-in\""
        } else {
            "id=\"deny\""
        };
        let action = format!("action=\"{}\"", oauth::AUTHORIZE_PATH);
        if !page_html.contains(button) || !page_html.contains(&action) {
            return Err(format!(
                "the sign-in page has no form with a {button} button"
            ));
        }
        let request_id = html_text_of(&page_html, "name=\"request\" value=\"")
            .and_then(|rest| rest.split('"').next().map(str::to_string))
            .ok_or("the sign-in page has no request field")?;
        let form_url = page_url
            .join(oauth::AUTHORIZE_PATH)
            .map_err(|e| format!("cannot resolve the form action against {page_url}: {e}"))?;
        let body = format!(
            "request={}&decision={}",
            percent_encode(&request_id),
            if allow { "allow" } else { "deny" }
        );
        let origin = page_url.origin().ascii_serialization();
        let mut headers = nav_headers.to_vec();
        headers.extend([
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("Origin", origin.as_str()),
            ("Referer", page_url.as_str()),
        ]);
        let r = http::raw_request("POST", &form_url, &headers, Some(body.as_bytes()))?;
        if r.status != 302 {
            return Err(format!(
                "the sign-in form answered {} instead of 302: {}",
                r.status,
                String::from_utf8_lossy(&r.body)
            ));
        }
        let location = r
            .header("Location")
            .ok_or("the sign-in form answered 302 without Location")?;
        let cb_url = form_url
            .join(location)
            .map_err(|e| format!("bad Location {location:?}: {e}"))?;
        let resp = http::raw_get(&cb_url, &nav_headers)?;
        Ok(BrowserOutcome {
            callback_url: cb_url.to_string(),
            status: resp.status,
            body: String::from_utf8_lossy(&resp.body).into_owned(),
        })
    }

    /// Plays the user and the browser: given a `select_documents_url`, does what they would do and
    /// returns what the browser ended on (the client's callback answer).
    ///
    /// Navigation mode: GET the selection page, GET the confirm (or cancel) URL, take the 303
    /// `Location` and GET it on the client's loopback listener with browser headers, `Host:
    /// 127.0.0.1:PORT` and no `Authorization`. The callback's own answer is returned as is
    /// (redirects from the callback are not followed).
    ///
    /// [`SimConfig::xhr_callback`] mode (not for `Cancel`, which navigates): GET the page, GET
    /// `selection-url?doc=…` as the page's script does, then GET the callback with
    /// `Origin: <cde origin>` and `Accept: text/html, */*; q=0.01`, as the page's XHR would.
    ///
    /// Only loopback addresses are ever contacted.
    pub fn browse(
        &self,
        select_documents_url: &str,
        choice: BrowserChoice,
    ) -> Result<BrowserOutcome, String> {
        const UA: &str = "Mozilla/5.0 (X11; Linux x86_64) cde-simulator-browser/1.0";
        const NAV_ACCEPT: &str = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";
        let nav_headers: [(&str, &str); 3] = [
            ("User-Agent", UA),
            ("Accept", NAV_ACCEPT),
            ("Accept-Language", "en-US,en;q=0.9"),
        ];
        let page_url = url::Url::parse(select_documents_url).map_err(|e| {
            format!("select_documents_url {select_documents_url:?} is not a URL: {e}")
        })?;
        let session = session_of(select_documents_url)
            .ok_or_else(|| format!("{select_documents_url} is not a selection page URL"))?;
        let page = http::raw_get(&page_url, &nav_headers)?;
        if page.status != 200 {
            return Err(format!(
                "the selection page answered {}: {}",
                page.status,
                String::from_utf8_lossy(&page.body)
            ));
        }
        let page_html = String::from_utf8_lossy(&page.body).into_owned();
        let seg = percent_encode(&session);
        let ids: Vec<String> = match &choice {
            BrowserChoice::Select(ids) => ids.clone(),
            BrowserChoice::SelectAll => self
                .shared
                .config
                .documents
                .iter()
                .map(|d| d.id.clone())
                .collect(),
            BrowserChoice::Cancel => Vec::new(),
        };
        let doc_query: String = ids
            .iter()
            .map(|id| format!("doc={}", percent_encode(id)))
            .collect::<Vec<_>>()
            .join("&");
        let join = |rel: &str| {
            page_url
                .join(rel)
                .map_err(|e| format!("cannot resolve {rel:?} against {page_url}: {e}"))
        };

        if self.shared.config.xhr_callback && choice != BrowserChoice::Cancel {
            let sel = http::raw_get(
                &join(&format!("/ui/select/{seg}/selection-url?{doc_query}"))?,
                &[
                    ("User-Agent", UA),
                    ("Accept", "*/*"),
                    ("Referer", page_url.as_str()),
                ],
            )?;
            if sel.status != 200 {
                return Err(format!(
                    "selection-url answered {}: {}",
                    sel.status,
                    String::from_utf8_lossy(&sel.body)
                ));
            }
            let selected_url = String::from_utf8_lossy(&sel.body).trim().to_string();
            let callback = self
                .shared
                .state()
                .sessions
                .get(&session)
                .map(|s| s.callback_url.clone())
                .ok_or_else(|| format!("unknown session {session}"))?;
            let full = routes::append_param(
                &callback,
                routes::callback_param_name(&self.shared.config),
                &selected_url,
            );
            let cb_url = join(&full)?;
            let origin = self.shared.cde_origin.clone();
            let resp = http::raw_get(
                &cb_url,
                &[
                    ("User-Agent", UA),
                    ("Accept", "text/html, */*; q=0.01"),
                    ("Origin", origin.as_str()),
                    ("Referer", page_url.as_str()),
                ],
            )?;
            return Ok(BrowserOutcome {
                callback_url: cb_url.to_string(),
                status: resp.status,
                body: String::from_utf8_lossy(&resp.body).into_owned(),
            });
        }

        let next = match choice {
            BrowserChoice::Cancel => {
                let rel = format!("/ui/select/{seg}/cancel");
                if !page_html.contains(&rel) {
                    return Err("the selection page has no cancel link".into());
                }
                rel
            }
            _ => {
                let action = format!("/ui/select/{seg}/confirm");
                if !page_html.contains(&action) {
                    return Err("the selection page has no confirm form".into());
                }
                format!("{action}?{doc_query}")
            }
        };
        let next_url = join(&next)?;
        let mut headers = nav_headers.to_vec();
        headers.push(("Referer", page_url.as_str()));
        let r = http::raw_get(&next_url, &headers)?;
        if r.status != 303 {
            return Err(format!(
                "{next_url} answered {} instead of 303: {}",
                r.status,
                String::from_utf8_lossy(&r.body)
            ));
        }
        let location = r
            .header("Location")
            .ok_or_else(|| format!("{next_url} answered 303 without Location"))?;
        let cb_url = next_url
            .join(location)
            .map_err(|e| format!("bad Location {location:?}: {e}"))?;
        let resp = http::raw_get(&cb_url, &nav_headers)?;
        Ok(BrowserOutcome {
            callback_url: cb_url.to_string(),
            status: resp.status,
            body: String::from_utf8_lossy(&resp.body).into_owned(),
        })
    }
}

/// What follows `marker` in `html` up to the next `<` (for reading the simulator's own pages).
fn html_text_of(html: &str, marker: &str) -> Option<String> {
    let start = html.find(marker)? + marker.len();
    let rest = html.get(start..)?;
    Some(rest.split('<').next().unwrap_or("").to_string())
}

/// The session id in a `…/ui/select/<session>` URL.
fn session_of(select_documents_url: &str) -> Option<String> {
    let u = url::Url::parse(select_documents_url).ok()?;
    let mut segs = u.path_segments()?;
    match (segs.next(), segs.next(), segs.next(), segs.next()) {
        (Some("ui"), Some("select"), Some(s), None) if !s.is_empty() => Some(percent_decode(s)),
        _ => None,
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // Wake the accept loops.
        for addr in [self.cde_addr, self.storage_addr] {
            let _ = TcpStream::connect_timeout(&addr, Duration::from_secs(1));
        }
        for h in self.accept_threads.drain(..) {
            let _ = h.join();
        }
        // Close every open connection so blocked reads/writes return at once.
        for (_, s) in lock(&self.shared.conns).drain() {
            let _ = s.shutdown(Shutdown::Both);
        }
        let workers: Vec<JoinHandle<()>> = lock(&self.shared.workers).drain(..).collect();
        for h in workers {
            let _ = h.join();
        }
    }
}

fn accept_loop(listener: TcpListener, origin: Origin, shared: Arc<Shared>) {
    for incoming in listener.incoming() {
        if shared.stop.load(Ordering::SeqCst) {
            break;
        }
        let stream = match incoming {
            Ok(s) => s,
            Err(_) => {
                std::thread::sleep(Duration::from_millis(10));
                continue;
            }
        };
        let id = shared.next_conn.fetch_add(1, Ordering::SeqCst);
        if let Ok(clone) = stream.try_clone() {
            lock(&shared.conns).insert(id, clone);
        }
        let sh = Arc::clone(&shared);
        let spawned = std::thread::Builder::new()
            .name(format!("cde-sim-conn-{id}"))
            .spawn(move || {
                serve_connection(stream, origin, &sh);
                lock(&sh.conns).remove(&id);
            });
        let mut workers = lock(&shared.workers);
        workers.retain(|h| !h.is_finished());
        match spawned {
            Ok(h) => workers.push(h),
            Err(_) => {
                if let Some(s) = lock(&shared.conns).remove(&id) {
                    let _ = s.shutdown(Shutdown::Both);
                }
            }
        }
    }
}

/// Query parameters whose values never reach the stderr log: `*token*`, `*secret*`,
/// `*verifier*`, `*password*` and `code` (any case).
fn is_secret_name(name: &str) -> bool {
    let k = name.to_ascii_lowercase();
    ["token", "secret", "verifier", "password"]
        .iter()
        .any(|s| k.contains(s))
        || k == "code"
}

fn redact_query(target: &str) -> String {
    let Some((path, query)) = target.split_once('?') else {
        return target.to_string();
    };
    let parts: Vec<String> = query
        .split('&')
        .map(|p| match p.split_once('=') {
            Some((k, _)) if is_secret_name(k) => format!("{k}=<redacted>"),
            _ => p.to_string(),
        })
        .collect();
    format!("{path}?{}", parts.join("&"))
}

fn serve_connection(mut stream: TcpStream, origin: Origin, shared: &Shared) {
    let started = Instant::now();
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let _ = stream.set_write_timeout(Some(Duration::from_secs(60)));
    let _ = stream.set_nodelay(true);
    let req = match http::read_request(&mut stream) {
        Ok(r) => r,
        Err(http::ReadError::Gone) => return,
        Err(http::ReadError::Bad(status, msg)) => {
            let resp = http::Response::message(status, msg);
            let _ = http::write_response(&mut stream, &resp, false, &shared.stop);
            http::close_gracefully(&mut stream);
            return;
        }
    };
    let authorization = req.header("Authorization").map(str::to_string);
    shared.state().log.push(LoggedRequest {
        origin,
        method: req.method.clone(),
        target: req.target.clone(),
        authorization: authorization.clone(),
        headers: req.headers.clone(),
    });
    let resp = match origin {
        Origin::Cde => routes::cde(shared, &req),
        Origin::Storage => routes::storage(shared, &req),
    };
    let head_only = req.method == "HEAD";
    let result = http::write_response(&mut stream, &resp, head_only, &shared.stop);
    if resp.resets() && !head_only {
        http::close_abortively(stream);
    } else {
        http::close_gracefully(&mut stream);
    }
    if shared.config.log_to_stderr {
        let origin_name = match origin {
            Origin::Cde => "cde",
            Origin::Storage => "storage",
        };
        let outcome = match result {
            Ok(s) => s.to_string(),
            Err(e) => format!("{} (write failed: {e})", resp.status),
        };
        let range = req
            .header("Range")
            .map(|r| format!(" range={}", r.escape_debug()))
            .unwrap_or_default();
        // A closed stderr must not panic this thread: ignore write errors.
        let _ = writeln!(
            io::stderr(),
            "[cde-simulator] {origin_name} {} {} auth={}{range} -> {} ({} ms)",
            req.method,
            redact_query(&req.target),
            if authorization.is_some() {
                "present"
            } else {
                "absent"
            },
            outcome,
            started.elapsed().as_millis()
        );
    }
}

#[cfg(test)]
mod external_storage_tests {
    use super::*;

    fn download_location(config: SimConfig, id: &str) -> (u16, Option<String>) {
        let sim = Simulator::start(config).expect("start");
        let url = url::Url::parse(&format!(
            "{}/documents/{id}/versions/1/download",
            sim.documents_api_url()
        ))
        .expect("url");
        let r = http::raw_get(&url, &[]).expect("GET");
        (r.status, r.header("Location").map(str::to_string))
    }

    #[test]
    fn external_storage_replaces_the_storage_in_redirects() {
        let docs = vec![SimDocument::zeros("big-1", "big.bin", 5_000_000_000)];
        let (status, location) = download_location(
            SimConfig {
                documents: docs.clone(),
                external_storage: Some("http://127.0.0.1:9/files/".into()),
                ..SimConfig::default()
            },
            "big-1",
        );
        assert_eq!(status, 303);
        assert_eq!(location.as_deref(), Some("http://127.0.0.1:9/files/big-1"));

        let (status, location) = download_location(
            SimConfig {
                documents: docs,
                download_mode: DownloadMode::Found302,
                external_storage: Some("https://127.0.0.1:9".into()),
                ..SimConfig::default()
            },
            "big-1",
        );
        assert_eq!(status, 302);
        assert_eq!(location.as_deref(), Some("https://127.0.0.1:9/big-1"));
    }

    #[test]
    fn without_external_storage_redirects_go_to_the_own_storage() {
        let (status, location) = download_location(SimConfig::default(), "doc-3");
        assert_eq!(status, 303);
        let location = location.expect("Location");
        assert!(
            location.contains("/blob/doc-3?") && location.ends_with(STORAGE_QUERY),
            "{location}"
        );
    }
}
