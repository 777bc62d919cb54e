//! `vm-tests`: prove on real kernels that the veth fix spreads traffic and its absence pins queue 0.
//!
//! `cargo run --release -p vm-tests -- run --json report.json` builds Debian's 6.1 with and without the fix
//! (cached), boots both under QEMU, runs the matrix and compares every case with `qdisc`'s prediction.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};

use vm_tests::build::{Image, build_both, cache_dir, stage};
use vm_tests::report::{KernelResult, Report, ktap, svg, table};
use vm_tests::tree::VethState;
use vm_tests::verdict::{Verdict, classify};
use vm_tests::{boot, guest, initramfs};

#[derive(Parser)]
#[command(
    name = "vm-tests",
    about = "txqlab kernel regression: veth rx-queue pinning on real kernels under QEMU"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Option<Cmd>,
}

#[derive(Subcommand)]
enum Cmd {
    /// Install the Debian packages the harness needs (as root), or print the command.
    Setup,
    /// Build both variants (fix in, fix reverted) of Debian's 6.1 or of --kernel-src, cached.
    Build(BuildArgs),
    /// Build if needed, boot, run the matrix, and judge every case against the model (the default).
    Run(RunArgs),
}

#[derive(clap::Args, Default)]
struct BuildArgs {
    /// Your kernel tree instead of Debian's linux-source-6.1.
    #[arg(long, value_name = "PATH")]
    kernel_src: Option<PathBuf>,
}

#[derive(clap::Args, Default)]
struct RunArgs {
    /// Boot and classify these bzImages instead of building (needs the options in vm-tests/config/txqlab.config).
    #[arg(long, value_name = "PATH", num_args = 1..)]
    kernel: Vec<PathBuf>,
    /// Build this tree's two variants instead of Debian's linux-source-6.1.
    #[arg(long, value_name = "PATH")]
    kernel_src: Option<PathBuf>,
    /// Write the results as JSON.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Print KTAP instead of the table.
    #[arg(long)]
    ktap: bool,
    /// Write a bar chart of per-queue packets per kernel.
    #[arg(long, value_name = "FILE.svg")]
    svg: Option<PathBuf>,
    /// Seconds one boot may take before it counts as hung.
    #[arg(long, default_value_t = 240)]
    timeout: u64,
    /// How to boot: our own initramfs under QEMU, or virtme-ng booting the host's filesystem (dummy-device
    /// cases only).
    #[arg(long, value_enum, default_value_t = Runner::Qemu)]
    runner: Runner,
}

#[derive(Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
enum Runner {
    /// QEMU with the harness's initramfs.
    #[default]
    Qemu,
    /// virtme-ng (`pip install virtme-ng`).
    Vng,
}

const PACKAGES: &[&str] = &[
    "qemu-system-x86",
    "linux-source-6.1",
    "build-essential",
    "flex",
    "bison",
    "bc",
    "libelf-dev",
    "libssl-dev",
    "busybox-static",
    "iproute2",
    "ethtool",
    "ccache",
    "cpio",
    "xz-utils",
    "gawk",
];

fn main() -> ExitCode {
    let cli = Cli::parse();
    let r = match cli.cmd.unwrap_or(Cmd::Run(RunArgs::default())) {
        Cmd::Setup => setup(),
        Cmd::Build(a) => build_both(a.kernel_src.as_deref(), Instant::now()).map(|imgs| {
            for i in imgs {
                println!("{} {}", i.name, i.path.display());
            }
            ExitCode::SUCCESS
        }),
        Cmd::Run(a) => run(a),
    };
    match r {
        Ok(c) => c,
        Err(e) => {
            eprintln!("vm-tests: {e}");
            ExitCode::from(2)
        }
    }
}

fn setup() -> Result<ExitCode, String> {
    let missing: Vec<&str> = PACKAGES
        .iter()
        .copied()
        .filter(|p| {
            !Command::new("dpkg")
                .args(["-s", p])
                .output()
                .is_ok_and(|o| o.status.success())
        })
        .collect();
    if missing.is_empty() {
        println!("all packages present");
        return Ok(ExitCode::SUCCESS);
    }
    let cmd = format!("apt-get update && apt-get install -y {}", missing.join(" "));
    if boot::tap_unavailable().is_some_and(|r| r.starts_with("not root")) {
        println!("as root, run: {cmd}");
        return Ok(ExitCode::from(1));
    }
    let st = Command::new("sh")
        .args([
            "-c",
            &format!(
                "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq {}",
                missing.join(" ")
            ),
        ])
        .status()
        .map_err(|e| e.to_string())?;
    if st.success() {
        Ok(ExitCode::SUCCESS)
    } else {
        Err(format!("installing failed; try: {cmd}"))
    }
}

