//! A small embedded catalogue of EC2 instance types: published network bandwidth and ENA queue counts.
//!
//! Bandwidth: the AWS EC2 User Guide's network specifications of general-purpose, compute-optimised and
//! network-optimised ("n") instances (docs.aws.amazon.com/ec2/latest/instancetypes/gp.html and co.), which give a
//! baseline and a burst ("up to") figure in Gbit/s; instances at or below 16 vCPUs burst on credits. The figures
//! apply to each direction separately (User Guide, "Amazon EC2 instance network bandwidth": "up to 10 Gbps of
//! bandwidth for inbound traffic and, simultaneously, up to 10 Gbps for outbound traffic").
//!
//! ENA queues: the ENA driver opens one I/O queue pair per online CPU up to the device's maximum
//! (`ena_calc_max_io_queue_num()` in `drivers/net/ethernet/amazon/ena/ena_netdev.c`); these types expose 8 per
//! interface at 8 vCPUs and more (the User Guide's "ENA queues" table).

use crate::error::Error;
/// One instance type.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct InstanceType {
    /// API name.
    pub name: &'static str,
    /// vCPUs.
    pub vcpus: u32,
    /// Baseline bandwidth, Gbit/s, per direction.
    pub baseline_gbps: f64,
    /// Burst bandwidth, Gbit/s, per direction.
    pub peak_gbps: f64,
    /// ENA queues per interface.
    pub ena_queues: u16,
}

const fn it(name: &'static str, vcpus: u32, baseline: f64, peak: f64, q: u16) -> InstanceType {
    InstanceType {
        name,
        vcpus,
        baseline_gbps: baseline,
        peak_gbps: peak,
        ena_queues: q,
    }
}

/// The catalogue.
pub const CATALOGUE: [InstanceType; 8] = [
    it("m5.2xlarge", 8, 2.5, 10.0, 8),
    it("m5.4xlarge", 16, 5.0, 10.0, 8),
    it("m5.8xlarge", 32, 10.0, 10.0, 8),
    it("c5.4xlarge", 16, 5.0, 10.0, 8),
    it("m5n.2xlarge", 8, 8.125, 25.0, 8),
    it("m5n.4xlarge", 16, 16.25, 25.0, 8),
    it("m5n.8xlarge", 32, 25.0, 25.0, 8),
    it("c5n.4xlarge", 16, 15.0, 25.0, 8),
];

/// Looks an instance type up by name.
pub fn lookup(name: &str) -> Result<&'static InstanceType, Error> {
    CATALOGUE
        .iter()
        .find(|t| t.name == name)
        .ok_or_else(|| Error::UnknownInstance {
            name: name.to_string(),
            known: CATALOGUE.iter().map(|t| t.name).collect(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn network_optimised_types_have_more_baseline_than_their_general_purpose_twins() {
        for (gp, n) in [("m5.2xlarge", "m5n.2xlarge"), ("m5.4xlarge", "m5n.4xlarge")] {
            let (a, b) = (lookup(gp).unwrap(), lookup(n).unwrap());
            assert!(b.baseline_gbps > 3.0 * a.baseline_gbps && b.peak_gbps > a.peak_gbps);
            assert_eq!(a.vcpus, b.vcpus);
        }
        assert!(lookup("m5.4xlarge").is_ok_and(|t| t.baseline_gbps == 5.0));
        assert!(
            lookup("t2.nano")
                .unwrap_err()
                .to_string()
                .contains("m5.4xlarge")
        );
        for t in CATALOGUE {
            assert!(t.baseline_gbps <= t.peak_gbps, "{t:?}");
        }
    }
}
