//! `ocde_download_selection`: a whole selection with up to N transfers at once.

mod common;
use common::*;
use opencde_documents::ffi::client::ocde_client_abort_downloads;
use opencde_documents::ffi::download::*;
use opencde_documents::ffi::OcdeStatus;
use std::collections::HashSet;
use std::ffi::{c_void, CStr};
use std::thread::ThreadId;

#[derive(Default)]
struct Seen {
    calls: Vec<(usize, u64, i64, u64, i64)>,
    threads: HashSet<ThreadId>,
    abort_at: Option<u64>,
    /// Most documents seen part-way (0 < received < total) at the same time.
    max_in_flight: usize,
    partial: HashSet<usize>,
}

unsafe extern "C" fn on_progress(
    user_data: *mut c_void,
    index: usize,
    received: u64,
    total: i64,
    all: u64,
    all_total: i64,
) -> i32 {
    let s = &mut *(user_data as *mut Seen);
    s.calls.push((index, received, total, all, all_total));
    s.threads.insert(std::thread::current().id());
    if received > 0 && (received as i64) < total {
        s.partial.insert(index);
    } else {
        s.partial.remove(&index);
    }
    s.max_in_flight = s.max_in_flight.max(s.partial.len());
    match s.abort_at {
        Some(limit) if all >= limit => 1,
        _ => 0,
    }
}

struct Results(*mut OcdeDownloadResults);

impl Results {
    fn count(&self) -> usize {
        unsafe { ocde_download_results_count(self.0) }
    }
    fn status(&self, i: usize) -> OcdeStatus {
        unsafe { ocde_download_results_status(self.0, i) }
    }
    fn path(&self, i: usize) -> Option<String> {
        unsafe { text(ocde_download_results_path(self.0, i)) }
    }
    fn error(&self, i: usize) -> String {
        unsafe { CStr::from_ptr(ocde_download_results_error(self.0, i)) }
            .to_string_lossy()
            .into_owned()
    }
}

impl Drop for Results {
    fn drop(&mut self) {
        unsafe { ocde_download_results_free(self.0) }
    }
}

fn run(
    client: &CClient,
    sel: &CSelection,
    dir: &TempDir,
    n: u32,
    seen: &mut Seen,
) -> (OcdeStatus, Results) {
    let mut out = std::ptr::null_mut();
    let d = c(dir.path().to_str().unwrap());
    let status = unsafe {
        ocde_download_selection(
            client.0,
            sel.0,
            d.as_ptr(),
            n,
            Some(on_progress),
            seen as *mut Seen as *mut c_void,
            &mut out,
        )
    };
    (status, Results(out))
}

fn docs(count: usize, size: usize, fault: Option<Fault>) -> Vec<SimDocument> {
    (0..count)
        .map(|i| {
            let id = format!("p{i}");
            let d = SimDocument::new(
                &id,
                "t",
                &format!("part {i}.ifc"),
                cde_simulator::pseudo_random_bytes(&id, size),
            );
            match &fault {
                Some(f) => d.with_fault(f.clone()),
                None => d,
            }
        })
        .collect()
}

#[test]
fn every_document_arrives_with_progress_on_the_calling_thread() {
    for n in [1, 4] {
        let (sim, client, sel, status) = selected(
            SimConfig {
                documents: docs(6, 200_000, None),
                ..Default::default()
            },
            None,
            BrowserChoice::SelectAll,
        );
        assert_eq!(status, OcdeStatus::Ok);
        let dir = TempDir::new(&format!("par-{n}"));
        let mut seen = Seen::default();
        let (status, results) = run(&client, &sel, &dir, n, &mut seen);
        assert_eq!(status, OcdeStatus::Ok, "{}", last_error());
        assert_eq!(results.count(), 6);
        for i in 0..6 {
            assert_eq!(results.status(i), OcdeStatus::Ok);
            assert_eq!(results.error(i), "");
            let path = results.path(i).unwrap();
            assert_eq!(std::path::Path::new(&path).parent().unwrap(), dir.path());
            assert_eq!(
                std::fs::read(&path).unwrap(),
                sim.document(&format!("p{i}")).unwrap().content
            );
        }
        assert_eq!(
            seen.threads,
            HashSet::from([std::thread::current().id()]),
            "progress on another thread"
        );
        let last = seen.calls.last().unwrap();
        assert_eq!(
            (last.3, last.4),
            (1_200_000, 1_200_000),
            "all_received / all_total"
        );
        assert_eq!(dir.entries().len(), 6, "{:?}", dir.entries());
        assert!(unsafe { ocde_download_results_path(results.0, 99) }.is_null());
        assert_eq!(results.status(99), OcdeStatus::InvalidArgument);
    }
}

