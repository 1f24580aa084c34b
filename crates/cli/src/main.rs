//! `trove`: the command-line face of the archive. A thin layer: argument parsing, output
//! formatting, progress bars and exit codes; the work lives in the library crates.

/// `println!` that ends the process quietly when stdout is closed (e.g. `trove ls | head`),
/// instead of panicking on the broken pipe.
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let mut out = std::io::stdout().lock();
        if let Err(e) = writeln!(out, $($arg)*) {
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                std::process::exit(0);
            }
        }
    }};
}

mod commands;
mod demo;
mod echoes;
mod proofs;
mod relations;
mod search;
mod verify;
mod workflow;

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

const EXIT_CODES: &str = "\
EXIT CODES:
  0   success
  1   error (the message says which input or record, and what to do)
  2   usage error (bad arguments or query)
  3   not found (no such item or record)
  65  the archive needs attention (e.g. inconsistent data)
  66  an input path does not exist
  74  the disk is full (free space and rerun; committed work is kept)
  75  the archive is locked by another writer (retry, or pass --wait)";

#[derive(Parser)]
#[command(
    name = "trove",
    version,
    about = "Turn leaked or seized correspondence into an archive you can search, verify and cite",
    after_help = EXIT_CODES
)]
pub struct Cli {
    /// The archive directory.
    #[arg(
        long,
        global = true,
        env = "TROVE_ARCHIVE",
        default_value = "./trove-archive"
    )]
    archive: PathBuf,

    /// Machine-readable output (JSON, or JSON Lines for listings).
    #[arg(long, global = true)]
    json: bool,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create a new, empty archive (in DIR, or in --archive).
    Init {
        dir: Option<PathBuf>,
        /// A name for the archive.
        #[arg(long)]
        name: Option<String>,
    },
    /// Read mail, DMs and posts: files, directories, mboxes, maildirs, archives (zip, tar, gz, xz,
    /// bz2), X/Twitter exports, Telegram and WhatsApp exports, JSON Lines.
    ///
    /// Every input ends up as an item, a duplicate reference, a skipped file or a quarantined
    /// record, each with a reason. Rerunning adds nothing; a killed run resumes where it stopped.
    Ingest {
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Wait for another writer to finish instead of failing at once.
        #[arg(long)]
        wait: bool,
        /// Reread files an earlier run already committed unchanged.
        #[arg(long)]
        rescan: bool,
        /// Never draw a progress bar.
        #[arg(long)]
        quiet: bool,
        /// Read the text of images and scanned PDFs with tesseract (OCR); slow. Also
        /// `[extract] ocr = true` in trove.toml.
        #[arg(long)]
        ocr: bool,
    },
    /// Counts: items by kind, quarantined and skipped records, sizes.
    Stats,
    /// List items in archive order (JSON Lines with --json).
    Ls {
        /// At most this many items.
        #[arg(long)]
        limit: Option<usize>,
        /// Include every place each item was found (with --json).
        #[arg(long)]
        provenance: bool,
    },
    /// Show one item: headers, body text, attachments, provenance and findings.
    Show { id: String },
    /// Write the exact original bytes of an item (or a quarantined record or attachment).
    Raw { id: String },
    /// List quarantined records and skipped files with their reasons.
    Quarantine,
    /// Search with a Gmail/notmuch-style query (see the query language below).
    #[command(after_help = search::QUERY_HELP)]
    Search {
        /// The query, e.g. from:podesta 'subject:"tax returns"' after:2016-09-01 has:attachment
        /// (several arguments are joined with spaces, as in notmuch).
        #[arg(required = true, num_args = 1..)]
        query: Vec<String>,
        /// Print only the number of matching items.
        #[arg(long)]
        count: bool,
        /// Order: relevance (default), date (oldest first) or -date (newest first).
        #[arg(long, default_value = "relevance", allow_hyphen_values = true,
              value_parser = ["relevance", "date", "-date"])]
        sort: String,
        /// Skip this many hits (paging).
        #[arg(long, default_value_t = 0)]
        offset: usize,
        /// Hits to return; 0 returns every hit.
        #[arg(long, default_value_t = 20)]
        limit: usize,
        /// Also count hits by sender, month, kind, language and DKIM verdict.
        #[arg(long)]
        facets: bool,
        /// Give up on a query after this many milliseconds [default: limits.query_timeout_ms in
        /// trove.toml, 5000].
        #[arg(long)]
        timeout_ms: Option<u64>,
    },
    /// List actors (people and organisations) with their identities, groups and item counts;
    /// import actor definitions or merge two actors.
    Actors {
        #[command(subcommand)]
        action: Option<ActorsAction>,
    },
    /// Show one actor, by name or by any of its identities (`twitter:@handle`, an address...).
    Actor { name: String },
    /// Show a thread (email, posts) as a tree, or a DM conversation in sequence order. ID is an
    /// item id or a conversation id (see `trove conversations`).
    Thread { id: String },
    /// List DM and chat conversations: participants, size, first and last message.
    Conversations,
    /// Items of every source in time order (JSON Lines with --json, CSV with --csv).
    Timeline {
        /// Only items this actor (name or identity) sent or received; repeatable.
        #[arg(long = "actor")]
        actors: Vec<String>,
        /// Only items a member of this group (from `actors import`) sent or received.
        #[arg(long = "group")]
        groups: Vec<String>,
        /// From this day, month or year on (YYYY[-MM[-DD]]).
        #[arg(long)]
        after: Option<String>,
        /// Before this day, month or year.
        #[arg(long)]
        before: Option<String>,
        /// Only these kinds (email, dm, post); repeatable.
        #[arg(long = "kind")]
        kinds: Vec<String>,
        /// CSV output (id, kind, date, actor, counterparts, text).
        #[arg(long)]
        csv: bool,
    },
    /// Public posts (and messages to third parties) that follow a private message: shared links,
    /// mentions of the sender, shared rare terms, with a p-value from the poster's own rhythm.
    Echoes {
        /// How long after the private message to look (15m, 24h, 3d, 1w).
        #[arg(long, default_value = "24h")]
        window: String,
        /// Only private messages from this actor or group; repeatable.
        #[arg(long)]
        from: Vec<String>,
        /// Only private messages to this actor or group; repeatable.
        #[arg(long)]
        to: Vec<String>,
        /// At most this many echoes, strongest first.
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
    /// Links first seen in a private message and later in public posts.
    Links,
    /// Add (+name) or remove (-name) tags on an item, or on every item a query matches.
    Tag {
        /// An item id, or a query.
        target: String,
        /// +tag or -tag, one or more.
        #[arg(required = true, allow_hyphen_values = true)]
        changes: Vec<String>,
        /// Who is tagging (default: TROVE_USER, then the OS user).
        #[arg(long, env = "TROVE_USER")]
        user: Option<String>,
    },
    /// Attach a note to an item.
    Note {
        id: String,
        text: String,
        /// Who is writing (default: TROVE_USER, then the OS user).
        #[arg(long, env = "TROVE_USER")]
        user: Option<String>,
    },
    /// List tags with the number of items carrying each.
    Tags,
    /// Saved searches: add, list, run (`--new`: only items ingested since the last run).
    Saved {
        #[command(subcommand)]
        action: SavedAction,
    },
    /// Run every term of a watch list (one per line, or a CSV column) as a search and report
    /// hits, first and last date and top senders per term.
    Watch {
        file: PathBuf,
        /// The CSV column holding the terms (the file then has a header row).
        #[arg(long)]
        column: Option<String>,
        /// Tag the hits of each term `watch:<term>`.
        #[arg(long)]
        tag: bool,
        /// Who is tagging (default: TROVE_USER, then the OS user).
        #[arg(long, env = "TROVE_USER")]
        user: Option<String>,
    },
    /// Export the items a query matches: original bytes (mbox, eml) or normalised (jsonl, csv),
    /// with a manifest of SHA-256s.
    Export {
        /// The query (as for search; several arguments are joined).
        #[arg(required = true, num_args = 1..)]
        query: Vec<String>,
        #[arg(long, value_parser = ["mbox", "eml", "jsonl", "csv"])]
        format: String,
        /// A directory to create (or, for eml, a .zip file).
        #[arg(short = 'o', long = "output")]
        output: PathBuf,
        /// Replace an existing output.
        #[arg(long)]
        force: bool,
        /// Number the items PREFIX000001, PREFIX000002... (Bates-style production numbers).
        #[arg(long)]
        number: Option<String>,
    },
    /// Verify DKIM signatures and ARC chains offline, against the archive's key store: every
    /// email, or those a query matches. Stores the verdicts (search them with dkim:).
    ///
    /// Verdicts: pass, pass_expired, partial_body, weak_key, headers_altered, body_altered,
    /// key_revoked, key_not_found, unsupported, malformed, unsigned.
    Verify {
        /// A query (as for search); without one, every email.
        query: Vec<String>,
        /// Wait for another writer to finish instead of failing at once.
        #[arg(long)]
        wait: bool,
    },
    /// The DKIM key store: import key files, list keys, list selectors without a key, recover
    /// keys from signatures in the archive.
    Keys {
        #[command(subcommand)]
        action: KeysAction,
    },
    /// Print the archive's checkpoint verifier key (C2SP signed-note form).
    Pubkey,
    /// Append pending leaves to the tamper-evident log and sign a checkpoint (C2SP
    /// tlog-checkpoint) if the log grew; print the latest checkpoint.
    Checkpoint {
        /// Wait for another writer to finish instead of failing at once.
        #[arg(long)]
        wait: bool,
    },
    /// An inclusion proof of an item (or attachment SHA-256) against the latest checkpoint, in
    /// the C2SP tlog-proof text format (the leaf data in its `extra` line).
    Prove { id: String },
    /// A consistency proof between two log sizes (NEW defaults to the latest checkpoint).
    Consistency { old: u64, new: Option<u64> },
    /// Write a self-contained, verifiable excerpt: the chosen items' raw bytes and inclusion
    /// proofs, the signed checkpoint, every message position of the conversations they belong
    /// to (withheld ones as hashes), and the DKIM keys they need.
    Excerpt {
        /// A query (as for search).
        query: Vec<String>,
        /// Every message of this conversation.
        #[arg(long)]
        conversation: Option<String>,
        /// Every message of the thread of this item (or thread id).
        #[arg(long)]
        thread: Option<String>,
        /// Withhold this item (its position and hash stay visible); repeatable.
        #[arg(long)]
        redact: Vec<String>,
        #[arg(short = 'o', long = "output")]
        output: PathBuf,
    },
    /// Verify an excerpt offline, without an archive: hashes, proofs, the checkpoint signature,
    /// DKIM with the keys it carries; show what is revealed and what is withheld.
    VerifyExcerpt {
        file: PathBuf,
        /// The archive's verifier key (from `trove pubkey`).
        #[arg(long)]
        key: String,
    },
    /// Rehash every blob and check catalog, blobs, log and checkpoints against each other. Exit
    /// 0 only when everything checks out (65 otherwise).
    Fsck,
    /// Rebuild the search index, threads, conversations and actors from the raw blobs and the
    /// catalog alone.
    Reindex {
        /// Wait for another writer to finish instead of failing at once.
        #[arg(long)]
        wait: bool,
    },
    /// Build a small, realistic demo archive and serve it (http://127.0.0.1:8080).
    Demo {
        /// Where to build it.
        #[arg(long, default_value = "./trove-demo")]
        dir: PathBuf,
        /// Address to serve on.
        #[arg(long, default_value = "127.0.0.1:8080")]
        bind: std::net::SocketAddr,
        /// Build the archive, print what to try, and exit without serving.
        #[arg(long)]
        no_serve: bool,
    },
    /// Serve the archive: the reading room at / and the JSON API at /api/v1/ (docs/web.md).
    /// Stops cleanly on Ctrl-C or SIGTERM.
    Serve {
        /// Address to listen on (port 0 picks a free one; the URL is printed).
        #[arg(long, default_value = "127.0.0.1:8080")]
        bind: std::net::SocketAddr,
        /// Read-only mode, safe to expose: no write endpoint exists and reporters' notes are
        /// hidden.
        #[arg(long)]
        public: bool,
    },
}

