//! The reading room: server-rendered pages (askama), one handler per page. Pages work without
//! JavaScript; `app.js` only adds keyboard shortcuts.

use crate::api::{self, EchoParams, ExcerptParams, TimelineParams, check_query};
use crate::error::AppError;
use crate::render::{self, Badge, Dot};
use crate::state::AppState;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;
use trove_service::items::{self, ThreadView};
use trove_service::{search, timeline};
use trove_store::BlobStore;

type St = State<Arc<AppState>>;

/// What every page's frame shows.
pub struct Chrome {
    pub archive_name: String,
    pub q: String,
    pub public: bool,
}

fn chrome(s: &AppState, q: &str) -> Chrome {
    Chrome {
        archive_name: s.archive.settings.name.clone(),
        q: q.to_string(),
        public: s.public,
    }
}

/// An error as a page.
pub struct PageError(pub AppError);

impl<E: Into<AppError>> From<E> for PageError {
    fn from(e: E) -> Self {
        PageError(e.into())
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    chrome: Chrome,
    status: u16,
    message: String,
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let status = self.0.status();
        let page = ErrorPage {
            chrome: Chrome {
                archive_name: String::new(),
                q: String::new(),
                public: false,
            },
            status: status.as_u16(),
            message: self.0.message(),
        };
        (status, html(&page)).into_response()
    }
}

fn html<T: Template>(t: &T) -> Response {
    match t.render() {
        Ok(s) => Html(s).into_response(),
        Err(e) => {
            tracing::error!("rendering a page: {e}");
            (StatusCode::INTERNAL_SERVER_ERROR, "rendering failed").into_response()
        }
    }
}

type PageResult = Result<Response, PageError>;

