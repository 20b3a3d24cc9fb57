//! A small HTTP/1.1 server on `std::net` for the exposition: `GET /metrics` (and `HEAD`)
//! answer 200 with the registry encoded (OpenMetrics 1.0.0 when the `Accept` header asks
//! for `application/openmetrics-text`, as Prometheus does, else the Prometheus text
//! format 0.0.4); any other path is 404, any other method 405, anything unparsable 400.
//! One connection at a time (scrapers are few), `Connection: close`, at most 8 KiB of
//! request head read with a 1 s timeout: garbage or a slow client cannot stall the
//! server for long, and nothing in a request can make it panic.

use crate::error::LiveError;
use crate::exposition::{encode, Format};
use prometheus_client::registry::Registry;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// Default exposition address: loopback only, the port registered for exporters.
pub const DEFAULT_METRICS_ADDR: &str = "127.0.0.1:9464";

/// Largest request head read.
const MAX_HEAD: usize = 8192;

/// An HTTP response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Reason phrase.
    pub reason: &'static str,
    /// `Content-Type`.
    pub content_type: &'static str,
    /// Body (empty for HEAD, but `Content-Length` is the GET body's).
    pub body: String,
    /// Send the body (false for HEAD).
    pub send_body: bool,
}

impl Response {
    fn plain(status: u16, reason: &'static str, body: &str) -> Self {
        Response {
            status,
            reason,
            content_type: "text/plain; charset=utf-8",
            body: format!("{body}\n"),
            send_body: true,
        }
    }

    /// The bytes on the wire.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = format!(
            "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            self.status,
            self.reason,
            self.content_type,
            self.body.len()
        )
        .into_bytes();
        if self.send_body {
            out.extend_from_slice(self.body.as_bytes());
        }
        out
    }
}

/// The response to a request head (`head` = the bytes up to the blank line, or what
/// arrived before the limit / timeout).
pub fn respond(head: &[u8], registry: &Registry) -> Response {
    let text = String::from_utf8_lossy(head);
    let mut lines = text.split("\r\n").flat_map(|l| l.split('\n'));
    let request_line = lines.next().unwrap_or("");
    let parts: Vec<&str> = request_line.split(' ').collect();
    let [method, target, version] = parts.as_slice() else {
        return Response::plain(400, "Bad Request", "bad request line");
    };
    if !version.starts_with("HTTP/1.") || target.is_empty() {
        return Response::plain(400, "Bad Request", "bad request line");
    }
    let head_only = match *method {
        "GET" => false,
        "HEAD" => true,
        _ => return Response::plain(405, "Method Not Allowed", "only GET and HEAD"),
    };
    let path = target.split(['?', '#']).next().unwrap_or("");
    if path != "/metrics" {
        return Response::plain(404, "Not Found", "not found; the metrics are at /metrics");
    }
    let openmetrics = lines.any(|l| {
        l.split_once(':').is_some_and(|(k, v)| {
            k.trim().eq_ignore_ascii_case("accept") && v.contains("application/openmetrics-text")
        })
    });
    let format = if openmetrics {
        Format::OpenMetrics
    } else {
        Format::Text
    };
    match encode(registry, format) {
        Ok(body) => Response {
            status: 200,
            reason: "OK",
            content_type: format.content_type(),
            body,
            send_body: !head_only,
        },
        Err(e) => Response::plain(500, "Internal Server Error", &e.to_string()),
    }
}

/// Read a request head: up to the blank line, [`MAX_HEAD`] bytes, EOF or the timeout.
fn read_head(stream: &mut TcpStream) -> Vec<u8> {
    let mut head = Vec::with_capacity(512);
    let mut buf = [0u8; 1024];
    while head.len() < MAX_HEAD {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                head.extend_from_slice(&buf[..n]);
                if head.windows(4).any(|w| w == b"\r\n\r\n")
                    || head.windows(2).any(|w| w == b"\n\n")
                {
                    break;
                }
            }
        }
    }
    head.truncate(MAX_HEAD);
    head
}

fn serve_one(mut stream: TcpStream, registry: &Registry) {
    // Errors of one connection (a client gone, a timeout) only end that connection.
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
    let _ = stream.set_write_timeout(Some(Duration::from_secs(2)));
    let head = read_head(&mut stream);
    if head.is_empty() {
        return;
    }
    let response = respond(&head, registry);
    let _ = stream.write_all(&response.to_bytes());
    let _ = stream.flush();
}

/// The running exposition server (a thread).
#[derive(Debug)]
pub struct MetricsServer {
    local: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl MetricsServer {
    /// Bind `addr` and serve `registry` on a thread until [`MetricsServer::shutdown`].
    pub fn start(addr: SocketAddr, registry: Arc<Registry>) -> Result<Self, LiveError> {
        let bind = |source| LiveError::MetricsBind { addr, source };
        let listener = TcpListener::bind(addr).map_err(bind)?;
        let local = listener.local_addr().map_err(bind)?;
        // Non-blocking accept, polled every 20 ms, so shutdown needs no wake-up trick.
        listener.set_nonblocking(true).map_err(bind)?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("coalescope-metrics".into())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    match listener.accept() {
                        Ok((stream, _)) => serve_one(stream, &registry),
                        Err(_) => std::thread::sleep(Duration::from_millis(20)),
                    }
                }
            })
            .map_err(bind)?;
        Ok(MetricsServer {
            local,
            stop,
            thread: Some(thread),
        })
    }

    /// The bound address (useful after binding port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// Stop serving and join the thread.
    pub fn shutdown(mut self) {
        self.stop_thread();
    }

    fn stop_thread(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            // A panic in the server thread would be a bug; nothing to recover here.
            let _ = t.join();
        }
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        self.stop_thread();
    }
}
