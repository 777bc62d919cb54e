//! CoDel against the kernel's own code: `include/net/codel.h` and `codel_impl.h` from Debian's linux-source-6.1
//! are compiled as a small C program (with a shim of our own for the few kernel headers they include), and it and
//! the model's `codel_dequeue` run the same operation sequences: the packets each dequeue returns, the ones it
//! drops, the CE marks and the `codel_vars` afterwards must be identical, step by step.
//!
//! The C side's queue is a FIFO whose `dequeue_func` takes the head and decreases the qdisc backlog before CoDel
//! looks at it, as `dequeue_func` in `net/sched/sch_fq_codel.c` does; the kernel's functions under test are
//! `codel_dequeue`, `codel_should_drop`, `codel_Newton_step` and `codel_control_law`, and `INET_ECN_set_ce`'s rule.
//!
//! Where the source comes from: `$TXQLAB_LINUX_SRC` (an unpacked tree), else the tarball
//! `/usr/src/linux-source-6.1.tar.xz`. Without it the test says SKIPPED and passes, except under `CI=true`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use qdisc::sched::{CodelParams, CodelQueue, CodelStats, CodelVars, QPkt, codel_dequeue};

const TARBALL: &str = "/usr/src/linux-source-6.1.tar.xz";
const MEMBERS: [&str; 2] = ["include/net/codel.h", "include/net/codel_impl.h"];

fn scratch() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("codel-kernel");
    std::fs::create_dir_all(dir.join("linux")).unwrap();
    std::fs::create_dir_all(dir.join("net")).unwrap();
    dir
}

/// Puts the kernel's two CoDel headers under `dir/kernel/net/`.
fn kernel_headers(dir: &Path) -> Result<PathBuf, String> {
    let kdir = dir.join("kernel");
    std::fs::create_dir_all(kdir.join("net")).unwrap();
    for m in MEMBERS {
        let out = kdir.join("net").join(Path::new(m).file_name().unwrap());
        if out.exists() && std::env::var("TXQLAB_LINUX_SRC").is_err() {
            continue;
        }
        let text = if let Ok(src) = std::env::var("TXQLAB_LINUX_SRC") {
            std::fs::read(Path::new(&src).join(m)).map_err(|e| format!("{src}/{m}: {e}"))?
        } else {
            if !Path::new(TARBALL).exists() {
                return Err(format!(
                    "{TARBALL} not found (apt-get install linux-source-6.1)"
                ));
            }
            let member = format!("linux-source-6.1/{m}");
            let o = Command::new("tar")
                .args(["-xJf", TARBALL, "-O", &member])
                .output()
                .map_err(|e| format!("tar: {e}"))?;
            if !o.status.success() || o.stdout.is_empty() {
                return Err(format!(
                    "tar could not extract {member}: {}",
                    String::from_utf8_lossy(&o.stderr)
                ));
            }
            o.stdout
        };
        std::fs::write(out, text).unwrap();
    }
    Ok(kdir)
}

/// The shim: just enough of the kernel's types for the two headers, written for this test.
const SHIM_TYPES: &str = r#"
#pragma once
#include <stdint.h>
#include <stdbool.h>
#include <string.h>
#include <limits.h>
typedef uint8_t u8; typedef uint16_t u16; typedef uint32_t u32; typedef uint64_t u64; typedef int32_t s32;
#define likely(x) (x)
#define unlikely(x) (x)
#define typecheck(type, x) 1
#define NSEC_PER_MSEC 1000000ULL
#define NSEC_PER_USEC 1000ULL
#define do_div(n, base) ((n) /= (base))
static inline u32 reciprocal_scale(u32 val, u32 ep_ro) { return (u32)(((u64)val * ep_ro) >> 32); }
"#;
const SHIM_KTIME: &str = r#"
#pragma once
extern u64 shim_now_ns;
static inline u64 ktime_get_ns(void) { return shim_now_ns; }
"#;
const SHIM_SKBUFF: &str = r#"
#pragma once
struct sk_buff { struct sk_buff *next; u32 id; u32 len; u32 enq; u8 ecn; };
static inline int skb_get_dsfield(struct sk_buff *skb) { (void)skb; return -1; }
"#;
const SHIM_INET_ECN: &str = r#"
#pragma once
/* INET_ECN_set_ce's answer for an IP packet: ECT becomes CE (true), CE stays (true), Not-ECT false. */
static inline int INET_ECN_set_ce(struct sk_buff *skb) {
  if ((skb->ecn & 3) == 0) return 0;
  skb->ecn = 3;
  return 1;
}
"#;

