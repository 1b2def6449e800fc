//! The client commands: `put`, `get`, `ls`, `rm`, `status`, talking to any
//! member's HTTP API (`--node`, default the first local member).

use std::fs::File;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context as _};
use indicatif::{ProgressBar, ProgressStyle};
use stripecast_actors::gateway::docs::{ClusterDoc, ErrorDoc, ObjectEntry, PutOutcome};

/// Where to send requests.
#[derive(clap::Args, Debug, Clone)]
pub struct NodeOpt {
    /// Base URL of any member's HTTP API.
    #[arg(long, env = "STRIPECAST_NODE", default_value = "http://127.0.0.1:8400")]
    pub node: String,
    /// The key to use, ACCESS_KEY_ID:SECRET (else the credentials file).
    #[arg(long, env = "STRIPECAST_KEY", hide_env_values = true)]
    pub key: Option<String>,
    /// An AWS shared-credentials file to read the key from (profile
    /// AWS_PROFILE, else default); else ./stripecast-data/credentials.
    #[arg(long, env = "AWS_SHARED_CREDENTIALS_FILE")]
    pub credentials: Option<PathBuf>,
    /// PEM certificate authority to trust for an https member (else
    /// ./stripecast-data/tls/ca.pem when there is one, made by `up --tls`).
    #[arg(long, env = "STRIPECAST_CA")]
    pub ca: Option<PathBuf>,
}

impl NodeOpt {
    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{}", self.node.trim_end_matches('/'), path)
    }

    /// A request for `path`, carrying the key when there is one.
    pub(crate) fn request(&self, method: &str, path: &str) -> anyhow::Result<ureq::Request> {
        let req = agent_trusting(self.ca_file().as_deref())?.request(method, &self.url(path));
        let key = super::credentials::resolve(self.key.as_deref(), self.credentials.as_deref())?;
        Ok(match key {
            Some(k) => req.set("Authorization", &k.bearer()),
            None => req,
        })
    }
}

impl NodeOpt {
    /// The CA to trust: `--ca`, else `up --tls`'s in the default data dir.
    fn ca_file(&self) -> Option<PathBuf> {
        self.ca.clone().or_else(|| {
            let local = PathBuf::from("./stripecast-data/tls/ca.pem");
            (self.node.starts_with("https:") && local.is_file()).then_some(local)
        })
    }
}

/// Percent-encodes an object name for a URL path, keeping its `/`s.
pub fn encode_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

pub(crate) fn agent() -> ureq::Agent {
    ureq::AgentBuilder::new()
        .timeout_connect(Duration::from_secs(5))
        .build()
}

/// An agent that trusts the certificate authority in `ca` (PEM), when
/// given, instead of the public roots: members' certificates are usually
/// the cluster's own.
pub(crate) fn agent_trusting(ca: Option<&std::path::Path>) -> anyhow::Result<ureq::Agent> {
    let Some(ca) = ca else {
        return Ok(agent());
    };
    let tls = stripecast_actors::tls::client_config(ca)
        .with_context(|| format!("the CA file {}", ca.display()))?;
    Ok(ureq::AgentBuilder::new()
        .timeout_connect(Duration::from_secs(5))
        .tls_config(tls)
        .build())
}

/// Turns an HTTP error into a message with the server's JSON error text.
pub(crate) fn http_error(e: ureq::Error, what: &str) -> anyhow::Error {
    match e {
        ureq::Error::Status(code, resp) => {
            let body = resp.into_string().unwrap_or_default();
            let msg = serde_json::from_str::<ErrorDoc>(&body)
                .map(|doc| doc.error)
                .unwrap_or(body);
            anyhow::anyhow!("{what}: HTTP {code}: {msg}")
        }
        other => anyhow::anyhow!("{what}: {other}"),
    }
}

