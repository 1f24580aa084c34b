//! RFC 9162 (and RFC 6962) Merkle tree hashing, inclusion and consistency proofs.
//!
//! Own code rather than `ct-merkle`: that crate keeps every leaf's data in memory, while the
//! archive keeps only leaf hashes (32 bytes each) and needs proofs against any earlier size.

use sha2::{Digest, Sha256};

pub type Hash = [u8; 32];

pub fn leaf_hash(data: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(data);
    h.finalize().into()
}

pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The hash of the empty tree: SHA-256 of nothing.
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

/// The largest power of two smaller than `n` (n ≥ 2).
fn split(n: u64) -> u64 {
    let mut k = 1u64;
    while k << 1 < n {
        k <<= 1;
    }
    k
}

/// A tree over stored leaf hashes, with the hashes of every complete power-of-two subtree kept,
/// so a root or a proof for any size costs O(log² n) hashing instead of O(n).
#[derive(Clone, Debug, Default)]
pub struct Tree {
    /// levels[k][i] = hash of the 2^k leaves starting at i·2^k.
    levels: Vec<Vec<Hash>>,
}

impl Tree {
    pub fn new() -> Self {
        Tree {
            levels: vec![Vec::new()],
        }
    }

    /// An empty tree with room for `leaves` leaves, so building it allocates each level once
    /// (a million leaves: 64 MB, not up to twice that from vectors doubling).
    pub fn with_capacity(leaves: u64) -> Self {
        let mut levels = Vec::new();
        let mut n = leaves as usize;
        loop {
            levels.push(Vec::with_capacity(n));
            if n <= 1 {
                break;
            }
            n /= 2;
        }
        Tree { levels }
    }

    pub fn from_leaf_hashes(leaves: impl IntoIterator<Item = Hash>) -> Self {
        let mut t = Tree::new();
        for l in leaves {
            t.push(l);
        }
        t
    }

