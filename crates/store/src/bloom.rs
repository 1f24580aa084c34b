//! A blocked Bloom filter over the hashes in closed packs.
//!
//! Storing a new blob first asks whether it is stored already. With one sorted prefix array per
//! closed pack, a miss cost a binary search in every pack (33 packs at a million messages, each
//! search a dozen cache misses), and a new blob always misses. This filter answers "certainly
//! not in a closed pack" from one cache line. Own code: the crates that offer one hash their
//! keys again, and these keys are SHA-256 prefixes, uniform already.

/// Filter bits per entry: with four bits set per entry in 256-bit blocks, about 0.2% of the
/// hashes that are not stored look as if they might be (and take the slow path, as before).
const BITS_PER_ENTRY: usize = 16;
const BLOCK_BITS: usize = 256;

pub(crate) struct Bloom {
    blocks: Vec<[u64; 4]>,
    entries: usize,
}

impl Default for Bloom {
    fn default() -> Self {
        Self::with_capacity(0)
    }
}

impl Bloom {
    /// An empty filter with room for `capacity` entries at the designed false-positive rate.
    pub(crate) fn with_capacity(capacity: usize) -> Self {
        let blocks = (capacity.saturating_mul(BITS_PER_ENTRY) / BLOCK_BITS)
            .max(1)
            .next_power_of_two();
        Self {
            blocks: vec![[0; 4]; blocks],
            entries: 0,
        }
    }

    /// Entries it holds at the designed rate; more still work, with more false positives.
    pub(crate) fn capacity(&self) -> usize {
        self.blocks.len() * BLOCK_BITS / BITS_PER_ENTRY
    }

    pub(crate) fn entries(&self) -> usize {
        self.entries
    }

    /// The block from the high half of the prefix, four bit positions from the low half.
    fn slots(&self, prefix: u64) -> (usize, [(usize, u64); 4]) {
        let block = (prefix >> 32) as usize & (self.blocks.len() - 1);
        let low = prefix as u32;
        let bit = |i: u32| {
            let b = (low >> (8 * i)) & 0xff;
            ((b >> 6) as usize, 1u64 << (b & 63))
        };
        (block, [bit(0), bit(1), bit(2), bit(3)])
    }

    pub(crate) fn insert(&mut self, prefix: u64) {
        let (block, bits) = self.slots(prefix);
        let b = &mut self.blocks[block];
        for (word, mask) in bits {
            b[word] |= mask;
        }
        self.entries += 1;
    }

    /// False means the prefix was never inserted; true means it may have been.
    pub(crate) fn may_contain(&self, prefix: u64) -> bool {
        let (block, bits) = self.slots(prefix);
        let b = &self.blocks[block];
        bits.iter().all(|&(word, mask)| b[word] & mask != 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A deterministic stand-in for hash prefixes (splitmix64).
    fn prefixes(seed: u64, n: usize) -> Vec<u64> {
        let mut x = seed;
        (0..n)
            .map(|_| {
                x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
                let mut z = x;
                z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
                z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
                z ^ (z >> 31)
            })
            .collect()
    }

    #[test]
    fn every_inserted_prefix_is_found_and_few_others_are() {
        let mut bloom = Bloom::with_capacity(50_000);
        let inserted = prefixes(1, 50_000);
        for &p in &inserted {
            bloom.insert(p);
        }
        assert_eq!(bloom.entries(), 50_000);
        assert!(inserted.iter().all(|&p| bloom.may_contain(p)));
        let others = prefixes(2, 100_000);
        let false_positives = others.iter().filter(|&&p| bloom.may_contain(p)).count();
        // Designed for about 0.2% at capacity (the power-of-two rounding leaves more room).
        assert!(
            false_positives < 1_000,
            "{false_positives} false positives in 100,000"
        );
    }

    #[test]
    fn an_empty_filter_contains_nothing() {
        let bloom = Bloom::with_capacity(0);
        assert!(bloom.capacity() >= 16);
        assert!(prefixes(3, 1000).iter().all(|&p| !bloom.may_contain(p)));
    }
}
