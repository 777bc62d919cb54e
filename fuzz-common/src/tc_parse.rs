//! `tc_parse`: `tc -s qdisc|class show` text through `txqlab diagnose`'s reader.
//!
//! Property: parse, render what was understood in tc's own layout, parse again: the same entries (every field
//! but the line number). The render is written from iproute2's `tc/tc_qdisc.c` (`print_qdisc`:
//! `qdisc KIND HANDLE: root|parent P`) and `tc/tc_util.c` (`print_tcstats_basic_hw` / `print_tcstats_attr`:
//! ` Sent B bytes P pkt (dropped D, overlimits O requeues R) ` and ` backlog Bb Pp requeues R`).

use std::fmt::Write as _;

use txqlab::diagnose::TcEntry;

/// Renders entries as `tc -s` prints them: a head line, then the two counter lines.
pub fn render(entries: &[TcEntry]) -> String {
    let mut out = String::new();
    for e in entries {
        let _ = write!(out, "{} {} {}", e.what, e.kind, e.handle);
        // `print_qdisc` names the device when tc was not asked for one (`dev %s `), before root/parent.
        if let Some(dev) = &e.dev {
            let _ = write!(out, " dev {dev}");
        }
        match e.parent.as_str() {
            "" => {}
            "root" => out.push_str(" root"),
            p => {
                let _ = write!(out, " parent {p}");
            }
        }
        let _ = writeln!(out, " ");
        let _ = writeln!(
            out,
            " Sent {} bytes {} pkt (dropped {}, overlimits {} requeues {}) ",
            e.bytes, e.packets, e.dropped, e.overlimits, e.requeues
        );
        let _ = writeln!(
            out,
            " backlog {}b {}p requeues {}",
            e.backlog_bytes, e.backlog_packets, e.requeues
        );
    }
    out
}

/// Words the head line gives a meaning to: an entry whose kind or handle is one of them has no unambiguous
/// rendering (`qdisc parent 1: root`), which the reader accepts but tc never prints.
const HEAD_KEYWORDS: [&str; 3] = ["parent", "root", "dev"];

/// The fuzz body: never panics; what parses is well formed and survives render -> parse unchanged.
pub fn tc_parse(data: &[u8]) {
    check(data, render);
}

fn check(data: &[u8], render: fn(&[TcEntry]) -> String) {
    let Ok(text) = core::str::from_utf8(data) else {
        return;
    };
    let entries = match txqlab::diagnose::parse_tc(text, "fuzz") {
        Ok(e) => e,
        Err(e) => {
            assert!(
                e.to_string().contains("fuzz: "),
                "an error must name its origin: {e}"
            );
            return;
        }
    };
    assert!(!entries.is_empty());
    let lines: Vec<&str> = text.lines().collect();
    for e in &entries {
        assert!(e.what == "qdisc" || e.what == "class", "{e:?}");
        // The entry's line is the head line it came from.
        let head = lines.get(e.line.wrapping_sub(1)).map(|l| l.trim_start());
        assert!(
            head.is_some_and(|h| h.starts_with(&e.what)),
            "entry {e:?} points at {head:?}"
        );
        for w in [&e.kind, &e.handle, &e.parent] {
            assert!(!w.chars().any(char::is_whitespace), "{e:?}");
        }
    }
    if entries.iter().any(|e| {
        HEAD_KEYWORDS.contains(&e.kind.as_str())
            || HEAD_KEYWORDS.contains(&e.handle.as_str())
            || e.dev.as_deref().is_some_and(|d| HEAD_KEYWORDS.contains(&d))
    }) {
        return;
    }
    let rendered = render(&entries);
    let again = txqlab::diagnose::parse_tc(&rendered, "rendered").unwrap_or_else(|err| {
        panic!("the rendering of what was understood does not parse: {err}\n{rendered}")
    });
    let strip = |v: &[TcEntry]| -> Vec<TcEntry> {
        v.iter()
            .map(|e| TcEntry {
                line: 0,
                ..e.clone()
            })
            .collect()
    };
    assert_eq!(
        strip(&entries),
        strip(&again),
        "parse -> render -> parse changed the entries\n{rendered}"
    );
    // Rendering is canonical: a second round gives the same text.
    assert_eq!(render(&again), rendered);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `tc -s qdisc show` without `dev` names each entry's device (`print_qdisc`: `dev %s`); the rendering keeps it.
    #[test]
    fn the_device_survives_render_and_parse() {
        let text = "qdisc mq 0: dev eth0 root \n Sent 10 bytes 1 pkt (dropped 0, overlimits 0 requeues 0) \n backlog 0b 0p requeues 0\n";
        let e = txqlab::diagnose::parse_tc(text, "t").unwrap();
        assert_eq!(e[0].dev.as_deref(), Some("eth0"));
        let again = txqlab::diagnose::parse_tc(&render(&e), "r").unwrap();
        assert_eq!(again[0].dev.as_deref(), Some("eth0"));
        tc_parse(text.as_bytes());
    }

    /// A real `tc -s qdisc show dev eth0` of an ENA device (two queues), as iproute2 prints it.
    const REAL: &str = "\
qdisc mq 0: root 
 Sent 5309349 bytes 33458 pkt (dropped 0, overlimits 0 requeues 2) 
 backlog 0b 0p requeues 2
qdisc fq_codel 0: parent :2 limit 10240p flows 1024 quantum 9015 target 5ms interval 100ms memory_limit 32Mb ecn drop_batch 64 
 Sent 2712 bytes 20 pkt (dropped 0, overlimits 0 requeues 0) 
 backlog 0b 0p requeues 0
  maxpacket 230 drop_overlimit 0 new_flow_count 1 ecn_mark 0
  new_flows_len 0 old_flows_len 0
qdisc fq_codel 0: parent :1 limit 10240p flows 1024 quantum 9015 target 5ms interval 100ms memory_limit 32Mb ecn drop_batch 64 
 Sent 5306637 bytes 33438 pkt (dropped 0, overlimits 0 requeues 2) 
 backlog 0b 0p requeues 2
  maxpacket 9015 drop_overlimit 0 new_flow_count 921 ecn_mark 0
  new_flows_len 0 old_flows_len 0
";

    #[test]
    fn real_output_round_trips() {
        tc_parse(REAL.as_bytes());
        let e = txqlab::diagnose::parse_tc(REAL, "x").unwrap_or_default();
        assert_eq!(e.len(), 3);
        assert_eq!(e[1].parent, ":2");
        let r = render(&e);
        assert!(
            r.starts_with("qdisc mq 0: root \n Sent 5309349 bytes 33458 pkt"),
            "{r}"
        );
    }

    /// The property can fail: a renderer that loses a field (here the overlimits) is caught.
    #[test]
    fn a_lossy_render_is_caught() {
        fn lossy(e: &[TcEntry]) -> String {
            render(e).replace("overlimits 7 ", "overlimits 0 ")
        }
        let text = REAL.replace("overlimits 0 requeues 2", "overlimits 7 requeues 2");
        let r = std::panic::catch_unwind(|| check(text.as_bytes(), lossy));
        assert!(r.is_err());
    }
}
