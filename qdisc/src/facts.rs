//! The kernel facts the model depends on, in one table: which commit changes which behaviour, the first release of
//! each line that carries it, and the evidence for every figure. Profiles ([`crate::KernelProfile`]) are computed
//! from this table, and every sentence txqlab prints about a kernel version is generated from it
//! ([`Fact`]'s `Display`, [`Basis`]), so a correction here corrects every command at once.

use core::fmt;

/// A behaviour the model depends on that some kernels have and others do not (selection, and the TCP timers the
/// simulator runs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    /// `veth_xmit` calls `skb_record_rx_queue` on every packet it forwards (the incident's bug).
    VethRecordsRxQueue,
    /// The in-tree ENA driver has `ena_select_queue` as its `ndo_select_queue`.
    EnaSelectQueue,
    /// `netdev_pick_tx` re-picks a full socket's cached TX queue older than `net.core.txq_reselection_ms`.
    TxqReselection,
    /// `skb_tx_hash` falls back to the whole device when a traffic class has no queues (older kernels spin).
    TcEmptyClassFallback,
    /// `tcp_schedule_loss_probe` adds its floor as `TCP_TIMEOUT_MIN_US` (2 ms) before rounding up to jiffies; older
    /// kernels round first and add `TCP_TIMEOUT_MIN` (2 jiffies: 8 ms at HZ = 250). The RACK reordering timer
    /// (`tcp_rack_mark_lost`) changed the same way.
    TlpFloorInMicroseconds,
}

/// Whether a commit brings a behaviour or takes it away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// The behaviour starts with this commit.
    Introduces,
    /// The behaviour ends with this commit.
    Removes,
}

/// How a figure is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Evidence {
    /// Matched to a release: a tag containing the commit, or the stable review series that queued it.
    Exact(&'static str),
    /// Inferred (same-day releases of other lines, a maintainer's statement): may be off by a few sublevels.
    Inferred(&'static str),
}

impl Evidence {
    /// True for [`Evidence::Exact`].
    pub const fn is_exact(&self) -> bool {
        matches!(self, Self::Exact(_))
    }

    /// Where the figure comes from.
    pub const fn source(&self) -> &'static str {
        match self {
            Self::Exact(s) | Self::Inferred(s) => s,
        }
    }
}

/// A kernel version line (`major.minor`).
pub type Line = (u16, u16);

/// The first release of one stable line that carries a commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backport {
    /// The stable line.
    pub line: Line,
    /// Its first sublevel with the commit.
    pub sublevel: u16,
    /// How that sublevel is known.
    pub evidence: Evidence,
}

/// One commit and what it does to one behaviour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fact {
    /// Upstream commit id (12 hex digits, as `Fixes:` tags quote them).
    pub commit: &'static str,
    /// Its subject line.
    pub subject: &'static str,
    /// The behaviour it changes.
    pub behaviour: Behaviour,
    /// Whether it brings or removes it.
    pub effect: Effect,
    /// The first mainline line that contains it (every later line does too).
    pub mainline: Line,
    /// How the mainline line is known.
    pub mainline_evidence: Evidence,
    /// Stable lines older than `mainline` that received it, with their first sublevel.
    pub stable: &'static [Backport],
}

const fn exact(line: Line, sublevel: u16, source: &'static str) -> Backport {
    Backport {
        line,
        sublevel,
        evidence: Evidence::Exact(source),
    }
}

const fn inferred(line: Line, sublevel: u16, source: &'static str) -> Backport {
    Backport {
        line,
        sublevel,
        evidence: Evidence::Inferred(source),
    }
}

