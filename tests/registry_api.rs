//! The registry REST API over real HTTP, wire-compatible with Twitcher 0.11
//! (reference transcripts 01-35).

mod common;

use common::*;
use serde_json::{Value, json};

fn post_service(s: &Server, body: &Value) -> Resp {
    request(
        "POST",
        &format!("{}/services", s.url),
        Some(&admin_auth()),
        Some(body.to_string().as_bytes()),
    )
}

#[test]
fn front_info_and_versions_have_the_originals_shapes() {
    let s = Server::start();
    let r = get(&format!("{}/", s.url), None);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/json"));
    let j = r.json();
    assert_eq!(j["message"], "Twitcher Frontpage");
    for (k, path) in [
        ("information_uri", "/info"),
        ("versions_uri", "/versions"),
        ("services_uri", "/services"),
        ("client_uri", "/oauth/client"),
        ("token_uri", "/oauth/token"),
        ("openapi_uri", "/__api__"),
        ("owsproxy_uri", "/ows/proxy"),
    ] {
        assert_eq!(j[k], format!("{}{path}", s.url), "{k}");
    }
    let keys: Vec<_> = j.as_object().unwrap().keys().cloned().collect();
    assert_eq!(keys[0], "message", "key order follows the original");

    let info = get(&format!("{}/info", s.url), None).json();
    assert_eq!(info["package"], "twitcher");
    assert_eq!(info["version"], env!("CARGO_PKG_VERSION"));
    let v = get(&format!("{}/versions", s.url), None).json();
    assert_eq!(v[0]["name"], "Twitcher");
    assert_eq!(v[0]["type"], "application");
    assert_eq!(v[1]["type"], "adapter");
}

