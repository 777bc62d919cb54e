//! Hashes as selection uses them.

/// `reciprocal_scale(val, ep_ro)` (`include/linux/kernel.h`): maps a 32-bit value onto `0..ep_ro` by
/// multiplication, without division.
#[inline(always)]
pub const fn reciprocal_scale(val: u32, ep_ro: u32) -> u32 {
    ((val as u64 * ep_ro as u64) >> 32) as u32
}

/// The flow dissector's hash of a flow, keyed by a per-boot random seed (`__skb_get_hash` with `hashrnd`;
/// siphash since 55667441c84f "net/flow_dissector: switch to siphash", v5.4-rc6, backported to 5.3.10, 4.9 and
/// 4.4.200; jhash before). Not the kernel's function: a seeded 64-to-32-bit mixer with the same role,
/// so results are reproducible for a given seed and differ across "boots". A result of 0 becomes 1, as the
/// kernel's `__flow_hash_from_keys` does (0 means "no hash").
#[inline(always)]
pub const fn flow_hash(flow: u64, seed: u64) -> u32 {
    let mut x = flow ^ seed.rotate_left(17) ^ 0x9e37_79b9_7f4a_7c15;
    x ^= x >> 30;
    x = x.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x ^= x >> 27;
    x = x.wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^= x >> 31;
    let h = (x ^ (x >> 32)) as u32;
    if h == 0 { 1 } else { h }
}

/// `skb_get_hash`: the hash already on the skb, else the flow dissector's, which is then stored on the skb.
#[inline(always)]
pub fn skb_get_hash(skb: &mut crate::Skb, seed: u64) -> u32 {
    match skb.hash {
        Some(h) => h,
        None => {
            let h = flow_hash(skb.flow, seed);
            skb.hash = Some(h);
            h
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reciprocal_scale_spreads_the_full_range() {
        assert_eq!(reciprocal_scale(0, 8), 0);
        assert_eq!(reciprocal_scale(u32::MAX, 8), 7);
        assert_eq!(reciprocal_scale(0x8000_0000, 8), 4);
    }

    #[test]
    fn flow_hash_depends_on_seed_and_is_never_zero() {
        assert_ne!(flow_hash(1, 1), flow_hash(1, 2));
        assert_eq!(flow_hash(5, 9), flow_hash(5, 9));
        assert!((0..10_000u64).all(|f| flow_hash(f, 3) != 0));
    }
}
