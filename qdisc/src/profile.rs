//! Kernel profiles: the selection-relevant behaviours of one kernel, computed from [`crate::facts`] for a release
//! as the system names it. Distribution kernels backport fixes, so an inference from the version alone is a
//! heuristic: every answer says how sure it is and why ([`Reason`], printable), and
//! [`KernelProfile::with_override`] lets the user state what their tree really does.
//!
//! What [`Release::parse`] reads:
//! - `uname -r`: `6.1.92`, `5.10.192-183.736.amzn2.x86_64`, `6.1.0-18-amd64`, `5.15.0-1019-aws`;
//! - `uname -rv` on Debian, whose `uname -v` carries the upstream version:
//!   `6.1.0-13-cloud-amd64 #1 SMP PREEMPT_DYNAMIC Debian 6.1.55-1 (2023-09-29)`;
//! - Ubuntu's `/proc/version_signature`, whose last word is the upstream version:
//!   `Ubuntu 5.15.0-1019.23-aws 5.15.39`.

use core::fmt;

use crate::facts::{self, Basis, Behaviour, Carries, Version};
use crate::select_ref::PickRules;
use crate::{Error, Result};

/// Which kind of kernel a release string names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Distro {
    /// A kernel.org version such as `4.19.184` or `6.1.92`.
    Vanilla,
    /// Ubuntu (`5.15.0-1019-aws`): the upstream sublevel is shown only by `/proc/version_signature`.
    Ubuntu,
    /// Debian (`6.1.0-18-amd64`): the upstream sublevel is shown only by `uname -v`.
    Debian,
    /// Amazon Linux (`5.10.192-183.736.amzn2.x86_64`).
    AmazonLinux,
    /// Anything else with a suffix (RHEL-style and custom builds).
    Other,
}

impl Distro {
    /// Lower-case name for output.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Vanilla => "kernel.org",
            Self::Ubuntu => "ubuntu",
            Self::Debian => "debian",
            Self::AmazonLinux => "amazon-linux",
            Self::Other => "other",
        }
    }
}

/// A parsed release.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Release {
    /// Major version.
    pub major: u16,
    /// Minor version.
    pub minor: u16,
    /// Sublevel as the release string shows it (0 when absent; Debian's and Ubuntu's `.0` is not upstream's).
    pub sublevel: u16,
    /// The upstream stable sublevel, when the input shows it.
    pub upstream_sublevel: Option<u16>,
    /// The distribution the suffix points to.
    pub distro: Distro,
}

fn bad(reason: &'static str) -> Error {
    Error::BadRelease { reason }
}

/// `MAJOR.MINOR[.SUBLEVEL]` as written.
type Triple = (u16, u16, Option<u16>);

/// `MAJOR.MINOR[.SUBLEVEL]` at the start of `s`, and what follows it.
fn version_prefix(s: &str) -> Result<(Triple, &str)> {
    let end = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (version, rest) = s.split_at(end);
    let mut parts = version.split('.');
    let num = |p: Option<&str>, what: &'static str| -> Result<u16> {
        let p = p.ok_or(bad(what))?;
        if p.is_empty() {
            return Err(bad("version components must be numbers (like 5.15.0)"));
        }
        p.parse::<u16>()
            .map_err(|_| bad("a version component is larger than 65535"))
    };
    let major = num(parts.next(), "missing major version")?;
    let minor = num(
        parts.next(),
        "missing minor version (expected MAJOR.MINOR[.SUBLEVEL])",
    )?;
    let sublevel = match parts.next() {
        Some(p) => Some(num(Some(p), "missing sublevel")?),
        None => None,
    };
    if parts.next().is_some() {
        return Err(bad("too many version components"));
    }
    Ok(((major, minor, sublevel), rest))
}

impl Release {
    /// Parses `uname -r`, `uname -rv` (Debian) or `/proc/version_signature` (Ubuntu) output.
    pub fn parse(s: &str) -> Result<Self> {
        let s = s.trim();
        if s.is_empty() {
            return Err(bad("empty release string"));
        }
        if let Some(sig) = s.strip_prefix("Ubuntu ") {
            return Self::parse_ubuntu_signature(sig);
        }
        let (release, version) = match s.split_once(char::is_whitespace) {
            Some((r, v)) => (r, Some(v)),
            None => (s, None),
        };
        let mut r = Self::parse_uname_r(release)?;
        if let Some(v) = version {
            r.apply_uname_v(v)?;
        }
        Ok(r)
    }

