//! The web app and the JSON API, driven without a socket (`tower::ServiceExt::oneshot`) over a
//! real archive: the demo plus a year of the linux-mips list.
#![allow(clippy::unwrap_used)]

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use common::TestArchive;
use http_body_util::BodyExt;
use serde_json::Value;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use tower::ServiceExt;

fn archive() -> TestArchive {
    common::demo_archive()
}

fn app(root: &Path, public: bool) -> axum::Router {
    let config = trove_web::Config {
        archive: root.to_path_buf(),
        bind: "127.0.0.1:0".parse().unwrap(),
        public,
        limits: trove_web::Limits::default(),
    };
    trove_web::router(trove_web::AppState::open(&config).unwrap())
}

struct Reply {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: Vec<u8>,
}

impl Reply {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }
    fn header(&self, name: header::HeaderName) -> String {
        self.headers
            .get(name)
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default()
    }
}

async fn call(app: &axum::Router, req: Request<Body>) -> Reply {
    let res = app.clone().oneshot(req).await.unwrap();
    let status = res.status();
    let headers = res.headers().clone();
    let body = res.into_body().collect().await.unwrap().to_bytes().to_vec();
    // Every response, whatever its status, carries the security headers.
    assert_eq!(
        headers.get(header::X_CONTENT_TYPE_OPTIONS).unwrap(),
        "nosniff"
    );
    assert!(headers.get(header::CONTENT_SECURITY_POLICY).is_some());
    Reply {
        status,
        headers,
        body,
    }
}

async fn get(app: &axum::Router, uri: &str) -> Reply {
    call(app, Request::get(uri).body(Body::empty()).unwrap()).await
}

async fn post_json(app: &axum::Router, uri: &str, body: &str) -> Reply {
    let req = Request::post(uri)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
        .unwrap();
    call(app, req).await
}

