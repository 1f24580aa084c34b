//! What every request shares: the archive, an index reader, the mode and the limits.

use crate::error::AppError;
use std::cell::RefCell;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use trove_index::SearchIndex;
use trove_store::{Archive, Catalog};

/// Bounds on what one request may cost.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Longer queries are refused with 400 before parsing.
    pub max_query_chars: usize,
    /// A search that runs longer is cut off (503).
    pub query_timeout: Duration,
    /// The whole request, including rendering.
    pub request_timeout: Duration,
    /// POST bodies (annotations) are small; anything bigger is refused with 413.
    pub max_body_bytes: usize,
    pub page_size: usize,
    pub max_page_size: usize,
}

impl Default for Limits {
    fn default() -> Self {
        // The archive-wide defaults (`trove.toml` [limits]), which `trove serve` applies.
        let archive = trove_store::Limits::default();
        Self {
            max_query_chars: archive.max_query_chars as usize,
            query_timeout: Duration::from_millis(archive.query_timeout_ms),
            request_timeout: Duration::from_secs(30),
            max_body_bytes: 64 << 10,
            page_size: 20,
            max_page_size: 100,
        }
    }
}

#[derive(Clone, Debug)]
pub struct Config {
    pub archive: PathBuf,
    pub bind: SocketAddr,
    /// Read-only: write endpoints are not routed at all, and reporters' notes are not shown.
    pub public: bool,
    pub limits: Limits,
}

pub struct AppState {
    pub archive: Archive,
    pub index: SearchIndex,
    pub public: bool,
    pub limits: Limits,
    last_reload: Mutex<Instant>,
    /// `/about` counts scan the whole catalog (a second on 66k items): kept until an ingest
    /// commits or half a minute passes (keys imported since may change the DKIM counts).
    pub about_cache: Mutex<Option<(i64, Instant, serde_json::Value)>>,
    /// Requests doing catalog, index and blob work at once. Without a bound, 50 connections
    /// meant 50 blocking threads on 2 cores: each with a cold SQLite page cache, and a tenth
    /// of the CPU went on futexes and context switches. Waiting requests queue here instead.
    busy: Arc<tokio::sync::Semaphore>,
}

/// Enough that one slow query does not hold up the rest, few enough that the threads and their
/// catalog connections stay warm.
const READS_PER_CORE: usize = 2;

thread_local! {
    /// One read-only catalog connection per blocking thread: opening SQLite per request costs
    /// more than the query. WAL readers see each committed state, never a torn one.
    static CATALOG: RefCell<Option<(PathBuf, Catalog)>> = const { RefCell::new(None) };
}

impl AppState {
    pub fn open(config: &Config) -> anyhow::Result<Arc<Self>> {
        let archive = Archive::open(&config.archive)?;
        let index = SearchIndex::open_or_create(&archive.root.join("index"))?;
        Ok(Arc::new(Self {
            archive,
            index,
            public: config.public,
            limits: config.limits.clone(),
            last_reload: Mutex::new(Instant::now()),
            about_cache: Mutex::new(None),
            busy: Arc::new(tokio::sync::Semaphore::new(
                std::thread::available_parallelism().map_or(2, |n| n.get()) * READS_PER_CORE,
            )),
        }))
    }

    /// Picks up index commits made by a running ingest, at most once a second.
    fn maybe_reload(&self) {
        let Ok(mut last) = self.last_reload.lock() else {
            return;
        };
        if last.elapsed() >= Duration::from_secs(1) {
            *last = Instant::now();
            if let Err(e) = self.index.reload() {
                tracing::warn!("reloading the index: {e}");
            }
        }
    }

    /// Runs `f` on the blocking pool with this thread's catalog connection.
    pub async fn read<T, F>(self: &Arc<Self>, f: F) -> Result<T, AppError>
    where
        T: Send + 'static,
        F: FnOnce(&AppState, &Catalog) -> anyhow::Result<T> + Send + 'static,
    {
        // The semaphore is never closed, so acquiring fails only if it were.
        let permit = Arc::clone(&self.busy)
            .acquire_owned()
            .await
            .map_err(|_| AppError::Internal)?;
        let me = Arc::clone(self);
        let joined = tokio::task::spawn_blocking(move || {
            // Held by the work itself, which runs on even if the request is dropped.
            let _permit = permit;
            me.maybe_reload();
            CATALOG.with(|cell| {
                let mut slot = cell.borrow_mut();
                let path = me.archive.catalog_path();
                if slot.as_ref().is_none_or(|(p, _)| *p != path) {
                    *slot = Some((path.clone(), me.archive.catalog()?));
                }
                let (_, cat) = slot.as_ref().expect("just filled");
                cat.snapshot(|cat| f(&me, cat))?
            })
        })
        .await;
        match joined {
            Ok(r) => r.map_err(AppError::from),
            Err(e) => {
                tracing::error!("a request task failed: {e}");
                Err(AppError::Internal)
            }
        }
    }
}
