//! The two other judges that run in every guest, each checked against the kernel's verdict from the matrix (and so
//! against its variant): `txqlab probe` (affected on a kernel whose veth records the rx queue, not affected
//! otherwise) and the kselftest-style `vm-tests/selftest/veth_txq.sh` (fail on the former, pass on the latter).
//! This cross-checks both on real kernels with and without the bug.

use serde::Serialize;

use crate::console::Block;
use crate::verdict::Verdict;

/// One check's outcome in one guest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    /// `probe` or `selftest`.
    pub name: String,
    /// What the kernel's verdict calls for (`affected` / `not_affected`; `fail` / `pass`).
    pub expected: String,
    /// What it gave.
    pub got: String,
    /// Its exit status in the guest.
    pub rc: Option<i32>,
    /// `got == expected`, with the output consistent with it.
    #[serde(rename = "match")]
    pub matches: bool,
    /// The line that says why (the probe's reason and pod counts; the selftest's forwarded-traffic line).
    pub detail: String,
}

/// `txqlab probe --json` run in the guest, judged against the matrix's verdict.
pub fn probe(block: Option<&Block>, verdict: Verdict) -> Check {
    let expected = match verdict {
        Verdict::Affected => "affected",
        Verdict::NotAffected => "not_affected",
    };
    let Some(b) = block else {
        return missing("probe", expected);
    };
    // The JSON document, whatever the probe printed on stderr around it.
    let json = match (b.text.find('{'), b.text.rfind('}')) {
        (Some(a), Some(z)) if a < z => {
            serde_json::from_str::<serde_json::Value>(&b.text[a..=z]).ok()
        }
        _ => None,
    };
    let field = |k: &str| {
        json.as_ref()
            .and_then(|j| j.get(k))
            .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string))
    };
    // exit 0 not affected, 1 affected, 2 could not run or inconclusive (txqlab README).
    let by_rc = match b.rc {
        0 => "not_affected",
        1 => "affected",
        _ => "inconclusive",
    };
    let got = field("verdict").unwrap_or_else(|| by_rc.to_string());
    let detail = match (field("reason"), field("per_queue_pod")) {
        (Some(r), Some(q)) => format!("{r}; pod traffic per queue {q}"),
        (Some(r), None) => r,
        _ => last_line(&b.text),
    };
    Check {
        name: "probe".into(),
        expected: expected.into(),
        matches: got == expected && by_rc == got,
        got,
        rc: Some(b.rc),
        detail,
    }
}

/// `veth_txq.sh` run in the guest, judged against the matrix's verdict: pass (0) with its third test ok on a
/// kernel that is not affected; fail (1) on an affected one, with the control (test 2) ok and test 3 not ok, so
/// that it fails for the bug and not for something else.
pub fn selftest(block: Option<&Block>, verdict: Verdict) -> Check {
    let expected = match verdict {
        Verdict::Affected => "fail",
        Verdict::NotAffected => "pass",
    };
    let Some(b) = block else {
        return missing("selftest", expected);
    };
    let got = match b.rc {
        0 => "pass".to_string(),
        1 => "fail".to_string(),
        4 => "skip".to_string(),
        n => format!("error (exit {n})"),
    };
    let has = |l: &str| b.text.lines().any(|x| x.trim_end() == l);
    let consistent = match expected {
        "pass" => has("ok 3 forwarded_traffic_spreads"),
        _ => has("ok 2 host_traffic_spreads") && has("not ok 3 forwarded_traffic_spreads"),
    };
    let detail = b
        .text
        .lines()
        .find(|l| l.starts_with("# forwarded pod traffic"))
        .or_else(|| b.text.lines().find(|l| l.starts_with("1..0 # SKIP")))
        .map_or_else(
            || last_line(&b.text),
            |l| l.trim_start_matches("# ").to_string(),
        );
    Check {
        name: "selftest".into(),
        expected: expected.into(),
        matches: got == expected && consistent,
        got,
        rc: Some(b.rc),
        detail,
    }
}

fn missing(name: &str, expected: &str) -> Check {
    Check {
        name: name.into(),
        expected: expected.into(),
        got: "no output".into(),
        rc: None,
        matches: false,
        detail: format!("the guest printed no {name} block"),
    }
}

fn last_line(text: &str) -> String {
    text.lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or_default()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(rc: i32, text: &str) -> Block {
        Block {
            rc,
            text: text.into(),
        }
    }

    #[test]
    fn the_probe_must_agree_with_the_matrix() {
        let aff = block(
            1,
            "{\n  \"verdict\": \"affected\",\n  \"reason\": \"pinned\",\n  \"per_queue_pod\": [1024, 0]\n}\n",
        );
        let c = probe(Some(&aff), Verdict::Affected);
        assert!(c.matches, "{c:?}");
        assert_eq!(c.detail, "pinned; pod traffic per queue [1024,0]");
        assert!(!probe(Some(&aff), Verdict::NotAffected).matches);
        // A verdict and an exit status that disagree are not a match.
        let odd = block(0, "{\"verdict\": \"affected\"}");
        assert!(!probe(Some(&odd), Verdict::Affected).matches);
        let inc = block(2, "txqlab: probe: no tc\n");
        let c = probe(Some(&inc), Verdict::NotAffected);
        assert!(!c.matches && c.got == "inconclusive" && c.detail == "txqlab: probe: no tc");
        assert!(!probe(None, Verdict::Affected).matches);
    }

    #[test]
    fn the_selftest_must_fail_for_the_bug_and_pass_without_it() {
        let fail = block(
            1,
            "TAP version 13\n1..3\nok 1 setup\nok 2 host_traffic_spreads\n# forwarded pod traffic: 1024 packets, 1 of 8 TX queues used\nnot ok 3 forwarded_traffic_spreads\n",
        );
        let c = selftest(Some(&fail), Verdict::Affected);
        assert!(c.matches, "{c:?}");
        assert!(c.detail.starts_with("forwarded pod traffic: 1024 packets"));
        assert!(!selftest(Some(&fail), Verdict::NotAffected).matches);
        // Failing because the control failed is not failing for the bug.
        let control = block(
            1,
            "not ok 2 host_traffic_spreads\nnot ok 3 forwarded_traffic_spreads\n",
        );
        assert!(!selftest(Some(&control), Verdict::Affected).matches);
        let pass = block(
            0,
            "ok 1 setup\nok 2 host_traffic_spreads\nok 3 forwarded_traffic_spreads\n",
        );
        assert!(selftest(Some(&pass), Verdict::NotAffected).matches);
        let skip = block(4, "1..0 # SKIP cannot create a veth pair (CONFIG_VETH)\n");
        let c = selftest(Some(&skip), Verdict::NotAffected);
        assert!(!c.matches && c.got == "skip" && c.detail.contains("CONFIG_VETH"));
    }
}
