//! RSA's public operation, s^e mod n, with AVX-512 IFMA (52-bit multiply-add) where the CPU has
//! it; GMP (in `dkim::maths`) serves everywhere else.
//!
//! Why our own: GMP's modular power was 44% of the DKIM verify loop, and no maintained Rust
//! crate multiplies with IFMA (OpenSSL does, but only for private-key sizes, and linking it cost
//! more at process start than it saved, bench/results.md session 25). The method is Gueron and
//! Krasnov's "almost Montgomery multiplication" in radix 2^52 (as OpenSSL's `rsaz-2k-avx512`):
//! eight limbs to a register, products accumulated in 64-bit lanes, carries propagated once per
//! multiplication. Results are compared with GMP's on random moduli of every supported size (unit
//! tests, fuzz target `modexp`) and on every signature of the corpus (`bench/dkim.sh` checks that
//! both paths pass the same signatures).
//!
//! Bounds: limbs hold 52 bits; a modulus of b bits gets N = 8·V limbs with 52·N ≥ b + 2, so
//! n < R/4 for R = 2^(52·N). Montgomery products of inputs below 2n are then below 2n, and each
//! 64-bit lane gathers at most 4·N terms below 2^52 (and N carries below 2^9) before the carries
//! are propagated (N ≤ 80 here: below 2^61), so nothing overflows.

/// Limbs hold this many bits.
const BITS: u32 = 52;
const MASK: u64 = (1 << BITS) - 1;
/// Registers of eight limbs: up to 4,158-bit moduli, which covers the 4,096-bit keys DKIM allows.
const MAX_VECS: usize = 10;

/// A modulus prepared for IFMA: its limbs, R² mod n and -n⁻¹ mod 2^52.
#[derive(Debug)]
pub(crate) struct Modulus {
    vecs: usize,
    n: Vec<u64>,
    r2: Vec<u64>,
    k0: u64,
}

impl Modulus {
    /// `None` when this CPU lacks IFMA, the modulus is even (no Montgomery form) or larger than
    /// `MAX_VECS` registers.
    pub(crate) fn new(n: &rug::Integer) -> Option<Modulus> {
        if !available() || n.is_even() || *n <= 1 {
            return None;
        }
        let bits = n.significant_bits() as usize;
        let vecs = (bits + 2).div_ceil(BITS as usize).div_ceil(8);
        if vecs > MAX_VECS {
            return None;
        }
        let limbs = vecs * 8;
        let r2 = (rug::Integer::from(1) << (2 * BITS as usize * limbs) as u32) % n;
        let n_l = limbs_of(n, limbs);
        Some(Modulus {
            vecs,
            k0: neg_inverse(n_l[0]),
            n: n_l,
            r2: limbs_of(&r2, limbs),
        })
    }

    /// s^e mod n as `len` big-endian bytes, for `s` (big-endian) below n: the caller checks that.
    pub(crate) fn pow(&self, s: &[u8], e: u64, len: usize) -> Vec<u8> {
        let s = limbs_from_be(s, self.n.len());
        let out = match self.vecs {
            1 => self.pow_v::<1>(&s, e),
            2 => self.pow_v::<2>(&s, e),
            3 => self.pow_v::<3>(&s, e),
            4 => self.pow_v::<4>(&s, e),
            5 => self.pow_v::<5>(&s, e),
            6 => self.pow_v::<6>(&s, e),
            7 => self.pow_v::<7>(&s, e),
            8 => self.pow_v::<8>(&s, e),
            9 => self.pow_v::<9>(&s, e),
            _ => self.pow_v::<10>(&s, e),
        };
        be_from_limbs(&out, len)
    }