#[test]
fn settings_show_what_is_in_force_with_secrets_masked() {
    let secret = "0123456789abcdef0123456789abcdef";
    let s = Launch::default()
        .env("TWITCHER_TOKEN_TYPE", "custom_token")
        .env("TWITCHER_TOKEN_SECRET", secret)
        .start();
    let url = format!("{}/settings", s.url);
    assert_eq!(get(&url, None).status, 401);
    assert_eq!(get(&url, Some(&basic("admin", "wrong"))).status, 401);
    let r = get(&url, Some(&admin_auth()));
    assert_eq!(r.status, 200);
    assert!(!r.text().contains(secret), "{}", r.text());
    assert!(!r.text().contains(ADMIN.1), "{}", r.text());
    let j = r.json();
    assert_eq!(j["config_file"], Value::Null);
    let row = |key: &str| -> Value {
        j["settings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["key"] == key)
            .unwrap_or_else(|| panic!("no {key} in {j}"))
            .clone()
    };
    assert_eq!(
        row("twitcher.token.type"),
        json!({"key": "twitcher.token.type", "value": "custom_token", "source": "env TWITCHER_TOKEN_TYPE"})
    );
    assert_eq!(row("twitcher.token.secret")["value"], "******** (set)");
    assert_eq!(row("twitcher.password")["value"], "******** (set)");
    assert_eq!(row("twitcher.db")["source"], "flag");
    assert_eq!(row("twitcher.token.keyfile")["value"], "");
    assert_eq!(row("twitcher.token.expires_in")["source"], "default");
    // Keys left empty show what the server made of them.
    assert_eq!(
        row("twitcher.url"),
        json!({"key": "twitcher.url", "value": s.url, "source": "derived from the bound address"})
    );
    // Every key of `config check`, in its order.
    let keys = j["settings"].as_array().unwrap().len();
    assert!(keys > 30, "{keys}");
}

#[test]
fn admin_routes_need_the_right_basic_credentials() {
    let s = Server::start();
    let url = format!("{}/services", s.url);
    for auth in [
        None,
        Some(basic("admin", "wrong")),
        Some(basic("other", ADMIN.1)),
        Some("Bearer x".to_string()),
    ] {
        let r = get(&url, auth.as_deref());
        assert_eq!(r.status, 401, "{auth:?}");
        assert!(r.header("www-authenticate").unwrap().starts_with("Basic "));
        assert_eq!(r.json()["status"], "error");
    }
    let r = get(&format!("{}/services/emu", s.url), None);
    assert_eq!(r.status, 401);
    let r = get(&url, Some(&admin_auth()));
    assert_eq!(r.status, 200);
    assert_eq!(r.json(), json!([]));
}

#[test]
fn register_list_get_update_unregister_clear() {
    let s = Server::start();
    let auth = admin_auth();
    let r = post_service(
        &s,
        &json!({"name": "Emu Two!", "url": "http://127.0.0.1:5000/wps?foo=bar", "auth": "public"}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.text(),
        r#"{"url":"http://127.0.0.1:5000/wps","name":"emu_two_","type":"WPS","purl":"","auth":"public","public":true,"verify":true}"#
    );
    // Twitcher's Python client posts JSON without a Content-Type and verify as a string.
    let r = post_service(
        &s,
        &json!({"name": "emu", "url": "http://127.0.0.1:5000/wps", "type": "wps", "purl": "", "auth": "token", "verify": "false"}),
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["verify"], false);
    assert_eq!(r.json()["public"], false);

    let list = get(&format!("{}/services", s.url), Some(&auth)).json();
    let names: Vec<_> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["emu_two_", "emu"], "registration order");

    // Registering an existing name updates it in place.
    let r = post_service(
        &s,
        &json!({"name": "EMU", "url": "https://other:8443/wps", "auth": "cert", "verify": 1}),
    );
    assert_eq!(r.status, 200);
    let one = get(&format!("{}/services/emu", s.url), Some(&auth)).json();
    assert_eq!(one["url"], "https://other:8443/wps");
    assert_eq!(one["auth"], "cert");
    assert_eq!(one["verify"], true);
    assert_eq!(
        get(&format!("{}/services", s.url), Some(&auth))
            .json()
            .as_array()
            .unwrap()
            .len(),
        2
    );

    // `If-None-Match: *` only creates: a taken name gets 412 and stays as it was.
    let create = |body: &Value| {
        request_with(
            "POST",
            &format!("{}/services", s.url),
            &[("Authorization", auth.as_str()), ("If-None-Match", "*")],
            Some(body.to_string().as_bytes()),
        )
    };
    let r = create(&json!({"name": "emu", "url": "http://127.0.0.1:9/wps"}));
    assert_eq!(r.status, 412, "{}", r.text());
    assert_eq!(r.json()["errors"][0]["location"], "header");
    assert_eq!(r.json()["errors"][0]["name"], "If-None-Match");
    assert_eq!(
        get(&format!("{}/services/emu", s.url), Some(&auth)).json()["url"],
        "https://other:8443/wps"
    );
    let r = create(&json!({"name": "fresh", "url": "http://127.0.0.1:9/wps", "auth": "Token"}));
    assert_eq!(r.status, 200, "{}", r.text());
    // `Token` protects as `token` does (the original made it public), and is stored so.
    assert_eq!(
        (r.json()["auth"].as_str(), r.json()["public"].as_bool()),
        (Some("token"), Some(false))
    );
    // A likely typo is kept, as the original keeps it, but the log says what it means.
    let r = create(
        &json!({"name": "typo", "url": "http://127.0.0.1:9/x", "auth": "tokn", "type": "wpz"}),
    );
    assert_eq!(r.json()["public"], true, "{}", r.text());
    let log = s.wait_log("service typo: type `wpz` is none of wps, wms, wfs, wcs, wmts");
    assert!(
        log.contains(
            "WARN service typo: auth `tokn` is neither token nor cert: the service is public"
        ),
        "{log}"
    );
    // Said `public` outright, or a known type and auth: nothing to say.
    assert!(
        !log.contains("service emu_two_:") && !log.contains("service emu:"),
        "{log}"
    );
    let r = request(
        "DELETE",
        &format!("{}/services/fresh", s.url),
        Some(&auth),
        None,
    );
    assert_eq!(r.status, 200);

    let r = get(&format!("{}/services/nosuch", s.url), Some(&auth));
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["errors"][0]["name"], "name");

    let del = |name: &str| {
        request(
            "DELETE",
            &format!("{}/services/{name}", s.url),
            Some(&auth),
            None,
        )
    };
    let r = del("emu_two_");
    assert_eq!((r.status, r.text().as_str()), (200, "true"));
    let r = del("nosuch");
    assert_eq!((r.status, r.text().as_str()), (200, "false"));

    // A name lost on the way (`/services/`) clears nothing.
    let r = request("DELETE", &format!("{}/services/", s.url), Some(&auth), None);
    assert_eq!(r.status, 404, "{}", r.text());
    assert_ne!(
        get(&format!("{}/services", s.url), Some(&auth)).json(),
        json!([])
    );
    let r = request("DELETE", &format!("{}/services", s.url), Some(&auth), None);
    assert_eq!((r.status, r.text().as_str()), (200, "true"));
    assert_eq!(
        get(&format!("{}/services", s.url), Some(&auth)).json(),
        json!([])
    );
}