fn s(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// `2016-10-03T14:05:00Z` → `2016-10-03 14:05 UTC`.
fn when(v: &Value) -> String {
    let d = s(v);
    if d.len() >= 16 {
        format!("{} {} UTC", &d[..10], &d[11..16])
    } else {
        d
    }
}

fn urlenc(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

// ---------------------------------------------------------------- home and search

#[derive(Template)]
#[template(path = "home.html")]
struct HomePage {
    chrome: Chrome,
    items: u64,
    kinds: Vec<(String, u64)>,
    first: String,
    last: String,
    dkim: Vec<(String, u64, &'static str)>,
    checkpoint_size: u64,
    root: String,
    examples: Vec<(String, String)>,
}

pub async fn home(State(st): St) -> PageResult {
    let about = st.read(api::about_value).await?;
    let examples = [
        ("dkim:body_altered", "copies edited after they were sent"),
        (
            "kind:dm wikileaks",
            "direct messages that mention WikiLeaks",
        ),
        ("from:wikileaks has:link", "what WikiLeaks sent, with links"),
        ("lang:fr", "mail in French"),
        ("subject:donors", "a subject word"),
        (
            "after:2016-10-01 before:2016-10-15",
            "a fortnight in October 2016",
        ),
    ]
    .iter()
    .map(|(q, d)| (q.to_string(), d.to_string()))
    .collect();
    let page = HomePage {
        chrome: chrome(&st, ""),
        items: about["items"].as_u64().unwrap_or(0),
        kinds: about["by_kind"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(k, v)| (k.clone(), v.as_u64().unwrap_or(0)))
            .collect(),
        first: s(&about["first_date"]).chars().take(10).collect(),
        last: s(&about["last_date"]).chars().take(10).collect(),
        dkim: dkim_counts(&about),
        checkpoint_size: about["checkpoint"]["size"].as_u64().unwrap_or(0),
        root: s(&about["checkpoint"]["root"]).chars().take(16).collect(),
        examples,
    };
    Ok(html(&page))
}

fn dkim_counts(about: &Value) -> Vec<(String, u64, &'static str)> {
    about["dkim"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| {
            let class = trove_verify::Verdict::parse(k)
                .map(|v| render::badge(v).class)
                .unwrap_or("neutral");
            (k.clone(), v.as_u64().unwrap_or(0), class)
        })
        .collect()
}

#[derive(Deserialize)]
pub struct SearchForm {
    #[serde(default)]
    q: String,
    #[serde(default)]
    page: usize,
    #[serde(default)]
    sort: String,
}

struct HitView {
    id: String,
    kind: String,
    date: String,
    who: String,
    subject: String,
    snippet: String,
}

struct FacetView {
    name: String,
    values: Vec<(String, u64, String)>,
}

#[derive(Template)]
#[template(path = "search.html")]
struct SearchPage {
    chrome: Chrome,
    total: u64,
    hits: Vec<HitView>,
    facets: Vec<FacetView>,
    page: usize,
    pages: usize,
    prev: Option<String>,
    next: Option<String>,
    sort: String,
    error: Option<String>,
}

/// The query field a facet narrows by.
fn facet_field(name: &str) -> &str {
    match name {
        "sender" => "from",
        "month" => "date",
        other => other,
    }
}

fn quoted(v: &str) -> String {
    if v.chars().any(|c| c.is_whitespace() || c == ':' || c == '"') {
        format!("\"{}\"", v.replace('"', ""))
    } else {
        v.to_string()
    }
}

pub async fn search_page(State(st): St, Query(f): Query<SearchForm>) -> PageResult {
    if f.q.trim().is_empty() {
        return home(State(st)).await;
    }
    check_query(&st, &f.q)?;
    let per = st.limits.page_size;
    let params = search::Params {
        sort: search::sort_named(&f.sort),
        offset: f.page.saturating_sub(1) * per,
        limit: Some(per),
        facets: true,
        timeout: st.limits.query_timeout,
    };
    let q = f.q.clone();
    let res = st
        .read(move |s, cat| search::search(&s.archive, &s.index, cat, &q, &params))
        .await;
    let res = match res {
        Ok(v) => v,
        Err(AppError::BadRequest(m)) => {
            let page = SearchPage {
                chrome: chrome(&st, &f.q),
                total: 0,
                hits: vec![],
                facets: vec![],
                page: 1,
                pages: 0,
                prev: None,
                next: None,
                sort: f.sort.clone(),
                error: Some(m),
            };
            return Ok((StatusCode::BAD_REQUEST, html(&page)).into_response());
        }
        Err(e) => return Err(e.into()),
    };
    let total = res["total"].as_u64().unwrap_or(0);
    let hits = res["hits"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|h| HitView {
            id: s(&h["id"]),
            kind: s(&h["kind"]),
            date: when(&h["date"]),
            who: h["from_name"]
                .as_str()
                .or(h["from"].as_str())
                .unwrap_or("")
                .to_string(),
            subject: s(&h["subject"]),
            snippet: s(&h["snippet"]),
        })
        .collect();
    let facets = res["facets"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(name, counts)| FacetView {
            name: name.clone(),
            values: counts
                .as_array()
                .into_iter()
                .flatten()
                .take(8)
                .map(|c| {
                    let v = s(&c["value"]);
                    let narrowed = format!("{} {}:{}", f.q, facet_field(name), quoted(&v));
                    (
                        v,
                        c["count"].as_u64().unwrap_or(0),
                        format!("/search?q={}", urlenc(&narrowed)),
                    )
                })
                .collect(),
        })
        .filter(|f: &FacetView| !f.values.is_empty())
        .collect();
    let page = f.page.max(1);
    let pages = (total as usize).div_ceil(per);
    let link = |p: usize| {
        format!(
            "/search?q={}&page={p}{}",
            urlenc(&f.q),
            if f.sort.is_empty() {
                String::new()
            } else {
                format!("&sort={}", urlenc(&f.sort))
            }
        )
    };
    let view = SearchPage {
        chrome: chrome(&st, &f.q),
        total,
        hits,
        facets,
        page,
        pages,
        prev: (page > 1).then(|| link(page - 1)),
        next: (page < pages).then(|| link(page + 1)),
        sort: f.sort.clone(),
        error: None,
    };
    Ok(html(&view))
}

// ---------------------------------------------------------------- item

struct SigView {
    badge: Badge,
    domain: String,
    selector: String,
    algorithm: String,
    key: String,
    vouches: String,
    reason: String,
}

struct Row {
    label: String,
    value: String,
}

struct ConvLine {
    id: String,
    seq: String,
    date: String,
    who: String,
    text: String,
    current: bool,
}

#[derive(Template)]
#[template(path = "item.html")]
struct ItemPage {
    chrome: Chrome,
    id: String,
    kind: String,
    subject: String,
    headers: Vec<Row>,
    badge: Badge,
    signatures: Vec<SigView>,
    arc: String,
    flags: Vec<Row>,
    body: String,
    has_html: bool,
    attachments: Vec<(String, String, u64, String)>,
    provenance: Vec<String>,
    findings: Vec<Row>,
    tags: Vec<String>,
    notes: Vec<Row>,
    thread: Option<String>,
    conversation: Vec<ConvLine>,
    conversation_id: String,
    raw_sha256: String,
    size: u64,
    links: Vec<String>,
}

fn mailboxes(v: &Value) -> String {
    v.as_array()
        .into_iter()
        .flatten()
        .map(|m| match (m["name"].as_str(), m["address"].as_str()) {
            (Some(n), Some(a)) if !n.is_empty() => format!("{n} <{a}>"),
            (_, Some(a)) => a.to_string(),
            (Some(n), None) => n.to_string(),
            _ => String::new(),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Whether the raw message has a text/html part worth offering.
fn has_html_part(raw: &[u8]) -> bool {
    mail_parser::MessageParser::default()
        .parse(raw)
        .is_some_and(|m| !m.html_body.is_empty() && m.html_body.iter().any(|&i| is_html(&m, i)))
}

fn is_html(m: &mail_parser::Message<'_>, part: u32) -> bool {
    matches!(
        m.parts.get(part as usize).map(|p| &p.body),
        Some(mail_parser::PartType::Html(_))
    )
}

pub async fn item_page(State(st): St, Path(id): Path<String>) -> PageResult {
    let (v, has_html) = st
        .read(move |s, cat| {
            let v = api::item_value(s, cat, &id)?;
            let it = cat.find_item(&id)?;
            let html = it.kind == "email" && has_html_part(&s.archive.blobs.get(&it.raw_sha256)?);
            Ok((v, html))
        })
        .await?;
    let mut headers = vec![];
    for (label, key) in [
        ("From", "from"),
        ("Sender", "sender"),
        ("To", "to"),
        ("Cc", "cc"),
        ("Bcc", "bcc"),
        ("Reply-To", "reply_to"),
    ] {
        let m = mailboxes(&v[key]);
        if !m.is_empty() {
            headers.push(Row {
                label: label.into(),
                value: m,
            });
        }
    }
    if v["from"].as_array().is_none_or(|a| a.is_empty())
        && let Some(p) = v["people"]["from"].as_array().and_then(|a| a.first())
    {
        headers.insert(
            0,
            Row {
                label: "From".into(),
                value: p["actor"]
                    .as_str()
                    .or(p["name"].as_str())
                    .or(p["identity"].as_str())
                    .unwrap_or("")
                    .to_string(),
            },
        );
    }
    let date = match (v["date"].as_str(), v["date_raw"].as_str()) {
        (Some(_), Some(raw)) => format!("{}  (as written: {raw})", when(&v["date"])),
        (Some(_), None) => when(&v["date"]),
        (None, Some(raw)) => format!("unreadable: {raw}"),
        (None, None) => "none".into(),
    };
    headers.push(Row {
        label: "Date".into(),
        value: date,
    });
    let verification: Option<trove_verify::Verification> =
        serde_json::from_value(v["dkim"].clone()).ok().flatten();
    let (badge, signatures, arc, flags) = match &verification {
        Some(ver) => (
            render::badge(ver.verdict),
            ver.signatures
                .iter()
                .map(|sig| SigView {
                    badge: render::badge(sig.verdict),
                    domain: sig.domain.clone(),
                    selector: sig.selector.clone(),
                    algorithm: sig.algorithm.clone(),
                    key: match (&sig.key_source, sig.key_bits) {
                        (Some(src), Some(b)) => format!("{b}-bit key from {src}"),
                        (Some(src), None) => format!("key from {src}"),
                        _ => "no key".into(),
                    },
                    vouches: sig.signed_headers.join(", "),
                    reason: sig.reason.clone().unwrap_or_default(),
                })
                .collect(),
            ver.arc
                .as_ref()
                .map(|a| format!("ARC chain: {} ({} sets)", a.verdict, a.sets.len()))
                .unwrap_or_default(),
            ver.forensics
                .iter()
                .map(|f| Row {
                    label: f.code.replace('_', " "),
                    value: f.detail.clone(),
                })
                .collect(),
        ),
        None => (
            Badge {
                class: "neutral",
                label: if v["kind"] == "email" {
                    "not verified".into()
                } else {
                    "no signature".into()
                },
                sentence: if v["kind"] == "email" {
                    "This message has not been verified yet (`trove verify`).".into()
                } else {
                    "Direct messages and posts carry no cryptographic signature; the archive's log proves only that these bytes have not changed since ingest.".into()
                },
            },
            vec![],
            String::new(),
            vec![],
        ),
    };
    let conversation = v["conversation"]["context"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| ConvLine {
            id: s(&e["id"]),
            seq: s(&e["seq"]),
            date: when(&e["date"]),
            who: e["from_name"]
                .as_str()
                .or(e["from"].as_str())
                .unwrap_or("")
                .to_string(),
            text: s(&e["text"]),
            current: e["id"] == v["id"],
        })
        .collect();
    let page = ItemPage {
        chrome: chrome(&st, ""),
        id: s(&v["id"]),
        kind: s(&v["kind"]),
        subject: s(&v["subject"]),
        headers,
        badge,
        signatures,
        arc,
        flags,
        body: s(&v["body_text"]),
        has_html,
        attachments: v["attachments"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|a| {
                (
                    a["filename"].as_str().unwrap_or("(unnamed)").to_string(),
                    s(&a["mime_type"]),
                    a["size"].as_u64().unwrap_or(0),
                    s(&a["sha256"]),
                )
            })
            .collect(),
        provenance: v["provenance"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|p| {
                let mut line = format!("{} ({})", s(&p["path"]), s(&p["format"]));
                if let Some(o) = p["offset"].as_u64() {
                    line.push_str(&format!(", byte {o}"));
                }
                line
            })
            .collect(),
        findings: v["findings"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|f| Row {
                label: s(&f["code"]),
                value: s(&f["detail"]),
            })
            .collect(),
        tags: v["tags"].as_array().into_iter().flatten().map(s).collect(),
        notes: v["notes"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|n| Row {
                label: format!("{}, {}", s(&n["user"]), s(&n["at"])),
                value: s(&n["text"]),
            })
            .collect(),
        thread: v["conversation"]["id"]
            .as_str()
            .or(v["thread"].as_str())
            .map(str::to_string),
        conversation,
        conversation_id: s(&v["conversation"]["id"]),
        raw_sha256: s(&v["raw_sha256"]),
        size: v["size"].as_u64().unwrap_or(0),
        links: v["urls"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|u| {
                u["expanded"]
                    .as_str()
                    .or(u["url"].as_str())
                    .map(str::to_string)
            })
            .collect(),
    };
    Ok(html(&page))
}

/// The CSP of the sanitised HTML view: nothing may load, nothing may run, and the document is
/// sandboxed even when opened outside its iframe.
pub const EMAIL_HTML_CSP: &str = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; \
     font-src data:; sandbox; base-uri 'none'; form-action 'none'; frame-ancestors 'self'";

pub async fn item_html(State(st): St, Path(id): Path<String>) -> PageResult {
    let body = st
        .read(move |s, cat| {
            let it = cat.find_item(&id)?;
            let raw = s.archive.blobs.get(&it.raw_sha256)?;
            let html = mail_parser::MessageParser::default()
                .parse(&raw)
                .and_then(|m| {
                    let idx = *m.html_body.iter().find(|&&i| is_html(&m, i))?;
                    m.body_html(m.html_body.iter().position(|&i| i == idx).unwrap_or(0))
                        .map(|h| h.into_owned())
                })
                .ok_or_else(|| {
                    trove_store::Error::NotFound(format!("item {} has no HTML part", it.id))
                })?;
            Ok(render::sanitize_email_html(&html))
        })
        .await?;
    let doc = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><base target=\"_blank\"></head><body>{body}</body></html>"
    );
    let mut r = Html(doc).into_response();
    r.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(EMAIL_HTML_CSP),
    );
    Ok(r)
}

pub async fn item_raw(State(st): St, Path(id): Path<String>) -> Response {
    match api::raw_response(st, id).await {
        Ok(r) => r,
        Err(e) => PageError(e.0).into_response(),
    }
}

pub async fn item_attachment(State(st): St, Path((id, sha)): Path<(String, String)>) -> PageResult {
    let (name, bytes) = st
        .read(move |s, cat| {
            let it = cat.find_item(&id)?;
            let att = cat
                .attachments(it.seq)?
                .into_iter()
                .find(|a| a.sha256.to_hex() == sha)
                .ok_or_else(|| trove_store::Error::NotFound("no such attachment".into()))?;
            let bytes = s.archive.blobs.get(&att.sha256)?;
            Ok((att.filename.unwrap_or_else(|| att.sha256.to_hex()), bytes))
        })
        .await?;
    // Served as an opaque download whatever it claims to be: never rendered by the browser.
    let safe: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' {
                c
            } else {
                '_'
            }
        })
        .collect();
    Ok((
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{safe}\""),
            ),
        ],
        bytes,
    )
        .into_response())
}