    fn pow_v<const V: usize>(&self, s: &[u64], e: u64) -> Vec<u64> {
        #[cfg(target_arch = "x86_64")]
        {
            // SAFETY: `Modulus::new` returns a value only when the CPU has AVX-512F and IFMA.
            #[allow(unsafe_code)]
            unsafe {
                x86::pow::<V>(&self.n, &self.r2, self.k0, s, e)
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            let _ = (s, e);
            unreachable!("Modulus::new returns None off x86-64")
        }
    }
}

/// Whether this module and GMP compute the same s^e mod n, for n (made odd) and s (reduced mod
/// n) as big-endian bytes. `None` where this module does not serve the modulus. For the fuzz
/// target `modexp` and the tests.
#[doc(hidden)]
pub fn agrees_with_gmp(n: &[u8], s: &[u8], e: u64) -> Option<bool> {
    use rug::Integer;
    use rug::integer::Order::Msf;
    let n = Integer::from_digits(n, Msf) | 1u32;
    let m = Modulus::new(&n)?;
    let s = Integer::from_digits(s, Msf) % &n;
    let len = (n.significant_bits() as usize).div_ceil(8);
    let ours = m.pow(&s.to_digits::<u8>(Msf), e, len);
    let gmp = s.pow_mod(&Integer::from(e), &n).ok()?.to_digits::<u8>(Msf);
    Some(ours[len - gmp.len()..] == gmp[..] && ours[..len - gmp.len()].iter().all(|&b| b == 0))
}

/// Whether this CPU multiplies with IFMA.
pub(crate) fn available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512ifma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// -n⁻¹ mod 2^52 for odd `n0`, by Newton's iteration (each step doubles the correct bits).
fn neg_inverse(n0: u64) -> u64 {
    let mut x: u64 = 1;
    for _ in 0..6 {
        x = x.wrapping_mul(2u64.wrapping_sub(n0.wrapping_mul(x)));
    }
    x.wrapping_neg() & MASK
}

fn limbs_of(x: &rug::Integer, limbs: usize) -> Vec<u64> {
    limbs_from_be(&x.to_digits::<u8>(rug::integer::Order::Msf), limbs)
}

/// A big-endian byte string as `limbs` 52-bit limbs, least significant first. Bytes past the
/// limbs' reach are dropped: callers pass values that fit.
fn limbs_from_be(bytes: &[u8], limbs: usize) -> Vec<u64> {
    let mut out = vec![0u64; limbs];
    for (i, &b) in bytes.iter().rev().enumerate() {
        let bit = i * 8;
        let (l, off) = (bit / BITS as usize, bit % BITS as usize);
        if l < limbs {
            out[l] |= (u64::from(b) << off) & MASK;
        }
        if off > BITS as usize - 8 && l + 1 < limbs {
            out[l + 1] |= u64::from(b) >> (BITS as usize - off);
        }
    }
    out
}

/// Normalised limbs as `len` big-endian bytes (the value must fit).
fn be_from_limbs(limbs: &[u64], len: usize) -> Vec<u8> {
    let mut out = vec![0u8; len];
    for i in 0..len {
        let bit = i * 8;
        let (l, off) = (bit / BITS as usize, bit % BITS as usize);
        let mut v = limbs.get(l).copied().unwrap_or(0) >> off;
        if off > BITS as usize - 8 {
            v |= limbs.get(l + 1).copied().unwrap_or(0) << (BITS as usize - off);
        }
        out[len - 1 - i] = v as u8;
    }
    out
}

/// Propagates carries so that every limb holds 52 bits; returns the carry out of the top limb.
fn normalise(limbs: &mut [u64]) -> u64 {
    let mut carry = 0u64;
    for l in limbs.iter_mut() {
        let v = *l + carry;
        *l = v & MASK;
        carry = v >> BITS;
    }
    carry
}

/// Subtracts `n` from normalised `x` when x ≥ n.
fn reduce_once(x: &mut [u64], n: &[u64]) {
    let ge = x
        .iter()
        .rev()
        .zip(n.iter().rev())
        .find(|(a, b)| a != b)
        .is_none_or(|(a, b)| a > b);
    if !ge {
        return;
    }
    let mut borrow = 0u64;
    for (a, b) in x.iter_mut().zip(n) {
        let v = a.wrapping_sub(*b).wrapping_sub(borrow);
        borrow = v >> 63;
        *a = v & MASK;
    }
}

#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
mod x86 {
    use super::{MASK, normalise, reduce_once};
    use std::arch::x86_64::{
        __m512i, _mm_cvtsi128_si64, _mm512_add_epi64, _mm512_alignr_epi64, _mm512_castsi512_si128,
        _mm512_loadu_si512, _mm512_madd52hi_epu64, _mm512_madd52lo_epu64, _mm512_maskz_srli_epi64,
        _mm512_set1_epi64, _mm512_setzero_si512, _mm512_storeu_si512,
    };

