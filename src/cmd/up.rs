//! `stripecast up`: a local cluster of member processes on one machine.
//!
//! Writes one config per member under `DIR/member-<i>/config.toml` (a fresh
//! random secret the first time, the same one after, so a second `up` on the
//! same directory comes back with its data), starts every member as a child
//! process logging to `DIR/member-<i>/member.log`, waits until every member
//! sees all the others, prints how to use it, and on Ctrl-C (or SIGTERM)
//! stops the members cleanly (SIGTERM, then SIGKILL after 10 s).
//!
//! With `--nodes 2` (the mirror) it also runs the witness, a metadata-only
//! voter (`DIR/witness/`), so either member can be down and reads and
//! writes go on.
//!
//! With `--ring N` it also runs the ring of video systems: a switch, N
//! looping demo feeds and a demo insert (see `ring_demo`).

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use stripecast_config::{try_local_cluster, try_local_witness};

use super::launch::{previous_config, LocalCluster};
use super::ring_demo;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Number of members.
    #[arg(long, default_value_t = 5)]
    nodes: u32,
    /// Where the members keep their data and configs.
    #[arg(long, default_value = "./stripecast-data")]
    dir: PathBuf,
    /// Member i serves HTTP on 127.0.0.1:(this + i).
    #[arg(long, default_value_t = 8400)]
    http_base_port: u16,
    /// Member i listens for peers on 127.0.0.1:(this + i).
    #[arg(long, default_value_t = 7400)]
    peer_base_port: u16,
    /// Member i serves S3 on 127.0.0.1:(this + i).
    #[arg(long, default_value_t = 9400)]
    s3_base_port: u16,
    /// Parity blocks per row (1 = RAID-5; 2+ = Reed-Solomon; 0 = none).
    #[arg(long, default_value_t = 1)]
    parity: u8,
    /// Also run a ring of N video systems: a switch, N looping demo feeds,
    /// system i on member i and the spare at position N (needs N+1 members).
    #[arg(long, value_name = "N")]
    ring: Option<usize>,
    /// The switch's control port (its HTTP port is the next one).
    #[arg(long, default_value_t = 8600)]
    ring_switch_port: u16,
    /// Feed g arrives on UDP (this + g); output g leaves on UDP (this + 100 + g).
    #[arg(long, default_value_t = 9000)]
    ring_udp_base_port: u16,
    /// Serve HTTPS on the HTTP and S3 ports, with a certificate from a
    /// local CA made in DIR/tls (clients trust DIR/tls/ca.pem), and
    /// encrypt the peer mesh too.
    #[arg(long)]
    tls: bool,
}

