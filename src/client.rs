//! The client: the documents API address, the bearer token and the HTTP transport, shared by
//! every selection and download made with it.

use crate::abort::{AbortSignal, AbortToken};
use crate::download::{self, DownloadReport, ProgressFn};
use crate::error::{Error, ErrorKind, Result};
use crate::foundation::{AuthInfo, CurrentUser};
use crate::http::{
    parse_pem_certificates, parse_url, Answer, Credentials, HttpSettings, Method, RetryPolicy,
    Timeouts, Transport,
};
use crate::models::DocumentVersion;
use crate::oauth::{token_request, unix_now, OAuthClient, TokenSet};
use crate::selection::{SelectionOptions, SelectionSession};
use std::cell::Cell;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::thread::ThreadId;
use url::{Origin, Url};

struct Shared {
    api_url: Url,
    api_origin: Origin,
    token: RwLock<Option<String>>,
    transport: RwLock<Transport>,
    abort: Arc<AbortSignal>,
    auth: Mutex<AuthState>,
    /// Held while refreshing: refresh tokens may be single-use, so one refresh at a time.
    refreshing: Mutex<()>,
    token_observer: Mutex<Option<TokenObserver>>,
}

/// Told of every new token set, by [`Client::deliver_token_events`] on the caller's thread.
pub type TokenObserver = Arc<dyn Fn(&TokenSet) + Send + Sync>;

/// Sign-in state: where to get tokens, which application we are, and what we hold.
#[derive(Default)]
struct AuthState {
    info: Option<AuthInfo>,
    foundation_url: Option<String>,
    oauth: Option<OAuthClient>,
    refresh_token: Option<String>,
    /// Refresh before a request from this Unix time on (a little before the expiry).
    refresh_after_unix: Option<i64>,
    /// Bumped whenever the access token changes (a request that failed with an older token
    /// does not refresh again after another thread already did).
    generation: u64,
    /// Token sets not yet handed to the host, each with the host thread whose call obtained it
    /// (delivered there, at the end of that call, by the C ABI).
    pending: Vec<(ThreadId, TokenSet)>,
}

thread_local! {
    /// On a library worker thread: the host thread its work is done for.
    static WORKING_FOR: Cell<Option<ThreadId>> = const { Cell::new(None) };
}

/// Marks the current (library worker) thread as working for the host thread `host`: token sets
/// a refresh obtains here are delivered inside `host`'s call.
pub(crate) fn work_for(host: ThreadId) {
    let _ = WORKING_FOR.try_with(|w| w.set(Some(host)));
}

/// The host thread on whose behalf this thread runs.
fn host_thread() -> ThreadId {
    WORKING_FOR
        .try_with(Cell::get)
        .ok()
        .flatten()
        .unwrap_or_else(|| std::thread::current().id())
}

/// A client of one CDE's Documents API. Cheap to clone (clones share token and settings) and
/// safe to use from several threads.
#[derive(Clone)]
pub struct Client {
    shared: Arc<Shared>,
}

impl Client {
    /// A client for the documents API at `documents_api_url` (e.g.
    /// `https://cde.example.com/documents/1.0`). Only http and https are accepted.
    pub fn new(documents_api_url: &str) -> Result<Client> {
        let mut api_url = parse_url(documents_api_url, "documents API URL")?;
        api_url.set_query(None);
        api_url.set_fragment(None);
        if !api_url.path().ends_with('/') {
            let path = format!("{}/", api_url.path());
            api_url.set_path(&path);
        }
        let api_origin = api_url.origin();
        Ok(Client {
            shared: Arc::new(Shared {
                api_url,
                api_origin,
                token: RwLock::new(None),
                transport: RwLock::new(Transport::new(HttpSettings::default())),
                abort: Arc::new(AbortSignal::default()),
                auth: Mutex::new(AuthState::default()),
                refreshing: Mutex::new(()),
                token_observer: Mutex::new(None),
            }),
        })
    }

    /// The documents API base URL (always ending in `/`).
    pub fn api_url(&self) -> &Url {
        &self.shared.api_url
    }

    /// Sets (or with `None` clears) the bearer token. It is sent only to the API's origin.
    pub fn set_access_token(&self, token: Option<&str>) -> Result<()> {
        if let Some(t) = token {
            if t.is_empty() || !t.bytes().all(|b| (0x21..0x7f).contains(&b)) {
                return Err(Error::invalid(
                    "access token must be non-empty visible ASCII without spaces",
                ));
            }
        }
        *self.shared.token.write().unwrap_or_else(|p| p.into_inner()) = token.map(str::to_string);
        Ok(())
    }