#[derive(Subcommand)]
enum SavedAction {
    /// Save (or replace) a named query.
    Add {
        name: String,
        #[arg(required = true, num_args = 1..)]
        query: Vec<String>,
        #[arg(long, env = "TROVE_USER")]
        user: Option<String>,
    },
    /// List saved searches.
    List,
    /// Run a saved search.
    Run {
        name: String,
        /// Only items ingested since this search last ran.
        #[arg(long)]
        new: bool,
    },
}

#[derive(Subcommand)]
enum KeysAction {
    /// Add keys from a file of `<selector>._domainkey.<domain>[.] [IN TXT] <value>` lines (zone
    /// file or dig output; quoted chunks are joined; `#` starts a comment), then re-verify the
    /// items they sign.
    Import {
        file: PathBuf,
        /// Wait for another writer to finish instead of failing at once.
        #[arg(long)]
        wait: bool,
    },
    /// List the key store: name, size, source, when added (JSON Lines with --json).
    List,
    /// Selectors that signed archived items but have no key, with how many items each signed.
    Missing,
    /// Derive RSA public keys from two or more signatures by the same selector (GCD of s^e - m),
    /// store them with source `recovered`, and re-verify. Without --domain/--selector, tries every
    /// selector without a key. Each attempt takes about a minute for a 2048-bit key.
    Recover {
        #[arg(long, requires = "selector")]
        domain: Option<String>,
        #[arg(long, requires = "domain")]
        selector: Option<String>,
        /// Signature pairs to try per selector before giving up.
        #[arg(long, default_value_t = 6)]
        max_pairs: usize,
        /// Usable signatures to collect per selector.
        #[arg(long, default_value_t = 8)]
        samples: usize,
        /// Wait for another writer to finish instead of failing at once.
        #[arg(long)]
        wait: bool,
    },
}