#[test]
fn transfers_really_overlap() {
    // Slow documents: with N=4 several are part-way at the same time; with N=1 never.
    for (n, expect_overlap) in [(4u32, true), (1, false)] {
        let (_sim, client, sel, status) = selected(
            SimConfig {
                documents: docs(4, 60_000, Some(Fault::Throttle(300_000))),
                ..Default::default()
            },
            None,
            BrowserChoice::SelectAll,
        );
        assert_eq!(status, OcdeStatus::Ok);
        let dir = TempDir::new(&format!("overlap-{n}"));
        let mut seen = Seen::default();
        let (status, _results) = run(&client, &sel, &dir, n, &mut seen);
        assert_eq!(status, OcdeStatus::Ok, "{}", last_error());
        assert_eq!(
            seen.max_in_flight >= 2,
            expect_overlap,
            "N={n}: max in flight {}",
            seen.max_in_flight
        );
    }
}

#[test]
fn a_progress_abort_stops_every_transfer_and_leaves_no_file() {
    let (_sim, client, sel, status) = selected(
        SimConfig {
            documents: docs(4, 200_000, Some(Fault::Throttle(400_000))),
            ..Default::default()
        },
        None,
        BrowserChoice::SelectAll,
    );
    assert_eq!(status, OcdeStatus::Ok);
    let dir = TempDir::new("par-abort");
    let mut seen = Seen {
        abort_at: Some(50_000),
        ..Default::default()
    };
    let (status, results) = run(&client, &sel, &dir, 4, &mut seen);
    assert_eq!(status, OcdeStatus::Aborted, "{}", last_error());
    assert_eq!(results.count(), 4);
    for i in 0..4 {
        assert_eq!(results.status(i), OcdeStatus::Aborted, "document {i}");
        assert!(results.path(i).is_none());
    }
    assert!(dir.entries().is_empty(), "left behind: {:?}", dir.entries());
}

#[test]
fn one_failing_document_does_not_hide_the_others() {
    let mut documents = docs(3, 100_000, None);
    documents[1] = documents[1]
        .clone()
        .with_fault(Fault::Status(500, "disk 3 failed".into()));
    let (_sim, client, sel, status) = selected(
        SimConfig {
            documents,
            ..Default::default()
        },
        None,
        BrowserChoice::SelectAll,
    );
    assert_eq!(status, OcdeStatus::Ok);
    let client = client.retries(0, 0);
    let dir = TempDir::new("par-fail");
    let (status, results) = run(&client, &sel, &dir, 4, &mut Seen::default());
    assert_eq!(status, OcdeStatus::Http);
    assert!(last_error().contains("disk 3 failed"), "{}", last_error());
    assert_eq!(results.status(0), OcdeStatus::Ok);
    assert_eq!(results.status(1), OcdeStatus::Http);
    assert!(results.error(1).contains("disk 3 failed"));
    assert!(results.path(1).is_none());
    assert_eq!(results.status(2), OcdeStatus::Ok);
    assert_eq!(dir.entries().len(), 2);
}

#[test]
fn abort_downloads_from_another_thread_stops_the_batch() {
    let (_sim, client, sel, status) = selected(
        SimConfig {
            documents: docs(4, 300_000, Some(Fault::Throttle(200_000))),
            ..Default::default()
        },
        None,
        BrowserChoice::SelectAll,
    );
    assert_eq!(status, OcdeStatus::Ok);
    let raw = client.0 as usize;
    let aborter = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(300));
        unsafe { ocde_client_abort_downloads(raw as *mut _) };
    });
    let dir = TempDir::new("par-abort2");
    let (status, results) = run(&client, &sel, &dir, 2, &mut Seen::default());
    aborter.join().unwrap();
    assert_eq!(status, OcdeStatus::Aborted);
    assert!((0..4).all(|i| results.status(i) == OcdeStatus::Aborted));
    assert!(dir.entries().is_empty(), "{:?}", dir.entries());
}

