//! The server as a process: persistence across crashes, concurrency, panics, limits on
//! connections and request heads, graceful shutdown, and first start without a config.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

use common::*;
use serde_json::json;

fn register(url: &str, name: &str) -> Resp {
    let body = json!({"name": name, "url": "http://backend/wps"}).to_string();
    request(
        "POST",
        &format!("{url}/services"),
        Some(&admin_auth()),
        Some(body.as_bytes()),
    )
}

fn names(url: &str) -> Vec<String> {
    get(&format!("{url}/services"), Some(&admin_auth()))
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn an_acknowledged_registration_survives_kill_9() {
    let dir = Arc::new(TempDir::new("persist"));
    let mut s = Launch::default().in_dir(dir.clone()).start();
    assert_eq!(register(&s.url, "survivor").status, 200);
    s.kill9();
    let s2 = Launch::default().in_dir(dir).start();
    assert_eq!(names(&s2.url), ["survivor"]);
    assert_eq!(file_mode(&s2.db), 0o600);
}

#[test]
fn concurrent_registrations_lose_nothing() {
    let s = Server::start();
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let url = s.url.clone();
            std::thread::spawn(move || {
                for i in 0..25 {
                    let r = register(&url, &format!("t{t}_svc{i}"));
                    assert_eq!(r.status, 200, "{}", r.text());
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(names(&s.url).len(), 200);
    assert!(!s.log().contains("locked"), "{}", s.log());
}

#[test]
fn a_panicking_handler_answers_500_and_the_server_lives_on() {
    let s = Launch::default().env("TWITCHER_TEST_HOOKS", "1").start();
    let r = get(&format!("{}/__test__/panic", s.url), None);
    assert_eq!(r.status, 500);
    assert_eq!(r.json()["status"], "error");
    for _ in 0..20 {
        assert_eq!(get(&format!("{}/info", s.url), None).status, 200);
    }
    // Without the environment variable the hook does not exist.
    let plain = Server::start();
    assert_eq!(
        get(&format!("{}/__test__/panic", plain.url), None).status,
        404
    );
}

#[test]
fn sigterm_lets_the_request_in_flight_finish_then_exits_0() {
    let mut s = Server::start();
    // A body over 1 KiB is streamed to the handler, so it is in flight while we hold it back.
    let body = format!(
        "{{\"name\": \"late\", \"url\": \"http://h/wps\"}}{}",
        " ".repeat(2000)
    );
    let mut conn = TcpStream::connect(("127.0.0.1", s.port)).unwrap();
    let head = format!(
        "POST /services HTTP/1.1\r\nHost: x\r\nAuthorization: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        admin_auth(),
        body.len()
    );
    conn.write_all(head.as_bytes()).unwrap();
    conn.write_all(&body.as_bytes()[..100]).unwrap();
    // Nothing outside the server shows that the parsed head reached a worker, which takes
    // microseconds; a tenth of a second is ample.
    std::thread::sleep(Duration::from_millis(100));
    s.signal("TERM");
    s.wait_log("SIGTERM received");
    // New connections are refused while the old request is still running.
    assert!(
        TcpStream::connect(("127.0.0.1", s.port)).is_err() || s.child.try_wait().unwrap().is_some()
    );
    conn.write_all(&body.as_bytes()[100..]).unwrap();
    let mut out = String::new();
    conn.read_to_string(&mut out).unwrap();
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    let status = s.wait_exit(20);
    assert_eq!(status.code(), Some(0), "{}", s.log());
    let db = rusqlite::Connection::open(&s.db).unwrap();
    let n: i64 = db
        .query_row(
            "SELECT count(*) FROM service WHERE name = 'late'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(n, 1);
}

fn raise_own_fd_limit() {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain syscalls on a local struct.
    unsafe {
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim);
        lim.rlim_cur = lim.rlim_max;
        libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
    }
}

#[test]
fn keeps_serving_with_1200_idle_connections_open() {
    raise_own_fd_limit();
    let s = Server::start();
    let idle: Vec<TcpStream> = (0..1200)
        .map(|_| TcpStream::connect(("127.0.0.1", s.port)).unwrap())
        .collect();
    // Half of them send half a request head and stop.
    for c in idle.iter().step_by(2) {
        (&*c)
            .write_all(b"GET /info HTTP/1.1\r\nHost: x\r\n")
            .unwrap();
    }
    for _ in 0..10 {
        assert_eq!(get(&format!("{}/info", s.url), None).status, 200);
    }
    drop(idle);
}

/// tiny_http's thread pool queued a new connection behind a thread already woken for
/// another one, and there it waited until some kept-alive connection ended: a burst
/// of clients on a fresh server saw most of theirs hang (28 of 32 in one try).
#[test]
fn a_burst_of_kept_alive_connections_is_served_at_once() {
    let s = Server::start();
    let conns: Vec<TcpStream> = (0..64)
        .map(|_| TcpStream::connect(("127.0.0.1", s.port)).unwrap())
        .collect();
    for c in &conns {
        (&*c)
            .write_all(b"GET /info HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
    }
    // Every answer arrives while all the connections stay open.
    for (i, c) in conns.iter().enumerate() {
        c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut head = [0u8; 12];
        let got = (&*c).read_exact(&mut head);
        assert!(got.is_ok(), "connection {i} was not answered: {got:?}");
        assert_eq!(&head, b"HTTP/1.1 200", "connection {i}");
    }
}

#[test]
fn idle_sockets_are_closed_after_the_idle_timeout() {
    let s = Launch::default().env("TWITCHER_IDLE_TIMEOUT", "1").start();
    let mut c = TcpStream::connect(("127.0.0.1", s.port)).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let start = std::time::Instant::now();
    let mut buf = [0u8; 16];
    let n = c.read(&mut buf).unwrap_or(0);
    assert_eq!(n, 0, "closed without a byte");
    assert!(start.elapsed() < Duration::from_secs(5));
}

#[test]
fn connections_over_the_cap_get_503() {
    let s = Launch::default()
        .env("TWITCHER_MAX_CONNECTIONS", "4")
        .start();
    let held: Vec<TcpStream> = (0..4)
        .map(|_| TcpStream::connect(("127.0.0.1", s.port)).unwrap())
        .collect();
    let out = wait_for(10, "a 503 for the fifth connection", || {
        let out = raw(
            s.port,
            b"GET /info HTTP/1.1\r\nHost: x\r\n\r\n",
            Duration::from_secs(5),
        );
        out.starts_with("HTTP/1.1 503").then_some(out)
    });
    assert!(out.contains("Connection: close"));
    drop(held);
    wait_for(10, "service after the held connections closed", || {
        let out = raw(
            s.port,
            b"GET /info HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            Duration::from_secs(5),
        );
        out.starts_with("HTTP/1.1 200").then_some(())
    });
}

#[test]
fn oversized_request_heads_get_431() {
    let s = Server::start();
    let mut many = String::from("GET /info HTTP/1.1\r\nHost: x\r\n");
    for i in 0..150 {
        many.push_str(&format!("X-H{i}: v\r\n"));
    }
    many.push_str("\r\n");
    assert!(raw(s.port, many.as_bytes(), Duration::from_secs(10)).starts_with("HTTP/1.1 431"));
    let long = format!(
        "GET /info HTTP/1.1\r\nHost: x\r\nX-Long: {}\r\n\r\n",
        "a".repeat(20_000)
    );
    assert!(raw(s.port, long.as_bytes(), Duration::from_secs(10)).starts_with("HTTP/1.1 431"));
    let uri = format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(20_000));
    assert!(raw(s.port, uri.as_bytes(), Duration::from_secs(10)).starts_with("HTTP/1.1 431"));
    assert_eq!(get(&format!("{}/info", s.url), None).status, 200);
}

/// Requests sent back to back on one connection are answered in order: each one's
/// reader and writer are handed on to the next.
#[test]
fn pipelined_requests_are_answered_in_order() {
    let s = Server::start();
    let out = raw(
        s.port,
        b"GET /info HTTP/1.1\r\nHost: x\r\n\r\n\
          GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n\
          GET /info HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        Duration::from_secs(10),
    );
    let statuses: Vec<&str> = out.matches("HTTP/1.1 200 OK").collect();
    assert_eq!(statuses.len(), 3, "{out}");
    let health = out
        .find("{\"status\":\"ok\"}")
        .expect("the /healthz answer");
    assert!(out.find("\"package\"").unwrap() < health, "in order: {out}");
    assert!(
        out.rfind("\"package\"").unwrap() > health,
        "in order: {out}"
    );
}

/// RFC 9112 §3.2: exactly one Host, which HTTP/1.1 requires.
#[test]
fn host_must_be_given_once() {
    let s = Server::start();
    let two = raw(
        s.port,
        b"GET /info HTTP/1.1\r\nHost: x\r\nHost: evil\r\nConnection: close\r\n\r\n",
        Duration::from_secs(10),
    );
    assert!(two.starts_with("HTTP/1.1 400"), "{two}");
    let none = raw(
        s.port,
        b"GET /info HTTP/1.1\r\nConnection: close\r\n\r\n",
        Duration::from_secs(10),
    );
    assert!(none.starts_with("HTTP/1.1 400"), "{none}");
    let old = raw(
        s.port,
        b"GET /info HTTP/1.0\r\n\r\n",
        Duration::from_secs(10),
    );
    assert!(old.contains(" 200 "), "HTTP/1.0 needs no Host: {old}");
    // On the proxy, the refusal is an ExceptionReport.
    let ows = raw(
        s.port,
        b"GET /ows/proxy/emu HTTP/1.1\r\nHost: a\r\nHost: b\r\nConnection: close\r\n\r\n",
        Duration::from_secs(10),
    );
    assert!(
        ows.starts_with("HTTP/1.1 400") && ows.contains("ExceptionReport"),
        "{ows}"
    );
}

/// Two Authorization headers are refused: which one counts would be a guess.
#[test]
fn authorization_must_be_given_at_most_once() {
    let s = Server::start();
    let good = admin_auth();
    for (first, second) in [(good.as_str(), "Basic eDp5"), ("Basic eDp5", good.as_str())] {
        let head = format!(
            "GET /services HTTP/1.1\r\nHost: x\r\nAuthorization: {first}\r\nAuthorization: {second}\r\nConnection: close\r\n\r\n"
        );
        let out = raw(s.port, head.as_bytes(), Duration::from_secs(10));
        assert!(out.starts_with("HTTP/1.1 400"), "{out}");
        assert!(out.contains("one Authorization header"), "{out}");
    }
}

/// RFC 9112 §3.2.2: a server takes a request target in absolute form, and its
/// authority stands in for Host.
#[test]
fn a_target_in_absolute_form_is_served() {
    let s = Server::start();
    for target in ["http://x/info", "HTTP://x/info", "http://x:80/info?a=1"] {
        let head = format!("GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        let out = raw(s.port, head.as_bytes(), Duration::from_secs(10));
        assert!(out.starts_with("HTTP/1.1 200"), "{target}: {out}");
        assert!(out.contains("\"package\""), "{target}: {out}");
    }
    let out = raw(
        s.port,
        b"GET http://x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        Duration::from_secs(10),
    );
    assert!(
        out.contains("Twitcher Frontpage"),
        "an empty path is /: {out}"
    );
}

/// A header's value is taken trimmed from its line, and a line that is no header
/// refuses the request.
#[test]
fn header_lines_are_trimmed_and_checked() {
    let s = Server::start();
    let out = raw(
        s.port,
        b"GET /info HTTP/1.1\r\nHost: x\r\nX-Request-Id:   trace-7 \t\r\nConnection: close\r\n\r\n",
        Duration::from_secs(10),
    );
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    assert!(out.contains("\r\nX-Request-Id: trace-7\r\n"), "{out}");
    for bad in [
        &b"GET /info HTTP/1.1\r\nHost: x\r\nNo colon here\r\n\r\n"[..],
        b"GET /info HTTP/1.1\r\nHost: x\r\nBad Name: 1\r\n\r\n",
    ] {
        let out = raw(s.port, bad, Duration::from_secs(10));
        assert!(out.starts_with("HTTP/1.1 400"), "{out}");
    }
}

/// The head is read a buffer at a time: lines may end at any chunk boundary (here one
/// byte per segment, so a CR and its LF arrive apart), a lone LF is part of a line, and
/// the 8 KiB line bound is exact (a line with its CRLF may take 8192 bytes).
#[test]
fn request_heads_are_read_across_segments_and_bounded_exactly() {
    let s = Server::start();
    let head = b"GET /info HTTP/1.1\r\nHost: x\r\nX-Lone: a\nb\r\n\r\n";
    let mut c = TcpStream::connect(("127.0.0.1", s.port)).unwrap();
    c.set_nodelay(true).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    for b in head {
        c.write_all(&[*b]).unwrap();
    }
    let mut status = [0u8; 12];
    c.read_exact(&mut status).unwrap();
    assert_eq!(&status, b"HTTP/1.1 200");

    let line = |content: usize| {
        let value = "v".repeat(content - "X-Long: ".len());
        format!("GET /info HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Long: {value}\r\n\r\n")
    };
    let fits = raw(s.port, line(8190).as_bytes(), Duration::from_secs(10));
    assert!(fits.starts_with("HTTP/1.1 200"), "{fits}");
    let over = raw(s.port, line(8191).as_bytes(), Duration::from_secs(10));
    assert!(over.starts_with("HTTP/1.1 431"), "{over}");
}

#[test]
fn an_unread_body_does_not_become_the_next_request() {
    let s = Server::start();
    // 3 MiB is more than the server drains; the smuggled request must never run.
    let smuggled = format!(
        "DELETE /services HTTP/1.1\r\nHost: x\r\nAuthorization: {}\r\n\r\n",
        admin_auth()
    );
    assert_eq!(register(&s.url, "keepme").status, 200);
    let mut body = vec![b' '; 3 * 1024 * 1024];
    body.extend_from_slice(smuggled.as_bytes());
    let head = format!(
        "GET /info HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
        3 * 1024 * 1024
    );
    let mut c = TcpStream::connect(("127.0.0.1", s.port)).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    c.write_all(head.as_bytes()).unwrap();
    let _ = c.write_all(&body);
    let mut out = Vec::new();
    let _ = c.read_to_end(&mut out);
    let out = String::from_utf8_lossy(&out);
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    assert_eq!(
        out.matches("HTTP/1.1").count(),
        1,
        "one response, then close: {out}"
    );
    assert_eq!(names(&s.url), ["keepme"]);
}

/// Sends `head` then `body` on a fresh connection; the answer up to the server's close,
/// and how long that took.
fn exchange(port: u16, head: &str, body: &[u8]) -> (String, Duration) {
    let start = std::time::Instant::now();
    let mut bytes = head.as_bytes().to_vec();
    bytes.extend_from_slice(body);
    let out = raw(port, &bytes, Duration::from_secs(10));
    (out, start.elapsed())
}

/// Exactly one response with this status, which closes the connection, at once.
fn assert_refused(out: &str, took: Duration, status: &str, what: &str) {
    assert!(
        out.starts_with(&format!("HTTP/1.1 {status}")),
        "{what}: {out}"
    );
    assert_eq!(
        out.matches("HTTP/1.").count(),
        1,
        "{what}: one response: {out}"
    );
    assert!(out.contains("\r\nConnection: close\r\n"), "{what}: {out}");
    assert!(took < Duration::from_secs(5), "{what}: took {took:?}");
}

/// A request that the body of another one would smuggle in, were that body taken as
/// the next request.
fn smuggled() -> String {
    format!(
        "GET /services HTTP/1.1\r\nHost: x\r\nAuthorization: {}\r\nConnection: close\r\n\r\n",
        admin_auth()
    )
}

/// A Content-Length that was not plain digits was read as 0, and of two different ones
/// the first was taken: the body then ran as a second request.
#[test]
fn invalid_or_conflicting_content_lengths_are_refused() {
    let s = Server::start();
    let body = smuggled();
    let n = body.len();
    for framing in [
        format!("Content-Length: 0x{n:x}"),
        "Content-Length: -1".into(),
        format!("Content-Length: +{n}"),
        format!("Content-Length: {n}, 2"),
        format!("Content-Length: {n} {n}"),
        "Content-Length: ".into(),
        "Content-Length: 100000000000000000000000".into(),
        format!("Content-Length: 2\r\nContent-Length: {n}"),
    ] {
        let head = format!("POST /info HTTP/1.1\r\nHost: x\r\n{framing}\r\n\r\n");
        let (out, took) = exchange(s.port, &head, body.as_bytes());
        assert_refused(&out, took, "400", &framing);
    }
    // The same length repeated, in a list or in two fields, is one length.
    for framing in [
        format!("Content-Length: {n}, {n}"),
        format!("Content-Length: {n}\r\nContent-Length: {n}"),
    ] {
        let head =
            format!("POST /info HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{framing}\r\n\r\n");
        let (out, _) = exchange(s.port, &head, body.as_bytes());
        assert!(!out.starts_with("HTTP/1.1 400"), "{framing}: {out}");
        assert_eq!(out.matches("HTTP/1.1").count(), 1, "{framing}: {out}");
    }
}

/// Any Transfer-Encoding was taken for chunked, `xchunked` too; `gzip` waited for chunks
/// until the idle timeout. Only a coding list that ends with chunked frames a body, and
/// only chunked alone can be decoded.
#[test]
fn transfer_codings_other_than_chunked_are_refused_at_once() {
    let s = Server::start();
    let chunked = format!("{:x}\r\n{}\r\n0\r\n\r\n", smuggled().len(), smuggled());
    for (coding, status) in [
        ("xchunked", "400"),
        ("gzip", "400"),
        ("chunked, gzip", "400"),
        ("chunked, chunked", "400"),
        ("", "400"),
        ("gzip, chunked", "501"),
    ] {
        let head = format!("POST /info HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: {coding}\r\n\r\n");
        let (out, took) = exchange(s.port, &head, chunked.as_bytes());
        assert_refused(&out, took, status, coding);
    }
    // An HTTP/1.0 message cannot be chunked: its framing is faulty whatever it says.
    let head = "POST /info HTTP/1.0\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
    let (out, took) = exchange(s.port, head, chunked.as_bytes());
    assert!(out.starts_with("HTTP/1.0 400"), "{out}");
    assert!(took < Duration::from_secs(5));
    // The coding's name is compared without regard to case.
    let head =
        "POST /info HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: Chunked\r\nConnection: close\r\n\r\n";
    let (out, _) = exchange(s.port, head, chunked.as_bytes());
    assert!(!out.starts_with("HTTP/1.1 400"), "{out}");
    assert_eq!(out.matches("HTTP/1.1").count(), 1, "{out}");
}

/// Both framings at once were both kept: the proxy forwarded the Content-Length with a
/// body chunked away from it.
#[test]
fn content_length_with_transfer_encoding_is_refused() {
    let s = Server::start();
    let head =
        "POST /info HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n";
    let (out, took) = exchange(s.port, head, b"3\r\nabc\r\n0\r\n\r\n");
    assert_refused(&out, took, "400", "Content-Length with chunked");
}

/// With header lines in UTF-8, `str::trim` took Unicode spaces for whitespace:
/// `\u{a0}Content-Length: 33` framed a body (a front proxy sees an unknown header and no
/// body, so the body would run as a second request). Only SP and HTAB are whitespace,
/// and a line that starts with either (obs-fold) is refused.
#[test]
fn unicode_spaces_do_not_frame_a_body() {
    let s = Server::start();
    let smuggled = b"GET /nosuch HTTP/1.1\r\nHost: x\r\n\r\n";
    for (head, statuses) in [
        (
            "GET /info HTTP/1.1\r\nHost: x\r\n\u{a0}Content-Length: 33\r\n\r\n",
            &["400"][..],
        ),
        (
            "GET /info HTTP/1.1\r\nHost: x\r\n\u{2028}Content-Length: 33\r\n\r\n",
            &["400"],
        ),
        (
            "GET /info HTTP/1.1\r\nHost: x\r\nContent-Length: 33\u{a0}\r\n\r\n",
            &["400"],
        ),
        (
            "POST /info HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\u{a0}\r\n\r\n",
            &["400", "501"],
        ),
        (
            "GET /info HTTP/1.1\r\nHost: x\r\n Content-Length: 33\r\n\r\n",
            &["400"],
        ),
    ] {
        let (out, took) = exchange(s.port, head, smuggled);
        let status = out.get(9..12).unwrap_or("");
        assert!(statuses.contains(&status), "{head:?}: {out}");
        assert_refused(&out, took, status, head);
    }
}

/// HTTP/1.2 got 400 as a bad request line; RFC 9110 §2.5 has a later minor version
/// served as the highest one the server implements.
#[test]
fn a_later_http_1_minor_version_is_served_as_1_1() {
    let s = Server::start();
    let head = "GET /info HTTP/1.2\r\nHost: x\r\nConnection: close\r\n\r\n";
    let (out, _) = exchange(s.port, head, b"");
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    assert!(out.contains("twitcher"), "{out}");
}

/// HTTP/2.0 and 3.0 request lines (the HTTP/2 preface among them) got no answer and
/// held their connection with no timeout at all, so a few of them locked every other
/// client out; HTTP/0.9 was answered under an `HTTP/0.9` status line.
#[test]
fn other_http_versions_get_505_and_are_closed_at_once() {
    let s = Launch::default()
        .env("TWITCHER_MAX_CONNECTIONS", "20")
        .start();
    for line in [
        "GET /info HTTP/2.0",
        "GET /info HTTP/3.0",
        "GET /info HTTP/0.9",
        "PRI * HTTP/2.0",
    ] {
        let (out, took) = exchange(s.port, &format!("{line}\r\nHost: x\r\n\r\n"), b"");
        assert_refused(&out, took, "505", line);
    }
    // More HTTP/2 clients than the server takes connections, each keeping its own open.
    let preface = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    let held: Vec<TcpStream> = (0..25)
        .map(|_| {
            let mut c = TcpStream::connect(("127.0.0.1", s.port)).unwrap();
            c.write_all(preface).unwrap();
            c
        })
        .collect();
    wait_for(10, "an answer beside the HTTP/2 clients", || {
        let out = raw(
            s.port,
            b"GET /info HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            Duration::from_secs(5),
        );
        out.starts_with("HTTP/1.1 200").then_some(())
    });
    drop(held);
}

/// A byte outside ASCII in the request line or a header closed the connection without
/// a word. Header values in UTF-8 (obs-text, which RFC 9110 allows: an SSO front's
/// `X-User: José`) are taken; a request line outside ASCII, a header in another
/// charset, or a Host outside ASCII gets 400, said.
#[test]
fn request_heads_outside_ascii() {
    let s = Server::start();
    let head =
        b"GET /info HTTP/1.1\r\nHost: x\r\nUser-Agent: caf\xc3\xa9\r\nConnection: close\r\n\r\n";
    let out = raw(s.port, head, Duration::from_secs(10));
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    for (head, why) in [
        (
            &b"GET /info?q=caf\xc3\xa9 HTTP/1.1\r\nHost: x\r\n\r\n"[..],
            "Non-ASCII byte in the request line",
        ),
        (
            b"GET /info HTTP/1.1\r\nHost: x\r\nX-Name: \xe9\r\n\r\n",
            "not UTF-8",
        ),
    ] {
        let start = std::time::Instant::now();
        let out = raw(s.port, head, Duration::from_secs(10));
        let what = String::from_utf8_lossy(head);
        assert_refused(&out, start.elapsed(), "400", &what);
        assert!(out.contains(why), "{what}: the reason is given: {out}");
    }
    let head = b"GET /info HTTP/1.1\r\nHost: caf\xc3\xa9.example\r\nConnection: close\r\n\r\n";
    let out = raw(s.port, head, Duration::from_secs(10));
    assert!(out.starts_with("HTTP/1.1 400"), "{out}");
    assert!(out.contains("The Host header is not ASCII"), "{out}");
    // A trusted proxy's X-Forwarded-Host goes on to the backend as it came.
    let head = b"GET /info HTTP/1.1\r\nHost: x\r\nX-Forwarded-Host: caf\xc3\xa9.example\r\nConnection: close\r\n\r\n";
    let out = raw(s.port, head, Duration::from_secs(10));
    assert!(out.starts_with("HTTP/1.1 400"), "{out}");
    assert!(
        out.contains("The X-Forwarded-Host header is not ASCII"),
        "{out}"
    );
}

/// Reads from `c` until the end of a response head, at most 10 s.
fn read_head(c: &mut TcpStream) -> String {
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") && c.read(&mut byte).unwrap_or(0) == 1 {
        head.push(byte[0]);
    }
    String::from_utf8_lossy(&head).into_owned()
}

/// `100 Continue` went out with `Server` and `Content-Length: 0` (which RFC 9110 forbids
/// on a 1xx), and as soon as the handler took the body reader, before it decided
/// anything: a request refused with 401 still made the client upload its body.
#[test]
fn continue_is_a_bare_status_line_sent_when_the_body_is_read() {
    let s = Server::start();
    let body = json!({"name": "expected", "url": "http://backend/wps"}).to_string();
    let mut c = TcpStream::connect(("127.0.0.1", s.port)).unwrap();
    let head = format!(
        "POST /services HTTP/1.1\r\nHost: x\r\nAuthorization: {}\r\nExpect: 100-continue\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        admin_auth(),
        body.len()
    );
    c.write_all(head.as_bytes()).unwrap();
    assert_eq!(read_head(&mut c), "HTTP/1.1 100 Continue\r\n\r\n");
    c.write_all(body.as_bytes()).unwrap();
    let mut rest = String::new();
    let _ = c.read_to_string(&mut rest);
    assert!(rest.starts_with("HTTP/1.1 200"), "{rest}");

    // Refused before its body is read: no 100 at all, and the connection closes.
    common::register(&s, "guarded", "http://127.0.0.1:9/wps", "WPS", "token");
    let mut c = TcpStream::connect(("127.0.0.1", s.port)).unwrap();
    c.write_all(
        b"POST /ows/proxy/guarded HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n\
          Content-Type: application/octet-stream\r\nContent-Length: 10\r\n\r\n",
    )
    .unwrap();
    let head = read_head(&mut c);
    assert!(head.starts_with("HTTP/1.1 401"), "{head}");
    assert!(head.contains("\r\nConnection: close\r\n"), "{head}");
    let mut rest = Vec::new();
    let _ = c.read_to_end(&mut rest);
    let rest = String::from_utf8_lossy(&rest);
    assert!(!rest.contains("HTTP/1.1"), "{rest}");
}

/// The HTTP layer's own answers said `Server: tiny-http (Rust)`, twitcher's own ones
/// `Server: twitcher`.
#[test]
fn the_http_layers_own_answers_name_twitcher_too() {
    let s = Server::start();
    for head in [
        &b"GET /info HTTP/2.0\r\n\r\n"[..],
        b"GET /info\r\n\r\n",
        b"GET /info HTTP/1.1\r\nContent-Length: x\r\n\r\n",
    ] {
        let out = raw(s.port, head, Duration::from_secs(10));
        assert!(out.contains("\r\nServer: twitcher\r\n"), "{out}");
        assert!(!out.contains("tiny-http"), "{out}");
    }
    // A server of its own: connections closed just before may still be counted.
    let capped = Launch::default()
        .env("TWITCHER_MAX_CONNECTIONS", "2")
        .start();
    let held: Vec<TcpStream> = (0..2)
        .map(|_| TcpStream::connect(("127.0.0.1", capped.port)).unwrap())
        .collect();
    // The 503 goes out on accept; a request sent with it would be left unread, and the
    // close would then reset the connection, 503 and all.
    let out = wait_for(10, "a 503 over the cap", || {
        let out = raw(capped.port, b"", Duration::from_secs(5));
        out.starts_with("HTTP/1.1 503").then_some(out)
    });
    assert!(out.contains("\r\nServer: twitcher\r\n"), "{out}");
    drop(held);
}

#[test]
fn first_start_without_any_config_generates_a_password_once() {
    let dir = Arc::new(TempDir::new("first"));
    let mut s = Launch::default()
        .in_dir(dir.clone())
        .default_db()
        .generated_password()
        .start();
    let log = s.log();
    let password = log
        .lines()
        .find_map(|l| l.trim().strip_prefix("password: "))
        .expect("the generated password is printed")
        .to_string();
    assert!(log.contains("user:     admin"));
    assert!(password.len() >= 20);
    let db = dir.path("twitcher.sqlite");
    assert_eq!(file_mode(&db), 0o600);
    assert_eq!(
        get(
            &format!("{}/services", s.url),
            Some(&basic("admin", &password))
        )
        .status,
        200
    );
    // The settings report says a password is in force, and where it is.
    let settings = get(
        &format!("{}/settings", s.url),
        Some(&basic("admin", &password)),
    )
    .json();
    let row = settings["settings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["key"] == "twitcher.password")
        .unwrap()
        .clone();
    assert_eq!(
        row,
        serde_json::json!({"key": "twitcher.password", "value": "******** (a hash in the database)", "source": "derived from the database"})
    );
    assert_eq!(
        get(
            &format!("{}/services", s.url),
            Some(&basic("admin", "demo"))
        )
        .status,
        401
    );
    // Only a hash is stored.
    let raw = std::fs::read(&db).unwrap();
    let wal = std::fs::read(dir.path("twitcher.sqlite-wal")).unwrap_or_default();
    for bytes in [&raw, &wal] {
        assert!(
            !bytes
                .windows(password.len())
                .any(|w| w == password.as_bytes())
        );
    }
    s.signal("TERM");
    assert_eq!(s.wait_exit(20).code(), Some(0));

    let s2 = Launch::default()
        .in_dir(dir)
        .default_db()
        .generated_password()
        .start();
    assert!(
        !s2.log().contains("password:"),
        "printed only on first start"
    );
    assert_eq!(
        get(
            &format!("{}/services", s2.url),
            Some(&basic("admin", &password))
        )
        .status,
        200
    );
}

#[test]
fn the_original_development_ini_starts_the_server() {
    let dir = Arc::new(TempDir::new("devini"));
    std::fs::copy(
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/development.ini"
        ),
        dir.path("development.ini"),
    )
    .unwrap();
    let s = Launch::default()
        .in_dir(dir.clone())
        .default_db()
        .generated_password()
        // As `pserve development.ini`: the file as the argument (the test below uses --config).
        .arg("development.ini")
        .start();
    // [app:main] of the unchanged file: demo/demo, the DB under %(here)s.
    assert_eq!(
        get(&format!("{}/services", s.url), Some(&basic("demo", "demo"))).status,
        200
    );
    assert!(dir.path("twitcher.sqlite").exists());
    // twitcher.url = http://localhost:8000 from the file is the public URL.
    assert_eq!(
        get(&format!("{}/", s.url), None).json()["services_uri"],
        "http://localhost:8000/services"
    );
}

#[test]
fn the_reference_deployment_ini_starts_the_server() {
    let s = Launch::default()
        .generated_password()
        .arg("--config")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/twitcher.ini"
        ))
        .start();
    assert_eq!(
        get(&format!("{}/services", s.url), Some(&basic("demo", "demo"))).status,
        200
    );
}

#[test]
fn a_python_twitcher_database_is_left_untouched() {
    let dir = Arc::new(TempDir::new("alembic"));
    let db = dir.path("twitcher.sqlite");
    {
        let c = rusqlite::Connection::open(&db).unwrap();
        c.execute_batch(
            "CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL);
             INSERT INTO alembic_version VALUES ('d9cff565b8db');
             CREATE TABLE services (id INTEGER PRIMARY KEY, name TEXT);
             CREATE TABLE client (client_id TEXT PRIMARY KEY);
             CREATE TABLE token (id INTEGER PRIMARY KEY);",
        )
        .unwrap();
    }
    let before = std::fs::read(&db).unwrap();
    let (status, log) = match Launch::default().in_dir(dir.clone()).try_start() {
        Err(e) => e,
        Ok(_) => panic!("started on a Python Twitcher database"),
    };
    assert_eq!(status.code(), Some(2));
    assert!(
        log.contains("Python Twitcher") && log.contains("d9cff565b8db"),
        "{log}"
    );
    assert_eq!(std::fs::read(&db).unwrap(), before);
}

#[test]
fn invalid_settings_stop_the_start_with_exit_2() {
    let (status, log) = match Launch::default()
        .env("TWITCHER_BASICAUTH", "maybe")
        .try_start()
    {
        Err(e) => e,
        Ok(_) => panic!("started with an invalid setting"),
    };
    assert_eq!(status.code(), Some(2));
    assert!(log.contains("twitcher.basicauth"), "{log}");
}

/// Seeded random requests, each on its own connection: request lines and headers
/// from a list of the odd and the hostile (bad methods and versions, absolute and
/// encoded targets, duplicate and malformed headers, tokens, framing). Every one gets
/// an HTTP answer that is not a 500, and the server stays up.
#[test]
fn random_requests_get_answers_never_a_500() {
    let s = Server::start();
    register_emu_at_a_closed_port(&s);
    let mut next = support::seeded(0x5851_f42d_4c95_7f2d);
    let methods = [
        "GET", "POST", "HEAD", "PUT", "DELETE", "OPTIONS", "PATCH", "G\x01T", "get", "BREW",
    ];
    let targets = [
        "/",
        "/info",
        "/services",
        "/services/emu",
        "/services/%ff",
        "/ows/proxy/emu?service=WPS&request=GetCapabilities",
        "/ows/proxy/emu?service=WPS&version=1.0.0&request=Execute&identifier=x",
        "/ows/verify/emu?request=GetMap&service=WMS&request=GetMap",
        "/ows/proxy/emu/%2e%2e/x",
        "/ows/proxy/emu/outputs/a%00b",
        "/oauth/token?grant_type=client_credentials&client_id=x&client_secret=y",
        "/oauth/client?name=a&name=b",
        "/metrics",
        "*",
        "http://x/info",
        "HTTPS://x:99999/services",
        "//x/y",
        "/%",
        "/a b",
        "/\u{e9}",
    ];
    let versions = [
        "HTTP/1.1",
        "HTTP/1.0",
        "HTTP/2.0",
        "HTTP/1.9",
        "HTTP/x",
        "",
        "HTTP/1.1 extra",
    ];
    let headers = [
        "Host: x",
        "Host: x",
        "Host: \u{e9}",
        "Host:",
        "Authorization: Basic YWRtaW46eA==",
        "Authorization: Bearer abc",
        "Authorization: Bearer",
        "Authorization: Negotiate x",
        "Content-Type: text/xml",
        "Content-Type: application/x-www-form-urlencoded",
        "Content-Length: 0",
        "Content-Length: -1",
        "Content-Length: 1, 2",
        "Transfer-Encoding: gzip",
        "X-Forwarded-Host: evil",
        "X-Forwarded-For: 1.2.3.4",
        "X-Ssl-Client-Verify: SUCCESS",
        "Via: 1.1 twitcher-00000000",
        "Expect: 100-continue",
        "Bad Name: x",
        " folded",
        "X-Empty:",
        "X-Utf8: Jos\u{e9}",
        "Accept-Encoding: gzip",
    ];
    for i in 0..400 {
        let mut head = format!(
            "{} {} {}\r\n",
            methods[next(methods.len())],
            targets[next(targets.len())],
            versions[next(versions.len())]
        );
        for _ in 0..next(6) {
            head.push_str(headers[next(headers.len())]);
            head.push_str("\r\n");
        }
        head.push_str("Connection: close\r\n\r\n");
        let out = send_raw(s.port, head.as_bytes());
        assert!(
            out.starts_with("HTTP/1.1 ") || out.starts_with("HTTP/1.0 "),
            "request {i} got no HTTP answer: {head:?} -> {out:?}"
        );
        assert!(
            !out[9..].starts_with("500"),
            "request {i}: {head:?} -> {out}"
        );
    }
    assert_eq!(get(&format!("{}/healthz", s.url), None).status, 200);
}

/// `emu` at a port nothing listens on, so proxied requests end as 502 at once.
fn register_emu_at_a_closed_port(s: &Server) {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!(
        "http://127.0.0.1:{}/wps",
        closed.local_addr().unwrap().port()
    );
    drop(closed);
    common::register(s, "emu", &url, "WPS", "token");
}

/// As `raw`, but a server that answers and closes before the request is all written
/// (a 431 or a 400 on the first line) is no error.
fn send_raw(port: u16, bytes: &[u8]) -> String {
    let mut c = TcpStream::connect(("127.0.0.1", port)).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let _ = c.write_all(bytes);
    let mut out = Vec::new();
    let _ = c.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}