    /// Replaces the timeouts.
    pub fn set_timeouts(&self, timeouts: Timeouts) {
        self.update_settings(|s| s.timeouts = timeouts);
    }

    /// Replaces the retry policy of idempotent requests.
    pub fn set_retry_policy(&self, retry: RetryPolicy) {
        self.update_settings(|s| s.retry = retry);
    }

    /// The retry policy in force.
    pub fn retry_policy(&self) -> RetryPolicy {
        self.transport().retry_policy()
    }

    /// Trusts exactly the certificates of this PEM bundle as TLS roots instead of the bundled
    /// Mozilla roots (`None` goes back to those).
    pub fn set_root_certificates_pem(&self, pem: Option<&[u8]>) -> Result<()> {
        let roots = match pem {
            Some(p) => Some(Arc::new(parse_pem_certificates(p)?)),
            None => None,
        };
        self.update_settings(|s| s.root_certificates = roots);
        Ok(())
    }

    fn update_settings(&self, change: impl FnOnce(&mut HttpSettings)) {
        let mut lock = self
            .shared
            .transport
            .write()
            .unwrap_or_else(|p| p.into_inner());
        let mut settings = lock.settings().clone();
        change(&mut settings);
        *lock = Transport::new(settings);
    }

    /// The timeouts in force.
    pub fn timeouts(&self) -> Timeouts {
        self.transport().timeouts()
    }

