//! A kernel tree's veth state, and the two variants the harness builds from any supported tree.
//!
//! "Buggy" is `veth_xmit()` calling `skb_record_rx_queue(skb, rxq)` for every forwarded skb (commit edbea9220251,
//! v5.12 and its stable backports); "fixed" is without that call (commit 710ad98c363a, v5.17-rc1 and stable).
//! Debian's 6.1 and 6.12 trees are fixed. The edit is made on the function itself, so it does not depend on the
//! exact surrounding context of one kernel version; `kernel-patch/` holds the same change as patches.

/// Whether `veth_xmit` records the rx queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum VethState {
    /// No `skb_record_rx_queue` in `veth_xmit`: the fix 710ad98c363a is in.
    Fixed,
    /// `veth_xmit` records the rx queue: the fix is missing (reverted here).
    Buggy,
}

use crate::error::Error;

const RECORD: &str = "skb_record_rx_queue(skb, rxq);";
const BLOCK: &str = "if (rxq < rcv->real_num_rx_queues) {";

/// The body of `veth_xmit` as a byte range of `src`.
fn veth_xmit(src: &str) -> Result<(usize, usize), Error> {
    let start = src
        .find("static netdev_tx_t veth_xmit(struct sk_buff *skb, struct net_device *dev)")
        .ok_or_else(|| veth_c("no veth_xmit() found: not a supported kernel tree"))?;
    let open = start
        + src[start..]
            .find('{')
            .ok_or_else(|| veth_c("veth_xmit() has no body"))?;
    let mut depth = 0usize;
    for (i, c) in src[open..].char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return Ok((open, open + i + 1));
                }
            }
            _ => {}
        }
    }
    Err(veth_c("veth_xmit() is not closed"))
}

/// An error in `drivers/net/veth.c`.
fn veth_c(detail: &str) -> Error {
    Error::Tree {
        file: "drivers/net/veth.c".into(),
        detail: detail.into(),
    }
}

/// Detects the state of a tree from its `drivers/net/veth.c`.
pub fn detect(veth_c_text: &str) -> Result<VethState, Error> {
    let (a, b) = veth_xmit(veth_c_text)?;
    let body = &veth_c_text[a..b];
    if !body.contains(BLOCK) {
        return Err(veth_c(
            "veth_xmit() has no `if (rxq < rcv->real_num_rx_queues)` block: unsupported tree",
        ));
    }
    Ok(if body.contains(RECORD) {
        VethState::Buggy
    } else {
        VethState::Fixed
    })
}

/// `veth.c` in the wanted state: the fix removes the call; the revert adds it at the end of the rx-queue block,
/// where 710ad98c363a took it from.
pub fn variant(text: &str, want: VethState) -> Result<String, Error> {
    let have = detect(text)?;
    if have == want {
        return Ok(text.to_string());
    }
    let (a, b) = veth_xmit(text)?;
    let body = &text[a..b];
    let new_body = match want {
        VethState::Fixed => body
            .lines()
            .filter(|l| l.trim() != RECORD)
            .map(|l| format!("{l}\n"))
            .collect::<String>()
            .trim_end_matches('\n')
            .to_string(),
        VethState::Buggy => {
            let blk = body
                .find(BLOCK)
                .ok_or_else(|| veth_c("veth_xmit() has no rx-queue block"))?;
            let open = blk + BLOCK.len() - 1;
            let mut depth = 0usize;
            let mut close = None;
            for (i, c) in body[open..].char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' => {
                        depth -= 1;
                        if depth == 0 {
                            close = Some(open + i);
                            break;
                        }
                    }
                    _ => {}
                }
            }
            let close = close.ok_or_else(|| veth_c("the rx-queue block is not closed"))?;
            // Insert before the line that holds the closing brace, indented one level deeper than it.
            let line_start = body[..close].rfind('\n').map_or(0, |p| p + 1);
            let indent = &body[line_start..close];
            format!(
                "{}{indent}\t{RECORD}\n{}",
                &body[..line_start],
                &body[line_start..]
            )
        }
    };
    Ok(format!("{}{}{}", &text[..a], new_body, &text[b..]))
}

/// A short fingerprint of text (FNV-1a, 64 bits) for cache keys.
pub fn fingerprint(parts: &[&[u8]]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for p in parts {
        for b in p.iter().chain([0xffu8].iter()) {
            h ^= *b as u64;
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    format!("{h:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shape of `veth_xmit` in 6.1 (fixed).
    const FIXED_61: &str = "static int other(void) { return 0; }\n\
static netdev_tx_t veth_xmit(struct sk_buff *skb, struct net_device *dev)\n{\n\
\tint rxq;\n\n\trcv_priv = netdev_priv(rcv);\n\trxq = skb_get_queue_mapping(skb);\n\
\tif (rxq < rcv->real_num_rx_queues) {\n\t\trq = &rcv_priv->rq[rxq];\n\n\
\t\t/* comment { with a brace } */\n\t\tuse_napi = rcu_access_pointer(rq->napi) &&\n\
\t\t\t   veth_skb_is_eligible_for_gro(dev, rcv, skb);\n\t}\n\n\tskb_tx_timestamp(skb);\n\treturn ret;\n}\n\
static void after(void) { }\n";

    /// The shape of `veth_xmit` in 5.15 before the fix (buggy).
    const BUGGY_515: &str = "static netdev_tx_t veth_xmit(struct sk_buff *skb, struct net_device *dev)\n{\n\
\trxq = skb_get_queue_mapping(skb);\n\tif (rxq < rcv->real_num_rx_queues) {\n\t\trq = &rcv_priv->rq[rxq];\n\
\t\trcv_xdp = rcu_access_pointer(rq->xdp_prog);\n\t\tskb_record_rx_queue(skb, rxq);\n\t}\n\treturn ret;\n}\n";

    #[test]
    fn detects_both_states() {
        assert_eq!(detect(FIXED_61).unwrap(), VethState::Fixed);
        assert_eq!(detect(BUGGY_515).unwrap(), VethState::Buggy);
        assert!(detect("int main(void) {}").is_err());
    }

    #[test]
    fn revert_on_a_fixed_tree_puts_the_call_at_the_end_of_the_block() {
        let b = variant(FIXED_61, VethState::Buggy).unwrap();
        assert_eq!(detect(&b).unwrap(), VethState::Buggy);
        assert!(b.contains("veth_skb_is_eligible_for_gro(dev, rcv, skb);\n\t\tskb_record_rx_queue(skb, rxq);\n\t}\n"));
        // Everything outside veth_xmit is untouched, and fixing it again restores the original.
        assert!(
            b.starts_with("static int other(void) { return 0; }\n")
                && b.ends_with("static void after(void) { }\n")
        );
        assert_eq!(variant(&b, VethState::Fixed).unwrap(), FIXED_61);
    }

    #[test]
    fn fix_on_a_buggy_tree_removes_the_call() {
        let f = variant(BUGGY_515, VethState::Fixed).unwrap();
        assert_eq!(detect(&f).unwrap(), VethState::Fixed);
        assert!(!f.contains("skb_record_rx_queue"));
        assert_eq!(variant(&f, VethState::Buggy).unwrap(), BUGGY_515);
        assert_eq!(variant(BUGGY_515, VethState::Buggy).unwrap(), BUGGY_515);
    }

    #[test]
    fn fingerprints_differ_by_any_part() {
        assert_ne!(fingerprint(&[b"a", b"b"]), fingerprint(&[b"ab"]));
        assert_eq!(fingerprint(&[b"x"]).len(), 16);
    }
}
