//! Downloading a whole selection with up to N transfers at once. The transfers run on worker
//! threads; every host callback (progress) runs on the calling thread, which relays the workers'
//! events over a channel. An abort (the host's progress callback, or the client's
//! `abort_downloads`) stops every transfer, and each leaves no file behind.

use crate::abort::AbortSignal;
use crate::client::Client;
use crate::download::DownloadReport;
use crate::error::Result;
use crate::selection::SelectionSession;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::Arc;

/// Default number of transfers at once.
pub const DEFAULT_PARALLEL: usize = 4;
/// Most transfers at once, whatever the host asks.
pub const MAX_PARALLEL: usize = 32;

/// One progress report of a selection download.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SelectionProgress {
    /// The document this report is about.
    pub index: usize,
    /// Its bytes so far.
    pub received: u64,
    /// Its size (Content-Length, else the declared size), if known.
    pub total: Option<u64>,
    /// Bytes so far over all documents.
    pub all_received: u64,
    /// Sum of all sizes, if every one is known.
    pub all_total: Option<u64>,
}

enum Event {
    Progress(usize, u64, Option<u64>),
    Done(usize, Result<(PathBuf, DownloadReport)>),
}

/// Downloads every document of `selection` into `dest_dir` (safe, unique names, as
/// [`Client::download_document`]) with up to `max_parallel` transfers at once (0: 4). `progress`
/// runs on this thread; returning `false` aborts every transfer. Results are in document order.
pub fn download_selection(
    client: &Client,
    selection: &SelectionSession,
    dest_dir: &Path,
    max_parallel: usize,
    progress: &mut dyn FnMut(&SelectionProgress) -> bool,
) -> Vec<Result<(PathBuf, DownloadReport)>> {
    let documents = selection.documents();
    let count = documents.len();
    let workers = match max_parallel {
        0 => DEFAULT_PARALLEL,
        n => n.min(MAX_PARALLEL),
    }
    .min(count.max(1));
    let batch = Arc::new(AbortSignal::default());
    let abort = client.abort_token().and(&batch);
    let next = AtomicUsize::new(0);
    let mut received = vec![0u64; count];
    let mut totals: Vec<Option<u64>> = documents
        .iter()
        .map(|d| d.size_in_bytes.and_then(|s| u64::try_from(s).ok()))
        .collect();
    let mut results: Vec<Option<Result<(PathBuf, DownloadReport)>>> =
        (0..count).map(|_| None).collect();

    let host = std::thread::current().id();
    std::thread::scope(|scope| {
        let (tx, rx) = mpsc::channel::<Event>();
        for _ in 0..workers {
            let (tx, abort, next) = (tx.clone(), abort.clone(), &next);
            std::thread::Builder::new()
                .name("ocde-download".into())
                .spawn_scoped(scope, move || {
                    // Tokens a refresh obtains here belong to the host's call.
                    crate::client::work_for(host);
                    loop {
                        let index = next.fetch_add(1, Ordering::SeqCst);
                        if index >= count {
                            break;
                        }
                        let mut relay = |got: u64, total: Option<u64>| {
                            let _ = tx.send(Event::Progress(index, got, total));
                            !abort.is_aborted()
                        };
                        // A bug in one transfer fails that document, quietly, not the host.
                        let result =
                            crate::panic_guard::catch(|| {
                                client.download_document_with(
                                    selection, index, dest_dir, &mut relay, &abort,
                                )
                            })
                            .unwrap_or_else(|panic| {
                                Err(crate::Error::new(
                            crate::ErrorKind::Internal,
                            format!("internal error in a download worker (caught panic): {panic}"),
                        ))
                            });
                        let _ = tx.send(Event::Done(index, result));
                    }
                })
                .map(|_| ())
                .unwrap_or_else(|_| ()); // a worker that could not start leaves its share to the others
        }
        drop(tx);
        // The calling thread relays every event to the host until all workers are done.
        for event in rx {
            match event {
                Event::Progress(index, got, total) => {
                    received[index] = got;
                    if total.is_some() {
                        totals[index] = total;
                    }
                    let report = SelectionProgress {
                        index,
                        received: got,
                        total,
                        // Saturating / checked: declared sizes come from servers (up to 2^63 each).
                        all_received: received.iter().fold(0u64, |a, b| a.saturating_add(*b)),
                        all_total: totals.iter().try_fold(0u64, |a, b| a.checked_add((*b)?)),
                    };
                    if !progress(&report) {
                        batch.trigger();
                    }
                }
                Event::Done(index, result) => results[index] = Some(result),
            }
        }
    });
    results
        .into_iter()
        .map(|r| r.unwrap_or_else(|| Err(crate::http::aborted())))
        .collect()
}