    /// Limbs (8·V of them) into registers.
    #[target_feature(enable = "avx512f")]
    fn load<const V: usize>(limbs: &[u64]) -> [__m512i; V] {
        assert_eq!(limbs.len(), 8 * V);
        // SAFETY: each load reads eight u64 inside `limbs` (length checked above); `loadu`
        // takes any alignment.
        std::array::from_fn(|v| unsafe { _mm512_loadu_si512(limbs.as_ptr().add(8 * v).cast()) })
    }

    /// Registers out to normalised limbs.
    #[target_feature(enable = "avx512f")]
    fn store<const V: usize>(regs: &[__m512i; V], limbs: &mut [u64]) {
        assert_eq!(limbs.len(), 8 * V);
        for (v, r) in regs.iter().enumerate() {
            // SAFETY: eight u64 inside `limbs`, length checked above.
            unsafe { _mm512_storeu_si512(limbs.as_mut_ptr().add(8 * v).cast(), *r) };
        }
        let carry = normalise(limbs);
        debug_assert_eq!(carry, 0, "a Montgomery product stays below 2n < R");
    }

    #[target_feature(enable = "avx512f")]
    fn lane0(r: __m512i) -> u64 {
        _mm_cvtsi128_si64(_mm512_castsi512_si128(r)) as u64
    }

    /// a·b·R⁻¹ mod n, below 2n for a and b below 2n (not normalised). `a` and `n` are in
    /// registers, `b` as normalised limbs, one broadcast per step.
    ///
    /// Each step adds b_i·a and y·n (y clears the lowest limb) and divides by 2^52. The step is
    /// a chain of dependent instructions, so the order matters more than the count: the low
    /// halves of b_i·a and the high halves (which belong one limb up, so are added after the
    /// division) are started before y is known, y comes from a general-purpose register, and
    /// the lowest limb's carry moves up in a vector register. In ten passes of the verify loop
    /// over 1,693 signed messages (perf samples in the modular power): GMP ~3,600, this
    /// function in the plain order (low halves, y, shift, high halves) ~1,560, in this order
    /// ~1,060.
    #[target_feature(enable = "avx512f,avx512ifma")]
    fn amm<const V: usize>(a: &[__m512i; V], b: &[u64], n: &[__m512i; V], k0: u64) -> [__m512i; V] {
        let zero = _mm512_setzero_si512();
        let mut acc = [zero; V];
        let a0 = lane0(a[0]);
        for &bi in b {
            let bv = _mm512_set1_epi64(bi as i64);
            let mut lo = [zero; V];
            let mut hi = [zero; V];
            for v in 0..V {
                lo[v] = _mm512_madd52lo_epu64(acc[v], a[v], bv);
                hi[v] = _mm512_madd52hi_epu64(zero, a[v], bv);
            }
            // The multiple of n that clears the lowest limb, from the lowest limb worked out
            // in a general-purpose register alongside the vector multiply (only its low 52 bits
            // matter).
            let low = lane0(acc[0]).wrapping_add(a0.wrapping_mul(bi));
            let y = low.wrapping_mul(k0) & MASK;
            let yv = _mm512_set1_epi64(y as i64);
            for v in 0..V {
                lo[v] = _mm512_madd52lo_epu64(lo[v], n[v], yv);
                hi[v] = _mm512_madd52hi_epu64(hi[v], n[v], yv);
            }
            // The lowest limb is now 0 mod 2^52: divide by 2^52 by moving every limb down one
            // lane, adding the lowest limb's carry to the new lowest.
            let carry = _mm512_maskz_srli_epi64::<{ super::BITS }>(1, lo[0]);
            for v in 0..V {
                let above = if v + 1 < V { lo[v + 1] } else { zero };
                acc[v] = _mm512_add_epi64(_mm512_alignr_epi64::<1>(above, lo[v]), hi[v]);
            }
            acc[0] = _mm512_add_epi64(acc[0], carry);
        }
        acc
    }