/// `veth: Store queue_mapping independently of XDP prog presence` (the bug).
pub const VETH_RECORD: Fact = Fact {
    commit: "edbea9220251",
    subject: "veth: Store queue_mapping independently of XDP prog presence",
    behaviour: Behaviour::VethRecordsRxQueue,
    effect: Effect::Introduces,
    mainline: (5, 12),
    mainline_evidence: Evidence::Exact(
        "backported from mainline to 5.11.11 and not in v5.11: so v5.12",
    ),
    stable: &[
        exact((4, 19), 184, "stable review series 4.19.184"),
        exact((5, 4), 109, "stable review series 5.4.109"),
        exact((5, 10), 27, "stable review series 5.10.27"),
        exact((5, 11), 11, "stable review series 5.11.11"),
    ],
};

/// `veth: Do not record rx queue hint in veth_xmit` (the fix).
pub const VETH_FIX: Fact = Fact {
    commit: "710ad98c363a",
    subject: "veth: Do not record rx queue hint in veth_xmit",
    behaviour: Behaviour::VethRecordsRxQueue,
    effect: Effect::Removes,
    mainline: (5, 17),
    mainline_evidence: Evidence::Exact(
        "backported from mainline to 5.16.1 and not in v5.16: so v5.17",
    ),
    stable: &[
        exact((4, 19), 226, "stable review series 4.19.226"),
        exact((5, 4), 172, "stable review series 5.4.172"),
        exact((5, 10), 92, "stable review series 5.10.92"),
        exact((5, 15), 15, "stable review series 5.15.15"),
        exact((5, 16), 1, "stable review series 5.16.1"),
    ],
};

/// The ENA driver as merged, with `ena_select_queue`.
pub const ENA_HOOK: Fact = Fact {
    commit: "1738cd3ed342",
    subject: "net: ena: Add a driver for Amazon Elastic Network Adapters (ENA)",
    behaviour: Behaviour::EnaSelectQueue,
    effect: Effect::Introduces,
    mainline: (4, 9),
    mainline_evidence: Evidence::Inferred(
        "the ENA driver was merged for v4.9; later fixes to ena_select_queue carry Fixes: 1738cd3ed342",
    ),
    stable: &[],
};

/// `net: ena: Remove ena_select_queue`.
pub const ENA_HOOK_REMOVAL: Fact = Fact {
    commit: "78e886ba2b54",
    subject: "net: ena: Remove ena_select_queue",
    behaviour: Behaviour::EnaSelectQueue,
    effect: Effect::Removes,
    mainline: (6, 9),
    mainline_evidence: Evidence::Exact(
        "backported from mainline to 6.8.2 and not in v6.8: so v6.9",
    ),
    stable: &[
        exact(
            (5, 4),
            273,
            "5.4.273-rc1 review series (2024-03-24); present in 5.4.273",
        ),
        exact((5, 10), 214, "5.10.214-rc1 review series (2024-03-24)"),
        exact((5, 15), 153, "5.15.153-rc1 review series (2024-03-24)"),
        exact((6, 1), 83, "Debian changelog, ChangeLog-6.1.83"),
        exact((6, 6), 23, "6.6.23-rc1 review series (2024-03-24)"),
        exact((6, 7), 11, "Debian changelog, ChangeLog-6.7.11"),
        exact((6, 8), 2, "6.8.2-rc2 review series (2024-03-24)"),
    ],
};

/// `net: Prevent infinite while loop in skb_tx_hash()`: the fallback to the whole device for a traffic class
/// with no queues.
pub const TC_EMPTY_FALLBACK: Fact = Fact {
    commit: "0c57eeecc559",
    subject: "net: Prevent infinite while loop in skb_tx_hash()",
    behaviour: Behaviour::TcEmptyClassFallback,
    effect: Effect::Introduces,
    mainline: (5, 15),
    mainline_evidence: Evidence::Inferred("merged after v5.15-rc7, so v5.15"),
    stable: &[
        inferred((4, 19), 215, "queued with the 5.10.77 series (2021-11-01)"),
        inferred((5, 4), 157, "queued with the 5.10.77 series (2021-11-01)"),
        exact((5, 10), 77, "5.10.77 stable series"),
        exact((5, 14), 16, "5.14.16 stable series"),
    ],
};