    pub fn len(&self) -> u64 {
        self.levels.first().map_or(0, |l| l.len() as u64)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn leaf(&self, i: u64) -> Option<&Hash> {
        self.levels.first()?.get(i as usize)
    }

    /// Appends a leaf hash (as returned by [`leaf_hash`]).
    pub fn push(&mut self, leaf: Hash) {
        if self.levels.is_empty() {
            self.levels.push(Vec::new());
        }
        self.levels[0].push(leaf);
        let mut k = 0;
        // Completing a pair at level k completes a node at level k+1.
        while self.levels[k].len().is_multiple_of(2) {
            let n = self.levels[k].len();
            let parent = node_hash(&self.levels[k][n - 2], &self.levels[k][n - 1]);
            if self.levels.len() == k + 1 {
                self.levels.push(Vec::new());
            }
            self.levels[k + 1].push(parent);
            k += 1;
        }
    }

    /// MTH(D[start : start+len]) for a range inside the tree.
    fn subtree(&self, start: u64, len: u64) -> Hash {
        if len == 0 {
            return empty_root();
        }
        if len.is_power_of_two() && start.is_multiple_of(len) {
            let k = len.trailing_zeros() as usize;
            if let Some(h) = self
                .levels
                .get(k)
                .and_then(|l| l.get((start / len) as usize))
            {
                return *h;
            }
        }
        if len == 1 {
            return self.levels[0][start as usize];
        }
        let k = split(len);
        node_hash(&self.subtree(start, k), &self.subtree(start + k, len - k))
    }

    /// The root of the first `size` leaves.
    pub fn root(&self, size: u64) -> Option<Hash> {
        (size <= self.len()).then(|| self.subtree(0, size))
    }

    /// RFC 9162 §2.1.3.1: the audit path of leaf `index` in the tree of the first `size` leaves.
    pub fn inclusion_proof(&self, index: u64, size: u64) -> Option<Vec<Hash>> {
        if index >= size || size > self.len() {
            return None;
        }
        let mut out = Vec::new();
        self.path(index, 0, size, &mut out);
        Some(out)
    }

    fn path(&self, m: u64, start: u64, n: u64, out: &mut Vec<Hash>) {
        if n <= 1 {
            return;
        }
        let k = split(n);
        if m < k {
            self.path(m, start, k, out);
            out.push(self.subtree(start + k, n - k));
        } else {
            self.path(m - k, start + k, n - k, out);
            out.push(self.subtree(start, k));
        }
    }

    /// RFC 9162 §2.1.4.1: the consistency proof from size `old` to size `new`.
    pub fn consistency_proof(&self, old: u64, new: u64) -> Option<Vec<Hash>> {
        if old == 0 || old > new || new > self.len() {
            return None;
        }
        let mut out = Vec::new();
        if old < new {
            self.subproof(old, 0, new, true, &mut out);
        }
        Some(out)
    }

    fn subproof(&self, m: u64, start: u64, n: u64, whole: bool, out: &mut Vec<Hash>) {
        if m == n {
            if !whole {
                out.push(self.subtree(start, n));
            }
            return;
        }
        let k = split(n);
        if m <= k {
            self.subproof(m, start, k, whole, out);
            out.push(self.subtree(start + k, n - k));
        } else {
            self.subproof(m - k, start + k, n - k, false, out);
            out.push(self.subtree(start, k));
        }
    }
}

/// RFC 9162 §2.1.3.2: checks an audit path.
pub fn verify_inclusion(leaf: &Hash, index: u64, size: u64, proof: &[Hash], root: &Hash) -> bool {
    if index >= size {
        return false;
    }
    let (mut fnode, mut snode) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if snode == 0 {
            return false;
        }
        if fnode & 1 == 1 || fnode == snode {
            r = node_hash(p, &r);
            if fnode & 1 == 0 {
                while fnode & 1 == 0 && fnode != 0 {
                    fnode >>= 1;
                    snode >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    snode == 0 && r == *root
}

/// RFC 9162 §2.1.4.2: checks a consistency proof between two roots.
pub fn verify_consistency(
    old: u64,
    new: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> bool {
    if old == 0 || old > new {
        return false;
    }
    if old == new {
        return proof.is_empty() && old_root == new_root;
    }
    let mut path: Vec<Hash> = proof.to_vec();
    if old.is_power_of_two() {
        path.insert(0, *old_root);
    }
    let Some((first, rest)) = path.split_first() else {
        return false;
    };
    let (mut fnode, mut snode) = (old - 1, new - 1);
    while fnode & 1 == 1 {
        fnode >>= 1;
        snode >>= 1;
    }
    let (mut fr, mut sr) = (*first, *first);
    for c in rest {
        if snode == 0 {
            return false;
        }
        if fnode & 1 == 1 || fnode == snode {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            if fnode & 1 == 0 {
                while fnode & 1 == 0 && fnode != 0 {
                    fnode >>= 1;
                    snode >>= 1;
                }
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    snode == 0 && fr == *old_root && sr == *new_root
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The leaves of the RFC 6962 test tree used by certificate-transparency-go and
    /// transparency-dev/merkle, and the roots they publish for sizes 1..8.
    fn vectors() -> (Vec<Vec<u8>>, Vec<&'static str>) {
        let leaves: Vec<Vec<u8>> = vec![
            vec![],
            vec![0x00],
            vec![0x10],
            vec![0x20, 0x21],
            vec![0x30, 0x31],
            vec![0x40, 0x41, 0x42, 0x43],
            vec![0x50, 0x51, 0x52, 0x53, 0x54, 0x55, 0x56, 0x57],
            (0x60..=0x6f).collect(),
        ];
        let roots = vec![
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
            "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
            "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
            "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
            "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
        ];
        (leaves, roots)
    }

    fn tree() -> Tree {
        Tree::from_leaf_hashes(vectors().0.iter().map(|l| leaf_hash(l)))
    }

    #[test]
    fn a_tree_built_with_capacity_has_the_same_roots() {
        for cap in [0u64, 1, 3, 8, 100] {
            let mut t = Tree::with_capacity(cap);
            for l in vectors().0 {
                t.push(leaf_hash(&l));
            }
            let want = tree();
            for size in 0..=t.len() {
                assert_eq!(t.root(size), want.root(size), "capacity {cap}, size {size}");
            }
        }
    }

    #[test]
    fn roots_match_the_rfc6962_vectors() {
        let t = tree();
        for (i, want) in vectors().1.iter().enumerate() {
            assert_eq!(
                hex::encode(t.root(i as u64 + 1).unwrap()),
                *want,
                "size {}",
                i + 1
            );
        }
        assert_eq!(
            hex::encode(empty_root()),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    fn hexes(v: Vec<Hash>) -> Vec<String> {
        v.iter().map(hex::encode).collect()
    }

    #[test]
    fn published_proofs() {
        let t = tree();
        // transparency-dev/merkle: inclusion of leaf 0 in the 8-leaf tree.
        let p: Vec<String> = hexes(t.inclusion_proof(0, 8).unwrap());
        assert_eq!(
            p,
            [
                "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
            ]
        );
        // Consistency from 1 to 8 and from 6 to 8.
        let c: Vec<String> = hexes(t.consistency_proof(1, 8).unwrap());
        assert_eq!(
            c,
            [
                "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
            ]
        );
        let c: Vec<String> = hexes(t.consistency_proof(6, 8).unwrap());
        assert_eq!(
            c,
            [
                "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ]
        );
    }

    #[test]
    fn every_proof_of_every_size_verifies_and_a_wrong_one_does_not() {
        let leaves: Vec<Hash> = (0u32..70).map(|i| leaf_hash(&i.to_be_bytes())).collect();
        let t = Tree::from_leaf_hashes(leaves.iter().copied());
        for n in 1..=70u64 {
            let root = t.root(n).unwrap();
            for i in 0..n {
                let p = t.inclusion_proof(i, n).unwrap();
                assert!(
                    verify_inclusion(&leaves[i as usize], i, n, &p, &root),
                    "{i}/{n}"
                );
                if let Some(j) = (i + 1 < n).then_some(i + 1) {
                    assert!(!verify_inclusion(&leaves[j as usize], i, n, &p, &root));
                }
            }
            for m in 1..=n {
                let p = t.consistency_proof(m, n).unwrap();
                let old = t.root(m).unwrap();
                assert!(verify_consistency(m, n, &old, &root, &p), "{m}->{n}");
                if m < n {
                    let wrong = t.root(m + 1).unwrap();
                    assert!(!verify_consistency(m, n, &wrong, &root, &p));
                }
            }
        }
    }
}
