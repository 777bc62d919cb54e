//! Runs one stage of the embedded incident for profiling: `cargo run --release -p txqlab --example stage -- 2 10`.
use std::process::ExitCode;

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("stage: {e}");
            ExitCode::from(2)
        }
    }
}

fn run() -> Result<(), txqlab::Error> {
    let s = txqlab::scenario::Scenario::incident()?;
    let mut args = std::env::args().skip(1);
    let i: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(2);
    let secs: f64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(45.0);
    let st = s.stage(i)?;
    let mut p = st.params;
    p.duration_s = secs;
    let t = std::time::Instant::now();
    let r = txqlab::sim::run_stage(&st.name, &p, |_| {})?;
    let el = t.elapsed().as_secs_f64();
    println!(
        "{}: {} packets in {el:.2} s = {:.2} M packets/s",
        r.name,
        r.packets_simulated,
        r.packets_simulated as f64 / el / 1e6
    );
    Ok(())
}