/// The socket TX queue reselection timeout (`net.core.txq_reselection_ms`, added by 2ddef3462b3a; the pick logic
/// by 4a7708443dec): a full socket's cached queue older than the sysctl (default 1000 ms, 0 disables) counts as
/// unset; the queue and its timestamp are stored on every reselection, the timestamp refreshed for an unchanged
/// queue only when it is more than 1 s old.
pub const TXQ_RESELECTION: Fact = Fact {
    commit: "4a7708443dec",
    subject: "net: allow busy connected flows to switch tx queues",
    behaviour: Behaviour::TxqReselection,
    effect: Effect::Introduces,
    mainline: (6, 19),
    mainline_evidence: Evidence::Inferred("net-next-6.19 pull request, so v6.19-rc1"),
    stable: &[],
};

/// `tcp: fix excessive TLP and RACK timeouts from HZ rounding`: the tail loss probe's 2 ms floor is added before
/// the timeout is rounded to jiffies (`Fixes: bb4d991a28cc`, "tcp: adjust tail loss probe timeout"). At HZ = 250 a
/// probe on a sub-millisecond path went from 3 jiffies to 1.
pub const TLP_FLOOR_US: Fact = Fact {
    commit: "1c2709cfff1d",
    subject: "tcp: fix excessive TLP and RACK timeouts from HZ rounding",
    behaviour: Behaviour::TlpFloorInMicroseconds,
    effect: Effect::Introduces,
    mainline: (6, 6),
    mainline_evidence: Evidence::Exact("listed in the v6.6-rc7 release announcement"),
    stable: &[
        exact((4, 19), 297, "4.19.297-rc1 stable series"),
        exact((5, 4), 259, "5.4.259-rc1 stable series"),
        exact((5, 10), 199, "5.10.199 stable series"),
        exact((5, 15), 137, "5.15.137-rc1 stable series"),
        exact(
            (6, 1),
            60,
            "6.1.60-rc1 review series; Debian changelog, ChangeLog-6.1.60",
        ),
        exact((6, 5), 9, "6.5.9 stable release announcement"),
    ],
};

/// Every fact, oldest behaviour first.
pub const FACTS: &[Fact] = &[
    VETH_RECORD,
    VETH_FIX,
    ENA_HOOK,
    ENA_HOOK_REMOVAL,
    TC_EMPTY_FALLBACK,
    TXQ_RESELECTION,
    TLP_FLOOR_US,
];

/// A kernel version as far as it is known: the sublevel may be hidden (distribution releases such as
/// `6.1.0-18-amd64`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Version {
    /// `(major, minor)`.
    pub line: Line,
    /// The upstream sublevel, when known.
    pub sublevel: Option<u16>,
}

/// Whether a release carries a commit, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Carries {
    /// Yes or no, settled by the table.
    Known(bool, Basis),
    /// The line received the commit as a stable backport but the sublevel is not known.
    Unknown(Basis),
}

