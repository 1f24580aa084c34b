//! `trove timeline`, `trove echoes` and `trove links`: one time line across sources, public posts
//! that follow private messages, and links that travel from private to public.

use anyhow::Result;
use std::process::ExitCode;
use trove_service::timeline::{self as service, EchoQuery, Filter, short};
use trove_store::Archive;

pub struct TimelineArgs {
    pub actors: Vec<String>,
    pub groups: Vec<String>,
    pub after: Option<String>,
    pub before: Option<String>,
    pub kinds: Vec<String>,
    pub csv: bool,
}

pub fn timeline(archive: &Archive, a: &TimelineArgs, json: bool) -> Result<ExitCode> {
    let filter = Filter {
        actors: a.actors.iter().chain(&a.groups).cloned().collect(),
        after: a.after.clone(),
        before: a.before.clone(),
        kinds: a.kinds.clone(),
    };
    let entries = service::timeline(archive, &filter)?;
    if a.csv {
        let mut w = csv::Writer::from_writer(std::io::stdout().lock());
        w.write_record(["id", "kind", "date", "actor", "counterparts", "text"])?;
        for e in &entries {
            let res = w.write_record([
                e.id.as_str(),
                e.kind.as_str(),
                &e.date,
                &e.actor,
                &e.counterparts.join("; "),
                &e.text,
            ]);
            if res.is_err() {
                break;
            }
        }
        let _ = w.flush();
        return Ok(ExitCode::SUCCESS);
    }
    for e in &entries {
        if json {
            outln!("{}", serde_json::to_string(e)?);
        } else {
            let arrow = if e.counterparts.is_empty() {
                String::new()
            } else {
                format!(" → {}", e.counterparts.join(", "))
            };
            outln!(
                "{}  {:<5} {}{arrow}: {}   [{}]",
                e.date,
                e.kind,
                e.actor,
                short(&e.text, 100),
                e.id
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub struct EchoArgs {
    pub window: String,
    pub from: Vec<String>,
    pub to: Vec<String>,
    pub limit: usize,
}

pub fn human_delay(secs: i64) -> String {
    match secs {
        s if s < 3600 => format!("{}m", (s + 59) / 60),
        s if s < 172_800 => format!("{:.1}h", s as f64 / 3600.0),
        s => format!("{:.1}d", s as f64 / 86_400.0),
    }
}

fn names(v: &serde_json::Value) -> String {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|n| n.as_str().or_else(|| n["actor"].as_str()))
        .collect::<Vec<_>>()
        .join(", ")
}

pub fn echoes(archive: &Archive, a: &EchoArgs, json: bool) -> Result<ExitCode> {
    let q = EchoQuery {
        window: a.window.clone(),
        from: a.from.clone(),
        to: a.to.clone(),
        limit: a.limit,
    };
    let found = service::echoes(archive, &q)?;
    for e in &found {
        if json {
            outln!("{e}");
            continue;
        }
        let s = |k: &str| e[k].as_str().unwrap_or("").to_string();
        let why: Vec<String> = e["evidence"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|x| {
                format!(
                    "{} {}",
                    x["type"].as_str().unwrap_or(""),
                    x["detail"].as_str().unwrap_or("")
                )
            })
            .collect();
        outln!(
            "{} {} {} after {} → {} wrote: {}; p={:.3}   [{} → {}]",
            s("echo_poster"),
            if s("echo_kind") == "post" {
                "posted"
            } else {
                "wrote"
            },
            human_delay(e["delay_seconds"].as_i64().unwrap_or(0)),
            s("cause_sender"),
            names(&e["cause_recipients"]),
            why.join("; "),
            e["p_value"].as_f64().unwrap_or(1.0),
            s("cause_id"),
            s("echo_id")
        );
    }
    if found.is_empty() && !json {
        outln!("no echoes within {}", a.window);
    }
    Ok(ExitCode::SUCCESS)
}

pub fn links(archive: &Archive, json: bool) -> Result<ExitCode> {
    for t in service::links(archive)? {
        if json {
            outln!("{t}");
            continue;
        }
        let first = &t["first_private"];
        outln!(
            "{}  first sent privately by {} ({}), public {} later by {}",
            t["url"].as_str().unwrap_or(""),
            first["actor"].as_str().unwrap_or("?"),
            first["date"].as_str().unwrap_or("?"),
            human_delay(t["first_delay_seconds"].as_i64().unwrap_or(0)),
            names(&t["public"])
        );
    }
    Ok(ExitCode::SUCCESS)
}