pub async fn item_proof(State(st): St, Path(id): Path<String>) -> PageResult {
    let (name, text) = st
        .read(move |s, cat| {
            let p = trove_service::proofs::prove(&s.archive, cat, &id)?;
            Ok((s_of(&p["id"]), trove_service::proofs::tlog_proof_text(&p)))
        })
        .await?;
    Ok((
        [
            (
                header::CONTENT_TYPE,
                "text/plain; charset=utf-8".to_string(),
            ),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}.proof\""),
            ),
        ],
        text,
    )
        .into_response())
}

fn s_of(v: &Value) -> String {
    s(v)
}

pub async fn excerpt(State(st): St, Query(p): Query<ExcerptParams>) -> Response {
    match api::excerpt_response(st, p).await {
        Ok(r) => r,
        Err(e) => PageError(e.0).into_response(),
    }
}

// ---------------------------------------------------------------- threads

struct TreeLine {
    depth: usize,
    id: String,
    date: String,
    who: String,
    subject: String,
    missing: String,
}

struct ChatLine {
    id: String,
    seq: i64,
    gap_before: i64,
    date: String,
    who: String,
    text: String,
    mine: bool,
}

#[derive(Template)]
#[template(path = "thread.html")]
struct ThreadPage {
    chrome: Chrome,
    title: String,
    conversation_id: String,
    chat: Vec<ChatLine>,
    tree: Vec<TreeLine>,
    excerpt_href: String,
}

