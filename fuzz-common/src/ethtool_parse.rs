//! `ethtool_parse`: ENA `ethtool -S` text through nic-model's `NicStats`.

/// `ethtool -S` text: never panics; what parses renders back to text that parses to the same counters.
pub fn ethtool_parse(data: &[u8]) {
    let Ok(text) = core::str::from_utf8(data) else {
        return;
    };
    if let Ok(s) = nic_model::ethtool::NicStats::parse(text) {
        let again = nic_model::ethtool::NicStats::parse(&s.to_string());
        let mut expect = s.clone();
        expect.unknown = 0;
        if s.queues == 0
            && s.eni.is_none()
            && s.conntrack_available.is_none()
            && s.global == Default::default()
        {
            // Only unknown counters: the rendering has only zeroed globals.
            return;
        }
        assert_eq!(
            again.as_ref().map(|a| (&a.tx, &a.rx, a.global, a.eni)),
            Ok((&expect.tx, &expect.rx, expect.global, expect.eni))
        );
    }
}
