//! The client: the documents API address, the bearer token and the HTTP transport, shared by
//! every selection and download made with it.

use crate::abort::{AbortSignal, AbortToken};
use crate::download::{self, DownloadReport, ProgressFn};
use crate::error::{Error, ErrorKind, Result};
use crate::http::{
    parse_pem_certificates, parse_url, Answer, Credentials, HttpSettings, Method, RetryPolicy,
    Timeouts, Transport,
};
use crate::models::DocumentVersion;
use crate::selection::{SelectionOptions, SelectionSession};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use url::{Origin, Url};

struct Shared {
    api_url: Url,
    api_origin: Origin,
    token: RwLock<Option<String>>,
    transport: RwLock<Transport>,
    abort: Arc<AbortSignal>,
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

    /// Sends a request under the client's credential and redirect policy.
    pub(crate) fn send(
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

    /// Fetches a JSON document under the client's policy.
    pub(crate) fn fetch_json(&self, method: Method<'_>, url: &Url, what: &str) -> Result<Vec<u8>> {
        let token = self.token();
        let creds = Credentials {
            token: token.as_deref(),
            origin: &self.shared.api_origin,
        };
        self.transport().fetch_json(method, url, creds, what)
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
        let documents = selection.documents();
        let doc: &DocumentVersion = documents.get(index).ok_or_else(|| {
            Error::invalid(format!(
                "document index {index} out of range (selection has {})",
                documents.len()
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