fn flatten(v: &Value, depth: usize, out: &mut Vec<TreeLine>) {
    if depth > 200 {
        return;
    }
    out.push(TreeLine {
        depth,
        id: s(&v["id"]),
        date: when(&v["date"]),
        who: v["from_name"]
            .as_str()
            .or(v["from"].as_str())
            .unwrap_or("")
            .to_string(),
        subject: s(&v["subject"]),
        missing: s(&v["missing"]),
    });
    for c in v["children"].as_array().into_iter().flatten() {
        flatten(c, depth + 1, out);
    }
}

pub async fn thread_page(State(st): St, Path(id): Path<String>) -> PageResult {
    let key = id.clone();
    let view = st
        .read(move |s, cat| items::thread(cat, &s.archive, &key))
        .await?;
    let page = match view {
        ThreadView::Conversation { id: conv, messages } => {
            let first_sender = messages.first().map(|m| s(&m["from"])).unwrap_or_default();
            let mut last_seq = 0;
            let chat = messages
                .iter()
                .map(|m| {
                    let seq = m["seq"].as_i64().unwrap_or(0);
                    let gap = if last_seq > 0 { seq - last_seq - 1 } else { 0 };
                    last_seq = seq;
                    ChatLine {
                        id: s(&m["id"]),
                        seq,
                        gap_before: gap.max(0),
                        date: when(&m["date"]),
                        who: m["from_name"]
                            .as_str()
                            .or(m["from"].as_str())
                            .unwrap_or("")
                            .to_string(),
                        text: s(&m["text"]),
                        mine: s(&m["from"]) != first_sender,
                    }
                })
                .collect::<Vec<_>>();
            ThreadPage {
                chrome: chrome(&st, ""),
                title: format!("Conversation, {} messages", chat.len()),
                excerpt_href: format!("/excerpt?conversation={}", urlenc(&conv)),
                conversation_id: conv,
                chat,
                tree: vec![],
            }
        }
        ThreadView::Tree(tree) => {
            let mut lines = vec![];
            flatten(&tree, 0, &mut lines);
            let title = lines
                .iter()
                .find(|l| !l.subject.is_empty())
                .map(|l| l.subject.clone())
                .unwrap_or_else(|| "Thread".into());
            ThreadPage {
                chrome: chrome(&st, ""),
                title,
                conversation_id: String::new(),
                chat: vec![],
                tree: lines,
                excerpt_href: format!("/excerpt?thread={}", urlenc(&id)),
            }
        }
    };
    Ok(html(&page))
}

