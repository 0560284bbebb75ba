//! No thread of the library outlives `ocde_selection_free` / a final poll, even while a browser
//! holds an idle (pre-connected) socket to the listener: a CAD host may unload the library right
//! after freeing. Alone in its own test binary so that the thread census sees only this test.

mod common;
use common::*;
use opencde_documents::ffi::OcdeStatus;
use std::net::TcpStream;

fn library_threads() -> Vec<String> {
    let mut names = Vec::new();
    for task in std::fs::read_dir("/proc/self/task").unwrap() {
        let comm = task.unwrap().path().join("comm");
        if let Ok(name) = std::fs::read_to_string(comm) {
            if name.starts_with("ocde-") {
                names.push(name.trim().to_string());
            }
        }
    }
    names
}

#[test]
fn listener_threads_are_gone_when_free_and_final_poll_return() {
    let sim = Simulator::start(SimConfig::default()).unwrap();
    let client = CClient::for_sim(&sim);
    for finish_by_poll in [false, true] {
        let sel = start(&client, &Opts::default(), &Opener::new()).unwrap();
        let cb = registered_callback(&sim);
        let port: u16 = cb
            .trim_start_matches("http://127.0.0.1:")
            .split('/')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        // Idle connections, like a browser's speculative pre-connects: they never send a byte.
        let idle: Vec<TcpStream> = (0..3)
            .map(|_| TcpStream::connect(("127.0.0.1", port)).unwrap())
            .collect();
        std::thread::sleep(std::time::Duration::from_millis(100));
        assert!(
            library_threads().iter().any(|n| n == "ocde-conn"),
            "{:?}",
            library_threads()
        );
        if finish_by_poll {
            sel.abort();
            assert_eq!(sel.poll(0), OcdeStatus::Aborted);
            assert_eq!(
                library_threads(),
                Vec::<String>::new(),
                "after the final poll"
            );
            drop(sel);
        } else {
            drop(sel); // ocde_selection_free
            assert_eq!(
                library_threads(),
                Vec::<String>::new(),
                "after ocde_selection_free"
            );
        }
        drop(idle);
    }
}
