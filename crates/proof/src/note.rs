//! C2SP signed notes (c2sp.org/signed-note) with Ed25519, and checkpoints
//! (c2sp.org/tlog-checkpoint).

use crate::merkle::Hash;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use ed25519_dalek::{Signer as _, SigningKey, Verifier as _, VerifyingKey};
use sha2::{Digest, Sha256};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum NoteError {
    #[error("bad key: {0}")]
    Key(String),
    #[error("malformed note: {0}")]
    Malformed(String),
    #[error("no valid signature by {0}")]
    Unverified(String),
    #[error("malformed checkpoint: {0}")]
    Checkpoint(String),
}

/// The signature type byte of Ed25519 in signed notes.
const ED25519: u8 = 0x01;

fn key_id(name: &str, public: &[u8; 32]) -> [u8; 4] {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update(b"\n");
    h.update([ED25519]);
    h.update(public);
    let d = h.finalize();
    [d[0], d[1], d[2], d[3]]
}

fn valid_name(name: &str) -> bool {
    !name.is_empty() && !name.contains('+') && !name.chars().any(|c| c.is_whitespace())
}

/// Bytes from the operating system's random source.
pub fn random_bytes<const N: usize>() -> Result<[u8; N], NoteError> {
    let mut b = [0u8; N];
    getrandom::fill(&mut b).map_err(|e| NoteError::Key(e.to_string()))?;
    Ok(b)
}

/// An archive's signing key.
pub struct Signer {
    name: String,
    key: SigningKey,
}

impl Signer {
    /// A fresh key from the operating system's random source.
    pub fn generate(name: &str) -> Result<Self, NoteError> {
        if !valid_name(name) {
            return Err(NoteError::Key(format!("`{name}` is not a valid key name")));
        }
        let seed: [u8; 32] = random_bytes()?;
        Ok(Signer {
            name: name.to_string(),
            key: SigningKey::from_bytes(&seed),
        })
    }

    /// `PRIVATE+KEY+<name>+<id>+<base64(0x01‖seed)>`, as Go's `note.NewSigner` reads it.
    pub fn parse(text: &str) -> Result<Self, NoteError> {
        let bad = || NoteError::Key("not a PRIVATE+KEY+name+id+key line".into());
        let rest = text.trim().strip_prefix("PRIVATE+KEY+").ok_or_else(bad)?;
        // Names hold no '+', base64 may: split from the left.
        let mut parts = rest.splitn(3, '+');
        let (Some(name), Some(id), Some(b64)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(bad());
        };
        let raw = B64.decode(b64).map_err(|_| bad())?;
        let seed: [u8; 32] = match raw.split_first() {
            Some((&ED25519, s)) => s.try_into().map_err(|_| bad())?,
            _ => return Err(bad()),
        };
        let s = Signer {
            name: name.to_string(),
            key: SigningKey::from_bytes(&seed),
        };
        if hex::encode(s.key_id()) != id {
            return Err(NoteError::Key("the key id does not match the key".into()));
        }
        Ok(s)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    fn key_id(&self) -> [u8; 4] {
        key_id(&self.name, self.key.verifying_key().as_bytes())
    }

    pub fn private_text(&self) -> String {
        let mut raw = vec![ED25519];
        raw.extend_from_slice(self.key.as_bytes());
        format!(
            "PRIVATE+KEY+{}+{}+{}",
            self.name,
            hex::encode(self.key_id()),
            B64.encode(raw)
        )
    }

    /// The verifier key: `<name>+<id>+<base64(0x01‖public key)>`.
    pub fn verifier(&self) -> String {
        let mut raw = vec![ED25519];
        raw.extend_from_slice(self.key.verifying_key().as_bytes());
        format!(
            "{}+{}+{}",
            self.name,
            hex::encode(self.key_id()),
            B64.encode(raw)
        )
    }

    /// The signed note: the text, a blank line, one signature line.
    pub fn sign(&self, text: &str) -> Result<String, NoteError> {
        if !text.ends_with('\n') || text.contains("\n\n") {
            return Err(NoteError::Malformed(
                "note text must end in a newline and hold no blank line".into(),
            ));
        }
        let sig = self.key.sign(text.as_bytes());
        let mut raw = self.key_id().to_vec();
        raw.extend_from_slice(&sig.to_bytes());
        Ok(format!(
            "{text}\n\u{2014} {} {}\n",
            self.name,
            B64.encode(raw)
        ))
    }
}

/// A verifier key parsed from its text form.
#[derive(Clone, Debug)]
pub struct Verifier {
    pub name: String,
    id: [u8; 4],
    key: VerifyingKey,
}

impl Verifier {
    pub fn parse(text: &str) -> Result<Self, NoteError> {
        let bad = |why: &str| NoteError::Key(format!("verifier key: {why}"));
        let mut parts = text.trim().splitn(3, '+');
        let (Some(name), Some(id), Some(b64)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(bad("expected name+id+key"));
        };
        let raw = B64.decode(b64).map_err(|_| bad("key is not base64"))?;
        let public: [u8; 32] = match raw.split_first() {
            Some((&ED25519, k)) => k.try_into().map_err(|_| bad("not 32 bytes"))?,
            _ => return Err(bad("not an Ed25519 key")),
        };
        let key = VerifyingKey::from_bytes(&public).map_err(|_| bad("not a curve point"))?;
        let computed = key_id(name, &public);
        if hex::encode(computed) != id {
            return Err(bad("the key id does not match the name and key"));
        }
        Ok(Verifier {
            name: name.to_string(),
            id: computed,
            key,
        })
    }

