//! The selection session: POST select-documents, open the CDE's page, wait for the callback,
//! fetch the selected documents.

use crate::abort::{AbortSignal, AbortToken};
use crate::client::Client;
use crate::error::{Error, ErrorKind, Result};
use crate::filename::{safe_file_name, unique_names};
use crate::http::{parse_url, Method};
use crate::listener::{CallbackListener, CallbackOutcome, WaitResult};
use crate::models::{
    DocumentVersion, SelectDocumentsRequest, SelectDocumentsResponse, SelectedDocuments,
};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Default `callback.expires_in`: how long we promise to listen (the spec's example value).
pub const DEFAULT_CALLBACK_EXPIRY: Duration = Duration::from_secs(3600);

/// Options of a selection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SelectionOptions {
    /// Context from an earlier selection, sent back to the CDE.
    pub server_context: Option<String>,
    /// Extensions the host opens, with the dot (".ifc").
    pub supported_file_extensions: Vec<String>,
    /// How long to listen for the callback.
    pub callback_expires_in: Duration,
    /// The loopback port to listen on; 0 for an ephemeral one.
    pub callback_port: u16,
}

impl Default for SelectionOptions {
    fn default() -> Self {
        SelectionOptions {
            server_context: None,
            supported_file_extensions: Vec::new(),
            callback_expires_in: DEFAULT_CALLBACK_EXPIRY,
            callback_port: 0,
        }
    }
}

/// Where a selection stands after [`SelectionSession::poll`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SelectionStatus {
    /// Still waiting for the user.
    Pending,
    /// The documents are known ([`SelectionSession::documents`]).
    Selected,
    /// The user cancelled in the CDE's page.
    UserCancelled,
    /// No callback within `callback_expires_in`.
    Expired,
    /// [`SelectionSession::abort`] was called.
    Aborted,
}

struct Progress {
    /// A final status, once reached; `poll` keeps returning it.
    finished: Option<SelectionStatus>,
    selection: Option<SelectedDocuments>,
    safe_names: Vec<String>,
}

/// One running selection. All methods take `&self`: `abort` may be called from another thread
/// while a `poll` blocks; other calls are serialised internally.
pub struct SelectionSession {
    client: Client,
    listener: Mutex<CallbackListener>,
    aborter: Aborter,
    /// Raised by [`abort`](Self::abort) too: stops the fetch of the selected documents.
    fetch_abort: AbortToken,
    select_documents_url: String,
    deadline: Instant,
    progress: Mutex<Progress>,
}

/// Aborts a selection from any thread. Cheap to clone; outlives nothing it refers to.
#[derive(Clone)]
pub struct Aborter(std::sync::Arc<dyn Fn() + Send + Sync>);

impl Aborter {
    /// Wakes a blocked poll, which then returns [`SelectionStatus::Aborted`].
    pub fn abort(&self) {
        (self.0)()
    }
}

impl SelectionSession {
    /// Starts a selection: binds the listener, POSTs select-documents, then hands the page URL to
    /// `open_url` (on this thread). If `open_url` fails, nothing is left running.
    pub fn start(
        client: &Client,
        options: &SelectionOptions,
        open_url: &mut dyn FnMut(&str) -> Result<()>,
    ) -> Result<SelectionSession> {
        let listener = CallbackListener::bind(options.callback_port)?;
        let request = SelectDocumentsRequest {
            callback_url: listener.callback_url(),
            callback_expires_in: options.callback_expires_in.as_secs().max(1),
            server_context: options.server_context.clone(),
            supported_file_extensions: options.supported_file_extensions.clone(),
        };
        let endpoint = client.endpoint("select-documents")?;
        let body = request.to_json().to_string();
        let answer = client.fetch_json(
            Method::PostJson(body.as_bytes()),
            &endpoint,
            "select-documents",
            &AbortToken::none(),
        )?;
        let response = SelectDocumentsResponse::parse(&answer)?;
        // Never hand a non-http(s) URL from a server to a browser.
        // The browser and the host get exactly the URL that was checked (WHATWG-serialised: no
        // stray whitespace, control characters or backslashes of the raw string survive).
        let page = parse_url(&response.select_documents_url, "select_documents_url")
            .map_err(|e| Error::new(ErrorKind::Protocol, e.message))?
            .to_string();
        open_url(&page)?;
        let deadline = Instant::now() + options.callback_expires_in;
        let signal = std::sync::Arc::new(AbortSignal::default());
        let fetch_abort = signal.token();
        let wake_poll = listener.abort_handle();
        let shared_abort = Aborter(std::sync::Arc::new(move || {
            signal.trigger();
            wake_poll();
        }));
        Ok(SelectionSession {
            client: client.clone(),
            listener: Mutex::new(listener),
            aborter: shared_abort,
            fetch_abort,
            select_documents_url: page,
            deadline,
            progress: Mutex::new(Progress {
                finished: None,
                selection: None,
                safe_names: Vec::new(),
            }),
        })
    }

