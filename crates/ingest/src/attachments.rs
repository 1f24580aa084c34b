//! Attachment text at ingest and at reindex: extraction through `trove_extract`, failures turned
//! into findings on the item (never an aborted ingest).

use crate::email::AttachmentBytes;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Duration;
use trove_model::{AttachmentText, Finding};
use trove_store::Settings;

/// Extraction options from `trove.toml`, with `--ocr` overriding `extract.ocr`.
pub fn options(settings: &Settings, ocr: Option<bool>) -> trove_extract::Options {
    let x = &settings.extract;
    trove_extract::Options {
        ocr: ocr.unwrap_or(x.ocr),
        ocr_languages: x.ocr_languages.clone(),
        timeout: Duration::from_secs(x.timeout_seconds.max(1)),
        max_input_bytes: x.max_input_bytes,
        max_text_bytes: usize::try_from(x.max_text_bytes).unwrap_or(usize::MAX),
        memory_limit_bytes: x.memory_limit_bytes,
    }
}

/// Extracts the text of every attachment that has none yet; returns the findings of those that
/// failed.
pub fn extract_all(atts: &mut [AttachmentBytes], opts: &trove_extract::Options) -> Vec<Finding> {
    let mut findings = vec![];
    for a in atts.iter_mut().filter(|a| a.text.is_none()) {
        let got = catch_unwind(AssertUnwindSafe(|| {
            trove_extract::extract(&a.bytes, &a.mime_type, a.filename.as_deref(), opts)
        }));
        a.text = match got {
            Ok(x) => x,
            Err(_) => Some(trove_extract::Extracted {
                extractor: "unknown".into(),
                text: String::new(),
                problem: Some("the extractor crashed".into()),
            }),
        };
        if let Some(problem) = a.text.as_ref().and_then(|t| t.problem.as_ref()) {
            findings.push(Finding::new(
                "attachment_text",
                format!(
                    "{}: text not extracted: {problem}",
                    a.filename.as_deref().unwrap_or("(unnamed attachment)")
                ),
            ));
        }
    }
    findings
}

pub fn to_model(x: trove_extract::Extracted) -> AttachmentText {
    AttachmentText {
        extractor: x.extractor,
        text: x.text,
        problem: x.problem,
    }
}