#[derive(Template)]
#[template(path = "conversations.html")]
struct ConversationsPage {
    chrome: Chrome,
    rows: Vec<(String, String, String, u64, String, String)>,
}

pub async fn conversations_page(State(st): St) -> PageResult {
    let list = st.read(|_, cat| items::conversations_json(cat)).await?;
    let rows = list
        .iter()
        .map(|c| {
            let parts: Vec<String> = c["participants"]
                .as_array()
                .into_iter()
                .flatten()
                .map(s)
                .collect();
            (
                s(&c["id"]),
                c["name"].as_str().unwrap_or("").to_string(),
                parts.join(", "),
                c["size"].as_u64().unwrap_or(0),
                when(&c["first"]),
                when(&c["last"]),
            )
        })
        .collect();
    Ok(html(&ConversationsPage {
        chrome: chrome(&st, ""),
        rows,
    }))
}

// ---------------------------------------------------------------- actors

#[derive(Template)]
#[template(path = "actors.html")]
struct ActorsPage {
    chrome: Chrome,
    actors: Vec<(String, String, String, u64, u64)>,
}

pub async fn actors_page(State(st): St) -> PageResult {
    let actors = st.read(|_, cat| Ok(cat.actors()?)).await?;
    let rows = actors
        .iter()
        .map(|a| {
            (
                a.name.clone(),
                a.identities.join(" "),
                a.groups.join(", "),
                a.sent,
                a.received,
            )
        })
        .collect();
    Ok(html(&ActorsPage {
        chrome: chrome(&st, ""),
        actors: rows,
    }))
}

