//! The js-libp2p page in headless Chromium, run by `browser/driver.mjs`
//! (playwright-core) in a child process that speaks lines on stdin/stdout.

use std::{
    fmt,
    io::{BufRead, BufReader, Write},
    os::unix::process::CommandExt,
    path::Path,
    process::{Child, ChildStdin, Command, Stdio},
    time::{Duration, Instant},
};

use futures::{channel::mpsc, StreamExt};
use libp2p::{Multiaddr, PeerId};

/// How long Chromium gets to start and open the page.
const LAUNCH: Duration = Duration::from_secs(30);
/// Lines kept to show what happened when a wait fails.
const KEPT: usize = 30;
/// What js-libp2p's connection monitor logs when a ping fails.
const MONITOR_FAILURE: &str = "error during heartbeat";

/// What the page last reported (`window.__state`).
#[derive(Debug, Clone, Default)]
pub(crate) struct PageState {
    pub(crate) json: String,
}

impl PageState {
    /// The raw JSON value of `key`: a number, `null`, or a string without its quotes.
    pub(crate) fn field(&self, key: &str) -> Option<&str> {
        let start = self.json.find(&format!("\"{key}\":"))? + key.len() + 3;
        let rest = &self.json[start..];
        if let Some(string) = rest.strip_prefix('"') {
            return string.split('"').next();
        }
        rest.split([',', '}']).next()
    }

    fn count(&self, key: &str) -> u64 {
        self.field(key).and_then(|v| v.parse().ok()).unwrap_or(0)
    }

    pub(crate) fn peer_id(&self) -> Option<PeerId> {
        self.field("peerId")?.parse().ok()
    }

    pub(crate) fn phase(&self) -> &str {
        self.field("phase").unwrap_or("")
    }

    pub(crate) fn key_kept(&self) -> bool {
        self.field("keyKept") == Some("true")
    }

    pub(crate) fn connections(&self) -> u64 {
        self.count("connections")
    }

    pub(crate) fn echoes_ok(&self) -> u64 {
        self.count("echoesOk")
    }

    pub(crate) fn echo_failures(&self) -> u64 {
        self.count("echoFailures")
    }

    pub(crate) fn served(&self) -> u64 {
        self.count("served")
    }

    /// Connections the page has seen closed.
    pub(crate) fn closes(&self) -> usize {
        self.json.matches("{\"status\"").count()
    }
}

/// How the page is opened.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct PageOptions {
    /// Keeps its private key in localStorage: a reload keeps the peer id.
    pub(crate) keep_key: bool,
    /// Aborts its connections on `pagehide`, as an application can.
    pub(crate) stop_on_pagehide: bool,
    /// Leaves js-libp2p's connection monitor at its defaults, which abort the
    /// connection on the first failed ping (see `browser/main.js`).
    pub(crate) default_monitor: bool,
}

/// The js-libp2p log lines the driver forwards: the connection monitor's.
const MONITOR_LOG: &str = "libp2p:connection-monitor*";

/// The browser peer: a driver process, and the Chromium it launched.
pub(crate) struct Browser {
    driver: Child,
    stdin: ChildStdin,
    lines: mpsc::UnboundedReceiver<String>,
    /// The Chromium browser process, leader of its own process group.
    browser_pid: u32,
    /// Chromium's version, as the browser reports it.
    pub(crate) chromium_version: String,
    /// The page's latest state.
    pub(crate) state: PageState,
    seen: Vec<String>,
    /// Failed pings js-libp2p's connection monitor has logged.
    pub(crate) monitor_failures: usize,
    killed: bool,
}

