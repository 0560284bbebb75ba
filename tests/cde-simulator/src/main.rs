//! `cde-simulator`: runs the simulated CDE (and its storage) until stdin is closed.
//!
//! Prints exactly one line, `DOCUMENTS_API_URL=<url>`, to stdout, logs one line per request to
//! stderr (never an Authorization value), and exits when stdin reaches end of file (or when killed).

use std::io::{Read, Write};
use std::process::ExitCode;

use cde_simulator::{
    pseudo_random_bytes, BasicMode, DownloadMode, Fault, SimConfig, SimDocument, Simulator,
};

const USAGE: &str = "usage: cde-simulator [--cde-port P] [--storage-port Q] [--token T] \
[--download 303|302|307|200] [--legacy-callback] [--omit-document-id] [--omit-server-context] \
[--xhr-callback] [--selected-documents-on-storage] [--ignore-stdin] [--quiet]
[--reference-dir DIR] [--throttle BYTES_PER_SEC] [--document-size ID=BYTES]
[--documents ID:FILE_NAME:BYTES[,ID:FILE_NAME:BYTES…]] [--external-storage BASE_URL]
[--oauth-client-secret S] [--oauth-basic either|required|refused] [--access-token-lifetime SECS]
[--token-status-201] [--expires-in-as-string] [--omit-api-base-url] [--no-auth-endpoint]

--documents replaces the default documents with zero-filled ones that are never held in memory
(give it before --throttle and --document-size, which change the documents listed so far).
--external-storage makes the download endpoint redirect to BASE_URL/<document_id> (e.g. a static
file server) instead of the simulator's own storage.
The Foundation API (GET /foundation/versions, /foundation/1.0/auth, /foundation/1.0/current-user)
and the OAuth2 server (/oauth/authorize, /oauth/token; client id ocde-test-client, PKCE S256) are on
the CDE origin; access tokens it issues are accepted wherever --token is.

Runs until stdin is closed (pipe or fifo), or until killed with --ignore-stdin.";

struct Options {
    config: SimConfig,
    reference_dir: Option<std::path::PathBuf>,
    cde_port: u16,
    storage_port: u16,
    ignore_stdin: bool,
}