#[derive(Template)]
#[template(path = "actor.html")]
struct ActorPage {
    chrome: Chrome,
    name: String,
    identities: Vec<String>,
    groups: Vec<String>,
    sent: u64,
    received: u64,
    named_by: String,
    correspondents: Vec<(String, u64)>,
    activity: String,
    recent: Vec<timeline::Entry>,
    search_href: String,
    timeline_href: String,
}

pub async fn actor_page(State(st): St, Path(key): Path<String>) -> PageResult {
    let (a, entries) = st
        .read(move |s, cat| {
            let a = items::one_actor(cat, &key)?;
            let f = timeline::Filter {
                actors: vec![a.identities.first().cloned().unwrap_or(a.name.clone())],
                ..Default::default()
            };
            Ok((a, timeline::timeline(&s.archive, &f)?))
        })
        .await?;
    let mut counts: BTreeMap<String, u64> = BTreeMap::new();
    let mut months: BTreeMap<String, u64> = BTreeMap::new();
    for e in &entries {
        *months.entry(e.date.chars().take(7).collect()).or_default() += 1;
        let others: Vec<&String> = if e.actor == a.name {
            e.counterparts.iter().collect()
        } else {
            vec![&e.actor]
        };
        for o in others {
            if *o != a.name && o != "?" {
                *counts.entry(o.clone()).or_default() += 1;
            }
        }
    }
    let mut correspondents: Vec<(String, u64)> = counts.into_iter().collect();
    correspondents.sort_by(|x, y| y.1.cmp(&x.1).then(x.0.cmp(&y.0)));
    correspondents.truncate(20);
    let recent: Vec<timeline::Entry> = entries.iter().rev().take(30).cloned().collect();
    let page = ActorPage {
        chrome: chrome(&st, ""),
        search_href: format!("/search?q={}", urlenc(&format!("from:{}", quoted(&a.name)))),
        timeline_href: format!("/timeline?actor={}", urlenc(&a.name)),
        name: a.name,
        identities: a.identities,
        groups: a.groups,
        sent: a.sent,
        received: a.received,
        named_by: a.named_by,
        correspondents,
        activity: render::activity_svg(&months),
        recent,
    };
    Ok(html(&page))
}

