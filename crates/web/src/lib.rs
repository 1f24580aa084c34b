//! `trove serve`: the reading room (server-rendered pages) and the JSON API (`/api/v1/`) over an
//! archive. The only crate that knows HTTP; every answer comes from `trove-service`, so the web
//! and the CLI say the same things.
//!
//! Security model (docs/web.md): leaked mail is hostile. Pages carry a strict
//! Content-Security-Policy (no remote loads, only our own script and style); email HTML is
//! sanitised and shown only in a sandboxed iframe under a CSP that blocks every load; attachments
//! and raw sources are downloads, never rendered; errors say what went wrong without paths or
//! internals; `--public` routes no write endpoint at all.

mod api;
mod error;
mod pages;
mod render;
mod state;

pub use api::openapi;
pub use state::{AppState, Config, Limits};

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use std::net::SocketAddr;
use std::sync::Arc;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;

/// The CSP of every page but the email HTML view: our own style and script, nothing remote.
const PAGE_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
     frame-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'self'";

const STYLE_CSS: &str = include_str!("../assets/style.css");
const APP_JS: &str = include_str!("../assets/app.js");

async fn security_headers(req: Request, next: Next) -> Response {
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(
        header::X_FRAME_OPTIONS,
        HeaderValue::from_static("SAMEORIGIN"),
    );
    if !h.contains_key(header::CONTENT_SECURITY_POLICY) {
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(PAGE_CSP),
        );
    }
    res
}

fn asset(body: &'static str, mime: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, mime),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        body,
    )
        .into_response()
}

async fn api_not_found() -> error::ApiError {
    error::ApiError(error::AppError::NotFound("no such endpoint".into()))
}

fn panic_response(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!("a request handler panicked");
    error::ApiError(error::AppError::Internal).into_response()
}

/// Every route. In public mode the write endpoints are simply not there (404/405).
pub fn router(state: Arc<AppState>) -> Router {
    let mut api = Router::new()
        .route("/search", get(api::api_search))
        .route("/items/{id}", get(api::api_item))
        .route("/items/{id}/raw", get(api::api_raw))
        .route("/items/{id}/proof", get(api::api_proof))
        .route("/threads/{id}", get(api::api_thread))
        .route("/conversations", get(api::api_conversations))
        .route("/actors", get(api::api_actors))
        .route("/actors/{key}", get(api::api_actor))
        .route("/timeline", get(api::api_timeline))
        .route("/echoes", get(api::api_echoes))
        .route("/links", get(api::api_links))
        .route("/excerpt", get(api::api_excerpt))
        .route("/about", get(api::api_about));
    if !state.public {
        api = api
            .route("/items/{id}/tags", post(api::api_tag))
            .route("/items/{id}/notes", post(api::api_note));
    }
    let api = api.fallback(api_not_found);
    let limits = state.limits.clone();
    Router::new()
        .route("/", get(pages::home))
        .route("/search", get(pages::search_page))
        .route("/item/{id}", get(pages::item_page))
        .route("/item/{id}/html", get(pages::item_html))
        .route("/item/{id}/raw", get(pages::item_raw))
        .route("/item/{id}/proof", get(pages::item_proof))
        .route("/item/{id}/attachment/{sha}", get(pages::item_attachment))
        .route("/thread/{id}", get(pages::thread_page))
        .route("/conversations", get(pages::conversations_page))
        .route("/actors", get(pages::actors_page))
        .route("/actor/{key}", get(pages::actor_page))
        .route("/timeline", get(pages::timeline_page))
        .route("/echoes", get(pages::echoes_page))
        .route("/excerpt", get(pages::excerpt))
        .route("/about", get(pages::about_page))
        .route(
            "/static/style.css",
            get(|| async { asset(STYLE_CSS, "text/css; charset=utf-8") }),
        )
        .route(
            "/static/app.js",
            get(|| async { asset(APP_JS, "text/javascript; charset=utf-8") }),
        )
        .route("/api/openapi.json", get(api::api_openapi))
        .nest("/api/v1", api)
        .fallback(pages::not_found)
        .layer(middleware::from_fn(security_headers))
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            limits.request_timeout,
        ))
        .layer(RequestBodyLimitLayer::new(limits.max_body_bytes))
        .with_state(state)
}

/// Serves until Ctrl-C or SIGTERM, then finishes the requests in flight. `ready` gets the bound
/// address (useful with port 0).
pub async fn serve(config: Config, ready: impl FnOnce(SocketAddr)) -> anyhow::Result<()> {
    let state = AppState::open(&config)?;
    let listener = tokio::net::TcpListener::bind(config.bind)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", config.bind))?;
    ready(listener.local_addr()?);
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown_signal())
        .await?;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down; finishing requests in flight");
}

/// Runs [`serve`] on its own runtime (for the CLI).
pub fn serve_blocking(config: Config, ready: impl FnOnce(SocketAddr)) -> anyhow::Result<()> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(serve(config, ready))
}
