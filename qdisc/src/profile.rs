//! Kernel profiles: the selection-relevant behaviours that changed between kernel versions, inferred from a
//! release string as `uname -r` prints it. Distribution kernels backport fixes, so an inference from the version
//! alone is a heuristic: every profile says how sure it is and why, and [`KernelProfile::with_override`] lets the
//! user state what their tree really does.

use crate::select_ref::PickRules;
use crate::{Error, Result};

/// Which kind of kernel a release string names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Distro {
    /// A kernel.org version such as `4.19.184` or `6.1.92`.
    Vanilla,
    /// Ubuntu (`5.15.0-1019-aws`): the upstream sublevel is not shown.
    Ubuntu,
    /// Debian (`6.1.0-18-amd64`): the upstream sublevel is not shown.
    Debian,
    /// Amazon Linux (`5.10.192-183.736.amzn2.x86_64`).
    AmazonLinux,
    /// Anything else with a suffix (RHEL-style and custom builds).
    Other,
}

/// A parsed release.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Release {
    /// Major version.
    pub major: u16,
    /// Minor version.
    pub minor: u16,
    /// Sublevel (stable patch level; 0 when absent).
    pub sublevel: u16,
    /// The distribution the suffix points to.
    pub distro: Distro,
}

impl Release {
    /// Parses `uname -r` output.
    pub fn parse(s: &str) -> Result<Self> {
        let s = s.trim();
        if s.is_empty() {
            return Err(Error::BadRelease {
                reason: "empty release string",
            });
        }
        let (version, suffix) = match s.find(['-', '+', '_']) {
            Some(i) => (&s[..i], &s[i + 1..]),
            None => (s, ""),
        };
        let mut parts = version.split('.');
        let num = |p: Option<&str>, what: &'static str| -> Result<u16> {
            p.ok_or(Error::BadRelease { reason: what })?
                .parse::<u16>()
                .map_err(|_| Error::BadRelease {
                    reason: "version components must be numbers (like 5.15.0)",
                })
        };
        let major = num(parts.next(), "missing major version")?;
        let minor = num(
            parts.next(),
            "missing minor version (expected MAJOR.MINOR[.SUBLEVEL])",
        )?;
        let sublevel = match parts.next() {
            Some(p) => num(Some(p), "")?,
            None => 0,
        };
        if parts.next().is_some() && !suffix.contains("amzn") {
            return Err(Error::BadRelease {
                reason: "too many version components",
            });
        }
        if !(2..=7).contains(&major) {
            return Err(Error::BadRelease {
                reason: "major version outside 2..7 is not a Linux release txqlab knows",
            });
        }
        let distro = if suffix.is_empty() {
            Distro::Vanilla
        } else if suffix.contains("amzn") {
            Distro::AmazonLinux
        } else if suffix.ends_with("amd64")
            || suffix.ends_with("arm64")
            || suffix.contains("cloud-")
        {
            Distro::Debian
        } else if suffix.ends_with("aws")
            || suffix.ends_with("generic")
            || suffix.ends_with("azure")
            || suffix.ends_with("gcp")
            || suffix.ends_with("lowlatency")
        {
            Distro::Ubuntu
        } else {
            Distro::Other
        };
        Ok(Self {
            major,
            minor,
            sublevel,
            distro,
        })
    }

    const fn v(&self) -> (u16, u16, u16) {
        (self.major, self.minor, self.sublevel)
    }
}

/// How sure a profile is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Confidence {
    /// The version alone settles it.
    Certain,
    /// Inferred from the version and public reports; a distribution may have backported differently.
    Likely,
    /// The release string cannot tell (for example a distribution kernel of a stable line that got both the bug
    /// and the fix); the profile shows the more likely case: confirm with the vm-tests harness or override.
    Ambiguous,
}

/// The behaviours selection depends on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KernelProfile {
    /// `veth_xmit` calls `skb_record_rx_queue` (commit edbea9220251 without the fix 710ad98c363a).
    pub veth_records_rx_queue: bool,
    /// The in-tree ENA driver has `ena_select_queue` (before v6.9; the removal 78e886ba2b54 went to 6.8 stable).
    pub ena_select_queue: bool,
    /// Selection rules (the 6.19-cycle socket queue reselection timeout).
    pub rules: PickRules,
    /// How sure the veth inference is.
    pub confidence: Confidence,
    /// Why, in one sentence.
    pub reason: &'static str,
}

/// Stable lines that received edbea9220251, with the first affected sublevel and whether that figure is known
/// exactly (the reference gives 4.19.184 and 5.11.11; the others were released the same day and are inferred).
const BUG_BACKPORTS: &[((u16, u16), u16, bool)] = &[
    ((4, 19), 184, true),
    ((5, 4), 109, false),
    ((5, 10), 27, false),
    ((5, 11), 11, true),
];

/// Stable lines that received the fix 710ad98c363a, with the first fixed sublevel as estimated (the fix was
/// queued for 4.19, 5.4, 5.10, 5.15 and 5.16 after v5.17-rc1; the exact sublevels are not in txqlab's sources).
const FIX_BACKPORTS: &[((u16, u16), u16)] = &[
    ((4, 19), 226),
    ((5, 4), 174),
    ((5, 10), 94),
    ((5, 15), 17),
    ((5, 16), 3),
];

/// Sublevels within this distance of an estimated fix version are called ambiguous.
const FIX_MARGIN: u16 = 15;

