//! The JSON API under `/api/v1/`: the CLI's `--json` shapes over HTTP (both come from
//! `trove-service`), and the OpenAPI document generated from these handlers.

use crate::error::{ApiError, AppError};
use crate::state::AppState;
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;
use trove_service::items::{self, ThreadView};
use trove_service::{proofs, search, timeline};
use utoipa::{IntoParams, OpenApi, ToSchema};

type ApiResult = Result<Json<Value>, ApiError>;

/// `Query` whose rejection is a JSON 400 like every other API error.
pub struct ApiQuery<T>(pub T);

impl<T, S> axum::extract::FromRequestParts<S> for ApiQuery<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(v)| ApiQuery(v))
            .map_err(|e| ApiError(AppError::BadRequest(e.body_text())))
    }
}

/// `Json` whose rejection is a JSON 400 like every other API error.
pub struct ApiJson<T>(pub T);

impl<T, S> axum::extract::FromRequest<S> for ApiJson<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, Self::Rejection> {
        Json::<T>::from_request(req, state)
            .await
            .map(|Json(v)| ApiJson(v))
            .map_err(|e| {
                // JSON of the wrong shape is a 400 like any other bad input; size and content
                // type keep their own statuses (413, 415).
                let status = match e.status() {
                    axum::http::StatusCode::UNPROCESSABLE_ENTITY => {
                        axum::http::StatusCode::BAD_REQUEST
                    }
                    s => s,
                };
                ApiError(AppError::Rejected(status, e.body_text()))
            })
    }
}
type St = State<Arc<AppState>>;

