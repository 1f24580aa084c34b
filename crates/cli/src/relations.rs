//! `trove actors`, `trove actor`, `trove thread`, `trove conversations`, and the catalog-backed
//! query resolver that lets `from:"Donald Trump Jr."` or `thread:<id>` mean what users expect.

use anyhow::{Result, bail};
use serde_json::{Value, json};
use std::path::Path;
use std::process::ExitCode;
use trove_analyze::actors::{MergeSpec, parse_actors_file};
use trove_store::Archive;

pub use trove_service::items::CatalogResolver;
use trove_service::items::{
    ThreadView, actor_json, conversations_json, date_json as date, one_actor,
};

pub fn list_actors(archive: &Archive, json: bool) -> Result<ExitCode> {
    let cat = archive.catalog()?;
    let actors = cat.actors()?;
    if json {
        let v: Vec<Value> = actors.iter().map(actor_json).collect();
        outln!("{}", Value::Array(v));
        return Ok(ExitCode::SUCCESS);
    }
    for a in &actors {
        let groups = if a.groups.is_empty() {
            String::new()
        } else {
            format!("  [{}]", a.groups.join(", "))
        };
        outln!(
            "{:<32.32} sent {:>6}  received {:>6}  {}{groups}",
            a.name,
            a.sent,
            a.received,
            a.identities.join(" ")
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub fn show_actor(archive: &Archive, key: &str, json: bool) -> Result<ExitCode> {
    let cat = archive.catalog()?;
    let a = one_actor(&cat, key)?;
    if json {
        outln!("{}", actor_json(&a));
        return Ok(ExitCode::SUCCESS);
    }
    outln!("name        {}", a.name);
    outln!("named by    {}", a.named_by);
    outln!("identities  {}", a.identities.join("\n            "));
    if !a.groups.is_empty() {
        outln!("groups      {}", a.groups.join(", "));
    }
    outln!("sent        {}", a.sent);
    outln!("received    {}", a.received);
    Ok(ExitCode::SUCCESS)
}

pub fn import_actors(archive: &Archive, file: &Path, wait: bool, json: bool) -> Result<ExitCode> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", file.display()))?;
    let specs = match parse_actors_file(&text) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("trove: error: {}: {e}", file.display());
            return Ok(ExitCode::from(2));
        }
    };
    let lock = archive.lock(wait)?;
    let mut cat = archive.catalog_rw(&lock)?;
    // Actor edits are users' data, like annotations: synced when committed.
    cat.sync_every_commit()?;
    for s in &specs {
        cat.add_actor_edit("import", &serde_json::to_string(s)?)?;
    }
    let summary = trove_analyze::rebuild(&mut cat)?;
    if json {
        outln!(
            "{}",
            json!({"imported": specs.len(), "actors": summary.actors})
        );
    } else {
        outln!(
            "imported {} actor definitions; the archive now has {} actors",
            specs.len(),
            summary.actors
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub fn merge_actors(
    archive: &Archive,
    a: &str,
    b: &str,
    name: Option<String>,
    wait: bool,
    json: bool,
) -> Result<ExitCode> {
    let lock = archive.lock(wait)?;
    let mut cat = archive.catalog_rw(&lock)?;
    cat.sync_every_commit()?;
    let (x, y) = (one_actor(&cat, a)?, one_actor(&cat, b)?);
    if x.id == y.id {
        bail!("'{a}' and '{b}' are already one actor ({})", x.name);
    }
    let spec = MergeSpec {
        name: name.unwrap_or_else(|| x.name.clone()),
        identities: x.identities.iter().chain(&y.identities).cloned().collect(),
    };
    cat.add_actor_edit("merge", &serde_json::to_string(&spec)?)?;
    trove_analyze::rebuild(&mut cat)?;
    let merged = one_actor(&cat, &spec.identities[0])?;
    if json {
        outln!("{}", actor_json(&merged));
    } else {
        outln!(
            "merged into {} ({} identities)",
            merged.name,
            merged.identities.len()
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub fn thread(archive: &Archive, id: &str, json: bool) -> Result<ExitCode> {
    let cat = archive.catalog()?;
    let entries = match trove_service::items::thread(&cat, archive, id)? {
        ThreadView::Tree(tree) => return print_tree(&tree, json),
        ThreadView::Conversation { messages, .. } => messages,
    };
    if json {
        outln!("{}", Value::Array(entries));
        return Ok(ExitCode::SUCCESS);
    }
    for e in &entries {
        let s = |k: &str| e[k].as_str().unwrap_or("").to_string();
        outln!(
            "#{:<4} {}  {}  {}",
            e["seq"],
            s("date"),
            e["from_name"].as_str().unwrap_or(&s("from")),
            s("id")
        );
        for line in s("text").lines() {
            outln!("      {line}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn print_tree(tree: &Value, json: bool) -> Result<ExitCode> {
    if json {
        outln!("{tree}");
        return Ok(ExitCode::SUCCESS);
    }
    fn print(v: &Value, depth: usize) {
        let s = |k: &str| v[k].as_str().unwrap_or("").to_string();
        let label = if v["id"].is_null() {
            format!(
                "(not in the archive{})",
                v["missing"]
                    .as_str()
                    .map(|m| format!(": <{m}>"))
                    .unwrap_or_default()
            )
        } else {
            format!(
                "{}  {}  {}  {}",
                s("id"),
                s("date"),
                v["from_name"].as_str().unwrap_or(&s("from")),
                s("subject")
            )
        };
        outln!("{}{label}", "  ".repeat(depth));
        for c in v["children"].as_array().into_iter().flatten() {
            print(c, depth + 1);
        }
    }
    print(tree, 0);
    Ok(ExitCode::SUCCESS)
}

pub fn conversations(archive: &Archive, json: bool) -> Result<ExitCode> {
    let cat = archive.catalog()?;
    if json {
        outln!("{}", Value::Array(conversations_json(&cat)?));
        return Ok(ExitCode::SUCCESS);
    }
    for c in &cat.conversations()? {
        outln!(
            "{:<28} {:>6} msgs  {} … {}  {}{}",
            c.id,
            c.size,
            date(c.first).as_str().unwrap_or("?"),
            date(c.last).as_str().unwrap_or("?"),
            c.participants.join(", "),
            c.name
                .as_ref()
                .map(|n| format!("  \"{n}\""))
                .unwrap_or_default()
        );
    }
    Ok(ExitCode::SUCCESS)
}