impl Browser {
    /// Starts the driver, which serves `dir/dist` and opens the page that dials `addr`.
    pub(crate) async fn launch(dir: &Path, addr: &Multiaddr, options: PageOptions) -> Self {
        let mut command = Command::new("node");
        command
            .arg(dir.join("driver.mjs"))
            .arg("--addr")
            .arg(addr.to_string())
            .current_dir(dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            // Its own group, so that a failed test can end it with all it started.
            .process_group(0);
        if options.keep_key {
            command.arg("--keep-key");
        }
        if options.stop_on_pagehide {
            command.arg("--stop-on-pagehide");
        }
        if options.default_monitor {
            command.arg("--default-monitor");
        }
        // The monitor's errors show what its pings do; BROWSER_DEBUG adds more.
        let debug = match std::env::var("BROWSER_DEBUG") {
            Ok(more) => format!("{MONITOR_LOG},{more}"),
            Err(_) => MONITOR_LOG.to_owned(),
        };
        command.arg("--debug").arg(debug);
        let mut driver = command.spawn().expect("node runs driver.mjs");
        let stdin = driver.stdin.take().expect("piped");
        let stdout = driver.stdout.take().expect("piped");
        let (tx, lines) = mpsc::unbounded();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.unbounded_send(line).is_err() {
                    break;
                }
            }
        });
        let mut browser = Self {
            driver,
            stdin,
            lines,
            browser_pid: 0,
            chromium_version: String::new(),
            state: PageState::default(),
            seen: Vec::new(),
            monitor_failures: 0,
            killed: false,
        };
        browser.browser_pid = browser
            .next_matching(LAUNCH, "browser-pid", |line| {
                line.strip_prefix("browser-pid ")?.parse().ok()
            })
            .await;
        browser.chromium_version = browser
            .next_matching(LAUNCH, "chromium-version", |line| {
                line.strip_prefix("chromium-version ").map(str::to_owned)
            })
            .await;
        browser
    }

    /// Reads lines until `matches` returns `Some`; panics after `within`.
    async fn next_matching<T>(
        &mut self,
        within: Duration,
        what: &str,
        mut matches: impl FnMut(&str) -> Option<T>,
    ) -> T {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let line = match tokio::time::timeout_at(deadline, self.lines.next()).await {
                Ok(Some(line)) => line,
                Ok(None) => panic!("the browser driver exited before {what}\n{self}"),
                Err(_) => panic!("no {what} from the browser within {within:?}\n{self}"),
            };
            let found = matches(&line);
            self.record(line);
            if let Some(found) = found {
                return found;
            }
        }
    }

    fn record(&mut self, line: String) {
        if let Some(json) = line.strip_prefix("state ") {
            self.state = PageState {
                json: json.to_owned(),
            };
        }
        if line.contains(MONITOR_FAILURE) {
            self.monitor_failures += 1;
        }
        if self.seen.len() == KEPT {
            self.seen.remove(0);
        }
        self.seen.push(line);
    }

    /// Takes in every line the driver has written so far, without waiting.
    pub(crate) fn catch_up(&mut self) {
        while let Ok(line) = self.lines.try_recv() {
            self.record(line);
        }
    }

    /// Waits until the page's state satisfies `check`, and returns it.
    pub(crate) async fn wait_state(
        &mut self,
        within: Duration,
        what: &str,
        check: impl Fn(&PageState) -> bool,
    ) -> PageState {
        if check(&self.state) {
            return self.state.clone();
        }
        self.next_matching(within, what, |line| {
            let json = line.strip_prefix("state ")?;
            let state = PageState {
                json: json.to_owned(),
            };
            check(&state).then_some(state)
        })
        .await
    }

    /// Sends `command` to the driver and waits until it has been carried out.
    pub(crate) async fn command(&mut self, command: &str, within: Duration) {
        writeln!(self.stdin, "{command}")
            .and_then(|()| self.stdin.flush())
            .expect("the driver reads its commands");
        let (done, failed) = (format!("done {command}"), format!("error {command}"));
        let outcome = self
            .next_matching(within, &done, |line| {
                (line == done || line.starts_with(&failed)).then(|| line.to_owned())
            })
            .await;
        assert_eq!(outcome, done, "{self}");
    }

    /// SIGKILLs the Chromium browser process and its whole process group (renderer,
    /// GPU, network, utility processes): no close of any kind reaches the node.
    /// Returns when the signal has been sent.
    pub(crate) fn kill_browser(&mut self) -> Instant {
        let status = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.browser_pid)])
            .status()
            .expect("kill runs");
        assert!(
            status.success(),
            "kill -KILL -{}: {status}",
            self.browser_pid
        );
        self.killed = true;
        Instant::now()
    }

    /// Whether the Chromium browser process is gone (reaped, or a zombie).
    pub(crate) fn browser_gone(&self) -> bool {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.browser_pid));
        stat.map_or(true, |s| {
            s.rsplit(')')
                .next()
                .and_then(|r| r.split_whitespace().next())
                == Some("Z")
        })
    }
}

impl fmt::Display for Browser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "last lines from the browser driver:")?;
        for line in &self.seen {
            write!(f, "\n  {line}")?;
        }
        Ok(())
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Chromium first (its own process group), then the driver's group.
        for group in [self.browser_pid, self.driver.id()] {
            if group != 0 && !(self.killed && group == self.browser_pid) {
                let _ = Command::new("kill")
                    .args(["-KILL", "--", &format!("-{group}")])
                    .stderr(Stdio::null())
                    .status();
            }
        }
        let _ = self.driver.wait();
    }
}