// ---------------------------------------------------------------- timeline and echoes

#[derive(Template)]
#[template(path = "timeline.html")]
struct TimelinePage {
    chrome: Chrome,
    actor: String,
    after: String,
    before: String,
    kind: String,
    chart: String,
    entries: Vec<timeline::Entry>,
    total: usize,
    groups: Vec<String>,
}

/// The list under the chart stops here; the chart still shows every item.
const TIMELINE_LIST_MAX: usize = 500;

pub async fn timeline_page(State(st): St, Query(p): Query<TimelineParams>) -> PageResult {
    let f = p.filter();
    let (entries, groups) = st
        .read(move |s, cat| {
            let mut groups: Vec<String> =
                cat.actors()?.into_iter().flat_map(|a| a.groups).collect();
            groups.sort();
            groups.dedup();
            Ok((timeline::timeline(&s.archive, &f)?, groups))
        })
        .await?;
    let dots: Vec<Dot<'_>> = entries
        .iter()
        .map(|e| Dot {
            unix: e.unix,
            lane: &e.kind,
            label: format!("{} {}: {}", e.date, e.actor, e.text),
            href: format!("/item/{}", e.id),
        })
        .collect();
    let chart = render::timeline_svg(&dots);
    let total = entries.len();
    let page = TimelinePage {
        chrome: chrome(&st, ""),
        actor: p.actor.unwrap_or_default(),
        after: p.after.unwrap_or_default(),
        before: p.before.unwrap_or_default(),
        kind: p.kind.unwrap_or_default(),
        chart,
        entries: entries.into_iter().take(TIMELINE_LIST_MAX).collect(),
        total,
        groups,
    };
    Ok(html(&page))
}

struct EchoView {
    cause_id: String,
    echo_id: String,
    cause_sender: String,
    cause_recipients: String,
    cause_date: String,
    cause_text: String,
    echo_poster: String,
    echo_date: String,
    echo_text: String,
    delay: String,
    evidence: Vec<Row>,
    score: String,
    p_value: String,
}

struct TrailView {
    url: String,
    first_id: String,
    first_by: String,
    first_date: String,
    public: Vec<(String, String, String)>,
}

#[derive(Template)]
#[template(path = "echoes.html")]
struct EchoesPage {
    chrome: Chrome,
    window: String,
    echoes: Vec<EchoView>,
    trails: Vec<TrailView>,
}

