//! File-system faults that need a real small or read-only file system: a tmpfs mounted by the
//! test. Mounting needs root, so these tests are `#[ignore]`d for `cargo test`;
//! `tests/run-all.sh` runs them with `--ignored` when it runs as root (as CI does) and prints a
//! visible SKIPPED line otherwise.

mod common;
use common::*;
use opencde_documents::ffi::OcdeStatus;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A tmpfs mounted for the test's lifetime.
struct Mount(PathBuf);

impl Mount {
    fn tmpfs(tag: &str, options: &str) -> Mount {
        assert_eq!(
            unsafe { libc::geteuid() },
            0,
            "these tests mount a tmpfs and need root"
        );
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("mnt-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", options, "tmpfs"])
            .arg(&dir)
            .status()
            .unwrap();
        assert!(ok.success(), "mount failed");
        Mount(dir)
    }
    fn path(&self) -> &Path {
        &self.0
    }
    fn entries(&self) -> Vec<String> {
        std::fs::read_dir(&self.0)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect()
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
        let _ = std::fs::remove_dir(&self.0);
    }
}

fn sim_and_client() -> (Simulator, CClient, String) {
    let doc = SimDocument::new(
        "d",
        "Doc",
        "d.ifc",
        cde_simulator::pseudo_random_bytes("d", 300_000),
    );
    let sim = Simulator::start(SimConfig {
        documents: vec![doc],
        ..Default::default()
    })
    .unwrap();
    let client = CClient::for_sim(&sim).retries(0, 0);
    let url = format!(
        "{}/documents/1.0/documents/d/versions/1/download",
        sim.cde_origin()
    );
    (sim, client, url)
}

#[test]
#[ignore = "mounts a tmpfs: needs root; run by tests/run-all.sh with --ignored as root"]
fn disk_full_is_an_io_error_and_leaves_nothing() {
    let (_sim, client, url) = sim_and_client();
    let mount = Mount::tmpfs("full", "size=64k");
    let status = client.download_to_path(
        &url,
        &mount.path().join("d.ifc"),
        -1,
        &mut Progress::default(),
    );
    assert_eq!(status, OcdeStatus::Io, "{}", last_error());
    assert!(last_error().contains("No space left"), "{}", last_error());
    assert!(
        mount.entries().is_empty(),
        "left behind: {:?}",
        mount.entries()
    );
}

#[test]
#[ignore = "mounts a tmpfs: needs root; run by tests/run-all.sh with --ignored as root"]
fn read_only_folder_is_an_io_error_and_leaves_nothing() {
    let (_sim, client, url) = sim_and_client();
    let mount = Mount::tmpfs("ro", "ro,size=1m");
    let status = client.download_to_path(
        &url,
        &mount.path().join("d.ifc"),
        -1,
        &mut Progress::default(),
    );
    assert_eq!(status, OcdeStatus::Io, "{}", last_error());
    assert!(last_error().contains("Read-only"), "{}", last_error());
    assert!(mount.entries().is_empty());
}