#[test]
fn invalid_arguments_write_no_results() {
    let (_sim, client, sel, status) = selected(
        SimConfig {
            documents: docs(1, 10, None),
            ..Default::default()
        },
        None,
        BrowserChoice::SelectAll,
    );
    assert_eq!(status, OcdeStatus::Ok);
    let mut out: *mut OcdeDownloadResults = 0x1 as *mut _;
    let d = c("/nonexistent-folder-for-ocde");
    unsafe {
        assert_eq!(
            ocde_download_selection(
                std::ptr::null_mut(),
                sel.0,
                d.as_ptr(),
                0,
                None,
                std::ptr::null_mut(),
                &mut out
            ),
            OcdeStatus::InvalidArgument
        );
        assert_eq!(
            ocde_download_selection(
                client.0,
                std::ptr::null(),
                d.as_ptr(),
                0,
                None,
                std::ptr::null_mut(),
                &mut out
            ),
            OcdeStatus::InvalidArgument
        );
        assert_eq!(
            ocde_download_selection(
                client.0,
                sel.0,
                std::ptr::null(),
                0,
                None,
                std::ptr::null_mut(),
                &mut out
            ),
            OcdeStatus::InvalidArgument
        );
        assert_eq!(out as usize, 0x1);
        // A missing folder fails each document (IO), and the results say so.
        let mut results = std::ptr::null_mut();
        assert_eq!(
            ocde_download_selection(
                client.0,
                sel.0,
                d.as_ptr(),
                0,
                None,
                std::ptr::null_mut(),
                &mut results
            ),
            OcdeStatus::Io
        );
        let results = Results(results);
        assert_eq!(results.status(0), OcdeStatus::Io);
        assert_eq!(ocde_download_results_count(std::ptr::null()), 0);
        ocde_download_results_free(std::ptr::null_mut());
    }
}

#[test]
fn a_selection_not_yet_polled_to_ok_is_an_invalid_argument() {
    let sim = Simulator::start(SimConfig {
        documents: docs(2, 10, None),
        ..Default::default()
    })
    .unwrap();
    let client = CClient::for_sim(&sim);
    let sel = start(&client, &Opts::default(), &Opener::new()).unwrap();
    assert_eq!(sel.poll(0), OcdeStatus::Pending);
    let dir = TempDir::new("unpolled");
    let d = c(dir.path().to_str().unwrap());
    let mut out: *mut OcdeDownloadResults = 0x1 as *mut _;
    let status = unsafe {
        ocde_download_selection(
            client.0,
            sel.0,
            d.as_ptr(),
            0,
            None,
            std::ptr::null_mut(),
            &mut out,
        )
    };
    assert_eq!(
        status,
        OcdeStatus::InvalidArgument,
        "not OK with nothing downloaded"
    );
    assert!(last_error().contains("poll"), "{}", last_error());
    assert_eq!(out as usize, 0x1, "no results written");
    assert!(dir.entries().is_empty());
}

#[test]
fn declared_sizes_whose_sum_overflows_make_the_total_unknown_not_a_crash() {
    // Four documents declaring 9e18 bytes each (a real server declared 1000× its sizes): the sum
    // does not fit 64 bits. The downloads succeed; `all_total` is -1 until real sizes are known.
    let documents = docs(4, 1000, None)
        .into_iter()
        .map(|d| d.with_declared_size(9_000_000_000_000_000_000))
        .collect();
    let (_sim, client, sel, status) = selected(
        SimConfig {
            documents,
            ..Default::default()
        },
        None,
        BrowserChoice::SelectAll,
    );
    assert_eq!(status, OcdeStatus::Ok);
    assert_eq!(sel.document(0).size_in_bytes, 9_000_000_000_000_000_000);
    let dir = TempDir::new("overflow-total");
    let mut seen = Seen::default();
    let (status, results) = run(&client, &sel, &dir, 1, &mut seen);
    assert_eq!(status, OcdeStatus::Ok, "{}", last_error());
    assert_eq!(results.count(), 4);
    assert_eq!(
        seen.calls[0].4, -1,
        "the sum of the declared sizes is unknown: {:?}",
        seen.calls[0]
    );
    let last = seen.calls.last().unwrap();
    assert_eq!((last.3, last.4), (4000, 4000), "the real sizes add up");
}