/// The reason behind an inference, printable as a sentence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Basis {
    /// The line is the commit's mainline line or later.
    Mainline(&'static Fact),
    /// The line is older and never received the commit.
    NotBackported(&'static Fact),
    /// The sublevel is at or past the stable backport.
    StableFrom(&'static Fact, Backport),
    /// The sublevel is before the stable backport.
    StableBefore(&'static Fact, Backport),
    /// The line received the commit, the sublevel is hidden.
    SublevelHidden(&'static Fact, Backport),
}

impl Basis {
    /// The fact behind the inference.
    pub const fn fact(&self) -> &'static Fact {
        match self {
            Self::Mainline(f)
            | Self::NotBackported(f)
            | Self::StableFrom(f, _)
            | Self::StableBefore(f, _)
            | Self::SublevelHidden(f, _) => f,
        }
    }

    /// True when every figure the inference rests on is exact.
    pub const fn is_exact(&self) -> bool {
        match self {
            Self::Mainline(f) | Self::NotBackported(f) => f.mainline_evidence.is_exact(),
            Self::StableFrom(_, b) | Self::StableBefore(_, b) | Self::SublevelHidden(_, b) => {
                b.evidence.is_exact()
            }
        }
    }
}

impl Fact {
    /// Whether a kernel of `version` contains this commit.
    pub fn carried_by(&'static self, version: Version) -> Carries {
        if version.line >= self.mainline {
            return Carries::Known(true, Basis::Mainline(self));
        }
        let Some(b) = self.stable.iter().find(|b| b.line == version.line) else {
            return Carries::Known(false, Basis::NotBackported(self));
        };
        match version.sublevel {
            Some(s) if s >= b.sublevel => Carries::Known(true, Basis::StableFrom(self, *b)),
            Some(_) => Carries::Known(false, Basis::StableBefore(self, *b)),
            None => Carries::Unknown(Basis::SublevelHidden(self, *b)),
        }
    }
}

/// The facts about one behaviour, as `(introducing, removing)`.
pub fn about(behaviour: Behaviour) -> (Option<&'static Fact>, Option<&'static Fact>) {
    let pick = |effect| {
        FACTS
            .iter()
            .find(|f| f.behaviour == behaviour && f.effect == effect)
    };
    (pick(Effect::Introduces), pick(Effect::Removes))
}

struct Sublevels<'a>(&'a [Backport]);

impl fmt::Display for Sublevels<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, b) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{}.{}.{}", b.line.0, b.line.1, b.sublevel)?;
            if !b.evidence.is_exact() {
                f.write_str(" (inferred)")?;
            }
        }
        Ok(())
    }
}

impl fmt::Display for Fact {
    /// `710ad98c363a ("veth: ..."), v5.17; stable 4.19.226, 5.4.172, ...`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} (\"{}\"), v{}.{}",
            self.commit, self.subject, self.mainline.0, self.mainline.1
        )?;
        if !self.stable.is_empty() {
            write!(f, "; stable {}", Sublevels(self.stable))?;
        }
        Ok(())
    }
}

impl fmt::Display for Basis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let fact = self.fact();
        let (c, (maj, min)) = (fact.commit, fact.mainline);
        match self {
            Self::Mainline(_) => write!(f, "v{maj}.{min} and later carry {c}"),
            Self::NotBackported(_) => write!(
                f,
                "{c} arrived in v{maj}.{min} and was not backported to this line"
            ),
            Self::StableFrom(_, b) => write!(
                f,
                "{c} reached this line in {}.{}.{} ({})",
                b.line.0,
                b.line.1,
                b.sublevel,
                b.evidence.source()
            ),
            Self::StableBefore(_, b) => write!(
                f,
                "older than {}.{}.{}, where {c} reached this line ({})",
                b.line.0,
                b.line.1,
                b.sublevel,
                b.evidence.source()
            ),
            Self::SublevelHidden(_, b) => write!(
                f,
                "{c} reached this line in {}.{}.{}, and the release string hides the upstream sublevel: give `uname -v` \
                 (Debian) or /proc/version_signature (Ubuntu)",
                b.line.0, b.line.1, b.sublevel
            ),
        }
    }
}