    /// Checks a signed note and returns its text (ending in a newline).
    pub fn verify<'n>(&self, note: &'n str) -> Result<&'n str, NoteError> {
        let split = note
            .rfind("\n\n")
            .ok_or_else(|| NoteError::Malformed("no blank line before the signatures".into()))?;
        let (text, sigs) = (&note[..split + 1], &note[split + 2..]);
        for line in sigs.lines() {
            let Some(rest) = line.strip_prefix("\u{2014} ") else {
                return Err(NoteError::Malformed(format!("bad signature line `{line}`")));
            };
            let Some((name, b64)) = rest.split_once(' ') else {
                return Err(NoteError::Malformed(format!("bad signature line `{line}`")));
            };
            if name != self.name {
                continue;
            }
            let raw = B64
                .decode(b64)
                .map_err(|_| NoteError::Malformed("signature is not base64".into()))?;
            if raw.len() != 68 || raw[..4] != self.id {
                continue;
            }
            let Ok(sig) = ed25519_dalek::Signature::from_slice(&raw[4..]) else {
                continue;
            };
            if self.key.verify(text.as_bytes(), &sig).is_ok() {
                return Ok(text);
            }
        }
        Err(NoteError::Unverified(self.name.clone()))
    }
}

/// A tlog checkpoint body: origin, tree size, root hash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    pub origin: String,
    pub size: u64,
    pub root: Hash,
}

impl Checkpoint {
    pub fn body(&self) -> String {
        format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            B64.encode(self.root)
        )
    }

    pub fn parse(text: &str) -> Result<Self, NoteError> {
        let bad = |why: &str| NoteError::Checkpoint(why.into());
        let mut lines = text.lines();
        let origin = lines
            .next()
            .filter(|o| !o.is_empty())
            .ok_or_else(|| bad("no origin"))?;
        let size = lines
            .next()
            .and_then(|s| s.parse::<u64>().ok())
            .ok_or_else(|| bad("no tree size"))?;
        let root: Hash = lines
            .next()
            .and_then(|r| B64.decode(r).ok())
            .and_then(|r| r.try_into().ok())
            .ok_or_else(|| bad("no root hash"))?;
        Ok(Checkpoint {
            origin: origin.to_string(),
            size,
            root,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_verify_roundtrip_and_tamper() {
        let s = Signer::generate("trove.example/test").unwrap();
        let again = Signer::parse(&s.private_text()).unwrap();
        assert_eq!(again.verifier(), s.verifier());
        let cp = Checkpoint {
            origin: "trove.example/test".into(),
            size: 3,
            root: [7; 32],
        };
        let note = s.sign(&cp.body()).unwrap();
        let v = Verifier::parse(&s.verifier()).unwrap();
        let text = v.verify(&note).unwrap();
        assert_eq!(Checkpoint::parse(text).unwrap(), cp);
        let tampered = note.replacen("\n3\n", "\n4\n", 1);
        assert!(v.verify(&tampered).is_err());
        let other = Signer::generate("trove.example/test").unwrap();
        assert!(
            Verifier::parse(&other.verifier())
                .unwrap()
                .verify(&note)
                .is_err()
        );
    }

    /// The example verifier key and signed note of the C2SP signed-note spec (Go's
    /// golang.org/x/mod/sumdb/note tests).
    #[test]
    fn verifies_the_go_note_example() {
        let vkey = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
        let note = "If you think cryptography is the answer to your problem,\n\
                    then you don't know what your problem is.\n\
                    \n\
                    \u{2014} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";
        let v = Verifier::parse(vkey).unwrap();
        assert!(v.verify(note).is_ok());
    }
}
