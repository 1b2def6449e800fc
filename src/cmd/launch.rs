//! Starting and stopping a local cluster of `stripecast node` child processes,
//! shared by `up` and `bench cluster`.
//!
//! Invariant: every child is stopped (SIGTERM, then SIGKILL after a grace
//! period) when the `LocalCluster` is stopped or dropped.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use stripecast_config::MemberConfig;

use super::client::{fetch_cluster, NodeOpt};
use stripecast_actors::gateway::MemberState;

pub struct LocalCluster {
    pub configs: Vec<MemberConfig>,
    children: Vec<(u32, Option<Child>)>,
    /// Other processes (the ring's switch, demo feeds), stopped before the members.
    extras: Vec<(String, Child)>,
    /// Extra arguments for every `stripecast node` started (e.g. test hooks).
    node_args: Vec<String>,
    /// The binary members run (this one unless a benchmark compares another build).
    member_exe: Option<std::path::PathBuf>,
    /// The CA the members' HTTPS certificates chain to (`up --tls`).
    pub ca: Option<std::path::PathBuf>,
}

impl LocalCluster {
    /// Writes each member's config into its data dir and starts it, logging to `member.log` there.
    pub fn start(configs: Vec<MemberConfig>) -> anyhow::Result<LocalCluster> {
        Self::start_with(configs, Vec::new())
    }

    /// Like [`LocalCluster::start`], passing `node_args` to every member process.
    pub fn start_with(
        configs: Vec<MemberConfig>,
        node_args: Vec<String>,
    ) -> anyhow::Result<LocalCluster> {
        Self::start_exe(configs, node_args, None)
    }

    /// Like [`LocalCluster::start_with`], the members running `member_exe`
    /// (another build, for a before/after benchmark) when given.
    pub fn start_exe(
        configs: Vec<MemberConfig>,
        node_args: Vec<String>,
        member_exe: Option<std::path::PathBuf>,
    ) -> anyhow::Result<LocalCluster> {
        // Configs (the secret) and member logs are the user's alone.
        super::serve::private_files();
        let mut c = LocalCluster {
            children: configs.iter().map(|cfg| (cfg.id.get(), None)).collect(),
            configs,
            extras: Vec::new(),
            node_args,
            member_exe,
            ca: None,
        };
        for i in 0..c.configs.len() {
            let cfg = &c.configs[i];
            std::fs::create_dir_all(&cfg.data_dir)
                .with_context(|| format!("creating {}", cfg.data_dir.display()))?;
            cfg.save(&cfg.data_dir.join("config.toml"))?;
            c.spawn(i)?;
        }
        Ok(c)
    }