#[test]
fn bad_bodies_get_cornice_style_errors() {
    let s = Server::start();
    let r = post_service(&s, &json!({"name": "x"}));
    assert_eq!(r.status, 400);
    let j = r.json();
    assert_eq!(j["status"], "error");
    let names: Vec<_> = j["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["name", "url"]);
    assert_eq!(
        post_service(&s, &json!({"name": "ok"})).json(),
        json!({"status": "error", "errors": [{"location": "body", "name": "url", "description": "Required"}]})
    );
    for body in [
        json!({"name": "ok", "url": "ftp://h/"}),
        json!({"name": "ok", "url": "http://"}),
        json!({"name": "ok", "url": "http://h", "purl": "nope"}),
        json!({"name": "ok", "url": "http://h", "verify": "perhaps"}),
        json!({"name": "ok", "url": "http://h", "type": ""}),
        json!({"name": ["a"], "url": "http://h"}),
        json!("just a string"),
    ] {
        let r = post_service(&s, &body);
        assert_eq!(r.status, 400, "{body}");
        assert_eq!(r.json()["status"], "error");
    }
    let r = request(
        "POST",
        &format!("{}/services", s.url),
        Some(&admin_auth()),
        Some(b"{not json"),
    );
    assert_eq!(r.status, 400);
    assert!(
        r.json()["errors"][0]["description"]
            .as_str()
            .unwrap()
            .starts_with("Invalid JSON")
    );
    let r = request(
        "POST",
        &format!("{}/services", s.url),
        Some(&admin_auth()),
        Some(&[0xff, 0xfe]),
    );
    assert_eq!(r.status, 400);
    assert_eq!(
        get(&format!("{}/services", s.url), Some(&admin_auth())).json(),
        json!([]),
        "nothing stored"
    );
}

#[test]
fn paging_unknown_routes_and_wrong_methods() {
    let s = Server::start();
    let auth = admin_auth();
    for i in 0..5 {
        assert_eq!(
            post_service(
                &s,
                &json!({"name": format!("svc{i}"), "url": "http://h/wps"})
            )
            .status,
            200
        );
    }
    let page = get(&format!("{}/services?limit=2&offset=1", s.url), Some(&auth)).json();
    let names: Vec<_> = page
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["svc1", "svc2"]);
    for q in ["limit=0", "limit=x", "offset=-1", "limit=100000"] {
        assert_eq!(
            get(&format!("{}/services?{q}", s.url), Some(&auth)).status,
            400,
            "{q}"
        );
    }

    let r = get(&format!("{}/does/not/exist", s.url), None);
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["status"], "error");

    let r = request("PUT", &format!("{}/services", s.url), Some(&auth), None);
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow"), Some("GET, POST, DELETE, HEAD"));
    let r = request(
        "POST",
        &format!("{}/services/svc1", s.url),
        Some(&auth),
        Some(b"{}"),
    );
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow"), Some("GET, DELETE, HEAD"));

    let r = request(
        "HEAD",
        &format!("{}/services/svc1", s.url),
        Some(&auth),
        None,
    );
    assert_eq!(r.status, 200);
    assert!(r.body.is_empty());
}