#[derive(Subcommand)]
enum ActorsAction {
    /// Add actor definitions from a TOML file of `[[actor]]` tables (name, identities, groups).
    Import {
        file: PathBuf,
        /// Wait for another writer to finish instead of failing at once.
        #[arg(long)]
        wait: bool,
    },
    /// Merge two actors (each named by name or identity) into one.
    Merge {
        a: String,
        b: String,
        /// The merged actor's name (default: the first one's).
        #[arg(long)]
        name: Option<String>,
        /// Wait for another writer to finish instead of failing at once.
        #[arg(long)]
        wait: bool,
    },
}

/// Caps glibc's malloc arenas. By default every thread that allocates may get its own arena
/// (up to 8 per core), and memory freed in one is never handed back or reused by another: after
/// ingesting a 1 GiB mbox the heap of freed-but-held arenas grew to 408 MB anonymous RSS, against
/// 250 MB with two arenas, at the same speed (107 s either way on this 2-core machine).
/// The server is the exception: its request threads allocate all the time, and on two arenas
/// they queued for the arenas' locks (a tenth of its CPU on futexes); with an arena per thread
/// web search went from 621 to 650-700 req/s. Its threads are bounded, so is what they hold.
/// `trove verify` is exempt too: its four threads (two verifying, one listing pages, one storing)
/// hold a page of messages at most, and on two arenas the lock waits cost it 4-5% of its time
/// (1,693 signed emails, six alternated series of 40 runs: task-clock lower in all six).
///
/// It also fixes the size from which glibc maps an allocation on its own, which otherwise rises
/// to the largest block freed so far (up to 32 MiB): after tantivy frees a merge's term
/// dictionaries, blocks that size come from the arenas and stay there once freed. Fixed at
/// 256 KiB, large buffers go back to the system when freed: 300 MB of attachments of words that
/// never repeat peaked at 223 MB instead of 283-302 MB (test build), 100k list messages at 160
/// instead of 190-197 MB, and that ingest ran 51-55 s instead of 60 s.
#[allow(unsafe_code)]
fn limit_malloc_arenas(exempt: bool) {
    if exempt {
        return;
    }
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets a tunable; it is called before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
        libc::mallopt(libc::M_MMAP_THRESHOLD, 256 << 10);
    }
}

fn main() -> ExitCode {
    // The attachment-extractor helper: this same binary, run by ingest as a bounded child.
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("__extract") {
        let code = trove_extract::bounded::helper_main(&args[2..]);
        return ExitCode::from(u8::try_from(code).unwrap_or(1));
    }
    if let Ok(exe) = std::env::current_exe() {
        trove_extract::bounded::set_helper(exe);
    }
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("TROVE_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    limit_malloc_arenas(matches!(
        cli.command,
        Command::Serve { .. }
            | Command::Verify { .. }
            | Command::Demo {
                no_serve: false,
                ..
            }
    ));
    match commands::run(cli) {
        Ok(code) => code,
        Err(e) => {
            let code = commands::exit_code_for(&e);
            eprintln!("trove: error: {e:#}");
            if commands::is_disk_full(&e) {
                eprintln!(
                    "trove: the disk holding the archive is full. Everything committed before \
                     this point is kept; free some space and run the same command again to finish."
                );
            }
            ExitCode::from(code)
        }
    }
}