fn human_delay(secs: i64) -> String {
    match secs {
        s if s < 3600 => format!("{} min", (s + 59) / 60),
        s if s < 172_800 => format!("{:.1} hours", s as f64 / 3600.0),
        s => format!("{:.1} days", s as f64 / 86_400.0),
    }
}

pub async fn echoes_page(State(st): St, Query(p): Query<EchoParams>) -> PageResult {
    let q = p.query();
    let window = q.window.clone();
    let (echoes, trails) = st
        .read(move |s, _| {
            Ok((
                timeline::echoes(&s.archive, &q)?,
                timeline::links(&s.archive)?,
            ))
        })
        .await?;
    let names = |v: &Value| {
        v.as_array()
            .into_iter()
            .flatten()
            .map(s)
            .collect::<Vec<_>>()
            .join(", ")
    };
    let echoes = echoes
        .iter()
        .map(|e| EchoView {
            cause_id: s(&e["cause_id"]),
            echo_id: s(&e["echo_id"]),
            cause_sender: s(&e["cause_sender"]),
            cause_recipients: names(&e["cause_recipients"]),
            cause_date: when(&e["cause_date"]),
            cause_text: s(&e["cause_text"]),
            echo_poster: s(&e["echo_poster"]),
            echo_date: when(&e["echo_date"]),
            echo_text: s(&e["echo_text"]),
            delay: human_delay(e["delay_seconds"].as_i64().unwrap_or(0)),
            evidence: e["evidence"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|x| Row {
                    label: s(&x["type"]),
                    value: s(&x["detail"]),
                })
                .collect(),
            score: format!("{:.2}", e["score"].as_f64().unwrap_or(0.0)),
            p_value: format!("{:.3}", e["p_value"].as_f64().unwrap_or(1.0)),
        })
        .collect();
    let trails = trails
        .iter()
        .map(|t| TrailView {
            url: s(&t["url"]),
            first_id: s(&t["first_private"]["id"]),
            first_by: s(&t["first_private"]["actor"]),
            first_date: when(&t["first_private"]["date"]),
            public: t["public"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|p| {
                    (
                        s(&p["id"]),
                        s(&p["actor"]),
                        human_delay(p["delay_seconds"].as_i64().unwrap_or(0)),
                    )
                })
                .collect(),
        })
        .collect();
    Ok(html(&EchoesPage {
        chrome: chrome(&st, ""),
        window,
        echoes,
        trails,
    }))
}

// ---------------------------------------------------------------- about

#[derive(Template)]
#[template(path = "about.html")]
struct AboutPage {
    chrome: Chrome,
    items: u64,
    kinds: Vec<(String, u64)>,
    quarantined: u64,
    attachments: u64,
    dkim: Vec<(String, u64, &'static str)>,
    log_size: u64,
    checkpoint: String,
    checkpoint_size: u64,
    root: String,
    signed_at: String,
    verifier_key: String,
}

pub async fn about_page(State(st): St) -> PageResult {
    let a = st.read(api::about_value).await?;
    let page = AboutPage {
        chrome: chrome(&st, ""),
        items: a["items"].as_u64().unwrap_or(0),
        kinds: a["by_kind"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(k, v)| (k.clone(), v.as_u64().unwrap_or(0)))
            .collect(),
        quarantined: a["quarantined"].as_u64().unwrap_or(0),
        attachments: a["attachments"].as_u64().unwrap_or(0),
        dkim: dkim_counts(&a),
        log_size: a["log_size"].as_u64().unwrap_or(0),
        checkpoint: s(&a["checkpoint"]["note"]),
        checkpoint_size: a["checkpoint"]["size"].as_u64().unwrap_or(0),
        root: s(&a["checkpoint"]["root"]),
        signed_at: s(&a["checkpoint"]["signed_at"]),
        verifier_key: s(&a["verifier_key"]),
    };
    Ok(html(&page))
}

pub async fn not_found() -> PageError {
    PageError(AppError::NotFound("no such page".into()))
}
