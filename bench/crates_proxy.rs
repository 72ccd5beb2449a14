//! bench/proxy.sh's fourth baseline: twitcher's two fixed crates and nothing else. A
//! tiny_http server (the patched one, each request handled on its connection's
//! thread) forwards the path and query to one backend through a ureq agent per thread
//! (twitcher's buffer sizes, pool and TCP transport), reads the answer whole and sends
//! it back with its Content-Type. No parsing, policy, header filtering, rewriting, log
//! or counters. Between bench/blocking_proxy.rs (the model alone) and twitcher, it
//! shows how much of the gap the crates take and how much twitcher's own layers.
//!
//!   cargo build --release --features bench-baselines --example crates_proxy
//!   target/release/examples/crates_proxy LISTEN_ADDR BACKEND_ADDR
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[path = "../src/proxy/transport.rs"]
mod transport;

use std::io::Read;
use std::sync::Arc;

use ureq::Agent;
use ureq::unversioned::resolver::DefaultResolver;
use ureq::unversioned::transport::{ConnectProxyConnector, Connector, RustlsConnector};

fn agent() -> Agent {
    let connector =
        ().chain(ConnectProxyConnector::default())
            .chain(transport::TcpConnector)
            .chain(RustlsConnector::default());
    Agent::with_parts(
        Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .input_buffer_size(64 * 1024)
            .output_buffer_size(16 * 1024)
            .max_idle_connections(4)
            .max_idle_connections_per_host(1)
            .build(),
        connector,
        DefaultResolver::default(),
    )
}

thread_local! {
    static AGENT: Agent = agent();
}

fn forward(backend: &str, rq: tiny_http::Request) {
    let url = format!("http://{backend}{}", rq.url());
    let answer = AGENT.with(|a| a.get(&url).call());
    let response = match answer {
        Ok(r) => {
            let mut head = Vec::new();
            if let Some(t) = r.headers().get("content-type") {
                head.extend_from_slice(b"Content-Type: ");
                head.extend_from_slice(t.as_bytes());
                head.extend_from_slice(b"\r\n");
            }
            let mut body = Vec::new();
            if r.into_body().into_reader().read_to_end(&mut body).is_err() {
                return;
            }
            tiny_http::Response::from_data(body).with_raw_headers(head)
        }
        Err(_) => tiny_http::Response::from_data(Vec::new()).with_status_code(502),
    };
    let _ = rq.respond(response);
}

fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(listen), Some(backend)) = (args.next(), args.next()) else {
        eprintln!("usage: crates_proxy LISTEN_ADDR BACKEND_ADDR");
        std::process::exit(2);
    };
    let listener = std::net::TcpListener::bind(&listen).expect("cannot listen");
    println!("listening on {}", listener.local_addr().expect("bound"));
    let backend = Arc::new(backend);
    let handler: tiny_http::Handler = Arc::new(move |rq| forward(&backend, rq));
    let _server =
        tiny_http::Server::from_listener_with_handler(listener, Default::default(), handler)
            .expect("cannot serve");
    loop {
        std::thread::park();
    }
}