fn bar(len: u64, verb: &str) -> ProgressBar {
    let pb = ProgressBar::new(len);
    pb.set_style(
        ProgressStyle::with_template(
            "{msg} [{bar:40}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    pb.set_message(verb.to_string());
    if len < (1 << 20) {
        pb.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    pb
}

#[derive(clap::Args, Debug)]
pub struct PutArgs {
    /// Object name (may contain '/').
    name: String,
    /// File to upload.
    file: PathBuf,
    #[command(flatten)]
    node: NodeOpt,
}

pub fn put(a: PutArgs) -> anyhow::Result<()> {
    let f = File::open(&a.file).with_context(|| format!("opening {}", a.file.display()))?;
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let pb = bar(len, "put");
    let resp = a
        .node
        .request("PUT", &format!("/v1/objects/{}", encode_name(&a.name)))?
        .set("Content-Length", &len.to_string())
        .send(pb.wrap_read(f))
        .map_err(|e| http_error(e, &format!("put {}", a.name)))?;
    pb.finish_and_clear();
    let done: PutOutcome = resp.into_json().context("reading the answer")?;
    println!(
        "stored {} ({} bytes, incarnation {})",
        a.name, done.length, done.incarnation
    );
    Ok(())
}

#[derive(clap::Args, Debug)]
pub struct GetArgs {
    /// Object name.
    name: String,
    /// Write here instead of standard output.
    #[arg(short = 'o', long)]
    output: Option<PathBuf>,
    #[command(flatten)]
    node: NodeOpt,
}

pub fn get(a: GetArgs) -> anyhow::Result<()> {
    let resp = a
        .node
        .request("GET", &format!("/v1/objects/{}", encode_name(&a.name)))?
        .call()
        .map_err(|e| http_error(e, &format!("get {}", a.name)))?;
    let len: u64 = resp
        .header("Content-Length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut reader = resp.into_reader();
    let written = match &a.output {
        Some(path) => {
            let tmp = path.with_extension("stripecast-partial");
            let pb = bar(len, "get");
            let mut out =
                File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
            let n = std::io::copy(&mut pb.wrap_read(&mut reader), &mut out)
                .context("receiving the object")?;
            out.sync_all().context("syncing the output")?;
            pb.finish_and_clear();
            std::fs::rename(&tmp, path)
                .with_context(|| format!("renaming to {}", path.display()))?;
            n
        }
        None => {
            let stdout = std::io::stdout();
            let mut lock = stdout.lock();
            let n = std::io::copy(&mut reader, &mut lock).context("receiving the object")?;
            lock.flush()?;
            n
        }
    };
    if written != len {
        bail!("get {}: received {written} of {len} bytes", a.name);
    }
    Ok(())
}

#[derive(clap::Args, Debug)]
pub struct LsArgs {
    /// Print the JSON list.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    node: NodeOpt,
}

pub fn ls(a: LsArgs) -> anyhow::Result<()> {
    let resp = a
        .node
        .request("GET", "/v1/objects")?
        .call()
        .map_err(|e| http_error(e, "ls"))?;
    let list: Vec<ObjectEntry> = resp.into_json().context("reading the list")?;
    if a.json {
        println!("{}", serde_json::to_string(&list)?);
        return Ok(());
    }
    for o in &list {
        println!(
            "{:>14}  {:>10}  {}",
            o.length,
            format!("{:08x}", o.incarnation),
            o.name
        );
    }
    Ok(())
}

#[derive(clap::Args, Debug)]
pub struct RmArgs {
    /// Object name.
    name: String,
    #[command(flatten)]
    node: NodeOpt,
}

pub fn rm(a: RmArgs) -> anyhow::Result<()> {
    a.node
        .request("DELETE", &format!("/v1/objects/{}", encode_name(&a.name)))?
        .call()
        .map_err(|e| http_error(e, &format!("rm {}", a.name)))?;
    println!("removed {}", a.name);
    Ok(())
}

#[derive(clap::Args, Debug)]
pub struct StatusArgs {
    /// Print the `/v1/cluster` document.
    #[arg(long)]
    json: bool,
    /// Keep watching: redraw every half second, with a progress bar while a member rebuilds.
    #[arg(long)]
    watch: bool,
    #[command(flatten)]
    node: NodeOpt,
}

pub fn fetch_cluster(node: &NodeOpt) -> anyhow::Result<ClusterDoc> {
    let resp = node
        .request("GET", "/v1/cluster")?
        .timeout(Duration::from_secs(5))
        .call()
        .map_err(|e| http_error(e, "status"))?;
    let mut body = String::new();
    resp.into_reader().take(1 << 20).read_to_string(&mut body)?;
    serde_json::from_str(&body).context("parsing /v1/cluster")
}

fn describe(v: &ClusterDoc) -> String {
    let mut out = format!(
        "cluster {} via member {} (controller {}, term {}), incarnation {}, {} objects\n",
        v.cluster,
        v.id,
        v.controller
            .map(|c| c.to_string())
            .unwrap_or_else(|| "none".into()),
        v.term(),
        v.incarnation,
        v.objects,
    );
    for m in &v.members {
        out.push_str(&format!(
            "  member {:<3} {:<11} http {:<22} incarnation {:<6} dirty {:<6} applied {:<8} lag {}\n",
            m.id,
            m.state.as_str(),
            m.http,
            m.incarnation,
            m.dirty,
            m.applied_index,
            m.lag,
        ));
    }
    out
}

pub fn status(a: StatusArgs) -> anyhow::Result<()> {
    if !a.watch {
        let v = fetch_cluster(&a.node)?;
        if a.json {
            println!("{}", serde_json::to_string(&v)?);
        } else {
            print!("{}", describe(&v));
        }
        return Ok(());
    }
    let pb = ProgressBar::new(0);
    pb.set_style(
        ProgressStyle::with_template("{msg}\nrebuild [{bar:40}] {pos}/{len} objects")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let mut peak = 0u64;
    loop {
        match fetch_cluster(&a.node) {
            Ok(v) => {
                let dirty: u64 = v.members.iter().map(|m| m.dirty).sum();
                peak = peak.max(dirty);
                if peak == 0 {
                    peak = 1;
                }
                pb.set_length(peak);
                pb.set_position(peak.saturating_sub(dirty));
                pb.set_message(describe(&v).trim_end().to_string());
            }
            Err(e) => pb.set_message(format!("{e:#}")),
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}