    /// The client this selection fetches with.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The CDE's selection page.
    pub fn select_documents_url(&self) -> &str {
        &self.select_documents_url
    }

    /// A handle that aborts this selection from any thread.
    pub fn aborter(&self) -> Aborter {
        self.aborter.clone()
    }

    /// Aborts: a blocked or later `poll` returns [`SelectionStatus::Aborted`] (unless the selection
    /// already reached another final status).
    pub fn abort(&self) {
        self.aborter.abort();
    }

    /// Waits up to `timeout` for the callback; once it came, fetches the selected documents.
    /// A final status is returned again by every later call. If the fetch fails, the error is
    /// returned and the next call tries the fetch again (the user's choice is kept).
    pub fn poll(&self, timeout: Duration) -> Result<SelectionStatus> {
        let mut progress = lock(&self.progress);
        if let Some(done) = progress.finished {
            return Ok(done);
        }
        let waited = lock(&self.listener).wait(timeout, self.deadline);
        let status = match waited {
            WaitResult::TimedOut => return Ok(SelectionStatus::Pending),
            WaitResult::Aborted => SelectionStatus::Aborted,
            WaitResult::Expired => SelectionStatus::Expired,
            WaitResult::Failed(panic) => {
                return Err(Error::new(
                    ErrorKind::Internal,
                    format!("internal error in the callback listener (caught panic): {panic}"),
                ))
            }
            WaitResult::Callback(CallbackOutcome::Cancelled) => SelectionStatus::UserCancelled,
            WaitResult::Callback(CallbackOutcome::Authorized(_) | CallbackOutcome::Denied(_)) => {
                // A selection listener never accepts these (`judge_for` with `Selection`).
                return Err(Error::new(
                    ErrorKind::Internal,
                    "a sign-in redirect reached a selection listener",
                ));
            }
            WaitResult::Callback(CallbackOutcome::Selected(url)) => {
                if lock(&self.listener).is_aborted() {
                    SelectionStatus::Aborted
                } else {
                    let selection = self.fetch_selection(&url)?;
                    let names: Vec<String> = selection
                        .documents
                        .iter()
                        .map(|d| safe_file_name(&d.file_name))
                        .collect();
                    progress.safe_names = unique_names(&names);
                    progress.selection = Some(selection);
                    SelectionStatus::Selected
                }
            }
        };
        progress.finished = Some(status);
        lock(&self.listener).stop();
        Ok(status)
    }

    fn fetch_selection(&self, url: &str) -> Result<SelectedDocuments> {
        let url = parse_url(url, "selected_documents_url")
            .map_err(|e| Error::new(ErrorKind::Protocol, e.message))?;
        let body =
            self.client
                .fetch_json(Method::Get, &url, "selected documents", &self.fetch_abort)?;
        SelectedDocuments::parse(&body)
    }

    /// Fails with an invalid-argument error unless `poll` returned
    /// [`SelectionStatus::Selected`] (there are no documents to download before that).
    pub fn ensure_selected(&self) -> Result<()> {
        if lock(&self.progress).selection.is_some() {
            Ok(())
        } else {
            Err(Error::invalid(
                "the selection has no documents yet: poll it until it returns OK",
            ))
        }
    }

    /// Document `index` of the selection (a copy of that one only), if there is one.
    pub fn document(&self, index: usize) -> Option<DocumentVersion> {
        lock(&self.progress)
            .selection
            .as_ref()
            .and_then(|s| s.documents.get(index).cloned())
    }

    /// How many documents were selected (0 before the selection arrived).
    pub fn document_count(&self) -> usize {
        lock(&self.progress)
            .selection
            .as_ref()
            .map_or(0, |s| s.documents.len())
    }

    /// The selected documents (empty until `poll` returned [`SelectionStatus::Selected`]).
    pub fn documents(&self) -> Vec<DocumentVersion> {
        lock(&self.progress)
            .selection
            .as_ref()
            .map(|s| s.documents.clone())
            .unwrap_or_default()
    }

    /// The server context of the answer, if any.
    pub fn server_context(&self) -> Option<String> {
        lock(&self.progress)
            .selection
            .as_ref()
            .and_then(|s| s.server_context.clone())
    }

    /// The safe, unique file name of document `index` inside a destination folder.
    pub fn safe_file_name(&self, index: usize) -> Option<String> {
        lock(&self.progress).safe_names.get(index).cloned()
    }

    /// The callback URL given to the CDE (for diagnostics and tests).
    pub fn callback_url(&self) -> String {
        lock(&self.listener).callback_url()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