impl KernelProfile {
    /// Infers the profile of a release string.
    pub fn from_release(s: &str) -> Result<Self> {
        let r = Release::parse(s)?;
        let (veth, confidence, reason) = veth_records(&r);
        let v = r.v();
        Ok(Self {
            veth_records_rx_queue: veth,
            ena_select_queue: (v.0, v.1) < (6, 9),
            rules: PickRules {
                txq_reselection_ms: ((v.0, v.1) >= (6, 19)).then_some(1000),
            },
            confidence,
            reason,
        })
    }

    /// States what the tree really does about veth (after checking the source or running vm-tests).
    pub fn with_override(mut self, veth_records_rx_queue: bool) -> Self {
        self.veth_records_rx_queue = veth_records_rx_queue;
        self.confidence = Confidence::Certain;
        self.reason = "stated by the user";
        self
    }
}

fn veth_records(r: &Release) -> (bool, Confidence, &'static str) {
    let line = (r.major, r.minor);
    if line >= (5, 17) {
        return (
            false,
            Confidence::Certain,
            "v5.17 and later carry the fix 710ad98c363a",
        );
    }
    let bug_line = BUG_BACKPORTS.iter().find(|(l, _, _)| *l == line);
    let fix_line = FIX_BACKPORTS
        .iter()
        .find(|(l, _)| *l == line)
        .map(|(_, s)| *s);
    let in_mainline_window = line >= (5, 12);
    if !in_mainline_window && bug_line.is_none() {
        return (
            false,
            Confidence::Certain,
            "this line never received edbea9220251",
        );
    }
    if matches!(r.distro, Distro::Ubuntu | Distro::Debian) {
        // The upstream sublevel is hidden behind `.0-ABI`.
        return match line {
            (5, 4) => (
                false,
                Confidence::Likely,
                "Ubuntu 5.4 kernels were reported unaffected (cilium#18311)",
            ),
            (5, 8) | (5, 11) | (5, 13) => (
                true,
                Confidence::Likely,
                "Ubuntu 5.8/5.11 AWS kernels were reported affected (cilium#18311)",
            ),
            _ => (
                fix_line.is_none(),
                Confidence::Ambiguous,
                "a distribution kernel of a line that received both the bug and the fix: the release cannot tell",
            ),
        };
    }
    let affected_from = match bug_line {
        Some((_, sub, _)) => r.sublevel >= *sub,
        None => true,
    };
    if !affected_from {
        return (
            false,
            Confidence::Certain,
            "older than the stable backport of edbea9220251",
        );
    }
    match fix_line {
        Some(fix) if r.sublevel >= fix.saturating_add(FIX_MARGIN) => (
            false,
            Confidence::Likely,
            "well past the estimated stable backport of the fix",
        ),
        Some(fix) if r.sublevel + FIX_MARGIN >= fix => (
            r.sublevel < fix,
            Confidence::Ambiguous,
            "close to the estimated stable backport of the fix: check the tree (vm-tests) or override",
        ),
        _ => {
            let exact = bug_line.is_none_or(|(_, _, exact)| *exact);
            let c = if exact && r.distro == Distro::Vanilla {
                Confidence::Certain
            } else {
                Confidence::Likely
            };
            (
                true,
                c,
                "carries edbea9220251 (veth records the rx queue) without the fix",
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn release_strings_users_paste() {
        let r = Release::parse("5.10.192-183.736.amzn2.x86_64").unwrap();
        assert_eq!(
            (r.major, r.minor, r.sublevel, r.distro),
            (5, 10, 192, Distro::AmazonLinux)
        );
        assert_eq!(
            Release::parse("5.15.0-1019-aws").unwrap().distro,
            Distro::Ubuntu
        );
        assert_eq!(
            Release::parse("6.1.0-18-amd64").unwrap().distro,
            Distro::Debian
        );
        assert_eq!(Release::parse("4.19.184").unwrap().distro, Distro::Vanilla);
        for bad in ["", "linux", "5", "5.x.1", "99.1.1", "5.10.1.2"] {
            assert!(Release::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn profiles_of_known_kernels() {
        let p = |s| KernelProfile::from_release(s).unwrap();
        assert!(p("4.19.184").veth_records_rx_queue);
        assert_eq!(p("4.19.184").confidence, Confidence::Certain);
        assert!(!p("4.19.183").veth_records_rx_queue);
        assert!(p("5.11.11").veth_records_rx_queue);
        assert!(p("5.12.0").veth_records_rx_queue);
        assert!(p("5.11.0-1022-aws").veth_records_rx_queue);
        assert!(!p("5.4.0-1060-aws").veth_records_rx_queue);
        assert!(!p("6.1.0-18-amd64").veth_records_rx_queue);
        assert_eq!(p("6.1.0-18-amd64").confidence, Confidence::Certain);
        assert!(!p("5.10.192-183.736.amzn2.x86_64").veth_records_rx_queue);
        assert_eq!(p("5.15.0-1019-aws").confidence, Confidence::Ambiguous);
        assert!(
            p("5.15.0-1019-aws")
                .with_override(true)
                .veth_records_rx_queue
        );
        assert!(p("6.8.0").ena_select_queue && !p("6.9.0").ena_select_queue);
        assert_eq!(p("6.19.0").rules.txq_reselection_ms, Some(1000));
        assert_eq!(p("6.12.0").rules.txq_reselection_ms, None);
    }
}