/// Refuses queries over the length limit before any parsing.
pub fn check_query(state: &AppState, q: &str) -> Result<(), crate::error::AppError> {
    if q.chars().count() > state.limits.max_query_chars {
        return Err(crate::error::AppError::BadRequest(format!(
            "the query is longer than {} characters",
            state.limits.max_query_chars
        )));
    }
    Ok(())
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SearchParams {
    /// A query in trove's language (docs/query-language.md), e.g. `from:podesta after:2016-09`.
    pub q: String,
    #[serde(default)]
    pub offset: usize,
    /// Hits per page (default 20, at most 100).
    pub limit: Option<usize>,
    /// `relevance` (default), `date` or `-date`.
    pub sort: Option<String>,
    /// Include facet counts (sender, month, kind, lang, dkim).
    #[serde(default)]
    pub facets: bool,
}

/// One search hit (`trove search --json`).
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct Hit {
    id: String,
    kind: String,
    date: Option<String>,
    from: Option<String>,
    from_name: Option<String>,
    subject: Option<String>,
    /// HTML-escaped text with `<b>` around matched words.
    snippet: String,
    score: f64,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct FacetCount {
    value: String,
    count: u64,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct SearchResponse {
    total: u64,
    offset: u64,
    hits: Vec<Hit>,
    facets: Option<std::collections::BTreeMap<String, Vec<FacetCount>>>,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ErrorDetail {
    status: u16,
    message: String,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ErrorBody {
    error: ErrorDetail,
}

/// A JSON object whose fields the CLI documentation describes (`trove … --json`).
#[derive(ToSchema)]
#[schema(value_type = Object)]
#[allow(dead_code)]
pub struct Document(Value);

/// A JSON array of objects.
#[derive(ToSchema)]
#[schema(value_type = Vec<Object>)]
#[allow(dead_code)]
pub struct DocumentList(Value);

#[utoipa::path(get, path = "/api/v1/search", params(SearchParams),
    responses((status = 200, body = SearchResponse), (status = 400, body = ErrorBody),
              (status = 503, body = ErrorBody)))]
pub async fn api_search(State(s): St, ApiQuery(p): ApiQuery<SearchParams>) -> ApiResult {
    check_query(&s, &p.q)?;
    let params = search::Params {
        sort: search::sort_named(p.sort.as_deref().unwrap_or("")),
        offset: p.offset,
        limit: Some(
            p.limit
                .unwrap_or(s.limits.page_size)
                .min(s.limits.max_page_size),
        ),
        facets: p.facets,
        timeout: s.limits.query_timeout,
    };
    let v = s
        .read(move |s, cat| search::search(&s.archive, &s.index, cat, &p.q, &params))
        .await?;
    Ok(Json(v))
}

/// The item JSON, with reporters' notes removed in public mode.
pub fn item_value(s: &AppState, cat: &trove_store::Catalog, id: &str) -> anyhow::Result<Value> {
    let it = cat.find_item(id)?;
    let mut v = items::item_json(cat, &s.archive, &it)?;
    if s.public
        && let Some(o) = v.as_object_mut()
    {
        o.remove("notes");
    }
    Ok(v)
}

#[utoipa::path(get, path = "/api/v1/items/{id}", params(("id" = String, Path, description = "item id or a unique prefix of at least 8 hex digits")),
    responses((status = 200, body = Document), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn api_item(State(s): St, Path(id): Path<String>) -> ApiResult {
    Ok(Json(s.read(move |s, cat| item_value(s, cat, &id)).await?))
}

/// The raw bytes of an item, exactly as ingested, as a download.
pub async fn raw_response(s: Arc<AppState>, id: String) -> Result<Response, ApiError> {
    let (name, bytes, kind) = s
        .read(move |s, cat| {
            let it = cat.find_item(&id)?;
            let bytes = trove_store::BlobStore::get(&s.archive.blobs, &it.raw_sha256)?;
            Ok((it.id.to_string(), bytes, it.kind.clone()))
        })
        .await?;
    // Always an opaque download: the bytes are hostile and must never be rendered in place.
    let (mime, ext) = if kind == "email" {
        ("application/octet-stream", "eml")
    } else {
        ("application/octet-stream", "json")
    };
    Ok((
        [
            (header::CONTENT_TYPE, mime.to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}.{ext}\""),
            ),
        ],
        bytes,
    )
        .into_response())
}

#[utoipa::path(get, path = "/api/v1/items/{id}/raw", params(("id" = String, Path)),
    responses((status = 200, description = "the raw bytes, as a download", content_type = "application/octet-stream"),
              (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn api_raw(State(s): St, Path(id): Path<String>) -> Result<Response, ApiError> {
    raw_response(s, id).await
}

#[utoipa::path(get, path = "/api/v1/items/{id}/proof", params(("id" = String, Path)),
    responses((status = 200, body = Document, description = "inclusion proof against the latest checkpoint (`trove prove --json`)"),
              (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn api_proof(State(s): St, Path(id): Path<String>) -> ApiResult {
    Ok(Json(
        s.read(move |s, cat| proofs::prove(&s.archive, cat, &id))
            .await?,
    ))
}

#[utoipa::path(get, path = "/api/v1/threads/{id}", params(("id" = String, Path, description = "an item, thread or conversation id")),
    responses((status = 200, body = Document, description = "`{kind: \"conversation\", id, messages}` or `{kind: \"thread\", tree}`"),
              (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn api_thread(State(s): St, Path(id): Path<String>) -> ApiResult {
    let v = s
        .read(move |s, cat| {
            Ok(match items::thread(cat, &s.archive, &id)? {
                ThreadView::Conversation { id, messages } => {
                    json!({"kind": "conversation", "id": id, "messages": messages})
                }
                ThreadView::Tree(tree) => json!({"kind": "thread", "tree": tree}),
            })
        })
        .await?;
    Ok(Json(v))
}

#[utoipa::path(get, path = "/api/v1/conversations", responses((status = 200, body = DocumentList)))]
pub async fn api_conversations(State(s): St) -> ApiResult {
    let v = s
        .read(|_, cat| Ok(Value::Array(items::conversations_json(cat)?)))
        .await?;
    Ok(Json(v))
}

#[utoipa::path(get, path = "/api/v1/actors", responses((status = 200, body = DocumentList)))]
pub async fn api_actors(State(s): St) -> ApiResult {
    let v = s
        .read(|_, cat| {
            Ok(Value::Array(
                cat.actors()?.iter().map(items::actor_json).collect(),
            ))
        })
        .await?;
    Ok(Json(v))
}

#[utoipa::path(get, path = "/api/v1/actors/{key}", params(("key" = String, Path, description = "an actor's name or one of its identities")),
    responses((status = 200, body = Document), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn api_actor(State(s): St, Path(key): Path<String>) -> ApiResult {
    let v = s
        .read(move |_, cat| Ok(items::actor_json(&items::one_actor(cat, &key)?)))
        .await?;
    Ok(Json(v))
}

#[derive(Debug, Deserialize, IntoParams, Default)]
#[into_params(parameter_in = Query)]
pub struct TimelineParams {
    /// An actor name, identity or group (items involving it).
    pub actor: Option<String>,
    /// `2016`, `2016-10` or `2016-10-03`.
    #[param(pattern = r"^\d{4}(-\d{2}(-\d{2})?)?$")]
    pub after: Option<String>,
    #[param(pattern = r"^\d{4}(-\d{2}(-\d{2})?)?$")]
    pub before: Option<String>,
    /// `email`, `dm` or `post`.
    pub kind: Option<String>,
}

impl TimelineParams {
    pub fn filter(&self) -> timeline::Filter {
        let nonempty = |o: &Option<String>| o.clone().filter(|s| !s.trim().is_empty());
        timeline::Filter {
            actors: nonempty(&self.actor).into_iter().collect(),
            after: nonempty(&self.after),
            before: nonempty(&self.before),
            kinds: nonempty(&self.kind).into_iter().collect(),
        }
    }
}

#[utoipa::path(get, path = "/api/v1/timeline", params(TimelineParams),
    responses((status = 200, body = DocumentList), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn api_timeline(State(s): St, ApiQuery(p): ApiQuery<TimelineParams>) -> ApiResult {
    let f = p.filter();
    let v = s
        .read(move |s, _| Ok(serde_json::to_value(timeline::timeline(&s.archive, &f)?)?))
        .await?;
    Ok(Json(v))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EchoParams {
    /// How long after a private message a public post counts (`15m`, `24h`, `2d`, `1w`; default 2d).
    #[param(pattern = r"^\d{1,9}[smhdw]?$")]
    pub window: Option<String>,
    /// Only private messages sent by this actor or group.
    pub from: Option<String>,
    /// Only public posts by this actor or group.
    pub to: Option<String>,
    /// At most this many echoes (default 50).
    pub limit: Option<usize>,
}

impl EchoParams {
    pub fn query(&self) -> timeline::EchoQuery {
        timeline::EchoQuery {
            window: self
                .window
                .clone()
                .filter(|w| !w.trim().is_empty())
                .unwrap_or_else(|| "2d".into()),
            from: self
                .from
                .iter()
                .filter(|s| !s.is_empty())
                .cloned()
                .collect(),
            to: self.to.iter().filter(|s| !s.is_empty()).cloned().collect(),
            limit: self.limit.unwrap_or(50).min(1000),
        }
    }
}

#[utoipa::path(get, path = "/api/v1/echoes", params(EchoParams),
    responses((status = 200, body = DocumentList), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn api_echoes(State(s): St, ApiQuery(p): ApiQuery<EchoParams>) -> ApiResult {
    let q = p.query();
    let v = s
        .read(move |s, _| Ok(Value::Array(timeline::echoes(&s.archive, &q)?)))
        .await?;
    Ok(Json(v))
}

#[utoipa::path(get, path = "/api/v1/links", responses((status = 200, body = DocumentList)))]
pub async fn api_links(State(s): St) -> ApiResult {
    let v = s
        .read(|s, _| Ok(Value::Array(timeline::links(&s.archive)?)))
        .await?;
    Ok(Json(v))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ExcerptParams {
    /// A query: every matching item.
    pub q: Option<String>,
    /// A conversation id: all its messages.
    pub conversation: Option<String>,
    /// An item or thread id: the whole thread.
    pub thread: Option<String>,
    /// Comma-separated item ids to withhold (their proofs stay, their bytes do not).
    pub redact: Option<String>,
}

/// Builds and signs an excerpt bundle, as a download.
pub async fn excerpt_response(s: Arc<AppState>, p: ExcerptParams) -> Result<Response, ApiError> {
    let some = |o: &Option<String>| o.clone().filter(|v| !v.trim().is_empty());
    let sel = match (some(&p.q), some(&p.conversation), some(&p.thread)) {
        (Some(q), None, None) => {
            check_query(&s, &q)?;
            proofs::Selection::Query(q)
        }
        (None, Some(c), None) => proofs::Selection::Conversation(c),
        (None, None, Some(t)) => proofs::Selection::Thread(t),
        _ => {
            return Err(crate::error::AppError::BadRequest(
                "give one of q, conversation or thread".into(),
            )
            .into());
        }
    };
    let redact: Vec<String> = p
        .redact
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .map(str::to_string)
        .collect();
    let bytes = s
        .read(move |s, cat| {
            let b = proofs::excerpt(&s.archive, cat, &sel, &redact)?;
            Ok(serde_json::to_vec(&b)?)
        })
        .await?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/json"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"trove-excerpt.json\"",
            ),
        ],
        bytes,
    )
        .into_response())
}

#[utoipa::path(get, path = "/api/v1/excerpt", params(ExcerptParams),
    responses((status = 200, body = Document, description = "a signed excerpt bundle (docs/proofs.md), as a download"),
              (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn api_excerpt(
    State(s): St,
    ApiQuery(p): ApiQuery<ExcerptParams>,
) -> Result<Response, ApiError> {
    excerpt_response(s, p).await
}

/// Counts, the latest checkpoint and the verifier key.
pub fn about_value(s: &AppState, cat: &trove_store::Catalog) -> anyhow::Result<Value> {
    let seq = cat.max_seq()?;
    if let Ok(cache) = s.about_cache.lock()
        && let Some((at_seq, when, v)) = cache.as_ref()
        && *at_seq == seq
        && when.elapsed() < std::time::Duration::from_secs(30)
    {
        return Ok(v.clone());
    }
    let v = about_uncached(s, cat)?;
    if let Ok(mut cache) = s.about_cache.lock() {
        *cache = Some((seq, std::time::Instant::now(), v.clone()));
    }
    Ok(v)
}

fn about_uncached(s: &AppState, cat: &trove_store::Catalog) -> anyhow::Result<Value> {
    let stats = cat.stats()?;
    let cp = cat.latest_checkpoint()?;
    let signer = trove_ingest::ledger::signer(&s.archive)?;
    let dkim: Value = cat
        .verdict_counts()?
        .into_iter()
        .map(|(k, v)| (k, json!(v)))
        .collect::<serde_json::Map<_, _>>()
        .into();
    Ok(json!({
        "name": s.archive.settings.name,
        "items": stats.items,
        "by_kind": stats.by_kind,
        "quarantined": stats.quarantined,
        "attachments": stats.attachments,
        "first_date": stats.first_date,
        "last_date": stats.last_date,
        "dkim": dkim,
        "log_size": cat.log_size()?,
        "checkpoint": cp.as_ref().map(|c| json!({"size": c.size, "root": hex::encode(c.root), "note": c.note, "signed_at": c.signed_at})),
        "verifier_key": signer.verifier(),
        "public": s.public,
    }))
}

#[utoipa::path(get, path = "/api/v1/about", responses((status = 200, body = Document)))]
pub async fn api_about(State(s): St) -> ApiResult {
    Ok(Json(s.read(about_value).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct TagChange {
    #[serde(default)]
    pub add: Vec<String>,
    #[serde(default)]
    pub remove: Vec<String>,
    pub user: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/items/{id}/tags", params(("id" = String, Path)), request_body = TagChange,
    responses((status = 200, body = Document, description = "the item's tags after the change"),
              (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 413, body = ErrorBody, description = "the body is over the size limit"),
              (status = 415, body = ErrorBody, description = "the body is not JSON")))]
pub async fn api_tag(
    State(s): St,
    Path(id): Path<String>,
    ApiJson(c): ApiJson<TagChange>,
) -> ApiResult {
    let v = s
        .read(move |s, _| {
            let mut cat = s.archive.catalog_annotations()?;
            let it = cat.find_item(&id)?;
            let norm = |list: &[String]| -> anyhow::Result<Vec<String>> {
                list.iter()
                    .map(|t| {
                        trove_store::annotations::normalize_tag(t).ok_or_else(|| {
                            trove_service::UsageError(format!("'{t}' is not a tag")).into()
                        })
                    })
                    .collect()
            };
            let (add, remove) = (norm(&c.add)?, norm(&c.remove)?);
            let user = c.user.clone().unwrap_or_else(|| "web".into());
            cat.retag(&[it.raw_sha256], &add, &remove, &user)?;
            Ok(json!({"id": it.id, "tags": cat.tags_of(&it.raw_sha256)?}))
        })
        .await?;
    Ok(Json(v))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct NewNote {
    #[schema(min_length = 1, pattern = r"\S")]
    pub text: String,
    pub user: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/items/{id}/notes", params(("id" = String, Path)), request_body = NewNote,
    responses((status = 200, body = Document, description = "the item's notes after the change"),
              (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 413, body = ErrorBody, description = "the body is over the size limit"),
              (status = 415, body = ErrorBody, description = "the body is not JSON")))]
pub async fn api_note(
    State(s): St,
    Path(id): Path<String>,
    ApiJson(n): ApiJson<NewNote>,
) -> ApiResult {
    let v = s
        .read(move |s, _| {
            if n.text.trim().is_empty() {
                return Err(trove_service::UsageError("a note needs some text".into()).into());
            }
            let cat = s.archive.catalog_annotations()?;
            let it = cat.find_item(&id)?;
            cat.add_note(
                &it.raw_sha256,
                n.text.trim(),
                n.user.as_deref().unwrap_or("web"),
            )?;
            Ok(json!({"id": it.id, "notes": cat.notes_of(&it.raw_sha256)?}))
        })
        .await?;
    Ok(Json(v))
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "trove",
        description = "Search, read, verify and cite a correspondence archive. The JSON shapes are those of `trove … --json`."
    ),
    paths(
        api_search,
        api_item,
        api_raw,
        api_proof,
        api_thread,
        api_conversations,
        api_actors,
        api_actor,
        api_timeline,
        api_echoes,
        api_links,
        api_excerpt,
        api_about,
        api_tag,
        api_note
    ),
    components(schemas(
        SearchResponse,
        Hit,
        FacetCount,
        ErrorBody,
        ErrorDetail,
        Document,
        DocumentList,
        TagChange,
        NewNote
    ))
)]
pub struct ApiDoc;

/// Write paths, absent from a public server and from its OpenAPI document.
pub const WRITE_PATHS: [&str; 2] = ["/api/v1/items/{id}/tags", "/api/v1/items/{id}/notes"];

/// The OpenAPI document this server answers to.
pub fn openapi(public: bool) -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    if public {
        for p in WRITE_PATHS {
            doc.paths.paths.remove(p);
        }
        for s in ["TagChange", "NewNote"] {
            if let Some(c) = doc.components.as_mut() {
                c.schemas.remove(s);
            }
        }
    }
    doc
}

pub async fn api_openapi(State(s): St) -> Json<utoipa::openapi::OpenApi> {
    Json(openapi(s.public))
}
