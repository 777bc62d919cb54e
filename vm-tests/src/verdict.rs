//! Comparing measured spreads with `qdisc`'s prediction, and the verdict per kernel.

use qdisc::KernelProfile;
use qdisc::predict::{Prediction, predict};
use qdisc::veth::Path;
use serde::Serialize;

use crate::console::{Case, Egress, Xps, serialize_path};
use crate::error::Error;
use crate::guest::{FLOWS, PACKETS};

/// CPUs the guest has (`-smp 2`); the traffic generator is pinned to CPU 0.
pub const GUEST_CPUS: u16 = 2;
/// CPU the traffic is sent from.
pub const SEND_CPU: u16 = 0;
/// The kernel line whose selection rules apply when the guest did not say which kernel it runs (the veth
/// behaviour is the variant's); a guest's own `uname -r` is used otherwise ([`classify_on`]).
pub const GUEST_KERNEL: &str = "6.1.192";

/// The prediction for one case on a kernel whose veth records the rx queue or not: the device comes from
/// `qdisc::driver` (dummy: no hook, no XPS; virtio_net: its `virtnet_set_affinity` XPS map unless cleared) with
/// the kernel's selection rules and the one prediction seed every command uses.
pub fn prediction(case: &Case, veth_records: bool) -> Result<Prediction, Error> {
    prediction_on(case, veth_records, GUEST_KERNEL)
}

/// [`prediction`] with the selection rules of `release` (the booted kernel's `uname -r`).
pub fn prediction_on(case: &Case, veth_records: bool, release: &str) -> Result<Prediction, Error> {
    let queues = case.per_queue.len() as u16;
    // XPS cleared: no map whatever the driver would install; default: the driver's own (`qdisc::driver`).
    let xps = (case.xps == Xps::Cleared).then_some(false);
    let profile = KernelProfile::from_release(release)
        .map_err(|source| Error::Release {
            release: release.to_string(),
            source,
        })?
        .with_override(veth_records);
    let sel = case
        .egress
        .driver()
        .selector(&profile, queues, GUEST_CPUS, xps)
        .map_err(Error::Device)?;
    Ok(predict(&sel, case.path, veth_records, SEND_CPU, FLOWS))
}

/// A case with its prediction and whether they agree.
#[derive(Debug, Clone, Serialize)]
pub struct Judged {
    /// The egress device.
    pub egress: Egress,
    /// Where the traffic started (`host`, `veth`, `vethmq`).
    #[serde(serialize_with = "serialize_path")]
    pub path: Path,
    /// The egress device's XPS map.
    pub xps: Xps,
    /// Packets per TX queue.
    pub per_queue: Vec<u64>,
    /// Expected packets per queue (share x flows x packets per flow).
    pub predicted: Vec<f64>,
    /// Lowest and highest packets per queue the model allows (equal in exact cases).
    pub band: Vec<(u64, u64)>,
    /// Exact (deterministic) or hash-based.
    pub exact: bool,
    /// The branch that decides, per the model.
    pub branch: String,
    /// Measured within the prediction.
    #[serde(rename = "match")]
    pub matches: bool,
}

/// Judges a case against the prediction for `veth_records`.
pub fn judge(case: &Case, veth_records: bool) -> Result<Judged, Error> {
    judge_on(case, veth_records, GUEST_KERNEL)
}

/// [`judge`] with the selection rules of `release`.
pub fn judge_on(case: &Case, veth_records: bool, release: &str) -> Result<Judged, Error> {
    let p = prediction_on(case, veth_records, release)?;
    let per = PACKETS as u64;
    Ok(Judged {
        egress: case.egress,
        path: case.path,
        xps: case.xps,
        per_queue: case.per_queue.clone(),
        predicted: p
            .queues
            .iter()
            .map(|q| q.expected * (FLOWS as u64 * per) as f64)
            .collect(),
        band: p
            .queues
            .iter()
            .map(|q| (q.low as u64 * per, q.high as u64 * per))
            .collect(),
        exact: p.exact,
        branch: p.branch.id().into(),
        matches: p.matches(&case.per_queue, per),
    })
}

/// The verdict on a kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Forwarded traffic is pinned to TX queue 0 by the recorded rx queue.
    Affected,
    /// Forwarded traffic spreads.
    NotAffected,
}

/// Classifies a kernel from its cases: the one that shows the bug is forwarded traffic out of a device with XPS
/// cleared (dummy). Returns the verdict and every case judged against the model of that verdict.
pub fn classify(cases: &[Case]) -> Result<(Verdict, Vec<Judged>), Error> {
    classify_on(cases, GUEST_KERNEL)
}

