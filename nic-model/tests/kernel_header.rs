//! Conformance with the kernel's own `ena_eth_io_defs.h`: every mask, shift and struct size the model uses is
//! checked against a C program compiled against the header from Debian's `linux-source-6.1`.
//!
//! Where the header comes from, in order: `$TXQLAB_ENA_HEADER`, or the tarball `/usr/src/linux-source-6.1.tar.xz`.
//! Under CI (`CI=true`) a missing header fails the test; elsewhere the test says it skipped and why.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::Command;

use nic_model::defs::KERNEL_DEFS;

const TARBALL: &str = "/usr/src/linux-source-6.1.tar.xz";
const MEMBER: &str = "linux-source-6.1/drivers/net/ethernet/amazon/ena/ena_eth_io_defs.h";

fn scratch() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("ena-header");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn find_header() -> Result<PathBuf, String> {
    if let Ok(p) = std::env::var("TXQLAB_ENA_HEADER") {
        return Ok(PathBuf::from(p));
    }
    if !Path::new(TARBALL).exists() {
        return Err(format!(
            "{TARBALL} not found (apt-get install linux-source-6.1)"
        ));
    }
    let dir = scratch();
    let out = dir.join("ena_eth_io_defs.h");
    if !out.exists() {
        let o = Command::new("tar")
            .args(["-xJf", TARBALL, "-O", MEMBER])
            .output()
            .map_err(|e| format!("tar: {e}"))?;
        if !o.status.success() || o.stdout.is_empty() {
            return Err(format!(
                "tar could not extract {MEMBER}: {}",
                String::from_utf8_lossy(&o.stderr)
            ));
        }
        std::fs::write(&out, o.stdout).unwrap();
    }
    Ok(out)
}

/// One assertion per mask, shift and size of `ena_eth_io_defs.h`, side by side with the header's own names: a
/// table, long on purpose.
#[test]
fn masks_shifts_and_sizes_match_the_kernel_header() {
    let header = match find_header() {
        Ok(h) => h,
        Err(why) if std::env::var("CI").as_deref() != Ok("true") => {
            eprintln!("SKIPPED kernel header conformance: {why}");
            println!("SKIPPED kernel header conformance: {why}");
            return;
        }
        Err(why) => panic!("kernel header conformance cannot run in CI: {why}"),
    };
    let dir = scratch();
    let mut c = String::from(
        "#include <stdio.h>\n#include <stdint.h>\ntypedef uint8_t u8; typedef uint16_t u16; typedef uint32_t u32;\n\
         #define BIT(n) (1ULL << (n))\n#define GENMASK(h, l) (((~0ULL) << (l)) & (~0ULL >> (63 - (h))))\n",
    );
    c += &format!("#include \"{}\"\nint main(void) {{\n", header.display());
    for (name, _) in KERNEL_DEFS {
        c += &format!("  printf(\"{name} %llu\\n\", (unsigned long long)({name}));\n");
    }
    for s in [
        "tx_desc",
        "tx_meta_desc",
        "tx_cdesc",
        "rx_desc",
        "rx_cdesc_base",
    ] {
        c += &format!("  printf(\"sizeof_{s} %zu\\n\", sizeof(struct ena_eth_io_{s}));\n");
    }
    c += "  return 0;\n}\n";
    let src = dir.join("check.c");
    let bin = dir.join("check");
    std::fs::write(&src, c).unwrap();
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let o = Command::new(&cc)
        .arg("-o")
        .arg(&bin)
        .arg(&src)
        .output()
        .expect("a C compiler");
    assert!(
        o.status.success(),
        "compiling against the header failed:\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let out = Command::new(&bin).output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let kernel: std::collections::HashMap<&str, u64> = text
        .lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(k, v)| (k, v.parse().unwrap()))
        .collect();
    let mut checked = 0;
    for (name, ours) in KERNEL_DEFS {
        assert_eq!(kernel.get(name).copied(), Some(*ours as u64), "{name}");
        checked += 1;
    }
    let sizes = [
        (
            "sizeof_tx_desc",
            std::mem::size_of::<nic_model::desc::TxDesc>(),
        ),
        (
            "sizeof_tx_meta_desc",
            std::mem::size_of::<nic_model::desc::TxMetaDesc>(),
        ),
        (
            "sizeof_tx_cdesc",
            std::mem::size_of::<nic_model::desc::TxCdesc>(),
        ),
        (
            "sizeof_rx_desc",
            std::mem::size_of::<nic_model::desc::RxDesc>(),
        ),
        (
            "sizeof_rx_cdesc_base",
            std::mem::size_of::<nic_model::desc::RxCdesc>(),
        ),
    ];
    for (name, ours) in sizes {
        assert_eq!(kernel.get(name).copied(), Some(ours as u64), "{name}");
        checked += 1;
    }
    println!(
        "kernel header conformance: {checked} values checked against {}",
        header.display()
    );
}
