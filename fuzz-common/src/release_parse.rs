//! `release_parse`: kernel release strings through `qdisc::Release` and the kernel profiles.

/// Kernel release strings: never panic; a parsed release gives a profile.
pub fn release_parse(data: &[u8]) {
    let Ok(text) = core::str::from_utf8(data) else {
        return;
    };
    let Ok(release) = qdisc::Release::parse(text) else {
        return;
    };
    let profile = qdisc::KernelProfile::of(release);
    let version = release.version();
    // The profile agrees with the facts table...
    let ubuntu_report = matches!(profile.reason, qdisc::profile::Reason::Report(_));
    match qdisc::facts::has(qdisc::facts::Behaviour::VethRecordsRxQueue, version) {
        qdisc::facts::Carries::Known(present, _) if !ubuntu_report => {
            assert_eq!(profile.veth_records_rx_queue, present, "{text:?}");
            assert_ne!(profile.confidence, qdisc::Confidence::Ambiguous, "{text:?}");
        }
        qdisc::facts::Carries::Unknown(_) if !ubuntu_report => {
            assert_eq!(profile.confidence, qdisc::Confidence::Ambiguous, "{text:?}");
        }
        _ => {}
    }
    // ...and with a second reading of the raw table: affected from the bug's first release in the line until the
    // fix's, for every release whose upstream sublevel is known.
    if let (Some(sub), false) = (version.sublevel, ubuntu_report) {
        let has = |f: &qdisc::facts::Fact| {
            version.line >= f.mainline
                || f.stable
                    .iter()
                    .any(|b| b.line == version.line && sub >= b.sublevel)
        };
        let expected = has(&qdisc::facts::VETH_RECORD) && !has(&qdisc::facts::VETH_FIX);
        assert_eq!(profile.veth_records_rx_queue, expected, "{text:?}");
        let ena = has(&qdisc::facts::ENA_HOOK) && !has(&qdisc::facts::ENA_HOOK_REMOVAL);
        assert_eq!(profile.ena_select_queue.present, ena, "{text:?}");
        // A kernel.org release printed back parses to the same version.
        match qdisc::Release::parse(&format!("{}.{}.{sub}", release.major, release.minor)) {
            Ok(again) => assert_eq!(again.version(), version, "{text:?}"),
            Err(e) => panic!("{text:?} printed back does not parse: {e}"),
        }
    }
}
