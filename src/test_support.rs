//! Helpers shared by the unit tests and, through `tests/common`, the integration tests:
//! a seeded picker for randomised tests, and a registry stand-in whose first new name
//! is taken.

use std::sync::{Arc, Mutex};

/// A xorshift64 stream: `pick(n)` is in `0..n`, the same sequence for the same seed,
/// so a failing randomised test reproduces.
pub fn seeded(mut seed: u64) -> impl FnMut(usize) -> usize {
    move |n| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % n as u64) as usize
    }
}

/// Each `POST /services` a stand-in received: the name, and its `If-None-Match`.
pub type Posts = Arc<Mutex<Vec<(String, Option<String>)>>>;

/// A registry on 127.0.0.1 that lists no services and answers the first
/// `POST /services` with 412, as when a registration running at the same time took
/// the name; later ones are registered. Its base URL, and the POSTs it received.
pub fn registry_taking_the_first_name() -> (String, Posts) {
    let server = tiny_http::Server::http("127.0.0.1:0").unwrap();
    let url = format!(
        "http://127.0.0.1:{}",
        server.server_addr().to_ip().unwrap().port()
    );
    let posts: Posts = Arc::default();
    let seen = posts.clone();
    std::thread::spawn(move || {
        for mut rq in server.incoming_requests() {
            if rq.method() == &tiny_http::Method::Get {
                let _ = rq.respond(tiny_http::Response::from_string("[]"));
                continue;
            }
            let mut body = String::new();
            rq.as_reader().read_to_string(&mut body).unwrap();
            let mut v: serde_json::Value = serde_json::from_str(&body).unwrap();
            let precondition = rq
                .headers()
                .iter()
                .find(|h| h.field.equiv("If-None-Match"))
                .map(|h| h.value.to_string());
            let mut posts = seen.lock().unwrap();
            posts.push((v["name"].as_str().unwrap().to_string(), precondition));
            let answer = if posts.len() == 1 {
                tiny_http::Response::from_string(
                    r#"{"status": "error", "errors": [{"location": "header", "name": "If-None-Match", "description": "taken"}]}"#,
                )
                .with_status_code(412)
            } else {
                v["public"] = serde_json::Value::Bool(false);
                tiny_http::Response::from_string(v.to_string())
            };
            let _ = rq.respond(answer);
        }
    });
    (url, posts)
}