/// Whether `version` has `behaviour`, from the introducing and removing facts.
pub fn has(behaviour: Behaviour, version: Version) -> Carries {
    let (intro, removal) = about(behaviour);
    let Some(intro) = intro else {
        return Carries::Known(false, Basis::NotBackported(&VETH_RECORD));
    };
    match intro.carried_by(version) {
        Carries::Known(false, basis) => Carries::Known(false, basis),
        introduced => {
            let Some(removal) = removal else {
                return introduced;
            };
            match (introduced, removal.carried_by(version)) {
                (_, Carries::Known(true, basis)) => Carries::Known(false, basis),
                (Carries::Known(true, basis), Carries::Known(false, removal)) => {
                    // "Older than the backport of the removal" says more than "the line has the commit".
                    match removal {
                        Basis::StableBefore(..) => Carries::Known(true, removal),
                        _ => Carries::Known(true, basis),
                    }
                }
                (Carries::Unknown(basis), Carries::Known(false, _)) => Carries::Unknown(basis),
                (_, Carries::Unknown(basis)) => Carries::Unknown(basis),
                (Carries::Known(false, basis), _) => Carries::Known(false, basis),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(maj: u16, min: u16, sub: u16) -> Version {
        Version {
            line: (maj, min),
            sublevel: Some(sub),
        }
    }

    fn known(c: Carries) -> bool {
        match c {
            Carries::Known(b, _) => b,
            Carries::Unknown(b) => panic!("unknown: {b}"),
        }
    }

    #[test]
    fn the_fix_boundaries_are_the_stable_review_series() {
        for (line, first) in [
            ((4, 19), 226),
            ((5, 4), 172),
            ((5, 10), 92),
            ((5, 15), 15),
            ((5, 16), 1),
        ] {
            let r = |s| has(Behaviour::VethRecordsRxQueue, v(line.0, line.1, s));
            assert!(!known(r(first)), "{line:?}.{first} carries the fix");
            assert!(
                known(r(first - 1)),
                "{line:?}.{} is still affected",
                first - 1
            );
        }
    }

    #[test]
    fn the_bug_boundaries() {
        for (line, first) in [((4, 19), 184), ((5, 4), 109), ((5, 10), 27), ((5, 11), 11)] {
            let r = |s| has(Behaviour::VethRecordsRxQueue, v(line.0, line.1, s));
            assert!(known(r(first)));
            assert!(!known(r(first - 1)));
        }
        assert!(known(has(Behaviour::VethRecordsRxQueue, v(5, 12, 0))));
        assert!(!known(has(Behaviour::VethRecordsRxQueue, v(5, 17, 0))));
        assert!(!known(has(Behaviour::VethRecordsRxQueue, v(5, 9, 16))));
    }

    #[test]
    fn ena_hook_by_line() {
        let r = |a, b, c| known(has(Behaviour::EnaSelectQueue, v(a, b, c)));
        assert!(r(6, 1, 82) && !r(6, 1, 83));
        assert!(r(5, 4, 272) && !r(5, 4, 273));
        assert!(r(6, 5, 13), "6.5 was end of life before the removal");
        assert!(!r(6, 9, 0) && !r(6, 12, 0));
        assert!(!r(4, 4, 0), "before the driver existed");
    }

    #[test]
    fn a_hidden_sublevel_is_unknown_only_where_it_matters() {
        let hidden = |a, b| Version {
            line: (a, b),
            sublevel: None,
        };
        assert!(matches!(
            has(Behaviour::VethRecordsRxQueue, hidden(5, 15)),
            Carries::Unknown(_)
        ));
        assert!(!known(has(Behaviour::VethRecordsRxQueue, hidden(6, 1))));
        assert!(known(has(Behaviour::VethRecordsRxQueue, hidden(5, 13))));
        assert!(matches!(
            has(Behaviour::EnaSelectQueue, hidden(6, 1)),
            Carries::Unknown(_)
        ));
    }

    #[test]
    fn every_behaviour_has_an_introducing_fact() {
        for f in FACTS {
            assert!(about(f.behaviour).0.is_some(), "{}", f.commit);
        }
    }

    #[test]
    fn prose_is_generated_from_the_table() {
        use std::string::ToString;
        let s = VETH_FIX.to_string();
        assert!(s.contains("710ad98c363a") && s.contains("5.10.92") && s.contains("v5.17"));
        assert!(ENA_HOOK_REMOVAL.to_string().contains("6.1.83, "));
        assert!(TC_EMPTY_FALLBACK.to_string().contains("5.4.157 (inferred)"));
    }
}
