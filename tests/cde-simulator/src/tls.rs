//! A minimal HTTPS origin for TLS tests: answers fixed routes (a redirect or a body) over rustls,
//! with a test CA and server certificate made by the `openssl` command. It exists for what the plain-HTTP
//! simulator cannot show: certificate trust, and redirects from https to http.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// What the HTTPS origin answers on one path.
#[derive(Clone, Debug)]
pub enum TlsAnswer {
    /// `status` with `Location: location`.
    Redirect(u16, String),
    /// 200 with this body (`application/octet-stream`, Content-Length framed).
    Body(Vec<u8>),
}

/// A test CA and a server certificate for `127.0.0.1` that it signed (all PEM).
pub struct SelfSigned {
    /// The CA certificate: the root a client must trust.
    pub cert_pem: Vec<u8>,
    /// The server's certificate chain (leaf, then the CA).
    pub chain_pem: Vec<u8>,
    /// The server's private key.
    pub key_pem: Vec<u8>,
}

impl SelfSigned {
    /// Makes a CA and a leaf with the `openssl` command in `dir` (P-256, valid two days,
    /// leaf SAN IP:127.0.0.1, serverAuth).
    pub fn generate(dir: &Path) -> io::Result<SelfSigned> {
        let file = |name: &str| dir.join(name);
        let run = |args: &[&str]| -> io::Result<()> {
            let status = Command::new("openssl")
                .current_dir(dir)
                .args(args)
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .status()?;
            if status.success() {
                Ok(())
            } else {
                Err(io::Error::other(format!("openssl {} failed", args[0])))
            }
        };
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ];
        let mut ca = vec!["req", "-x509"];
        ca.extend(ec);
        ca.extend([
            "-keyout",
            "ca-key.pem",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=opencde test CA",
        ]);
        run(&ca)?;
        let mut csr = vec!["req"];
        csr.extend(ec);
        csr.extend([
            "-keyout",
            "leaf-key.pem",
            "-out",
            "leaf.csr",
            "-subj",
            "/CN=127.0.0.1",
        ]);
        run(&csr)?;
        std::fs::write(
            file("leaf.ext"),
            "basicConstraints=critical,CA:FALSE\nsubjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n",
        )?;
        run(&[
            "x509",
            "-req",
            "-in",
            "leaf.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca-key.pem",
            "-CAcreateserial",
            "-out",
            "leaf.pem",
            "-days",
            "2",
            "-extfile",
            "leaf.ext",
        ])?;
        let ca_pem = std::fs::read(file("ca.pem"))?;
        let mut chain = std::fs::read(file("leaf.pem"))?;
        chain.extend_from_slice(&ca_pem);
        Ok(SelfSigned {
            cert_pem: ca_pem,
            chain_pem: chain,
            key_pem: std::fs::read(file("leaf-key.pem"))?,
        })
    }
}

/// A running HTTPS origin on 127.0.0.1; stopped on drop.
pub struct TlsOrigin {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    seen: Arc<Mutex<Vec<String>>>,
    thread: Option<JoinHandle<()>>,
}

impl TlsOrigin {
    /// Starts serving `routes` (path → answer; anything else is 404) with `cert`.
    pub fn start(cert: &SelfSigned, routes: Vec<(String, TlsAnswer)>) -> io::Result<TlsOrigin> {
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&cert.chain_pem)
            .collect::<Result<_, _>>()
            .map_err(|e| io::Error::other(format!("certificate PEM: {e}")))?;
        let key = PrivateKeyDer::from_pem_slice(&cert.key_pem)
            .map_err(|e| io::Error::other(format!("key PEM: {e}")))?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| io::Error::other(e.to_string()))?
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .map_err(|e| io::Error::other(e.to_string()))?;
        let config = Arc::new(config);
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let thread = {
            let (stop, seen) = (stop.clone(), seen.clone());
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    if let Ok(stream) = stream {
                        let _ = serve(stream, &config, &routes, &seen);
                    }
                }
            })
        };
        Ok(TlsOrigin {
            addr,
            stop,
            seen,
            thread: Some(thread),
        })
    }

    /// `https://127.0.0.1:PORT`.
    pub fn origin(&self) -> String {
        format!("https://127.0.0.1:{}", self.addr.port())
    }

    /// The request targets received, in order.
    pub fn requests(&self) -> Vec<String> {
        self.seen.lock().map(|v| v.clone()).unwrap_or_default()
    }
}

impl Drop for TlsOrigin {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve(
    tcp: TcpStream,
    config: &Arc<rustls::ServerConfig>,
    routes: &[(String, TlsAnswer)],
    seen: &Mutex<Vec<String>>,
) -> io::Result<()> {
    tcp.set_read_timeout(Some(Duration::from_secs(5)))?;
    tcp.set_write_timeout(Some(Duration::from_secs(5)))?;
    let conn = rustls::ServerConnection::new(config.clone()).map_err(io::Error::other)?;
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 16 * 1024 {
        let n = tls.read(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        head.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&head);
    let target = text.split(' ').nth(1).unwrap_or("").to_string();
    if let Ok(mut v) = seen.lock() {
        v.push(target.clone());
    }
    let answer = routes
        .iter()
        .find(|(p, _)| *p == target)
        .map(|(_, a)| a.clone());
    let (status, extra, body) = match answer {
        Some(TlsAnswer::Redirect(status, location)) => {
            (status, format!("Location: {location}\r\n"), Vec::new())
        }
        Some(TlsAnswer::Body(body)) => (
            200,
            "Content-Type: application/octet-stream\r\n".to_string(),
            body,
        ),
        None => (404, String::new(), b"not found".to_vec()),
    };
    let reason = match status {
        200 => "OK",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        _ => "Not Found",
    };
    let response = format!(
        "HTTP/1.1 {status} {reason}\r\n{extra}Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    tls.write_all(response.as_bytes())?;
    tls.write_all(&body)?;
    tls.conn.send_close_notify();
    tls.flush()
}