    fn parse_uname_r(s: &str) -> Result<Self> {
        let ((major, minor, sublevel), rest) = version_prefix(s)?;
        let suffix = match rest.chars().next() {
            None => "",
            Some('-' | '+' | '_') => &rest[1..],
            Some(_) => {
                return Err(bad("version components must be numbers (like 5.15.0)"));
            }
        };
        if !(2..=7).contains(&major) {
            return Err(bad(
                "major version outside 2..7 is not a Linux release txqlab knows",
            ));
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
        let sublevel = sublevel.unwrap_or(0);
        // Debian and Ubuntu number their ABI as `.0-N`: the upstream sublevel is not in `uname -r`.
        let upstream_sublevel = match distro {
            Distro::Debian | Distro::Ubuntu => None,
            _ => Some(sublevel),
        };
        Ok(Self {
            major,
            minor,
            sublevel,
            upstream_sublevel,
            distro,
        })
    }

    /// `uname -v`: Debian's carries `Debian 6.1.55-1`; others carry nothing about the version.
    fn apply_uname_v(&mut self, v: &str) -> Result<()> {
        let Some(at) = v.find("Debian ") else {
            return Ok(());
        };
        let ((major, minor, sub), _) = version_prefix(&v[at + "Debian ".len()..])?;
        if (major, minor) != (self.major, self.minor) {
            return Err(bad("uname -v names another kernel line than uname -r"));
        }
        self.distro = Distro::Debian;
        self.upstream_sublevel = sub;
        Ok(())
    }

    /// `Ubuntu 5.15.0-1019.23-aws 5.15.39` (without the `Ubuntu ` prefix).
    fn parse_ubuntu_signature(sig: &str) -> Result<Self> {
        let mut words = sig.split_whitespace();
        let (Some(abi), Some(upstream), None) = (words.next(), words.next(), words.next()) else {
            return Err(bad(
                "a version signature is `Ubuntu ABI-RELEASE UPSTREAM` (like `Ubuntu 5.15.0-1019.23-aws 5.15.39`)",
            ));
        };
        let mut r = Self::parse_uname_r(abi)?;
        let ((major, minor, sub), rest) = version_prefix(upstream)?;
        if !rest.is_empty() || (major, minor) != (r.major, r.minor) {
            return Err(bad(
                "the signature's upstream version does not match its release",
            ));
        }
        r.distro = Distro::Ubuntu;
        r.upstream_sublevel = Some(sub.unwrap_or(0));
        Ok(r)
    }

    /// The version as the facts table sees it.
    pub const fn version(&self) -> Version {
        Version {
            line: (self.major, self.minor),
            sublevel: self.upstream_sublevel,
        }
    }
}

impl fmt::Display for Release {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)?;
        match self.upstream_sublevel {
            Some(s) => write!(f, ".{s}"),
            None => write!(
                f,
                ".x ({}, upstream sublevel not shown)",
                self.distro.name()
            ),
        }
    }
}

/// How sure a profile is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Confidence {
    /// The version alone settles it, from exact figures.
    Certain,
    /// From inferred figures, a distribution kernel, or public reports; a distribution may have backported
    /// differently.
    Likely,
    /// The release string cannot tell (for example a distribution kernel of a stable line that got both the bug
    /// and the fix); the profile shows the more likely case: give `uname -v` or the version signature, confirm
    /// with the vm-tests harness or `txqlab probe`, or override.
    Ambiguous,
}

impl Confidence {
    /// Lower-case name for output.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Certain => "certain",
            Self::Likely => "likely",
            Self::Ambiguous => "ambiguous",
        }
    }
}

/// Why a profile says what it says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// Computed from the facts table.
    Facts(Basis),
    /// Taken from a public report about a distribution's kernels (the table cannot see the distribution's own
    /// backports).
    Report(&'static str),
    /// Stated by the user.
    Override,
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Facts(b) => b.fmt(f),
            Self::Report(r) => f.write_str(r),
            Self::Override => f.write_str("stated by the user"),
        }
    }
}

/// One inferred behaviour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Inference {
    /// Whether the kernel has it.
    pub present: bool,
    /// How sure.
    pub confidence: Confidence,
    /// Why.
    pub reason: Reason,
}