#[test]
fn bodies_over_the_limit_get_413() {
    let s = Launch::default()
        .env("TWITCHER_MAX_BODY_SIZE", "1K")
        .start();
    let big = json!({"name": "big", "url": "http://h/wps", "pad": "x".repeat(2000)});
    let r = post_service(&s, &big);
    assert_eq!(r.status, 413);
    assert_eq!(r.json()["status"], "error");
    // Chunked, so the size is only known while reading.
    let head = format!(
        "POST /services HTTP/1.1\r\nHost: x\r\nAuthorization: {}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
        admin_auth()
    );
    let mut req = head.into_bytes();
    let body = big.to_string();
    req.extend(format!("{:x}\r\n{body}\r\n0\r\n\r\n", body.len()).as_bytes());
    let out = raw(s.port, &req, std::time::Duration::from_secs(10));
    assert!(out.starts_with("HTTP/1.1 413"), "{out}");
    // The server lives on.
    assert_eq!(
        get(&format!("{}/services", s.url), Some(&admin_auth())).status,
        200
    );
}

#[test]
fn default_limit_is_16_mib_and_refused_before_reading() {
    let s = Server::start();
    let head = format!(
        "POST /services HTTP/1.1\r\nHost: x\r\nAuthorization: {}\r\nContent-Length: {}\r\n\r\n",
        admin_auth(),
        16 * 1024 * 1024 + 1
    );
    let out = raw(s.port, head.as_bytes(), std::time::Duration::from_secs(10));
    assert!(out.starts_with("HTTP/1.1 413"), "{out}");
}

#[test]
fn request_ids_and_an_access_log_without_secrets() {
    let s = Server::start();
    let r = request(
        "GET",
        &format!("{}/info?access_token=SECRET123&x=1", s.url),
        None,
        None,
    );
    let rid = r.header("x-request-id").unwrap().to_string();
    assert!(!rid.is_empty());
    let mut b = ureq::http::Request::builder()
        .uri(format!("{}/versions", s.url))
        .header("X-Request-Id", "my-trace.42");
    b = b.header("Authorization", admin_auth());
    let resp = agent().run(b.body(Vec::new()).unwrap()).unwrap();
    assert_eq!(resp.headers().get("x-request-id").unwrap(), "my-trace.42");
    let log = wait_for(10, "access log lines", || {
        let l = s.log();
        (l.contains("rid=my-trace.42") && l.contains(&format!("rid={rid}"))).then_some(l)
    });
    assert!(!log.contains("SECRET123"), "{log}");
    assert!(!log.contains(ADMIN.1));
    let line = log
        .lines()
        .find(|l| l.contains(&format!("rid={rid}")))
        .unwrap();
    for field in [
        "method=GET",
        "path=\"/info?access_token=***&x=1\"",
        "status=200",
        "bytes=",
        "ms=",
    ] {
        assert!(line.contains(field), "{field} missing from: {line}");
    }
}

#[test]
fn openapi_document_and_explorer() {
    let s = Server::start();
    let doc = get(&format!("{}/__api__", s.url), None).json();
    assert_eq!(doc["openapi"], "3.0.3");
    assert!(doc["paths"]["/services/{name}"]["get"].is_object());
    let page = get(&format!("{}/api-explorer", s.url), None);
    assert_eq!(page.status, 200);
    let html = page.text();
    assert!(html.contains("__api__"));
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "no assets from the internet"
    );
}
