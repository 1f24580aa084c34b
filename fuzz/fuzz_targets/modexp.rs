#![no_main]
//! RSA's public operation with AVX-512 IFMA against GMP: the first two bytes give the modulus's
//! length, the next eight the exponent, then the modulus and the base. Any difference is a
//! crash. (On a CPU without IFMA there is nothing to compare and every input passes.)
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if data.len() < 10 {
        return;
    }
    let n_len = (usize::from(u16::from_le_bytes([data[0], data[1]])) % 520).max(1);
    let e = u64::from_le_bytes(data[2..10].try_into().unwrap());
    // DKIM's exponents are small; keep most runs fast by folding large ones.
    let e = if e >> 63 == 1 { e } else { e % 70_000 };
    let rest = &data[10..];
    let (n, s) = rest.split_at(n_len.min(rest.len()));
    if n.is_empty() {
        return;
    }
    assert_ne!(trove_verify::agrees_with_gmp(n, s, e), Some(false), "IFMA and GMP differ");
});
