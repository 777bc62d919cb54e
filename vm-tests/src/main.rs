//! `vm-tests`: prove on real kernels that the veth fix spreads traffic and its absence pins queue 0.
//!
//! `cargo run --release -p vm-tests -- run --json report.json` builds Debian's 6.1 and 6.12, each with and
//! without the fix (cached, out of tree), boots all four under QEMU, runs the matrix and compares every case with
//! `qdisc`'s prediction.
//!
//! Exit status, aligned with kselftest: 0 every kernel as expected; 1 a kernel or a case not as expected; 2 the
//! run could not complete (bad input, build failure, panic, hang, a guest command failing); 4 skip: a requirement
//! is missing (a host tool or package, a kernel option the guest needs), with what is missing.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};

use vm_tests::build::{DEFAULT_KERNELS, Image, Source, build_both, cache_dir, stage};
use vm_tests::prereq::{self, Need};
use vm_tests::report::{KernelResult, Report, ktap, svg, table};
use vm_tests::tree::VethState;
use vm_tests::verdict::{GUEST_KERNEL, Verdict, classify_on};
use vm_tests::{Error, boot, checks, guest, initramfs};

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
    /// Build both variants (fix in, fix reverted) of Debian's 6.1 and 6.12 (--kernels) or of --kernel-src,
    /// cached, out of tree.
    Build(BuildArgs),
    /// Build if needed, boot, run the matrix, and judge every case against the model (the default).
    Run(RunArgs),
}

#[derive(clap::Args)]
struct BuildArgs {
    /// Your kernel tree instead of Debian's: only read; the variants are built from a hard-link copy, out of
    /// tree, under ~/.cache/txqlab/work.
    #[arg(long, value_name = "PATH")]
    kernel_src: Option<PathBuf>,
    /// Debian kernels (linux-source-VERSION packages) to build.
    #[arg(long, value_name = "VERSIONS", value_delimiter = ',', default_values_t = default_kernels(),
          conflicts_with = "kernel_src")]
    kernels: Vec<String>,
}

#[derive(clap::Args)]
struct RunArgs {
    /// Boot and classify these bzImages instead of building (needs the options in vm-tests/config/txqlab.config).
    #[arg(long, value_name = "PATH", num_args = 1.., conflicts_with_all = ["kernel_src", "kernels"])]
    kernel: Vec<PathBuf>,
    /// Build this tree's two variants instead of Debian's: only read; the variants are built from a hard-link
    /// copy, out of tree, under ~/.cache/txqlab/work.
    #[arg(long, value_name = "PATH")]
    kernel_src: Option<PathBuf>,
    /// Debian kernels (linux-source-VERSION packages) to build and boot.
    #[arg(long, value_name = "VERSIONS", value_delimiter = ',', default_values_t = default_kernels(),
          conflicts_with = "kernel_src")]
    kernels: Vec<String>,
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
    /// The `txqlab` binary whose `probe` runs in every guest (default: the one beside this binary, as
    /// `cargo build --release -p txqlab` leaves it). Without one the probe check is reported as skipped.
    #[arg(long, value_name = "PATH")]
    txqlab: Option<PathBuf>,
}

#[derive(Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
enum Runner {
    /// QEMU with the harness's initramfs.
    #[default]
    Qemu,
    /// virtme-ng (`pip install virtme-ng`).
    Vng,
}

fn default_kernels() -> Vec<String> {
    DEFAULT_KERNELS.iter().map(|k| k.to_string()).collect()
}

/// kselftest's exit code for a skip (`KSFT_SKIP`).
const KSFT_SKIP: u8 = 4;

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    let cli = Cli::parse();
    let cmd = match cli.cmd {
        Some(c) => c,
        None => Cli::parse_from(["vm-tests", "run"])
            .cmd
            .unwrap_or(Cmd::Setup),
    };
    let ktap_out = matches!(&cmd, Cmd::Run(a) if a.ktap);
    let r = match cmd {
        Cmd::Setup => setup(),
        Cmd::Build(a) => build(a),
        Cmd::Run(a) => run(a),
    };
    match r {
        Ok(c) => c,
        Err(e) => match e.skip_reason() {
            Some(why) => {
                if ktap_out {
                    // kselftest's form of a whole run skipped.
                    let first = why.lines().next().unwrap_or_default();
                    println!("KTAP version 1\n1..0 # SKIP {first}");
                }
                eprintln!("vm-tests: SKIP: {why}");
                ExitCode::from(KSFT_SKIP)
            }
            None => {
                eprintln!("vm-tests: {e}");
                ExitCode::from(2)
            }
        },
    }
}

