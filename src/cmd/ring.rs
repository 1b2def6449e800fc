//! `stripecast ring status [--json]` and `stripecast ring insert`: the ring of
//! video systems, through any member's `/v1/ring` (or the switch's own HTTP
//! address given as `--node`).

use std::time::Duration;

use anyhow::Context as _;
use stripecast_ring::switch::http::InsertRequest;
use stripecast_ring::switch::{InsertRec, RingDoc};

use super::client::{http_error, NodeOpt};

#[derive(clap::Subcommand, Debug)]
pub enum RingCommand {
    /// Which processor covers which feed, the switched systems, the spare, the inserts.
    Status(StatusArgs),
    /// Schedule a stored object as an insert into a feed.
    Insert(InsertArgs),
}

#[derive(clap::Args, Debug)]
pub struct StatusArgs {
    #[command(flatten)]
    node: NodeOpt,
    /// Print the JSON document.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args, Debug)]
pub struct InsertArgs {
    #[command(flatten)]
    node: NodeOpt,
    /// The feed (0-based).
    #[arg(long)]
    feed: usize,
    /// The stored object holding the insert's TS.
    #[arg(long)]
    object: String,
    /// Start time, Unix milliseconds.
    #[arg(long, conflicts_with = "after")]
    at: Option<u64>,
    /// Start this long from now (e.g. 5s, 1500ms, 2m).
    #[arg(long = "in", value_parser = parse_duration)]
    after: Option<Duration>,
}

pub(crate) fn parse_duration(s: &str) -> Result<Duration, String> {
    let (num, unit) = s
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .map(|i| s.split_at(i))
        .unwrap_or((s, "s"));
    let v: f64 = num
        .parse()
        .map_err(|_| format!("{s:?}: want a number and a unit (ms, s, m)"))?;
    let secs = match unit {
        "ms" => v / 1000.0,
        "s" | "" => v,
        "m" => v * 60.0,
        _ => return Err(format!("{s:?}: unit must be ms, s or m")),
    };
    Duration::try_from_secs_f64(secs).map_err(|e| format!("{s:?}: {e}"))
}

pub fn run(c: RingCommand) -> anyhow::Result<()> {
    match c {
        RingCommand::Status(a) => status(a),
        RingCommand::Insert(a) => insert(a),
    }
}

/// The `/v1/ring` document with every insert the switch keeps (it pages
/// them: the pages are fetched in turn).
fn get_doc(node: &NodeOpt) -> anyhow::Result<RingDoc> {
    let page = |query: String| -> anyhow::Result<RingDoc> {
        node.request("GET", &format!("/v1/ring{query}"))?
            .call()
            .map_err(|e| http_error(e, "ring status"))?
            .into_json()
            .context("ring status: not the /v1/ring document")
    };
    let limit = stripecast_ring::switch::INSERTS_PAGE_MAX;
    let mut doc = page(format!("?inserts_limit={limit}"))?;
    while let Some(after) = doc.next_inserts_after.take() {
        let next = page(format!("?inserts_after={after}&inserts_limit={limit}"))?;
        doc.inserts.extend(next.inserts);
        doc.next_inserts_after = next.next_inserts_after;
    }
    Ok(doc)
}

/// An optional value, `-` when absent.
fn opt<T: std::fmt::Display>(v: Option<T>) -> String {
    v.map_or_else(|| "-".into(), |v| v.to_string())
}

/// The JSON word of an enum value (`down`, `fail_up`, `playing`...).
fn word<T: serde::Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        _ => "?".into(),
    }
}

fn status(a: StatusArgs) -> anyhow::Result<()> {
    let doc = get_doc(&a.node)?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&doc)?);
        return Ok(());
    }
    println!(
        "direction {}   spare {}   failovers {}",
        word(&doc.direction),
        opt(doc.spare),
        doc.failovers
    );
    println!("FEED  SYSTEM  MEMBER  OUTPUT                          PACKETS-OUT  INSERTING");
    for f in &doc.feeds {
        println!(
            "{:<5} {:<7} {:<7} {:<31} {:<12} {}",
            f.feed,
            opt(f.system),
            opt(f.member),
            f.output,
            f.packets_out,
            opt(f.inserting)
        );
    }
    println!("POSITION  MEMBER  ALIVE  CONNECTED  STATE      COVERS");
    for s in &doc.systems {
        println!(
            "{:<9} {:<7} {:<6} {:<10} {:<10} {}",
            s.position,
            s.member,
            s.alive,
            s.connected,
            word(&s.state),
            opt(s.covers)
        );
    }
    if !doc.inserts.is_empty() {
        println!("INSERT  FEED  OBJECT                STATE        PLAYED  BY");
        for i in &doc.inserts {
            println!(
                "{:<7} {:<5} {:<21} {:<12} {:<7} {:?}",
                i.id,
                i.feed,
                i.object,
                word(&i.state),
                i.played,
                i.players
            );
        }
    }
    if !doc.uncovered.is_empty() {
        println!(
            "uncovered feeds (network feed without inserts): {:?}",
            doc.uncovered
        );
    }
    Ok(())
}

fn insert(a: InsertArgs) -> anyhow::Result<()> {
    let at = match (a.at, a.after) {
        (Some(at), _) => Some(at),
        (None, Some(d)) => Some(
            (std::time::SystemTime::now() + d)
                .duration_since(std::time::UNIX_EPOCH)
                .context("clock before 1970")?
                .as_millis() as u64,
        ),
        (None, None) => None,
    };
    let body = InsertRequest {
        feed: a.feed,
        at,
        object: a.object,
    };
    let rec: InsertRec = a
        .node
        .request("POST", "/v1/ring/inserts")?
        .send_json(&body)
        .map_err(|e| http_error(e, "ring insert"))?
        .into_json()
        .context("ring insert: not an insert record")?;
    println!(
        "insert {} scheduled: {} into feed {} at {}",
        rec.id, rec.object, rec.feed, rec.at
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::parse_duration;
    use std::time::Duration;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("1500ms"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("3"), Ok(Duration::from_secs(3)));
        assert!(parse_duration("x").is_err());
        assert!(parse_duration("5h").is_err());
    }
}
