//! A network loss for one node: the kernel drops every UDP packet to or from
//! its port, whoever the other end is.
//!
//! A [`crate::UdpProxy`] cuts one path; a node that learns its peers' direct
//! addresses (from a DHT, say) has many. This cuts them all, as a lost link
//! would: both rules sit in the INPUT chain, so the node's sends still
//! succeed and are lost on the way, with no error to tell it. Needs root and
//! `iptables`.

use std::{io, process::Command};

/// Every UDP packet to or from a local port dropped, until dropped itself.
#[derive(Debug)]
pub struct UdpPortCut {
    port: u16,
}

impl UdpPortCut {
    /// Cuts `port` off.
    pub fn new(port: u16) -> io::Result<Self> {
        let cut = Self { port };
        for rule in cut.rules() {
            iptables("-I", &rule)?;
        }
        Ok(cut)
    }

    fn rules(&self) -> [[String; 7]; 2] {
        let port = self.port.to_string();
        let rule = |direction: &str| {
            [
                "INPUT".to_owned(),
                "-p".to_owned(),
                "udp".to_owned(),
                direction.to_owned(),
                port.clone(),
                "-j".to_owned(),
                "DROP".to_owned(),
            ]
        };
        [rule("--dport"), rule("--sport")]
    }
}

impl Drop for UdpPortCut {
    fn drop(&mut self) {
        for rule in self.rules() {
            if let Err(e) = iptables("-D", &rule) {
                tracing::error!(port = self.port, "could not restore the port: {e}");
            }
        }
    }
}

fn iptables(action: &str, rule: &[String]) -> io::Result<()> {
    // -w waits for the xtables lock that parallel tests contend for.
    let status = Command::new("iptables")
        .arg("-w")
        .arg(action)
        .args(rule)
        .status()
        .map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => io::Error::new(
                e.kind(),
                "iptables not found: `.ci/setup iptables` (or `apt-get install -y iptables`) \
                 installs it; it needs root",
            ),
            _ => e,
        })?;
    if status.success() {
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "iptables {action} {rule:?}: {status} (needs root)"
        )))
    }
}