fn random_secret() -> String {
    let bytes: [u8; 32] = rand::random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn run(args: Args) -> anyhow::Result<()> {
    std::fs::create_dir_all(&args.dir)
        .with_context(|| format!("creating {}", args.dir.display()))?;
    let dir = args
        .dir
        .canonicalize()
        .with_context(|| format!("resolving {}", args.dir.display()))?;
    let previous = previous_config(&dir);
    let (name, secret) = previous
        .as_ref()
        .map(|c| (c.cluster.name.clone(), c.cluster.secret.clone()))
        .unwrap_or_else(|| ("local".to_string(), random_secret()));
    // The admin key: made the first time, kept after (in every config and
    // in DIR/credentials, mode 0600).
    let root = previous.and_then(|c| c.auth).unwrap_or_else(|| {
        let (access_key_id, secret_access_key) =
            stripecast_actors::gateway::admin::new_credential();
        stripecast_config::AuthSettings {
            access_key_id,
            secret_access_key,
        }
    });
    let mut configs = try_local_cluster(
        &name,
        &secret,
        args.nodes,
        &dir,
        args.http_base_port,
        args.peer_base_port,
        args.parity,
    )?;
    stripecast_config::secure_local_cluster(&mut configs, args.s3_base_port, &root)?;
    let tls = if args.tls {
        let files = stripecast_actors::tls::local_certificates(&dir.join("tls"))?;
        for c in &mut configs {
            c.http.tls_cert = Some(files.cert.clone());
            c.http.tls_key = Some(files.key.clone());
            c.cluster.peer_tls = stripecast_config::PeerTls::On;
        }
        Some(files)
    } else {
        None
    };
    let credentials = dir.join(super::credentials::FILE_NAME);
    super::credentials::write_file(
        &credentials,
        &super::credentials::Key {
            access_key_id: root.access_key_id.clone(),
            secret: root.secret_access_key.clone(),
        },
    )?;
    // Two members have no majority with one down: the witness is the third vote.
    let witness = if args.nodes == 2 {
        Some(try_local_witness(&mut configs, &dir, args.peer_base_port)?)
    } else {
        None
    };
    let stop = Arc::new(AtomicBool::new(false));
    signal_hook::flag::register(signal_hook::consts::SIGINT, stop.clone())
        .context("SIGINT handler")?;
    signal_hook::flag::register(signal_hook::consts::SIGTERM, stop.clone())
        .context("SIGTERM handler")?;

    let ring = match args.ring {
        Some(n) => Some(ring_demo::plan(
            &dir,
            n,
            ring_demo::RingPorts {
                switch: args.ring_switch_port,
                udp: args.ring_udp_base_port,
            },
            &mut configs,
        )?),
        None => None,
    };
    let mut members = LocalCluster::start(configs)?;
    members.ca = tls.as_ref().map(|t| t.ca.clone());
    if let Some(w) = &witness {
        members.start_witness(w)?;
    }
    let stopped = || stop.load(Ordering::SeqCst);
    if !members.wait_ready(Duration::from_secs(60), &stopped)? {
        return Ok(());
    }
    if let Some(cfg) = &ring {
        ring_demo::store_demo_ad(&members.node(0))?;
        ring_demo::start(&mut members, cfg, ring_demo::FeedPlan::DEMO)?;
    }

    println!(
        "stripecast: {} members up (data in {})",
        members.configs.len(),
        dir.display()
    );
    for c in &members.configs {
        let s3 = c
            .me()
            .s3
            .map(|a| format!("  s3 {}://{a}", c.http.scheme()))
            .unwrap_or_default();
        println!(
            "  member {}  {}://{}{s3}  (peer port {}{})",
            c.id,
            c.http.scheme(),
            c.me().http,
            c.me().peer.port(),
            if c.peer_encrypted() { ", TLS" } else { "" }
        );
    }
    if let Some(w) = &witness {
        println!(
            "  witness  {}  (metadata only; log in {})",
            w.my_peer_addr(),
            w.data_dir.join("witness.log").display()
        );
    }
    let first = members.node(0).node;
    let first_s3 = members.configs[0]
        .me()
        .s3
        .map(|a| format!("{}://{a}", members.configs[0].http.scheme()));
    println!();
    println!(
        "admin key: {} (in {})",
        root.access_key_id,
        credentials.display()
    );
    println!("try:");
    println!(
        "  stripecast put movies/intro.ts ./some-file      # store a file (any member: --node URL)"
    );
    println!("  stripecast get movies/intro.ts -o copy.ts       # read it back");
    println!("  stripecast ls ; stripecast status");
    println!("  curl {first}/v1/cluster");
    println!(
        "  curl -H \"Authorization: Bearer $STRIPECAST_KEY\" -H 'Range: bytes=0-99' {first}/v1/objects/movies/intro.ts"
    );
    println!(
        "     (STRIPECAST_KEY={}:SECRET; the secret is in the credentials file)",
        root.access_key_id
    );
    if let Some(s3) = first_s3 {
        let ca = tls
            .as_ref()
            .map(|t| format!(" --ca-bundle {}", t.ca.display()))
            .unwrap_or_default();
        println!(
            "  AWS_SHARED_CREDENTIALS_FILE={} aws s3 ls --endpoint-url {s3}{ca}",
            credentials.display()
        );
    }
    if let Some(t) = &tls {
        println!(
            "  (HTTPS: clients trust {}; curl --cacert, STRIPECAST_CA or --ca; the peer mesh is encrypted)",
            t.ca.display()
        );
    }
    if let Some(cfg) = &ring {
        println!();
        println!(
            "ring: switch on {} (http://{}), {} feeds with an SCTE-35 cue every loop inserting {}",
            cfg.control,
            cfg.http,
            cfg.feeds.len(),
            ring_demo::DEMO_AD
        );
        for (g, f) in cfg.feeds.iter().enumerate() {
            println!(
                "  feed {g}: udp://{} -> OUT {}   (ffplay {})",
                f.input, f.output, f.output
            );
        }
        println!("  stripecast ring status            # who covers which feed, the spare, inserts");
        println!(
            "  stripecast ring insert --feed 0 --object {} --in 3s",
            ring_demo::DEMO_AD
        );
        println!(
            "  kill -9 $(cat {}/member-1/member.pid)   # feed 1 shifts to a neighbour; the spare takes over",
            dir.display()
        );
    }
    println!(
        "Ctrl-C stops the cluster; run `stripecast up` again on the same --dir to get it back."
    );

    while !stopped() {
        for (id, status) in members.reap() {
            eprintln!("stripecast: member {id} exited ({status})");
        }
        for (name, status) in members.reap_extras() {
            eprintln!("stripecast: {name} exited ({status})");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    println!("stopping the members");
    members.stop();
    println!("stopped");
    Ok(())
}