/// The behaviours selection depends on, and the TCP timer floor the simulator runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KernelProfile {
    /// The release it was computed for.
    pub release: Release,
    /// `veth_xmit` calls `skb_record_rx_queue` (see [`facts::VETH_RECORD`], [`facts::VETH_FIX`]).
    pub veth_records_rx_queue: bool,
    /// How sure the veth inference is.
    pub confidence: Confidence,
    /// Why.
    pub reason: Reason,
    /// The in-tree ENA driver has `ena_select_queue` (see [`facts::ENA_HOOK_REMOVAL`]).
    pub ena_select_queue: Inference,
    /// Selection rules that changed between versions.
    pub rules: PickRules,
    /// `tcp_schedule_loss_probe` adds its 2 ms floor before rounding to jiffies (see [`facts::TLP_FLOOR_US`]).
    pub tlp_floor_us: Inference,
}

impl KernelProfile {
    /// Infers the profile of a release string (anything [`Release::parse`] reads).
    pub fn from_release(s: &str) -> Result<Self> {
        Ok(Self::of(Release::parse(s)?))
    }

    /// The profile of a parsed release.
    pub fn of(r: Release) -> Self {
        let veth = veth_records(&r);
        let v = r.version();
        let ena = infer(&r, facts::has(Behaviour::EnaSelectQueue, v));
        let known = |b| matches!(facts::has(b, v), Carries::Known(true, _));
        Self {
            release: r,
            veth_records_rx_queue: veth.present,
            confidence: veth.confidence,
            reason: veth.reason,
            ena_select_queue: ena,
            rules: PickRules {
                txq_reselection_ms: known(Behaviour::TxqReselection).then_some(1000),
                tc_empty_class_spins: !known(Behaviour::TcEmptyClassFallback),
            },
            tlp_floor_us: infer(&r, facts::has(Behaviour::TlpFloorInMicroseconds, v)),
        }
    }

    /// States what the tree really does about veth (after checking the source, running `txqlab probe` or
    /// vm-tests).
    pub fn with_override(mut self, veth_records_rx_queue: bool) -> Self {
        self.veth_records_rx_queue = veth_records_rx_queue;
        self.confidence = Confidence::Certain;
        self.reason = Reason::Override;
        self
    }
}

/// An answer of the table as an inference: exact figures on a kernel.org release are certain; inferred figures or
/// a distribution kernel are likely; a hidden sublevel where it matters is ambiguous (shown as the line's newest
/// state, the likelier one for a kernel in use today).
fn infer(r: &Release, c: Carries) -> Inference {
    match c {
        Carries::Known(present, basis) => {
            let sure = basis.is_exact()
                && (r.distro == Distro::Vanilla || matches!(basis, Basis::Mainline(_)));
            Inference {
                present,
                confidence: if sure {
                    Confidence::Certain
                } else {
                    Confidence::Likely
                },
                reason: Reason::Facts(basis),
            }
        }
        Carries::Unknown(basis) => Inference {
            present: basis.fact().effect == facts::Effect::Introduces,
            confidence: Confidence::Ambiguous,
            reason: Reason::Facts(basis),
        },
    }
}

