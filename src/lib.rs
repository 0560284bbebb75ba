//! # opencde-documents
//!
//! The buildingSMART OpenCDE Documents API download flow — select documents in the CDE's page,
//! receive the callback on a loopback listener, download the files safely — as a plain Rust API
//! ([`Client`], [`SelectionSession`]) and as a C ABI (`src/ffi/`, header `include/opencde_documents.h`).
//!
//! ```no_run
//! use opencde_documents::{Client, SelectionOptions, SelectionStatus};
//! use std::time::Duration;
//! let client = Client::new("https://cde.example.com/documents/1.0")?;
//! client.set_access_token(Some("token"))?;
//! let selection = client.start_selection(&SelectionOptions::default(), &mut |url| {
//!     println!("open {url}");
//!     Ok(())
//! })?;
//! while selection.poll(Duration::from_millis(500))? == SelectionStatus::Pending {}
//! for i in 0..selection.documents().len() {
//!     client.download_document(&selection, i, "models".as_ref(), &mut |_, _| true)?;
//! }
//! # Ok::<(), opencde_documents::Error>(())
//! ```

pub mod abort;
pub mod client;
pub mod download;
pub mod error;
pub mod ffi;
pub mod filename;
pub mod foundation;
pub mod fuzzing;
pub mod http;
pub mod listener;
pub mod models;
pub mod oauth;
pub mod panic_guard;
pub mod parallel;
pub mod selection;

pub use client::Client;
pub use download::DownloadReport;
pub use error::{Error, ErrorKind, Result};
pub use http::Timeouts;
pub use models::{DocumentVersion, SelectedDocuments};
pub use selection::{Aborter, SelectionOptions, SelectionSession, SelectionStatus};

/// Opens `url` in the system browser (used when the host gives no `open_url`).
pub fn open_in_system_browser(url: &str) -> Result<()> {
    webbrowser::open(url).map_err(|e| {
        Error::new(
            ErrorKind::Io,
            format!("could not open the system browser: {e}"),
        )
    })
}