/// The trees to build: `--kernel-src`, or Debian's `--kernels`.
fn sources(kernel_src: Option<PathBuf>, kernels: &[String]) -> Result<Vec<Source>, Error> {
    if let Some(t) = kernel_src {
        return Ok(vec![Source::Tree(t)]);
    }
    let mut out = Vec::new();
    for k in kernels {
        let ok = k.split_once('.').is_some_and(|(a, b)| {
            !a.is_empty()
                && !b.is_empty()
                && a.chars().all(|c| c.is_ascii_digit())
                && b.chars().all(|c| c.is_ascii_digit())
        });
        if !ok {
            return Err(Error::Usage(format!(
                "--kernels: `{k}` is not a Debian kernel version such as 6.1 or 6.12"
            )));
        }
        let s = Source::Debian(k.clone());
        if !out.contains(&s) {
            out.push(s);
        }
    }
    if out.is_empty() {
        return Err(Error::Usage("--kernels: no kernel given".into()));
    }
    Ok(out)
}

/// What building `sources` needs.
fn build_needs(sources: &[Source]) -> Vec<Need> {
    let mut needs = prereq::build_tools();
    for s in sources {
        if let Source::Debian(v) = s {
            needs.extend(prereq::debian_source(v, Source::extracted(v)));
        }
    }
    needs
}

/// Stops with a skip listing everything missing, before anything long starts.
fn check(needs: &[Need]) -> Result<(), Error> {
    match prereq::missing(needs) {
        Some(m) => Err(Error::Skip(m)),
        None => Ok(()),
    }
}