fn veth_records(r: &Release) -> Inference {
    let c = facts::has(Behaviour::VethRecordsRxQueue, r.version());
    if r.distro == Distro::Ubuntu && r.upstream_sublevel.is_none() {
        // Ubuntu backports on its own schedule; cilium#18311 collected what its AWS kernels did.
        let report = |present, s| Inference {
            present,
            confidence: Confidence::Likely,
            reason: Reason::Report(s),
        };
        match (r.major, r.minor) {
            (5, 4) => {
                return report(
                    false,
                    "Ubuntu 5.4 kernels were reported unaffected (cilium#18311)",
                );
            }
            (5, 8) | (5, 11) | (5, 13) => {
                return report(
                    true,
                    "Ubuntu 5.8/5.11/5.13 AWS kernels were reported affected (cilium#18311)",
                );
            }
            _ => {}
        }
    }
    infer(r, c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn release_strings_users_paste() {
        let r = Release::parse("5.10.192-183.736.amzn2.x86_64").unwrap();
        assert_eq!(
            (r.major, r.minor, r.upstream_sublevel, r.distro),
            (5, 10, Some(192), Distro::AmazonLinux)
        );
        let u = Release::parse("5.15.0-1019-aws").unwrap();
        assert_eq!((u.distro, u.upstream_sublevel), (Distro::Ubuntu, None));
        let d = Release::parse("6.1.0-18-amd64").unwrap();
        assert_eq!((d.distro, d.upstream_sublevel), (Distro::Debian, None));
        assert_eq!(Release::parse("4.19.184").unwrap().distro, Distro::Vanilla);
        for bad in [
            "",
            "linux",
            "5",
            "5.x.1",
            "99.1.1",
            "5.10.1.2",
            "5..1",
            "5.10.70000",
        ] {
            assert!(Release::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn distro_identity_gives_the_upstream_sublevel() {
        let d = Release::parse(
            "6.1.0-13-cloud-amd64 #1 SMP PREEMPT_DYNAMIC Debian 6.1.55-1 (2023-09-29)",
        )
        .unwrap();
        assert_eq!((d.distro, d.upstream_sublevel), (Distro::Debian, Some(55)));
        let u = Release::parse("Ubuntu 5.15.0-1019.23-aws 5.15.39").unwrap();
        assert_eq!((u.distro, u.upstream_sublevel), (Distro::Ubuntu, Some(39)));
        // A version that contradicts the release is refused, not silently used.
        assert!(Release::parse("6.1.0-13-amd64 #1 SMP Debian 5.10.1-1 (x)").is_err());
        assert!(Release::parse("Ubuntu 5.15.0-1019.23-aws 5.4.39").is_err());
        assert!(Release::parse("Ubuntu 5.15.0-1019.23-aws").is_err());
        // `uname -v` of a non-Debian kernel adds nothing.
        let v = Release::parse("6.8.0 #1 SMP PREEMPT_DYNAMIC Tue Mar 12 2024").unwrap();
        assert_eq!(v.upstream_sublevel, Some(0));
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
            !p("Ubuntu 5.15.0-1019.23-aws 5.15.39").veth_records_rx_queue,
            "5.15.39 is past the fix"
        );
        assert_eq!(
            p("Ubuntu 5.15.0-1019.23-aws 5.15.39").confidence,
            Confidence::Likely
        );
        assert!(
            p("5.15.0-1019-aws")
                .with_override(true)
                .veth_records_rx_queue
        );
        assert!(p("6.8.0").ena_select_queue.present && !p("6.9.0").ena_select_queue.present);
        assert_eq!(p("6.19.0").rules.txq_reselection_ms, Some(1000));
        assert_eq!(p("6.12.0").rules.txq_reselection_ms, None);
        assert!(p("5.14.15").rules.tc_empty_class_spins);
        assert!(!p("5.14.16").rules.tc_empty_class_spins);
        assert!(!p("5.15.0").rules.tc_empty_class_spins);
    }

    #[test]
    fn the_corrected_fix_boundaries() {
        let p = |s| KernelProfile::from_release(s).unwrap();
        for (affected, fixed) in [
            ("4.19.225", "4.19.226"),
            ("5.4.171", "5.4.172"),
            ("5.10.91", "5.10.92"),
            ("5.15.14", "5.15.15"),
            ("5.16.0", "5.16.1"),
        ] {
            assert!(p(affected).veth_records_rx_queue, "{affected}");
            assert!(!p(fixed).veth_records_rx_queue, "{fixed}");
            assert_eq!(p(affected).confidence, Confidence::Certain, "{affected}");
            assert_eq!(p(fixed).confidence, Confidence::Certain, "{fixed}");
        }
    }

    #[test]
    fn ena_hook_follows_the_stable_removal() {
        let p = |s| KernelProfile::from_release(s).unwrap().ena_select_queue;
        assert!(
            !p("6.1.100").present,
            "6.1.100 no longer has ena_select_queue"
        );
        assert!(p("6.1.82").present);
        assert!(!p("5.4.273").present);
        assert_eq!(p("6.1.0-18-amd64").confidence, Confidence::Ambiguous);
        let debian = p("6.1.0-13-cloud-amd64 #1 SMP PREEMPT_DYNAMIC Debian 6.1.55-1 (2023-09-29)");
        assert!(debian.present && debian.confidence != Confidence::Ambiguous);
        assert!(!p("6.12.0-31-amd64").present);
        assert_eq!(p("6.12.0-31-amd64").confidence, Confidence::Certain);
    }

    #[test]
    fn reasons_are_sentences_from_the_table() {
        use std::string::ToString;
        let r = KernelProfile::from_release("5.10.92")
            .unwrap()
            .reason
            .to_string();
        assert!(r.contains("710ad98c363a") && r.contains("5.10.92"), "{r}");
        let h = KernelProfile::from_release("5.15.0-1019-aws")
            .unwrap()
            .reason
            .to_string();
        assert!(h.contains("version_signature"), "{h}");
    }
}