    /// Starts member `i` (again).
    pub fn spawn(&mut self, i: usize) -> anyhow::Result<()> {
        let exe = match &self.member_exe {
            Some(exe) => exe.clone(),
            None => std::env::current_exe().context("finding the stripecast binary")?,
        };
        let cfg = &self.configs[i];
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(cfg.data_dir.join("member.log"))
            .context("opening the member log")?;
        let child = Command::new(exe)
            .arg("node")
            .arg("--config")
            .arg(cfg.data_dir.join("config.toml"))
            .args(&self.node_args)
            .stdin(Stdio::null())
            .stdout(log.try_clone().context("member log")?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting member {}", cfg.id))?;
        self.children[i].1 = Some(child);
        Ok(())
    }

    /// Starts the witness of `cfg` (its own config: `id` = the witness id)
    /// as a helper process, its config and `witness.log` in its data dir.
    pub fn start_witness(&mut self, cfg: &MemberConfig) -> anyhow::Result<()> {
        std::fs::create_dir_all(&cfg.data_dir)
            .with_context(|| format!("creating {}", cfg.data_dir.display()))?;
        let path = cfg.data_dir.join("config.toml");
        cfg.save(&path)?;
        let args = vec![
            "witness".to_string(),
            "--config".to_string(),
            path.to_string_lossy().into_owned(),
        ];
        self.spawn_extra("witness", &args, &cfg.data_dir.join("witness.log"))
    }

    /// Starts `stripecast ARGS...` as a helper process logging to `log`.
    pub fn spawn_extra(&mut self, name: &str, args: &[String], log: &Path) -> anyhow::Result<()> {
        let exe = std::env::current_exe().context("finding the stripecast binary")?;
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .with_context(|| format!("opening {}", log.display()))?;
        let child = Command::new(exe)
            .args(args)
            .stdin(Stdio::null())
            .stdout(log.try_clone().context("log")?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {name}"))?;
        self.extras.push((name.to_owned(), child));
        Ok(())
    }

    pub fn node(&self, i: usize) -> NodeOpt {
        NodeOpt {
            node: format!(
                "{}://{}",
                self.configs[i].http.scheme(),
                self.configs[i].me().http
            ),
            key: self.configs[i]
                .auth
                .as_ref()
                .map(|a| format!("{}:{}", a.access_key_id, a.secret_access_key)),
            credentials: None,
            ca: self.ca.clone(),
        }
    }

    /// SIGKILLs member `i`.
    pub fn kill(&mut self, i: usize) {
        if let Some(mut c) = self.children[i].1.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// The process id of member `i`, while it runs.
    pub fn pid(&self, i: usize) -> Option<Pid> {
        self.children[i]
            .1
            .as_ref()
            .and_then(|c| i32::try_from(c.id()).ok())
            .map(Pid::from_raw)
    }

    /// Whether member `i` was started and not killed since.
    pub fn is_running(&self, i: usize) -> bool {
        self.children[i].1.is_some()
    }

    /// Sends `signal` to member `i` (SIGSTOP / SIGCONT for the chaos nemesis).
    pub fn signal(&self, i: usize, signal: Signal) {
        if let Some(pid) = self.pid(i) {
            let _ = kill(pid, signal);
        }
    }

    /// Waits until every running member sees every running member up.
    pub fn wait_ready(
        &mut self,
        timeout: Duration,
        stop: &dyn Fn() -> bool,
    ) -> anyhow::Result<bool> {
        let deadline = Instant::now() + timeout;
        loop {
            if stop() {
                return Ok(false);
            }
            for (id, c) in &mut self.children {
                if let Some(child) = c {
                    if let Ok(Some(status)) = child.try_wait() {
                        bail!("member {id} exited during start-up ({status}); see its member.log");
                    }
                }
            }
            let running: Vec<usize> = (0..self.children.len())
                .filter(|&i| self.children[i].1.is_some())
                .collect();
            let ready = running.iter().all(|&i| {
                fetch_cluster(&self.node(i)).is_ok_and(|v| {
                    running
                        .iter()
                        .all(|&j| v.members.get(j).map(|m| m.state) == Some(MemberState::Up))
                })
            });
            if ready {
                return Ok(true);
            }
            if Instant::now() > deadline {
                bail!("the cluster did not come up within {timeout:?}; see the member logs");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Reports helper processes that exited on their own since the last call.
    pub fn reap_extras(&mut self) -> Vec<(String, std::process::ExitStatus)> {
        let mut gone = Vec::new();
        self.extras
            .retain_mut(|(name, child)| match child.try_wait() {
                Ok(Some(status)) => {
                    gone.push((name.clone(), status));
                    false
                }
                _ => true,
            });
        gone
    }

    /// Reports members that exited on their own since the last call.
    pub fn reap(&mut self) -> Vec<(u32, std::process::ExitStatus)> {
        let mut gone = Vec::new();
        for (id, c) in &mut self.children {
            if let Some(child) = c {
                if let Ok(Some(status)) = child.try_wait() {
                    gone.push((*id, status));
                    *c = None;
                }
            }
        }
        gone
    }

    /// SIGTERM to every process (helpers first), SIGKILL to those still running after 10 s.
    pub fn stop(&mut self) {
        // A SIGSTOPped member would hold its SIGTERM until the deadline.
        for i in 0..self.children.len() {
            self.signal(i, Signal::SIGCONT);
        }
        for (name, mut child) in self.extras.drain(..).rev() {
            if let Ok(pid) = i32::try_from(child.id()) {
                let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
            }
            let deadline = Instant::now() + Duration::from_secs(5);
            while !matches!(child.try_wait(), Ok(Some(_)) | Err(_)) {
                if Instant::now() > deadline {
                    eprintln!("{name} did not stop in time; killing it");
                    let _ = child.kill();
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.wait();
        }
        for (_, c) in &self.children {
            if let Some(pid) = c.as_ref().and_then(|c| i32::try_from(c.id()).ok()) {
                let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
            }
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        for (id, c) in &mut self.children {
            let Some(child) = c else { continue };
            loop {
                match child.try_wait() {
                    Ok(Some(_)) => break,
                    Ok(None) if Instant::now() < deadline => {
                        std::thread::sleep(Duration::from_millis(20))
                    }
                    _ => {
                        eprintln!("member {id} did not stop in time; killing it");
                        let _ = child.kill();
                        let _ = child.wait();
                        break;
                    }
                }
            }
            *c = None;
        }
    }
}

impl Drop for LocalCluster {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Whether a directory holds an earlier local cluster's first member config.
pub fn previous_config(dir: &Path) -> Option<MemberConfig> {
    MemberConfig::load(&dir.join("member-0").join("config.toml")).ok()
}