fn id_of(a: &TestArchive, query: &str) -> String {
    let v = a.json(&["search", query]);
    v["hits"][0]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no hit for {query}: {v}"))
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_and_endpoint_answers() {
    let a = archive();
    let app = app(&a.path(), false);
    let tampered = id_of(&a, "dkim:body_altered");
    let passing = id_of(&a, "dkim:pass");
    let dm = id_of(&a, "kind:dm wikileaks");
    let list_mail = id_of(&a, "from:ralf");
    let with_attachment = id_of(&a, "has:attachment");

    // Search: the API returns exactly what `trove search --json` prints.
    for q in [
        "wikileaks",
        "from:openvault.example",
        "élection",
        "kernel after:1996-06",
    ] {
        let cli = a.json(&["search", q]);
        let api = get(&app, &format!("/api/v1/search?q={}", enc(q))).await;
        assert_eq!(api.status, StatusCode::OK, "{}", api.text());
        assert_eq!(api.json(), cli, "API and CLI disagree on {q}");
    }
    let faceted = get(&app, "/api/v1/search?q=kernel&facets=true&limit=5")
        .await
        .json();
    assert!(
        faceted["facets"]["sender"]
            .as_array()
            .is_some_and(|f| !f.is_empty())
    );
    assert_eq!(faceted["hits"].as_array().unwrap().len(), 5);

    // Pages.
    let home = get(&app, "/").await;
    assert_eq!(home.status, StatusCode::OK);
    assert!(home.text().contains("searchable and verifiable"));
    let page = get(&app, "/search?q=wikileaks").await;
    assert!(page.text().contains("class=\"hit\""), "{}", page.text());
    assert!(page.text().contains("<b>"), "highlighted snippets");
    let page2 = get(&app, "/search?q=kernel&page=2").await;
    assert!(page2.text().contains("page 2 of"), "paging");

    let item = get(&app, &format!("/item/{tampered}")).await;
    assert_eq!(item.status, StatusCode::OK);
    let t = item.text();
    assert!(
        t.contains("id=\"dkim-badge\"") && t.contains("body altered"),
        "{t}"
    );
    assert!(
        t.contains("openvault.example") && t.contains("demo2016"),
        "who signed"
    );
    assert!(
        t.contains("Message-ID, Date, Subject, To, From"),
        "vouched headers"
    );
    let good = get(&app, &format!("/item/{passing}")).await.text();
    assert!(
        good.contains("badge good"),
        "a passing signature shows as good"
    );

    let api_item = get(&app, &format!("/api/v1/items/{tampered}")).await.json();
    assert_eq!(
        api_item,
        a.json(&["show", &tampered]),
        "API item == trove show --json"
    );

    // Raw bytes are the exact original, as a download.
    let raw = get(&app, &format!("/item/{tampered}/raw")).await;
    assert_eq!(raw.body, a.ok(&["raw", &tampered]));
    assert!(
        raw.header(header::CONTENT_DISPOSITION)
            .starts_with("attachment")
    );
    let raw_api = get(&app, &format!("/api/v1/items/{tampered}/raw")).await;
    assert_eq!(raw_api.body, raw.body);

    // Proofs: JSON equals the CLI's; the download is the C2SP text.
    let proof = get(&app, &format!("/api/v1/items/{passing}/proof"))
        .await
        .json();
    assert_eq!(proof, a.json(&["prove", &passing]));
    let proof_txt = get(&app, &format!("/item/{passing}/proof")).await;
    assert!(proof_txt.text().starts_with("c2sp.org/tlog-proof@v1\n"));
    assert_eq!(proof_txt.body, a.ok(&["prove", &passing]));

    // Excerpts verify with the archive's key.
    let bundle = get(&app, &format!("/api/v1/excerpt?thread={dm}")).await;
    assert_eq!(bundle.status, StatusCode::OK, "{}", bundle.text());
    let file = a.dir.path().join("web.trove-excerpt");
    std::fs::write(&file, &bundle.body).unwrap();
    let key = String::from_utf8(a.ok(&["pubkey"])).unwrap();
    let out = Command::new(common::trove_bin())
        .args([
            "verify-excerpt",
            file.to_str().unwrap(),
            "--key",
            key.trim(),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let page_bundle = get(&app, "/excerpt?q=wikileaks&redact=").await;
    assert_eq!(page_bundle.status, StatusCode::OK);

    // Threads: a DM conversation as chat, an email thread as a tree.
    let chat = get(&app, &format!("/thread/{dm}")).await.text();
    assert!(
        chat.contains("class=\"chat\"") && chat.contains("#1"),
        "{chat}"
    );
    let api_conv = get(&app, &format!("/api/v1/threads/{dm}")).await.json();
    assert_eq!(api_conv["kind"], "conversation");
    assert_eq!(api_conv["messages"], a.json(&["thread", &dm]));
    let tree = get(&app, &format!("/thread/{list_mail}")).await.text();
    assert!(tree.contains("class=\"tree\""), "{tree}");
    let api_tree = get(&app, &format!("/api/v1/threads/{list_mail}"))
        .await
        .json();
    assert_eq!(api_tree["tree"], a.json(&["thread", &list_mail]));

    // Attachments download, never render.
    let it = a.json(&["show", &with_attachment]);
    let sha = it["attachments"][0]["sha256"].as_str().unwrap();
    let att = get(&app, &format!("/item/{with_attachment}/attachment/{sha}")).await;
    assert_eq!(att.status, StatusCode::OK);
    assert_eq!(att.header(header::CONTENT_TYPE), "application/octet-stream");
    assert!(
        att.header(header::CONTENT_DISPOSITION)
            .starts_with("attachment;")
    );
    assert_eq!(common::sha256_hex(&att.body), sha);

    // Actors, conversations, timeline, echoes, links, about.
    let actors = get(&app, "/api/v1/actors").await.json();
    assert_eq!(actors, a.json(&["actors"]));
    let actor = get(&app, "/api/v1/actors/WikiLeaks").await.json();
    assert_eq!(actor["name"], "WikiLeaks");
    let actor_page = get(&app, "/actor/WikiLeaks").await.text();
    assert!(actor_page.contains("Donald Trump Jr."), "correspondents");
    assert!(actor_page.contains("<svg"), "activity chart");
    assert_eq!(get(&app, "/actors").await.status, StatusCode::OK);
    assert_eq!(
        get(&app, "/api/v1/conversations").await.json(),
        a.json(&["conversations"])
    );
    assert_eq!(get(&app, "/conversations").await.status, StatusCode::OK);
    let tl: Vec<Value> = a.jsonl(&["timeline", "--actor", "WikiLeaks"]);
    let api_tl = get(&app, "/api/v1/timeline?actor=WikiLeaks").await.json();
    assert_eq!(api_tl.as_array().unwrap(), &tl);
    let tl_page = get(&app, "/timeline?kind=dm").await.text();
    assert!(tl_page.contains("<svg") && tl_page.contains("class=\"dot dm\""));
    let echoes = get(&app, "/api/v1/echoes?window=2d").await.json();
    assert_eq!(
        echoes.as_array().unwrap(),
        &a.jsonl(&["echoes", "--window", "2d"])
    );
    assert!(
        !echoes.as_array().unwrap().is_empty(),
        "the demo's planted echo"
    );
    assert!(get(&app, "/echoes").await.text().contains("later →"));
    assert_eq!(
        get(&app, "/api/v1/links").await.json().as_array().unwrap(),
        &a.jsonl(&["links"])
    );
    let about = get(&app, "/api/v1/about").await.json();
    assert_eq!(about["verifier_key"].as_str().unwrap(), key.trim());
    assert!(about["checkpoint"]["size"].as_u64().unwrap() > 0);
    assert!(get(&app, "/about").await.text().contains(key.trim()));
    for asset in ["/static/style.css", "/static/app.js"] {
        assert_eq!(get(&app, asset).await.status, StatusCode::OK);
    }
}

fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_html_is_sanitised_and_fenced() {
    let a = archive();
    let app = app(&a.path(), false);
    let id = id_of(&a, "subject:digest");
    let page = get(&app, &format!("/item/{id}")).await.text();
    assert!(
        page.contains("sandbox src=\"/item/"),
        "HTML only inside a sandboxed iframe"
    );
    let html = get(&app, &format!("/item/{id}/html")).await;
    assert_eq!(html.status, StatusCode::OK);
    let csp = html.header(header::CONTENT_SECURITY_POLICY);
    assert!(
        csp.starts_with("default-src 'none'") && csp.contains("sandbox"),
        "{csp}"
    );
    assert!(!csp.contains("http"), "no remote source allowed: {csp}");
    let body = html.text();
    let raw = String::from_utf8_lossy(&a.ok(&["raw", &id])).into_owned();
    assert!(
        raw.contains("<img"),
        "the demo's digest has a tracking pixel"
    );
    assert!(!body.contains("src=\"http"), "remote image kept: {body}");
    assert!(!body.contains("<script"), "{body}");
    // Pages carry a CSP without remote sources either.
    let page_csp = get(&app, "/").await.header(header::CONTENT_SECURITY_POLICY);
    assert!(page_csp.contains("default-src 'none'") && !page_csp.contains("http"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_are_clear_and_leak_nothing() {
    let a = archive();
    let app = app(&a.path(), false);
    let root = a.path().display().to_string();

    for uri in [
        "/item/ffffffffffff",
        "/thread/ffffffffffff",
        "/actor/Nobody%20Here",
        "/no/such/page",
    ] {
        let r = get(&app, uri).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{uri}");
        assert!(
            r.text().contains("<h1>404</h1>"),
            "{uri}: an HTML error page"
        );
    }
    for uri in [
        "/api/v1/items/ffffffffffff",
        "/api/v1/actors/Nobody",
        "/api/v1/nope",
    ] {
        let r = get(&app, uri).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{uri}");
        assert_eq!(r.json()["error"]["status"], 404);
    }
    // Bad queries: 400 with the parser's words, on the page and in the API.
    let bad = get(&app, "/api/v1/search?q=from%3A%28").await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(
        bad.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("column")
    );
    let bad_page = get(&app, "/search?q=%22unclosed").await;
    assert_eq!(bad_page.status, StatusCode::BAD_REQUEST);
    assert!(bad_page.text().contains("cannot be read"));
    let long = "a".repeat(5_000);
    let r = get(&app, &format!("/api/v1/search?q={long}")).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.text().contains("longer than"));
    assert_eq!(
        get(&app, "/api/v1/search").await.status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        get(&app, "/api/v1/echoes?window=soon").await.status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        get(&app, "/api/v1/excerpt").await.status,
        StatusCode::BAD_REQUEST
    );

    // No path traversal: ids and hashes are looked up, never joined onto paths.
    for uri in [
        "/static/..%2F..%2FCargo.toml",
        "/static/../../Cargo.toml",
        "/item/..%2F..%2Ftrove.toml",
        "/item/..%2F..%2Ftrove.toml/raw",
        "/api/v1/items/..%2Fcatalog.sqlite/raw",
    ] {
        let r = get(&app, uri).await;
        assert!(
            r.status == StatusCode::NOT_FOUND || r.status == StatusCode::BAD_REQUEST,
            "{uri}: {}",
            r.status
        );
        assert!(
            !r.text().contains("[archive]") && !r.text().contains("SQLite"),
            "{uri}"
        );
    }
    let id = id_of(&a, "dkim:pass");
    let r = get(&app, &format!("/item/{id}/attachment/..%2F..%2Ftrove.toml")).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    // A server-side failure (the blob store damaged: its packs cut short under the running
    // server, which holds them open) is a 500 that names no path.
    let packs: Vec<_> = walk(&a.path().join("blobs"))
        .into_iter()
        .filter(|p| p.extension().is_some_and(|x| x == "pack"))
        .collect();
    assert!(!packs.is_empty());
    for p in packs {
        std::fs::OpenOptions::new()
            .write(true)
            .open(&p)
            .and_then(|f| f.set_len(0))
            .unwrap();
    }
    for uri in [format!("/api/v1/items/{id}/raw"), format!("/item/{id}")] {
        let r = get(&app, &uri).await;
        assert_eq!(r.status, StatusCode::INTERNAL_SERVER_ERROR, "{uri}");
        assert!(
            !r.text().contains(&root) && !r.text().contains("blobs"),
            "{uri} leaks: {}",
            r.text()
        );
    }
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = vec![];
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_exist_only_in_private_mode() {
    let a = archive();
    let id = id_of(&a, "dkim:pass");
    let private = app(&a.path(), false);
    let r = post_json(
        &private,
        &format!("/api/v1/items/{id}/tags"),
        r#"{"add":["Checked"]}"#,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json()["tags"], serde_json::json!(["checked"]));
    let r = post_json(
        &private,
        &format!("/api/v1/items/{id}/notes"),
        r#"{"text":"called the sender","user":"ana"}"#,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(a.json(&["search", "tag:checked"])["total"], 1);
    let bad = post_json(
        &private,
        &format!("/api/v1/items/{id}/tags"),
        r#"{"add":["no spaces"]}"#,
    )
    .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    let huge = format!(r#"{{"text":"{}"}}"#, "x".repeat(200_000));
    let r = post_json(&private, &format!("/api/v1/items/{id}/notes"), &huge).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    let doc = get(&private, "/api/openapi.json").await.json();
    assert!(doc["paths"]["/api/v1/items/{id}/tags"]["post"].is_object());
    assert!(
        get(&private, &format!("/api/v1/items/{id}")).await.json()["notes"][0]["text"]
            == "called the sender"
    );

    let public = app(&a.path(), true);
    for path in ["tags", "notes"] {
        let r = post_json(
            &public,
            &format!("/api/v1/items/{id}/{path}"),
            r#"{"add":["x"],"text":"x"}"#,
        )
        .await;
        assert!(
            r.status == StatusCode::NOT_FOUND || r.status == StatusCode::METHOD_NOT_ALLOWED,
            "public {path}: {}",
            r.status
        );
    }
    for (method, uri) in [
        ("DELETE", format!("/api/v1/items/{id}")),
        ("PUT", format!("/item/{id}")),
        ("POST", "/search".into()),
    ] {
        let r = call(
            &public,
            Request::builder()
                .method(method)
                .uri(&uri)
                .body(Body::empty())
                .unwrap(),
        )
        .await;
        assert!(r.status.is_client_error(), "{method} {uri}: {}", r.status);
    }
    let doc = get(&public, "/api/openapi.json").await.json();
    assert!(
        doc["paths"].get("/api/v1/items/{id}/tags").is_none(),
        "public OpenAPI lists no writes"
    );
    assert!(doc["paths"]["/api/v1/search"]["get"].is_object());
    let item = get(&public, &format!("/api/v1/items/{id}")).await.json();
    assert!(item.get("notes").is_none(), "reporters' notes stay private");
    assert_eq!(
        a.json(&["search", "tag:x"])["total"],
        0,
        "nothing was written"
    );
    let about = get(&public, "/api/v1/about").await.json();
    assert_eq!(about["public"], true);
    let _ = Arc::new(());
}
