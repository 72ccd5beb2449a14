//! bench/proxy.sh's third baseline: the least a blocking, thread-per-connection
//! HTTP/1.1 proxy can do (twitcher's model: tiny_http and ureq). It reads a request head,
//! sends it over a kept-alive backend connection, reads the answer (Content-Length bodies
//! only) and writes it back; no parsing beyond that, no checks, no log. Its req/s against
//! nginx's shows what the model itself costs; twitcher's against it, what the layers on
//! top of the model cost. Built with plain `rustc -O`, std only.
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};

fn head(r: &mut impl BufRead, out: &mut Vec<u8>) -> std::io::Result<Option<usize>> {
    out.clear();
    let mut length = 0;
    loop {
        let start = out.len();
        if r.read_until(b'\n', out)? == 0 {
            return Ok(None);
        }
        let line = &out[start..];
        if line == b"\r\n" {
            return Ok(Some(length));
        }
        let text = String::from_utf8_lossy(line).to_ascii_lowercase();
        if let Some(v) = text.strip_prefix("content-length:") {
            length = v.trim().parse().unwrap_or(0);
        }
    }
}

fn serve(client: TcpStream, backend: &str) -> std::io::Result<()> {
    client.set_nodelay(true)?;
    let mut to_client = client.try_clone()?;
    let mut from_client = BufReader::new(client);
    let upstream = TcpStream::connect(backend)?;
    upstream.set_nodelay(true)?;
    let mut to_backend = upstream.try_clone()?;
    let mut from_backend = BufReader::with_capacity(64 * 1024, upstream);
    let (mut req, mut resp, mut body) = (Vec::new(), Vec::new(), Vec::new());
    while head(&mut from_client, &mut req)?.is_some() {
        to_backend.write_all(&req)?;
        let Some(n) = head(&mut from_backend, &mut resp)? else {
            return Ok(());
        };
        body.resize(n, 0);
        from_backend.read_exact(&mut body)?;
        resp.extend_from_slice(&body);
        to_client.write_all(&resp)?;
    }
    Ok(())
}

fn main() {
    let mut args = std::env::args().skip(1);
    let listen = args.next().expect("LISTEN_ADDR BACKEND_ADDR");
    let backend = args.next().expect("BACKEND_ADDR");
    let listener = TcpListener::bind(&listen).unwrap();
    println!("listening on {}", listener.local_addr().unwrap());
    for conn in listener.incoming().flatten() {
        let backend = backend.clone();
        std::thread::spawn(move || serve(conn, &backend));
    }
}