    /// s^e mod n (fully reduced, normalised limbs) for s < n, by left-to-right square and
    /// multiply in Montgomery form.
    ///
    /// # Safety
    /// The CPU must have AVX-512F and AVX-512 IFMA.
    #[target_feature(enable = "avx512f,avx512ifma")]
    pub(super) unsafe fn pow<const V: usize>(
        n: &[u64],
        r2: &[u64],
        k0: u64,
        s: &[u64],
        e: u64,
    ) -> Vec<u64> {
        let nv = load::<V>(n);
        let mut one = vec![0u64; 8 * V];
        one[0] = 1;
        if e == 0 {
            reduce_once(&mut one, n);
            return one;
        }
        // s·R mod n (below 2n).
        let mut sr = vec![0u64; 8 * V];
        store(&amm(&load::<V>(s), r2, &nv, k0), &mut sr);
        let srv = load::<V>(&sr);
        let mut x = sr.clone();
        let mut xv = srv;
        for i in (0..63 - e.leading_zeros()).rev() {
            store(&amm(&xv, &x, &nv, k0), &mut x);
            xv = load::<V>(&x);
            if e >> i & 1 == 1 {
                store(&amm(&xv, &sr, &nv, k0), &mut x);
                xv = load::<V>(&x);
            }
        }
        // Out of Montgomery form: x·1·R⁻¹, which is at most n (below n + 2n/R); one
        // conditional subtraction gives the residue.
        store(&amm(&xv, &one, &nv, k0), &mut x);
        reduce_once(&mut x, n);
        x
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rug::Integer;
    use rug::integer::Order::Msf;

    /// splitmix64: reproducible inputs without a random-number crate.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        }
        fn bytes(&mut self, len: usize) -> Vec<u8> {
            (0..len).map(|_| self.next() as u8).collect()
        }
    }

    #[test]
    fn limbs_round_trip() {
        let mut r = Rng(1);
        for len in [1, 7, 13, 64, 128, 256, 512] {
            let b = r.bytes(len);
            let l = limbs_from_be(&b, (len * 8).div_ceil(52));
            assert_eq!(be_from_limbs(&l, len), b);
        }
    }

    #[test]
    fn neg_inverse_inverts() {
        let mut r = Rng(2);
        for _ in 0..100 {
            let n0 = (r.next() | 1) & MASK;
            assert_eq!(n0.wrapping_mul(neg_inverse(n0)).wrapping_add(1) & MASK, 0);
        }
    }

    /// Every supported size, random odd moduli (top bit set or not), random and edge bases,
    /// DKIM's exponent and others: the same bytes as GMP.
    #[test]
    fn agrees_with_gmp_on_every_size() {
        if !available() {
            eprintln!("this CPU has no AVX-512 IFMA: GMP serves every key, nothing to compare");
            return;
        }
        let mut r = Rng(3);
        for bits in [
            512usize, 520, 768, 1024, 1025, 1534, 1536, 2046, 2047, 2048, 2049, 3072, 4096, 4150,
        ] {
            for round in 0..12 {
                let len = bits.div_ceil(8);
                let mut n = r.bytes(len);
                let lead = bits - 8 * (len - 1);
                n[0] &= ((1u16 << lead) - 1) as u8;
                if round % 2 == 0 {
                    n[0] |= 1 << (lead - 1);
                }
                let n_int = Integer::from_digits(&n, Msf) | 1u32;
                let s = match round {
                    0 => vec![0],
                    1 => vec![1],
                    2 => (n_int.clone() - 1u32).to_digits::<u8>(Msf),
                    _ => r.bytes(len),
                };
                for e in [65537, 3, 17, 1, 2, 0, r.next() >> 32, r.next()] {
                    assert_eq!(
                        agrees_with_gmp(&n, &s, e),
                        Some(true),
                        "{bits}-bit modulus, round {round}, e = {e}"
                    );
                }
            }
        }
    }

    #[test]
    fn declines_what_it_cannot_do() {
        assert!(Modulus::new(&Integer::from(10)).is_none());
        assert!(Modulus::new(&(Integer::from(1) << 4200u32 | 1u32)).is_none());
    }
}