/// The guest's traffic generator: the sibling binary when cargo built it, else compiled from its source (embedded
/// here) into the cache with `rustc`, since `cargo run` builds only the binary it runs.
fn txgen() -> Result<PathBuf, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let sibling = exe.with_file_name("txqlab-txgen");
    if sibling.exists() {
        return Ok(sibling);
    }
    const SRC: &str = include_str!("bin/txqlab-txgen.rs");
    let dir = cache_dir().join("txgen");
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let bin = dir.join(format!(
        "txqlab-txgen-{}",
        vm_tests::tree::fingerprint(&[SRC.as_bytes()])
    ));
    if !bin.exists() {
        let src = dir.join("txqlab-txgen.rs");
        std::fs::write(&src, SRC).map_err(|e| e.to_string())?;
        let o = Command::new("rustc")
            .args(["-O", "--edition", "2021", "-o"])
            .arg(&bin)
            .arg(&src)
            .output()
            .map_err(|e| format!("rustc (to build the guest traffic generator): {e}"))?;
        if !o.status.success() {
            return Err(format!(
                "building the guest traffic generator failed:\n{}",
                String::from_utf8_lossy(&o.stderr)
            ));
        }
    }
    Ok(bin)
}

fn run(a: RunArgs) -> Result<ExitCode, String> {
    let t0 = Instant::now();
    let images: Vec<Image> = if a.kernel.is_empty() {
        build_both(a.kernel_src.as_deref(), t0)?
    } else {
        a.kernel
            .iter()
            .map(|p| {
                if p.exists() {
                    Ok(Image {
                        name: p.display().to_string(),
                        variant: None,
                        path: p.clone(),
                    })
                } else {
                    Err(format!("{}: no such kernel image", p.display()))
                }
            })
            .collect::<Result<_, String>>()?
    };
    let work = cache_dir().join("run");
    std::fs::create_dir_all(&work).map_err(|e| e.to_string())?;
    let tgen = txgen()?;
    let skip = match a.runner {
        Runner::Qemu => boot::tap_unavailable(),
        Runner::Vng => Some(
            "the vng runner boots the host's filesystem without a tap-backed virtio-net".into(),
        ),
    };
    let initrd = initramfs::build(
        &work.join("initramfs"),
        &guest::script(skip.is_none()),
        &tgen,
    )?;
    stage(t0, &format!("initramfs {}", initrd.display()));
    let vng_script = work.join("vng-guest.sh");
    std::fs::write(&vng_script, guest::vng_script(&tgen)).map_err(|e| e.to_string())?;
    let mut results = Vec::new();
    for (n, img) in images.iter().enumerate() {
        let log = work.join(format!("console-{n}.log"));
        let tb = Instant::now();
        let limit = Duration::from_secs(a.timeout);
        let booted = match a.runner {
            Runner::Qemu => {
                stage(t0, &format!("booting {} under QEMU (TCG)", img.name));
                let tap = skip.is_none().then(|| format!("txqlabvm{n}"));
                boot::boot(&img.path, &initrd, tap.as_deref(), limit, &log)
            }
            Runner::Vng => {
                stage(t0, &format!("booting {} with virtme-ng", img.name));
                boot::boot_vng(&img.path, &vng_script, limit, &log)
            }
        }
        .map_err(|e| format!("{}: {e}\n(console log: {})", img.name, log.display()))?;
        let (verdict, cases) = classify(&booted.cases).map_err(|e| format!("{}: {e}", img.name))?;
        let expected = img.variant.map(|v| match v {
            VethState::Fixed => Verdict::NotAffected,
            VethState::Buggy => Verdict::Affected,
        });
        let variant = match img.variant {
            Some(VethState::Fixed) => "fixed",
            Some(VethState::Buggy) => "fix-reverted",
            None => "user",
        };
        results.push(KernelResult {
            name: img.name.clone(),
            variant: variant.into(),
            verdict,
            expected,
            cases,
            skipped: skip
                .iter()
                .map(|r| format!("virtio-net cases: {r}"))
                .collect(),
            boot_s: tb.elapsed().as_secs_f64(),
        });
        stage(
            t0,
            &format!("{}: done in {:.1} s", img.name, tb.elapsed().as_secs_f64()),
        );
    }
    if let Some(p) = &a.json {
        let s = serde_json::to_string_pretty(&Report { kernels: &results })
            .map_err(|e| e.to_string())?;
        std::fs::write(p, s + "\n").map_err(|e| format!("{}: {e}", p.display()))?;
    }
    if let Some(p) = &a.svg {
        svg(Path::new(p), &results)?;
    }
    print!(
        "{}",
        if a.ktap {
            ktap(&results)
        } else {
            table(&results)
        }
    );
    let ok = results.iter().all(KernelResult::passed);
    stage(
        t0,
        if ok {
            "all kernels as expected, every case within the model"
        } else {
            "FAILED: see above"
        },
    );
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