/// The driver: `e ID LEN ECN NOW_NS` enqueues, `d NOW_NS` dequeues; after each dequeue one line:
/// `r ID|-1 ECN drops ID... vars count lastcount dropping rec_inv_sqrt first_above drop_next ldelay stats max ecn`.
const DRIVER: &str = r#"
#include <stdio.h>
#include <stdlib.h>
#include "linux/types.h"
#include "linux/ktime.h"
#include "linux/skbuff.h"
#include <net/codel.h>
#include "net/inet_ecn.h"
#include <net/codel_impl.h>

u64 shim_now_ns;
static struct sk_buff *head, *tail;
static u32 backlog;
static u32 dropped[4096]; static int ndropped;

static u32 len_of(const struct sk_buff *skb) { return skb->len; }
static codel_time_t time_of(const struct sk_buff *skb) { return skb->enq; }
static void drop(struct sk_buff *skb, void *ctx) { (void)ctx; dropped[ndropped++] = skb->id; free(skb); }
/* As fq_codel's dequeue_func: take the head, and the qdisc backlog goes down before CoDel looks. */
static struct sk_buff *deq(struct codel_vars *vars, void *ctx) {
  (void)vars; (void)ctx;
  struct sk_buff *skb = head;
  if (skb) { head = skb->next; if (!head) tail = NULL; backlog -= skb->len; }
  return skb;
}

int main(int argc, char **argv) {
  struct codel_params p; struct codel_vars v; struct codel_stats s;
  codel_params_init(&p); codel_vars_init(&v); codel_stats_init(&s);
  p.mtu = (u32)atoi(argv[1]); p.ecn = atoi(argv[2]) != 0;
  char op;
  while (scanf(" %c", &op) == 1) {
    if (op == 'e') {
      struct sk_buff *skb = calloc(1, sizeof(*skb));
      unsigned id, len, ecn; unsigned long long now;
      if (scanf("%u %u %u %llu", &id, &len, &ecn, &now) != 4) return 2;
      shim_now_ns = now;
      skb->id = id; skb->len = len; skb->ecn = (u8)ecn; skb->enq = codel_get_time();
      if (tail) tail->next = skb; else head = skb;
      tail = skb; backlog += len;
    } else {
      unsigned long long now;
      if (scanf("%llu", &now) != 1) return 2;
      shim_now_ns = now; ndropped = 0;
      struct sk_buff *skb = codel_dequeue(NULL, &backlog, &p, &v, &s, len_of, time_of, drop, deq);
      printf("r %d %u drops", skb ? (int)skb->id : -1, skb ? skb->ecn : 0);
      for (int i = 0; i < ndropped; i++) printf(" %u", dropped[i]);
      printf(" vars %u %u %d %u %u %u %u stats %u %u\n", v.count, v.lastcount, v.dropping, v.rec_inv_sqrt,
             v.first_above_time, v.drop_next, v.ldelay, s.maxpacket, s.ecn_mark);
      free(skb);
    }
  }
  return 0;
}
"#;

