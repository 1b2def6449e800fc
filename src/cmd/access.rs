//! `stripecast key ...` and `stripecast bucket ...`: access keys and
//! per-bucket grants, kept in the cluster's replicated metadata (through
//! any member's `/v1/keys` and `/v1/buckets`, with an admin key).

use anyhow::Context as _;
use stripecast_actors::gateway::admin::{BucketDoc, KeyDoc, NewKeyDoc, NewKeyRequest};
use stripecast_actors::meta::Grant;

use super::client::{http_error, NodeOpt};

#[derive(clap::Subcommand, Debug)]
pub enum KeyCommand {
    /// Make an access key; its secret is shown this once.
    Create {
        name: String,
        /// The key may do everything (keys, buckets, faults, scrub).
        #[arg(long)]
        admin: bool,
        #[command(flatten)]
        node: NodeOpt,
    },
    /// List the keys (never their secrets).
    List {
        #[command(flatten)]
        node: NodeOpt,
    },
    /// Delete a key and its grants.
    Delete {
        name: String,
        #[command(flatten)]
        node: NodeOpt,
    },
}

#[derive(clap::Subcommand, Debug)]
pub enum BucketCommand {
    /// Make a bucket (objects named BUCKET/KEY).
    Create {
        bucket: String,
        /// Anyone may read its objects (players that cannot sign).
        #[arg(long)]
        public_read: bool,
        #[command(flatten)]
        node: NodeOpt,
    },
    /// List the buckets with their grants.
    List {
        #[command(flatten)]
        node: NodeOpt,
    },
    /// Delete an empty bucket.
    Delete {
        bucket: String,
        #[command(flatten)]
        node: NodeOpt,
    },
    /// Set what a key may do in a bucket (neither --read nor --write:
    /// nothing). Here `--key` names the key granted; the admin key this
    /// command uses comes from STRIPECAST_KEY or the credentials file.
    Allow {
        bucket: String,
        /// The key's name (as in `key create NAME`).
        #[arg(long = "key")]
        key_name: String,
        #[arg(long)]
        read: bool,
        #[arg(long)]
        write: bool,
        /// Base URL of any member's HTTP API.
        #[arg(long, env = "STRIPECAST_NODE", default_value = "http://127.0.0.1:8400")]
        node: String,
        /// An AWS shared-credentials file to read the admin key from.
        #[arg(long, env = "AWS_SHARED_CREDENTIALS_FILE")]
        credentials: Option<std::path::PathBuf>,
    },
    /// Make a bucket public-read (a website for video players), or private again with --off.
    Website {
        bucket: String,
        #[arg(long)]
        off: bool,
        #[command(flatten)]
        node: NodeOpt,
    },
}

pub fn key(c: KeyCommand) -> anyhow::Result<()> {
    match c {
        KeyCommand::Create { name, admin, node } => {
            let doc: NewKeyDoc = node
                .request("POST", "/v1/keys")?
                .send_json(NewKeyRequest {
                    name: name.clone(),
                    admin,
                })
                .map_err(|e| http_error(e, &format!("key create {name}")))?
                .into_json()
                .context("reading the new key")?;
            println!(
                "key {} created{}",
                doc.name,
                if doc.admin { " (admin)" } else { "" }
            );
            println!("aws_access_key_id = {}", doc.access_key_id);
            println!("aws_secret_access_key = {}", doc.secret_access_key);
            println!(
                "STRIPECAST_KEY={}:{}",
                doc.access_key_id, doc.secret_access_key
            );
            eprintln!("the secret is shown this once; keep it");
        }
        KeyCommand::List { node } => {
            let keys: Vec<KeyDoc> = node
                .request("GET", "/v1/keys")?
                .call()
                .map_err(|e| http_error(e, "key list"))?
                .into_json()
                .context("reading the keys")?;
            println!("{:<24} {:<22} admin", "name", "access key id");
            for k in keys {
                println!("{:<24} {:<22} {}", k.name, k.access_key_id, k.admin);
            }
        }
        KeyCommand::Delete { name, node } => {
            node.request("DELETE", &format!("/v1/keys/{name}"))?
                .call()
                .map_err(|e| http_error(e, &format!("key delete {name}")))?;
            println!("key {name} deleted");
        }
    }
    Ok(())
}

pub fn bucket(c: BucketCommand) -> anyhow::Result<()> {
    match c {
        BucketCommand::Create {
            bucket,
            public_read,
            node,
        } => {
            node.request("PUT", &format!("/v1/buckets/{bucket}"))?
                .call()
                .map_err(|e| http_error(e, &format!("bucket create {bucket}")))?;
            if public_read {
                set_public_read(&node, &bucket, true)?;
            }
            println!("bucket {bucket} created");
        }
        BucketCommand::List { node } => {
            let buckets: Vec<BucketDoc> = node
                .request("GET", "/v1/buckets")?
                .call()
                .map_err(|e| http_error(e, "bucket list"))?
                .into_json()
                .context("reading the buckets")?;
            for b in buckets {
                let grants: Vec<String> = b
                    .grants
                    .iter()
                    .map(|(k, g)| {
                        let rw = match (g.read, g.write) {
                            (true, true) => "rw",
                            (true, false) => "r",
                            _ => "w",
                        };
                        format!("{k}:{rw}")
                    })
                    .collect();
                println!(
                    "{:<32} {}{}",
                    b.name,
                    if b.public_read { "public-read " } else { "" },
                    grants.join(" ")
                );
            }
        }
        BucketCommand::Delete { bucket, node } => {
            node.request("DELETE", &format!("/v1/buckets/{bucket}"))?
                .call()
                .map_err(|e| http_error(e, &format!("bucket delete {bucket}")))?;
            println!("bucket {bucket} deleted");
        }
        BucketCommand::Allow {
            bucket,
            key_name,
            read,
            write,
            node,
            credentials,
        } => {
            let node = NodeOpt {
                node,
                key: std::env::var("STRIPECAST_KEY").ok(),
                credentials,
                ca: std::env::var_os("STRIPECAST_CA").map(std::path::PathBuf::from),
            };
            node.request("PUT", &format!("/v1/buckets/{bucket}/grants/{key_name}"))?
                .send_json(Grant { read, write })
                .map_err(|e| http_error(e, &format!("bucket allow {bucket}")))?;
            println!("key {key_name} on {bucket}: read {read}, write {write}");
        }
        BucketCommand::Website { bucket, off, node } => {
            set_public_read(&node, &bucket, !off)?;
            println!(
                "bucket {bucket} is {}",
                if off { "private" } else { "public-read" }
            );
        }
    }
    Ok(())
}

fn set_public_read(node: &NodeOpt, bucket: &str, on: bool) -> anyhow::Result<()> {
    node.request("PUT", &format!("/v1/buckets/{bucket}/public-read"))?
        .send_json(stripecast_actors::gateway::admin::PublicReadRequest { public_read: on })
        .map_err(|e| http_error(e, &format!("bucket website {bucket}")))?;
    Ok(())
}