fn parse_args(args: &[String]) -> Result<Options, String> {
    let mut o = Options {
        config: SimConfig {
            log_to_stderr: true,
            ..SimConfig::default()
        },
        reference_dir: None,
        cde_port: 0,
        storage_port: 0,
        ignore_stdin: false,
    };
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut value = |name: &str| {
            it.next()
                .cloned()
                .ok_or_else(|| format!("{name} needs a value"))
        };
        match arg.as_str() {
            "--cde-port" => {
                let v = value("--cde-port")?;
                o.cde_port = v.parse().map_err(|_| format!("bad --cde-port {v:?}"))?;
            }
            "--storage-port" => {
                let v = value("--storage-port")?;
                o.storage_port = v.parse().map_err(|_| format!("bad --storage-port {v:?}"))?;
            }
            "--token" => o.config.required_token = Some(value("--token")?),
            "--download" => {
                let v = value("--download")?;
                o.config.download_mode = match v.as_str() {
                    "303" => DownloadMode::See303,
                    "302" => DownloadMode::Found302,
                    "307" => DownloadMode::Temporary307,
                    "200" => DownloadMode::Direct200,
                    _ => return Err(format!("bad --download {v:?} (303, 302, 307 or 200)")),
                };
            }
            "--legacy-callback" => o.config.legacy_callback_name = true,
            "--omit-document-id" => o.config.omit_document_id = true,
            "--omit-server-context" => o.config.omit_server_context = true,
            "--xhr-callback" => o.config.xhr_callback = true,
            "--selected-documents-on-storage" => o.config.selected_documents_on_storage = true,
            "--ignore-stdin" => o.ignore_stdin = true,
            "--quiet" => o.config.log_to_stderr = false,
            "--reference-dir" => o.reference_dir = Some(value("--reference-dir")?.into()),
            "--throttle" => {
                let v = value("--throttle")?;
                let rate: u64 = v.parse().map_err(|_| format!("bad --throttle {v:?}"))?;
                for d in &mut o.config.documents {
                    d.fault = Some(Fault::Throttle(rate));
                }
            }
            "--document-size" => {
                let v = value("--document-size")?;
                let (id, size) = v
                    .split_once('=')
                    .ok_or_else(|| format!("bad --document-size {v:?} (ID=BYTES)"))?;
                let size: usize = size
                    .parse()
                    .map_err(|_| format!("bad --document-size {v:?}"))?;
                let doc = o
                    .config
                    .documents
                    .iter_mut()
                    .find(|d| d.id == id)
                    .ok_or_else(|| format!("no document {id:?}"))?;
                doc.content = pseudo_random_bytes(id, size);
            }
            "--documents" => o.config.documents = parse_documents(&value("--documents")?)?,
            "--external-storage" => {
                let v = value("--external-storage")?;
                match url::Url::parse(&v) {
                    Ok(u) if matches!(u.scheme(), "http" | "https") && u.has_host() => {}
                    _ => return Err(format!("bad --external-storage {v:?} (an http(s) URL)")),
                }
                o.config.external_storage = Some(v);
            }
            "--oauth-client-secret" => {
                o.config.oauth_client_secret = Some(value("--oauth-client-secret")?)
            }
            "--oauth-basic" => {
                let v = value("--oauth-basic")?;
                o.config.oauth_basic = match v.as_str() {
                    "either" => BasicMode::Either,
                    "required" => BasicMode::Required,
                    "refused" => BasicMode::Refused,
                    _ => {
                        return Err(format!(
                            "bad --oauth-basic {v:?} (either, required or refused)"
                        ))
                    }
                };
            }
            "--access-token-lifetime" => {
                let v = value("--access-token-lifetime")?;
                o.config.access_token_lifetime = v
                    .parse()
                    .map_err(|_| format!("bad --access-token-lifetime {v:?} (seconds)"))?;
            }
            "--token-status-201" => o.config.token_status_201 = true,
            "--expires-in-as-string" => o.config.expires_in_as_string = true,
            "--omit-api-base-url" => o.config.omit_api_base_url = true,
            "--no-auth-endpoint" => o.config.no_auth_endpoint = true,
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(o)
}

/// `id:file_name:bytes[,id:file_name:bytes…]`: zero-filled documents ([`SimDocument::zeros`],
/// never allocated). The id is up to the first `:`, the size after the last one, the file name is
/// everything between (so it may contain `:`, not `,`).
fn parse_documents(spec: &str) -> Result<Vec<SimDocument>, String> {
    let mut docs: Vec<SimDocument> = Vec::new();
    for entry in spec.split(',') {
        let bad = || format!("bad --documents entry {entry:?} (ID:FILE_NAME:BYTES)");
        let (id, rest) = entry.split_once(':').ok_or_else(bad)?;
        let (file_name, size) = rest.rsplit_once(':').ok_or_else(bad)?;
        if id.is_empty() || file_name.is_empty() {
            return Err(bad());
        }
        let size: u64 = size.parse().map_err(|_| bad())?;
        if docs.iter().any(|d| d.id == id) {
            return Err(format!("--documents: duplicate id {id:?}"));
        }
        docs.push(SimDocument::zeros(id, file_name, size));
    }
    Ok(docs)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--help" || a == "-h") {
        let _ = writeln!(std::io::stdout(), "{USAGE}");
        return ExitCode::SUCCESS;
    }
    let opts = match parse_args(&args) {
        Ok(o) => o,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "cde-simulator: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    if let Some(dir) = &opts.reference_dir {
        let written = std::fs::create_dir_all(dir).and_then(|_| {
            opts.config
                .documents
                .iter()
                .try_for_each(|d| std::fs::write(dir.join(format!("{}.bin", d.id)), &d.content))
        });
        if let Err(e) = written {
            let _ = writeln!(
                std::io::stderr(),
                "cde-simulator: --reference-dir {}: {e}",
                dir.display()
            );
            return ExitCode::FAILURE;
        }
    }
    let sim = match Simulator::start_on(opts.config, opts.cde_port, opts.storage_port) {
        Ok(s) => s,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "cde-simulator: cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    {
        let mut out = std::io::stdout().lock();
        if writeln!(out, "DOCUMENTS_API_URL={}", sim.documents_api_url())
            .and_then(|_| out.flush())
            .is_err()
        {
            let _ = writeln!(std::io::stderr(), "cde-simulator: cannot write to stdout");
        }
    }
    let _ = writeln!(
        std::io::stderr(),
        "[cde-simulator] CDE {} storage {} ({})",
        sim.cde_origin(),
        sim.storage_origin(),
        if opts.ignore_stdin {
            "running until killed"
        } else {
            "running until stdin closes"
        }
    );
    if opts.ignore_stdin {
        loop {
            std::thread::park();
        }
    }
    // Read stdin to its end (input is ignored).
    let mut sink = [0u8; 4096];
    let mut stdin = std::io::stdin().lock();
    loop {
        match stdin.read(&mut sink) {
            Ok(0) => break,
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        }
    }
    let _ = writeln!(std::io::stderr(), "[cde-simulator] stdin closed, stopping");
    drop(sim);
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn documents_spec() {
        let docs = parse_documents("big:big file.bin:1073741824,p:a:b.ifc:0").unwrap();
        assert_eq!(docs.len(), 2);
        assert_eq!(
            (docs[0].id.as_str(), docs[0].file_name.as_str()),
            ("big", "big file.bin")
        );
        assert_eq!(docs[0].fault, Some(Fault::VirtualZeros(1 << 30)));
        assert!(docs[0].content.is_empty());
        assert_eq!(
            (docs[1].id.as_str(), docs[1].file_name.as_str()),
            ("p", "a:b.ifc")
        );
        assert_eq!(docs[1].fault, Some(Fault::VirtualZeros(0)));
        for bad in [
            "",
            "x",
            "x:y",
            ":y:1",
            "x::1",
            "x:y:-1",
            "x:y:1G",
            "x:y:1,x:z:2",
            "x:y:1,",
        ] {
            assert!(parse_documents(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn external_storage_and_documents_flags() {
        let o = parse_args(&args(&[
            "--documents",
            "d1:one.bin:10",
            "--external-storage",
            "http://127.0.0.1:8080/files",
        ]))
        .unwrap();
        assert_eq!(o.config.documents.len(), 1);
        assert_eq!(
            o.config.external_storage.as_deref(),
            Some("http://127.0.0.1:8080/files")
        );
        assert!(parse_args(&args(&["--external-storage", "ftp://x/"])).is_err());
        assert!(parse_args(&args(&["--external-storage", "/files"])).is_err());
        assert!(parse_args(&args(&["--external-storage"])).is_err());
        assert_eq!(parse_args(&[]).unwrap().config.external_storage, None);
    }

    #[test]
    fn oauth_and_foundation_flags() {
        let o = parse_args(&[]).unwrap().config;
        assert_eq!(o.oauth_client_secret, None);
        assert_eq!(o.oauth_basic, BasicMode::Either);
        assert_eq!(o.access_token_lifetime, 3600);
        assert!(!o.token_status_201 && !o.expires_in_as_string);
        assert!(!o.omit_api_base_url && !o.no_auth_endpoint);

        let o = parse_args(&args(&[
            "--oauth-client-secret",
            "s3cret",
            "--oauth-basic",
            "refused",
            "--access-token-lifetime",
            "5",
            "--token-status-201",
            "--expires-in-as-string",
            "--omit-api-base-url",
            "--no-auth-endpoint",
        ]))
        .unwrap()
        .config;
        assert_eq!(o.oauth_client_secret.as_deref(), Some("s3cret"));
        assert_eq!(o.oauth_basic, BasicMode::Refused);
        assert_eq!(o.access_token_lifetime, 5);
        assert!(o.token_status_201 && o.expires_in_as_string);
        assert!(o.omit_api_base_url && o.no_auth_endpoint);
        for (mode, want) in [
            ("either", BasicMode::Either),
            ("required", BasicMode::Required),
        ] {
            let o = parse_args(&args(&["--oauth-basic", mode])).unwrap();
            assert_eq!(o.config.oauth_basic, want);
        }
        for bad in [
            &["--oauth-basic", "sometimes"][..],
            &["--oauth-basic"],
            &["--access-token-lifetime", "-1"],
            &["--access-token-lifetime", "1h"],
            &["--oauth-client-secret"],
        ] {
            assert!(parse_args(&args(bad)).is_err(), "{bad:?}");
        }
    }
}