fn build() -> Result<PathBuf, String> {
    let dir = scratch();
    let kdir = kernel_headers(&dir)?;
    for (path, text) in [
        ("linux/types.h", SHIM_TYPES),
        ("linux/ktime.h", SHIM_KTIME),
        ("linux/skbuff.h", SHIM_SKBUFF),
        ("net/inet_ecn.h", SHIM_INET_ECN),
    ] {
        std::fs::write(dir.join(path), text).unwrap();
    }
    let src = dir.join("codel_driver.c");
    let bin = dir.join("codel_driver");
    std::fs::write(&src, DRIVER).unwrap();
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let o = Command::new(&cc)
        .args(["-O1", "-Wno-unused-function", "-o"])
        .arg(&bin)
        .arg(&src)
        .arg("-I")
        .arg(&dir)
        .arg("-I")
        .arg(&kdir)
        .output()
        .map_err(|e| format!("{cc}: {e}"))?;
    if !o.status.success() {
        panic!(
            "compiling the kernel's CoDel failed:\n{}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
    Ok(bin)
}

struct Fifo {
    q: VecDeque<QPkt>,
    backlog: u64,
}

impl CodelQueue for Fifo {
    fn pop(&mut self) -> Option<QPkt> {
        let p = self.q.pop_front()?;
        self.backlog -= p.len as u64;
        Some(p)
    }
    fn backlog(&self) -> u64 {
        self.backlog
    }
}

enum Op {
    Enq {
        id: u32,
        len: u32,
        ecn: u8,
        now: u64,
    },
    Deq {
        now: u64,
    },
}

/// The model's answers, in the driver's format.
fn model(ops: &[Op], mtu: u32, ecn: bool) -> Vec<String> {
    let p = CodelParams {
        mtu,
        ecn,
        ..CodelParams::default()
    };
    let (mut v, mut s) = (CodelVars::default(), CodelStats::default());
    let mut f = Fifo {
        q: VecDeque::new(),
        backlog: 0,
    };
    let mut out = Vec::new();
    for op in ops {
        match *op {
            Op::Enq { id, len, ecn, now } => {
                f.backlog += len as u64;
                f.q.push_back(QPkt {
                    len,
                    tag: id as u64,
                    enqueue_ns: now,
                    ecn,
                    ..QPkt::default()
                });
            }
            Op::Deq { now } => {
                let mut drops = Vec::new();
                let r = codel_dequeue(&mut f, &p, &mut v, &mut s, now, &mut |d| drops.push(d.tag));
                let mut line = format!(
                    "r {} {} drops",
                    r.map_or(-1, |p| p.tag as i64),
                    r.map_or(0, |p| p.ecn)
                );
                for d in drops {
                    let _ = write!(line, " {d}");
                }
                let _ = write!(
                    line,
                    " vars {} {} {} {} {} {} {} stats {} {}",
                    v.count,
                    v.lastcount,
                    v.dropping as u8,
                    v.rec_inv_sqrt,
                    v.first_above_time,
                    v.drop_next,
                    v.ldelay,
                    s.maxpacket,
                    s.ecn_mark
                );
                out.push(line);
            }
        }
    }
    out
}

fn kernel(bin: &Path, ops: &[Op], mtu: u32, ecn: bool) -> Vec<String> {
    let mut input = String::new();
    for op in ops {
        match *op {
            Op::Enq { id, len, ecn, now } => {
                let _ = writeln!(input, "e {id} {len} {ecn} {now}");
            }
            Op::Deq { now } => {
                let _ = writeln!(input, "d {now}");
            }
        }
    }
    let path = bin.with_extension(format!("in{}", std::process::id()));
    std::fs::write(&path, input).unwrap();
    let o = Command::new(bin)
        .arg(mtu.to_string())
        .arg((ecn as u8).to_string())
        .stdin(std::fs::File::open(&path).unwrap())
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "driver failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

/// Sequences from a fixed generator: bursts of enqueues (sizes 64 - 9015 bytes, random ECN bits) and dequeues
/// at rates that keep the sojourn time around and well above target, over up to several seconds, so that the
/// dropping state is entered, left and re-entered (the `delta > 1` resume and the Newton steps).
fn scenario(seed: u64) -> Vec<Op> {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut ops = Vec::new();
    // Odd seeds keep every time on the 1024 ns grid of `codel_time_t` with round gaps, so that `now` lands
    // exactly on `first_above_time` and `drop_next` (the `after` / `after_eq` boundaries).
    let grid = seed % 2 == 1;
    let (mut now, mut id) = (1_000_000_000u64 / 1024 * 1024, 0u32);
    let phases = 4 + next() % 6;
    for _ in 0..phases {
        let arrivals_per_deq = 1 + next() % 3;
        // On the grid, gaps that divide the interval (97656 = 2^3 * 3 * 13 * 313 units), so a dequeue falls
        // exactly one interval after the one that started the clock.
        let gap = if grid {
            1024 * [1252u64, 2504, 3756, 4069, 12207][(next() % 5) as usize]
        } else {
            200_000 + next() % 3_000_000
        };
        for _ in 0..(100 + next() % 400) {
            for _ in 0..arrivals_per_deq {
                let len = match next() % 4 {
                    0 => 64 + (next() % 200) as u32,
                    1 => 1514,
                    2 => 9015,
                    _ => 64 + (next() % 9000) as u32,
                };
                ops.push(Op::Enq {
                    id,
                    len,
                    ecn: (next() % 4) as u8,
                    now,
                });
                id += 1;
            }
            now += gap;
            ops.push(Op::Deq { now });
            if next() % 5 == 0 {
                now += if grid {
                    gap * (next() % 8)
                } else {
                    next() % 50_000_000
                };
                ops.push(Op::Deq { now });
            }
        }
        // Sometimes drain, so the queue goes below target and empty.
        if next() % 2 == 0 {
            for _ in 0..2000 {
                now += 102_400;
                ops.push(Op::Deq { now });
            }
        }
    }
    ops
}

#[test]
fn codel_matches_the_kernels_code_step_by_step() {
    let bin = match build() {
        Ok(b) => b,
        Err(why) if std::env::var("CI").as_deref() != Ok("true") => {
            println!("SKIPPED CoDel against the kernel's code: {why}");
            eprintln!("SKIPPED CoDel against the kernel's code: {why}");
            return;
        }
        Err(why) => panic!("CoDel against the kernel's code cannot run in CI: {why}"),
    };
    // The issue 8 repro first: three 1000-byte packets at t = 0 (here 1 s), dequeued 10 and 120 ms later.
    let t0 = 1_000_000_000;
    let repro: Vec<Op> = (0..3)
        .map(|id| Op::Enq {
            id,
            len: 1000,
            ecn: 0,
            now: t0,
        })
        .chain([
            Op::Deq {
                now: t0 + 10_000_000,
            },
            Op::Deq {
                now: t0 + 120_000_000,
            },
        ])
        .collect();
    let k = kernel(&bin, &repro, 1514, true);
    assert!(
        k[0].starts_with("r 0 0 drops vars") && k[1].starts_with("r 1 0 drops vars"),
        "{k:?}"
    );
    assert_eq!(model(&repro, 1514, true), k);

    let mut steps = 0;
    let mut drops = 0;
    for seed in 1..=8u64 {
        let ops = scenario(seed);
        for (mtu, ecn) in [(1514, true), (9015, false)] {
            let k = kernel(&bin, &ops, mtu, ecn);
            let m = model(&ops, mtu, ecn);
            assert_eq!(k.len(), m.len());
            for (i, (a, b)) in k.iter().zip(&m).enumerate() {
                assert_eq!(
                    a, b,
                    "seed {seed}, mtu {mtu}, ecn {ecn}: dequeue {i} differs (kernel, model)"
                );
            }
            steps += k.len();
            drops += k
                .iter()
                .map(|l| l.split(" vars").next().unwrap_or("").split(' ').count() - 4)
                .sum::<usize>();
        }
    }
    println!("CoDel: {steps} dequeues, {drops} drops, identical to the kernel's codel_dequeue");
    assert!(drops > 100, "the scenarios must exercise dropping: {drops}");
}