/// [`classify`] with the selection rules of the booted kernel's release (6.1 or 6.12 in the default run).
pub fn classify_on(cases: &[Case], release: &str) -> Result<(Verdict, Vec<Judged>), Error> {
    let probe = cases
        .iter()
        .find(|c| c.is_decisive(Path::PodViaVeth))
        .ok_or(Error::NoDecidingCase)?;
    let affected = judge_on(probe, true, release)?.matches;
    let verdict = if affected {
        Verdict::Affected
    } else {
        Verdict::NotAffected
    };
    let judged = cases
        .iter()
        .map(|c| judge_on(c, affected, release))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((verdict, judged))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn case(egress: &str, path: &str, xps: &str, q: &[u64]) -> Case {
        let line = format!(
            "TXQLAB-CASE egress={egress} path={path} xps={xps} before={} after={}\nTXQLAB-DONE\n",
            vec!["0"; q.len()].join(","),
            q.iter().map(u64::to_string).collect::<Vec<_>>().join(",")
        );
        crate::console::parse(&line, None).unwrap().cases.remove(0)
    }

    #[test]
    fn the_booted_release_chooses_the_rules_and_a_bad_one_is_named() {
        let pinned = [case(
            "dummy",
            "veth",
            "cleared",
            &[1024, 0, 0, 0, 0, 0, 0, 0],
        )];
        for r in ["6.1.192", "6.12.117"] {
            assert_eq!(classify_on(&pinned, r).unwrap().0, Verdict::Affected, "{r}");
        }
        let e = classify_on(&pinned, "not-a-kernel")
            .unwrap_err()
            .to_string();
        assert!(e.contains("`not-a-kernel`"), "{e}");
    }

    #[test]
    fn pinned_is_affected_and_spread_is_not() {
        let pinned = [case(
            "dummy",
            "veth",
            "cleared",
            &[1024, 0, 0, 0, 0, 0, 0, 0],
        )];
        let (v, j) = classify(&pinned).unwrap();
        assert_eq!(v, Verdict::Affected);
        assert!(j[0].matches && j[0].exact);
        // The measured spread of a fixed kernel (vm-harness-facts.md).
        let spread = [case(
            "dummy",
            "veth",
            "cleared",
            &[136, 152, 104, 120, 128, 120, 140, 124],
        )];
        let (v, j) = classify(&spread).unwrap();
        assert_eq!(v, Verdict::NotAffected);
        assert!(j[0].matches && !j[0].exact);
    }

    #[test]
    fn a_case_outside_the_model_does_not_match() {
        let cases = [
            case(
                "dummy",
                "veth",
                "cleared",
                &[136, 152, 104, 120, 128, 120, 140, 124],
            ),
            // Root-namespace traffic all on one queue would contradict the model.
            case("dummy", "host", "cleared", &[1024, 0, 0, 0, 0, 0, 0, 0]),
        ];
        let (_, j) = classify(&cases).unwrap();
        assert!(j[0].matches);
        assert!(!j[1].matches);
        assert!(classify(&cases[1..]).is_err());
    }

    #[test]
    fn the_json_report_names_cases_as_the_guest_does() {
        let c = case(
            "virtio",
            "vethmq",
            "cleared",
            &[128, 128, 128, 128, 128, 128, 128, 128],
        );
        let j = serde_json::to_value(judge(&c, false).unwrap()).unwrap();
        assert_eq!(
            (&j["egress"], &j["path"], &j["xps"]),
            (
                &serde_json::json!("virtio"),
                &serde_json::json!("vethmq"),
                &serde_json::json!("cleared")
            )
        );
    }

    #[test]
    fn virtio_default_xps_is_the_map_of_the_sending_cpu() {
        // CPU 0 owns queues 0, 2, 4, 6: 1024 packets over them in multiples of 4 within the band.
        let c = case(
            "virtio",
            "veth",
            "default",
            &[260, 0, 252, 0, 256, 0, 256, 0],
        );
        let j = judge(&c, true).unwrap();
        assert_eq!(j.branch, "xps_cpus");
        assert!(j.matches, "{j:?}");
        let odd = case(
            "virtio",
            "veth",
            "default",
            &[0, 260, 0, 252, 0, 256, 0, 256],
        );
        assert!(!judge(&odd, true).unwrap().matches);
    }
}