fn build(a: BuildArgs) -> Result<ExitCode, Error> {
    let t0 = Instant::now();
    let srcs = sources(a.kernel_src, &a.kernels)?;
    check(&build_needs(&srcs))?;
    for s in &srcs {
        for i in build_both(s, t0)? {
            println!("{} {}", i.name, i.path.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn setup() -> Result<ExitCode, Error> {
    let packages = prereq::all_packages(DEFAULT_KERNELS);
    let missing: Vec<&str> = packages
        .iter()
        .map(String::as_str)
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
        .map_err(|e| Error::command("sh", e))?;
    if st.success() {
        Ok(ExitCode::SUCCESS)
    } else {
        Err(Error::command(
            "apt-get",
            format!("installing failed; try: {cmd}"),
        ))
    }
}

const TXGEN_SRC: &str = include_str!("bin/txqlab-txgen.rs");

/// Where the guest's traffic generator is, or where it would be compiled to.
fn txgen_paths() -> Result<(PathBuf, PathBuf), Error> {
    let exe = std::env::current_exe().map_err(|e| Error::io("/proc/self/exe", e))?;
    let bin = cache_dir().join("txgen").join(format!(
        "txqlab-txgen-{}",
        vm_tests::tree::fingerprint(&[TXGEN_SRC.as_bytes()])
    ));
    Ok((exe.with_file_name("txqlab-txgen"), bin))
}

/// The guest's traffic generator: the sibling binary when cargo built it, else compiled from its source (embedded
/// here) into the cache with `rustc`, since `cargo run` builds only the binary it runs.
fn txgen() -> Result<PathBuf, Error> {
    let (sibling, bin) = txgen_paths()?;
    if sibling.exists() {
        log::debug!("traffic generator: {}", sibling.display());
        return Ok(sibling);
    }
    const SRC: &str = TXGEN_SRC;
    let dir = cache_dir().join("txgen");
    std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
    if !bin.exists() {
        let src = dir.join("txqlab-txgen.rs");
        std::fs::write(&src, SRC).map_err(|e| Error::io(&src, e))?;
        log::info!("compiling the traffic generator into {}", bin.display());
        let o = Command::new("rustc")
            .args(["-O", "--edition", "2021", "-o"])
            .arg(&bin)
            .arg(&src)
            .output()
            .map_err(|e| Error::command("rustc (to build the guest traffic generator)", e))?;
        if !o.status.success() {
            return Err(Error::command(
                "building the guest traffic generator",
                format!("failed:\n{}", String::from_utf8_lossy(&o.stderr)),
            ));
        }
    }
    Ok(bin)
}

/// Everything a run needs before its first build: the trees to build, the host's tools.
fn run_needs(a: &RunArgs) -> Result<Vec<Source>, Error> {
    for p in &a.kernel {
        if !p.exists() {
            return Err(Error::Usage(format!(
                "{}: no such kernel image",
                p.display()
            )));
        }
    }
    let srcs = if a.kernel.is_empty() {
        sources(a.kernel_src.clone(), &a.kernels)?
    } else {
        Vec::new()
    };
    let mut needs = build_needs(&srcs);
    if srcs.is_empty() {
        needs.clear();
    }
    needs.extend(match a.runner {
        Runner::Qemu => prereq::qemu_boot(),
        Runner::Vng => prereq::vng_boot(),
    });
    let (sibling, cached) = txgen_paths()?;
    if !sibling.exists() && !cached.exists() {
        needs.push(prereq::need(
            "rustc",
            "rustc (rustup)",
            "compiling the guest's traffic generator",
            prereq::Check::Cmd("rustc"),
        ));
    }
    check(&needs)?;
    Ok(srcs)
}

/// The guest's side of a run, ready before any kernel is built.
struct GuestSide {
    /// Why the virtio-net cases cannot run (no tap device), if they cannot.
    skip: Option<String>,
    /// The `txqlab` binary the guest runs `probe` with.
    txqlab: Option<PathBuf>,
    /// What the run leaves out, reported per kernel.
    not_run: Vec<String>,
    /// The initramfs (QEMU runner).
    initrd: PathBuf,
    /// The guest script (virtme-ng runner).
    vng_script: PathBuf,
}

/// Builds the initramfs and the virtme-ng script, and says which checks the run leaves out.
fn guest_side(a: &RunArgs, work: &Path, t0: Instant) -> Result<GuestSide, Error> {
    let tgen = txgen()?;
    let skip = match a.runner {
        Runner::Qemu => boot::tap_unavailable(),
        Runner::Vng => Some(
            "the vng runner boots the host's filesystem without a tap-backed virtio-net".into(),
        ),
    };
    let txqlab = match &a.txqlab {
        Some(p) if p.exists() => Some(p.clone()),
        Some(p) => {
            return Err(Error::Usage(format!(
                "--txqlab {}: no such file",
                p.display()
            )));
        }
        None => std::env::current_exe()
            .ok()
            .map(|e| e.with_file_name("txqlab"))
            .filter(|p| p.exists()),
    };
    let mut not_run: Vec<String> = skip
        .iter()
        .map(|r| format!("virtio-net cases: {r}"))
        .collect();
    match a.runner {
        Runner::Vng => not_run.push(
            "probe and selftest: the vng runner runs the matrix's dummy cases only".into(),
        ),
        Runner::Qemu if txqlab.is_none() => not_run.push(
            "probe: no txqlab binary beside vm-tests (cargo build --release -p txqlab, or --txqlab PATH)".into(),
        ),
        Runner::Qemu => {}
    }
    let initrd = initramfs::build(
        &work.join("initramfs"),
        &guest::script(skip.is_none()),
        &tgen,
        txqlab.as_deref(),
    )?;
    stage(t0, &format!("initramfs {}", initrd.display()));
    let vng_script = work.join("vng-guest.sh");
    std::fs::write(&vng_script, guest::vng_script(&tgen)).map_err(|e| Error::io(&vng_script, e))?;
    Ok(GuestSide {
        skip,
        txqlab,
        not_run,
        initrd,
        vng_script,
    })
}

/// Boots image number `n`, classifies its cases and judges the probe and the selftest against the verdict.
fn boot_and_judge(
    a: &RunArgs,
    g: &GuestSide,
    work: &Path,
    n: usize,
    img: &Image,
    t0: Instant,
) -> Result<KernelResult, Error> {
    let log = work.join(format!("console-{n}.log"));
    let tb = Instant::now();
    let limit = Duration::from_secs(a.timeout);
    let booted = match a.runner {
        Runner::Qemu => {
            stage(t0, &format!("booting {} under QEMU (TCG)", img.name));
            let tap = g.skip.is_none().then(|| format!("txqlabvm{n}"));
            boot::boot(&img.path, &g.initrd, tap.as_deref(), limit, &log)
        }
        Runner::Vng => {
            stage(t0, &format!("booting {} with virtme-ng", img.name));
            boot::boot_vng(&img.path, &g.vng_script, limit, &log)
        }
    }
    .map_err(|source| Error::Boot {
        image: img.name.clone(),
        log: log.clone(),
        source,
    })?;
    log::debug!(
        "{}: guest kernel `{}`, {} cases",
        img.name,
        booted.kernel,
        booted.cases.len()
    );
    // The selection rules of the kernel that booted (its `uname -r`), the veth behaviour from the measurement.
    let release = if booted.kernel.is_empty() {
        GUEST_KERNEL
    } else {
        booted.kernel.as_str()
    };
    let (verdict, cases) = classify_on(&booted.cases, release).map_err(|e| Error::Classify {
        image: img.name.clone(),
        source: Box::new(e),
    })?;
    let expected = img.variant.map(|v| match v {
        VethState::Fixed => Verdict::NotAffected,
        VethState::Buggy => Verdict::Affected,
    });
    // The probe and the selftest, each judged against the matrix's verdict (itself judged against the variant).
    let mut other = Vec::new();
    if a.runner == Runner::Qemu {
        if g.txqlab.is_some() {
            other.push(checks::probe(booted.probe.as_ref(), verdict));
        }
        other.push(checks::selftest(booted.selftest.as_ref(), verdict));
    }
    Ok(KernelResult {
        name: img.name.clone(),
        variant: img.label.clone(),
        verdict,
        expected,
        cases,
        checks: other,
        skipped: g.not_run.clone(),
        boot_s: tb.elapsed().as_secs_f64(),
    })
}

/// Writes the JSON report and the chart, prints the table or KTAP, and returns the exit status.
fn report(a: &RunArgs, results: &[KernelResult], t0: Instant) -> Result<ExitCode, Error> {
    if let Some(p) = &a.json {
        let s = serde_json::to_string_pretty(&Report { kernels: results })?;
        std::fs::write(p, s + "\n").map_err(|e| Error::io(p, e))?;
    }
    if let Some(p) = &a.svg {
        svg(Path::new(p), results)?;
    }
    print!(
        "{}",
        if a.ktap {
            ktap(results)
        } else {
            table(results)
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

fn run(a: RunArgs) -> Result<ExitCode, Error> {
    let t0 = Instant::now();
    // Everything the whole run needs, before the first build starts.
    let srcs = run_needs(&a)?;
    // The guest's side first, so that a problem there shows before any kernel is built.
    let work = cache_dir().join("run");
    std::fs::create_dir_all(&work).map_err(|e| Error::io(&work, e))?;
    let g = guest_side(&a, &work, t0)?;
    // The guest side is ready (seconds); now the long part.
    let mut images: Vec<Image> = Vec::new();
    for s in &srcs {
        images.extend(build_both(s, t0)?);
    }
    images.extend(a.kernel.iter().map(|p| Image {
        name: p.display().to_string(),
        variant: None,
        label: "user".into(),
        path: p.clone(),
    }));
    let mut results = Vec::new();
    for (n, img) in images.iter().enumerate() {
        let r = boot_and_judge(&a, &g, &work, n, img, t0)?;
        stage(t0, &format!("{}: done in {:.1} s", img.name, r.boot_s));
        results.push(r);
    }
    report(&a, &results, t0)
}
