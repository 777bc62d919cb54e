//! Booting a kernel under QEMU (TCG: KVM is not available on these machines) with a hard timeout.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::console::{Boot, BootError, parse};

/// Why the virtio-net cases cannot run here, if they cannot: QEMU needs `/dev/net/tun` and root to create the
/// tap that gives virtio-net 8 queue pairs (the user, socket and hubport backends refuse `queues=`).
pub fn tap_unavailable() -> Option<String> {
    if !Path::new("/dev/net/tun").exists() {
        return Some("no /dev/net/tun (tap backend needed for 8 virtio-net queue pairs)".into());
    }
    let uid = Command::new("id")
        .arg("-u")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    if uid.as_deref() != Some("0") {
        return Some("not root (creating the tap needs CAP_NET_ADMIN)".into());
    }
    None
}

/// Boots `kernel` with `initrd`; `tap` names the tap to create for an 8-queue virtio-net, if any.
pub fn boot(
    kernel: &Path,
    initrd: &Path,
    tap: Option<&str>,
    timeout: Duration,
    log: &Path,
) -> Result<Boot, BootError> {
    let mut cmd = Command::new("qemu-system-x86_64");
    cmd.args([
        "-accel",
        "tcg",
        "-cpu",
        "max",
        "-smp",
        "2",
        "-m",
        "512",
        "-nodefaults",
        "-nographic",
        "-no-reboot",
    ])
    .arg("-kernel")
    .arg(kernel)
    .arg("-initrd")
    .arg(initrd)
    .args([
        "-serial",
        "stdio",
        "-append",
        "console=ttyS0 panic=-1 quiet",
    ]);
    if let Some(t) = tap {
        cmd.args([
            "-netdev",
            &format!("tap,id=n0,ifname={t},script=no,downscript=no,vhost=off,queues=8"),
            "-device",
            "virtio-net-pci,netdev=n0,mq=on,vectors=18",
        ]);
    }
    let out = std::fs::File::create(log).map_err(|e| BootError::Guest {
        message: format!("{}: {e}", log.display()),
        tail: String::new(),
    })?;
    let err = out.try_clone().map_err(|e| BootError::Guest {
        message: e.to_string(),
        tail: String::new(),
    })?;
    log::debug!("boot: {cmd:?}");
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .map_err(|e| BootError::Guest {
            message: format!("qemu-system-x86_64: {e} (apt-get install -y qemu-system-x86)"),
            tail: String::new(),
        })?;
    let timed_out = wait_or_kill(&mut child, timeout)?;
    let text = String::from_utf8_lossy(&std::fs::read(log).unwrap_or_default()).into_owned();
    judge_output(&text, timed_out)
}

/// Boots `kernel` with virtme-ng (`vng`), running `script` in a guest that sees the host's filesystem. vng's exit
/// status is not reliable (255 even on success), so only its output is judged; `--verbose` is what brings the
/// script's output to the console.
pub fn boot_vng(
    kernel: &Path,
    script: &Path,
    timeout: Duration,
    log: &Path,
) -> Result<Boot, BootError> {
    let guest = |message: String| BootError::Guest {
        message,
        tail: String::new(),
    };
    let out = std::fs::File::create(log).map_err(|e| guest(format!("{}: {e}", log.display())))?;
    let err = out.try_clone().map_err(|e| guest(e.to_string()))?;
    let mut child = Command::new("vng")
        .arg("--run")
        .arg(kernel)
        .args([
            "--disable-kvm",
            "--force-9p",
            "--force-initramfs",
            "--disable-microvm",
            "--verbose",
            "--memory",
            "1G",
            "--exec",
        ])
        .arg(format!("sh {}", script.display()))
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .map_err(|e| guest(format!("vng: {e} (pip install virtme-ng)")))?;
    let timed_out = wait_or_kill(&mut child, timeout)?;
    let text = String::from_utf8_lossy(&std::fs::read(log).unwrap_or_default()).into_owned();
    parse(&text, timed_out)
}

/// Waits for `child`, killing it after `timeout`; returns the timeout in seconds when it had to be killed.
fn wait_or_kill(
    child: &mut std::process::Child,
    timeout: Duration,
) -> Result<Option<u64>, BootError> {
    let t0 = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(_)) => return Ok(None),
            Ok(None) if t0.elapsed() > timeout => {
                let _ = child.kill();
                let _ = child.wait();
                return Ok(Some(timeout.as_secs()));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(100)),
            Err(e) => {
                return Err(BootError::Guest {
                    message: format!("waiting for the VM: {e}"),
                    tail: String::new(),
                });
            }
        }
    }
}

/// What QEMU's output says: a tap QEMU could not create is its own failure; otherwise the guest's console.
pub fn judge_output(text: &str, timed_out: Option<u64>) -> Result<Boot, BootError> {
    if text.contains("could not configure /dev/net/tun")
        || text.contains("could not open /dev/net/tun")
    {
        return Err(BootError::Guest {
            message: "qemu could not create the tap device for the 8-queue virtio-net".into(),
            tail: crate::console::tail(text, 10),
        });
    }
    parse(text, timed_out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tap_qemu_cannot_create_is_a_failure_of_its_own() {
        let out = "qemu-system-x86_64: -netdev tap,id=n0: could not configure /dev/net/tun (txqlabvm0): Operation not permitted\n";
        let e = judge_output(out, None).unwrap_err();
        assert!(
            e.to_string().contains("could not create the tap device"),
            "{e}"
        );
    }
}