    fn transport(&self) -> Transport {
        self.shared
            .transport
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn token(&self) -> Option<String> {
        self.shared
            .token
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// `{documents_api}/{name}`.
    pub(crate) fn endpoint(&self, name: &str) -> Result<Url> {
        self.shared.api_url.join(name).map_err(|e| {
            Error::new(
                ErrorKind::Internal,
                format!("joining {name} to the API URL: {e}"),
            )
        })
    }

    /// Sends a request under the client's credential and redirect policy. With sign-in set up,
    /// an expired access token is refreshed first, and a 401 from the API origin is answered by
    /// one refresh and one retry.
    pub(crate) fn send(
        &self,
        method: Method<'_>,
        url: &Url,
        headers: &[(&str, &str)],
        abort: &AbortToken,
    ) -> Result<Answer> {
        self.refresh_if_due()?;
        let generation = self.auth().generation;
        let answer = self.send_with_current_token(method, url, headers, abort)?;
        let unauthorized_here = answer.response.status().as_u16() == 401
            && answer.url.origin() == self.shared.api_origin;
        if unauthorized_here && self.can_refresh() {
            drop(answer);
            self.refresh(generation)?;
            return self.send_with_current_token(method, url, headers, abort);
        }
        Ok(answer)
    }

    fn send_with_current_token(
        &self,
        method: Method<'_>,
        url: &Url,
        headers: &[(&str, &str)],
        abort: &AbortToken,
    ) -> Result<Answer> {
        let token = self.token();
        let creds = Credentials {
            token: token.as_deref(),
            origin: &self.shared.api_origin,
        };
        self.transport().send(method, url, creds, headers, abort)
    }

    fn auth(&self) -> MutexGuard<'_, AuthState> {
        self.shared.auth.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Uses the sign-in endpoints from discovery (and the Foundation base for current-user).
    pub fn set_auth_info(&self, info: Option<AuthInfo>, foundation_url: Option<String>) {
        let mut a = self.auth();
        a.info = info;
        a.foundation_url = foundation_url;
    }

    /// The sign-in endpoints, if discovery found them.
    pub fn auth_info(&self) -> Option<AuthInfo> {
        self.auth().info.clone()
    }

    /// Identifies the application to the authorization server.
    pub fn set_oauth_client(&self, client: OAuthClient) {
        self.auth().oauth = Some(client);
    }

    /// Hands the client a refresh token the host stored earlier: the next request first
    /// refreshes (no browser needed). `None` forgets it.
    pub fn set_refresh_token(&self, refresh_token: Option<&str>) -> Result<()> {
        if let Some(t) = refresh_token {
            if t.is_empty() || t.chars().any(char::is_control) {
                return Err(Error::invalid(
                    "refresh token must be non-empty text without control characters",
                ));
            }
        }
        let mut a = self.auth();
        a.refresh_token = refresh_token.map(str::to_string);
        // No access token known to be valid: refresh before the next request.
        a.refresh_after_unix = Some(i64::MIN);
        Ok(())
    }

    /// The endpoints and application needed for sign-in and refresh.
    pub(crate) fn oauth_setup(&self) -> Result<(AuthInfo, OAuthClient)> {
        let a = self.auth();
        let info = a.info.clone().ok_or_else(|| {
            Error::new(
                ErrorKind::Protocol,
                "this server offers no OAuth2 sign-in (no /foundation/1.0/auth); create the client from the server URL",
            )
        })?;
        let oauth = a
            .oauth
            .clone()
            .ok_or_else(|| Error::invalid("no OAuth2 client id set on this client"))?;
        Ok((info, oauth))
    }

    /// A transport for token requests (same settings; never carries the bearer token).
    pub(crate) fn transport_for_auth(&self) -> Transport {
        self.transport()
    }

    /// Stores a new token set: it becomes the bearer token and is queued for the host.
    pub(crate) fn store_tokens(&self, tokens: TokenSet) {
        *self.shared.token.write().unwrap_or_else(|p| p.into_inner()) =
            Some(tokens.access_token.clone());
        let mut a = self.auth();
        if tokens.refresh_token.is_some() {
            a.refresh_token = tokens.refresh_token.clone();
        }
        // Refresh a little before the end: 10 s early, but never earlier than half the lifetime.
        a.refresh_after_unix = tokens.expires_in.map(|life| {
            let margin = (life / 2).min(10) as i64;
            unix_now() + life as i64 - margin
        });
        a.generation += 1;
        let mut delivered = tokens;
        if delivered.refresh_token.is_none() {
            delivered.refresh_token = a.refresh_token.clone();
        }
        a.pending.push((host_thread(), delivered));
    }

    /// Token sets obtained since the last call, for the host (call on the host's thread).
    pub fn take_token_events(&self) -> Vec<TokenSet> {
        let me = std::thread::current().id();
        let mut a = self.auth();
        let (mine, others): (Vec<_>, Vec<_>) = std::mem::take(&mut a.pending)
            .into_iter()
            .partition(|(thread, _)| *thread == me);
        a.pending = others;
        mine.into_iter().map(|(_, t)| t).collect()
    }

    /// Sets (or removes) the observer told of new token sets.
    pub fn set_token_observer(&self, observer: Option<TokenObserver>) {
        *self
            .shared
            .token_observer
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = observer;
    }

    /// Hands pending token sets to the observer, on the calling thread (the C ABI calls this at
    /// the end of every call that may have signed in or refreshed, so a host callback never runs
    /// on a worker thread). Without an observer the events are dropped.
    pub fn deliver_token_events(&self) {
        let events = self.take_token_events();
        if events.is_empty() {
            return;
        }
        let observer = self
            .shared
            .token_observer
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        if let Some(observer) = observer {
            for e in &events {
                observer(e);
            }
        }
    }

    fn can_refresh(&self) -> bool {
        let a = self.auth();
        a.refresh_token.is_some() && a.info.is_some() && a.oauth.is_some()
    }

    fn refresh_if_due(&self) -> Result<()> {
        let (due, generation) = {
            let a = self.auth();
            let due =
                a.refresh_token.is_some() && a.refresh_after_unix.is_some_and(|t| unix_now() >= t);
            (due, a.generation)
        };
        if due && self.can_refresh() {
            self.refresh(generation)?;
        }
        Ok(())
    }

    /// Refreshes the access token, unless another thread already did since `seen_generation`.
    fn refresh(&self, seen_generation: u64) -> Result<()> {
        let _one_at_a_time = self
            .shared
            .refreshing
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let (info, oauth, refresh_token) = {
            let a = self.auth();
            if a.generation != seen_generation {
                return Ok(());
            }
            match (a.info.clone(), a.oauth.clone(), a.refresh_token.clone()) {
                (Some(i), Some(o), Some(r)) => (i, o, r),
                _ => return Ok(()),
            }
        };
        let form = [
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token.as_str()),
        ];
        match token_request(&self.transport(), &info, &oauth, &form) {
            Ok(tokens) => {
                self.store_tokens(tokens);
                Ok(())
            }
            Err(mut e) => {
                if e.kind == ErrorKind::Unauthorized {
                    // The refresh token is dead (revoked, expired or used): sign in again.
                    self.auth().refresh_token = None;
                    e.message = format!(
                        "the session expired and could not be renewed — sign in again ({})",
                        e.message
                    );
                }
                Err(e)
            }
        }
    }

    /// Who is signed in (`GET {foundation}/current-user`).
    pub fn current_user(&self) -> Result<CurrentUser> {
        let base = self.auth().foundation_url.clone().ok_or_else(|| {
            Error::new(
                ErrorKind::Protocol,
                "no Foundation API known for this client; create it from the server URL",
            )
        })?;
        let url = parse_url(
            &format!("{}/current-user", base.trim_end_matches('/')),
            "current-user URL",
        )?;
        let body = self.fetch_json(Method::Get, &url, "current user", &AbortToken::none())?;
        crate::foundation::parse_current_user(&body)
    }

    /// A token aborted by [`abort_downloads`](Self::abort_downloads) from now on.
    pub(crate) fn abort_token(&self) -> AbortToken {
        self.shared.abort.token()
    }

    /// Aborts every download running on this client (any thread): each returns
    /// [`ErrorKind::Aborted`] at its next chunk or retry wait, at the latest when the stall timeout
    /// fires. Downloads started afterwards are not affected.
    pub fn abort_downloads(&self) {
        self.shared.abort.trigger();
    }

    /// Fetches a JSON document under the client's policy; `abort` stops it between reads.
    pub(crate) fn fetch_json(
        &self,
        method: Method<'_>,
        url: &Url,
        what: &str,
        abort: &AbortToken,
    ) -> Result<Vec<u8>> {
        let mut answer = self.send(method, url, &[("Accept", "application/json")], abort)?;
        crate::http::read_json_body(&mut answer, what, abort)
    }

    /// Starts a selection; `open_url` receives the CDE's page URL on this thread.
    pub fn start_selection(
        &self,
        options: &SelectionOptions,
        open_url: &mut dyn FnMut(&str) -> Result<()>,
    ) -> Result<SelectionSession> {
        SelectionSession::start(self, options, open_url)
    }

    /// Downloads `url` to `dest` (see [`download::download_to_path`]).
    pub fn download_to_path(
        &self,
        url: &str,
        dest: &Path,
        expected_size: Option<u64>,
        progress: ProgressFn<'_>,
    ) -> Result<DownloadReport> {
        download::download_to_path(
            self,
            url,
            dest,
            expected_size,
            progress,
            &self.abort_token(),
        )
    }

    /// Downloads document `index` of a finished selection into `dest_dir` under its safe, unique
    /// file name; returns the path written.
    pub fn download_document(
        &self,
        selection: &SelectionSession,
        index: usize,
        dest_dir: &Path,
        progress: ProgressFn<'_>,
    ) -> Result<(PathBuf, DownloadReport)> {
        self.download_document_with(selection, index, dest_dir, progress, &self.abort_token())
    }

    /// Downloads every document of a finished selection into `dest_dir`, up to `max_parallel`
    /// at once (see [`crate::parallel::download_selection`]).
    pub fn download_selection(
        &self,
        selection: &SelectionSession,
        dest_dir: &Path,
        max_parallel: usize,
        progress: &mut dyn FnMut(&crate::parallel::SelectionProgress) -> bool,
    ) -> Vec<Result<(PathBuf, DownloadReport)>> {
        crate::parallel::download_selection(self, selection, dest_dir, max_parallel, progress)
    }

    pub(crate) fn download_document_with(
        &self,
        selection: &SelectionSession,
        index: usize,
        dest_dir: &Path,
        progress: ProgressFn<'_>,
        abort: &AbortToken,
    ) -> Result<(PathBuf, DownloadReport)> {
        let doc: DocumentVersion = selection.document(index).ok_or_else(|| {
            Error::invalid(format!(
                "document index {index} out of range (selection has {})",
                selection.document_count()
            ))
        })?;
        let name = selection.safe_file_name(index).ok_or_else(|| {
            Error::new(
                ErrorKind::Internal,
                "selection has no safe name for this document",
            )
        })?;
        if doc.download_url.is_empty() {
            return Err(Error::new(
                ErrorKind::Protocol,
                format!("document {index} has no download link"),
            ));
        }
        if !dest_dir.is_dir() {
            return Err(Error::new(
                ErrorKind::Io,
                format!("destination folder {} does not exist", dest_dir.display()),
            ));
        }
        let dest = dest_dir.join(&name);
        let expected = doc.size_in_bytes.and_then(|s| u64::try_from(s).ok());
        let report =
            download::download_to_path(self, &doc.download_url, &dest, expected, progress, abort)?;
        Ok((dest, report))
    }
}
