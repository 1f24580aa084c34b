//! The canonical leaf encoding, version 1 (docs/proofs.md).
//!
//! ```text
//! trove-leaf/v1
//! raw <sha-256 of the raw bytes, 64 lower-case hex digits>
//! kind <email|dm|post|attachment>
//! native <native id>             (present when the item has one)
//! conversation <conversation id> (conversation items)
//! seq <sequence number>          (conversation items)
//! parent <sha-256 of the message> (attachments)
//! ```
//! Lines end in LF, fields appear in this order, values have `%`, CR and LF percent-encoded, so
//! one byte string means one leaf and back.

use serde::{Deserialize, Serialize};

pub const MAGIC: &str = "trove-leaf/v1";

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Leaf {
    pub raw_sha256: String,
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub native_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
}

fn escape(v: &str) -> String {
    v.replace('%', "%25")
        .replace('\n', "%0A")
        .replace('\r', "%0D")
}

fn unescape(v: &str) -> String {
    v.replace("%0A", "\n")
        .replace("%0D", "\r")
        .replace("%25", "%")
}

impl Leaf {
    pub fn encode(&self) -> Vec<u8> {
        let mut s = format!(
            "{MAGIC}\nraw {}\nkind {}\n",
            self.raw_sha256,
            escape(&self.kind)
        );
        let fields = [
            ("native", self.native_id.clone()),
            ("conversation", self.conversation.clone()),
            ("seq", self.seq.map(|n| n.to_string())),
            ("parent", self.parent.clone()),
        ];
        for (k, v) in fields {
            if let Some(v) = v {
                s.push_str(&format!("{k} {}\n", escape(&v)));
            }
        }
        s.into_bytes()
    }

    pub fn hash(&self) -> crate::Hash {
        crate::merkle::leaf_hash(&self.encode())
    }

    pub fn parse(data: &[u8]) -> Result<Leaf, String> {
        let text = std::str::from_utf8(data).map_err(|_| "leaf is not UTF-8")?;
        let mut lines = text.split_terminator('\n');
        if lines.next() != Some(MAGIC) {
            return Err(format!("leaf does not start with {MAGIC}"));
        }
        let mut leaf = Leaf {
            raw_sha256: String::new(),
            kind: String::new(),
            native_id: None,
            conversation: None,
            seq: None,
            parent: None,
        };
        for line in lines {
            let (k, v) = line.split_once(' ').ok_or("leaf line without a value")?;
            let v = unescape(v);
            match k {
                "raw" => leaf.raw_sha256 = v,
                "kind" => leaf.kind = v,
                "native" => leaf.native_id = Some(v),
                "conversation" => leaf.conversation = Some(v),
                "seq" => leaf.seq = Some(v.parse().map_err(|_| "bad seq")?),
                "parent" => leaf.parent = Some(v),
                other => return Err(format!("unknown leaf field `{other}`")),
            }
        }
        if leaf.raw_sha256.len() != 64 || leaf.kind.is_empty() {
            return Err("leaf lacks raw or kind".into());
        }
        // Only the canonical form is accepted, so a leaf has exactly one encoding.
        if leaf.encode() != data {
            return Err("leaf is not in canonical form".into());
        }
        Ok(leaf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_and_canonical_only() {
        let l = Leaf {
            raw_sha256: "ab".repeat(32),
            kind: "dm".into(),
            native_id: Some("x:1\n%2".into()),
            conversation: Some("x:1-2".into()),
            seq: Some(3),
            parent: None,
        };
        let e = l.encode();
        assert_eq!(Leaf::parse(&e).unwrap(), l);
        let mut reordered = String::from_utf8(e.clone()).unwrap();
        reordered = reordered.replace("seq 3\n", "") + "seq 3\n";
        assert!(Leaf::parse(reordered.as_bytes()).is_ok() == (reordered.as_bytes() == e));
        assert!(Leaf::parse(b"trove-leaf/v1\nraw x\nkind dm\n").is_err());
    }
}
