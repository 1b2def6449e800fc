//! The raw mirror of the switch file: [`crate::SwitchConfig`] with spans on
//! the leaves.
//!
//! Same approach as the member file's mirror (`crate::raw`): serde checks
//! types, required keys and unknown keys (`deny_unknown_fields` everywhere)
//! with spans; optional keys are `Option`s and defaulted in
//! [`RawDocument::to_model`]; addresses and endpoints are read as strings so
//! their errors can say which form is expected; so is `direction`, for the
//! same reason.

use std::ops::Range;
use std::path::PathBuf;

use serde::Deserialize;
use toml::Spanned;

use crate::endpoint::{parse_input, parse_output};
use crate::field::Violation;
use crate::parse::RawDocument;
use crate::raw::socket_addr;
use crate::switch_field::SwitchField;
use crate::{ErrorKind, FeedConfig, RingDirection, SwitchConfig, SwitchTimeouts, SystemConfig};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSwitch {
    data_dir: Spanned<String>,
    control: Spanned<String>,
    http: Spanned<String>,
    direction: Option<Spanned<String>>,
    keep_finished_inserts: Option<Spanned<u64>>,
    cluster: RawSwitchCluster,
    #[serde(default)]
    timeouts: RawSwitchTimeouts,
    feeds: Spanned<Vec<RawFeed>>,
    systems: Spanned<Vec<RawSystem>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSwitchCluster {
    name: Spanned<String>,
    secret: Spanned<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSwitchTimeouts {
    heartbeat_interval_ms: Option<Spanned<u64>>,
    heartbeat_timeout_ms: Option<Spanned<u64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFeed {
    input: Spanned<String>,
    output: Spanned<String>,
    cue_object: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSystem {
    member: Spanned<u32>,
}

impl RawFeed {
    fn to_model(&self, i: usize) -> Result<FeedConfig, Violation<SwitchField>> {
        let input = parse_input(self.input.get_ref())
            .map_err(|(kind, msg)| Violation::new(SwitchField::FeedInput(i), kind, msg))?;
        let output = parse_output(self.output.get_ref())
            .map_err(|(kind, msg)| Violation::new(SwitchField::FeedOutput(i), kind, msg))?;
        Ok(FeedConfig {
            input,
            output,
            cue_object: self.cue_object.as_ref().map(|c| c.get_ref().clone()),
        })
    }
}

/// `up`, `down` or `either`, with a message listing them otherwise.
fn direction(value: &Spanned<String>) -> Result<RingDirection, Violation<SwitchField>> {
    match value.get_ref().as_str() {
        "up" => Ok(RingDirection::Up),
        "down" => Ok(RingDirection::Down),
        "either" => Ok(RingDirection::Either),
        other => Err(Violation::new(
            SwitchField::Direction,
            ErrorKind::InvalidValue,
            format!("{other:?} is not a ring direction; expected \"up\", \"down\" or \"either\""),
        )),
    }
}

impl RawDocument for RawSwitch {
    type Field = SwitchField;
    type Model = SwitchConfig;

    fn to_model(&self) -> Result<SwitchConfig, Violation<SwitchField>> {
        let d = SwitchTimeouts::default();
        let t = &self.timeouts;
        let ms =
            |v: &Option<Spanned<u64>>, default: u64| v.as_ref().map_or(default, |v| *v.get_ref());
        let feeds = self
            .feeds
            .get_ref()
            .iter()
            .enumerate()
            .map(|(i, f)| f.to_model(i))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(SwitchConfig {
            data_dir: PathBuf::from(self.data_dir.get_ref()),
            control: socket_addr(&self.control, SwitchField::Control)?,
            http: socket_addr(&self.http, SwitchField::Http)?,
            direction: self
                .direction
                .as_ref()
                .map_or(Ok(RingDirection::default()), direction)?,
            cluster_name: self.cluster.name.get_ref().clone(),
            secret: self.cluster.secret.get_ref().clone(),
            timeouts: SwitchTimeouts {
                heartbeat_interval_ms: ms(&t.heartbeat_interval_ms, d.heartbeat_interval_ms),
                heartbeat_timeout_ms: ms(&t.heartbeat_timeout_ms, d.heartbeat_timeout_ms),
            },
            // Beyond usize: as many as the validator's limit refuses.
            keep_finished_inserts: self
                .keep_finished_inserts
                .as_ref()
                .map_or(crate::DEFAULT_KEEP_FINISHED_INSERTS, |v| {
                    usize::try_from(*v.get_ref()).unwrap_or(usize::MAX)
                }),
            feeds,
            systems: self
                .systems
                .get_ref()
                .iter()
                .map(|s| SystemConfig {
                    member: crate::MemberId::new(*s.member.get_ref()),
                })
                .collect(),
        })
    }

    fn span_of(&self, field: SwitchField) -> Option<Range<usize>> {
        let feed = |i: usize| self.feeds.get_ref().get(i);
        match field {
            SwitchField::DataDir => Some(self.data_dir.span()),
            SwitchField::Control => Some(self.control.span()),
            SwitchField::Http => Some(self.http.span()),
            SwitchField::Direction => self.direction.as_ref().map(Spanned::span),
            SwitchField::ClusterName => Some(self.cluster.name.span()),
            SwitchField::ClusterSecret => Some(self.cluster.secret.span()),
            SwitchField::HeartbeatInterval => self
                .timeouts
                .heartbeat_interval_ms
                .as_ref()
                .map(Spanned::span),
            SwitchField::HeartbeatTimeout => self
                .timeouts
                .heartbeat_timeout_ms
                .as_ref()
                .map(Spanned::span),
            SwitchField::KeepFinishedInserts => {
                self.keep_finished_inserts.as_ref().map(Spanned::span)
            }
            SwitchField::Feeds => Some(self.feeds.span()),
            SwitchField::FeedInput(i) => feed(i).map(|f| f.input.span()),
            SwitchField::FeedOutput(i) => feed(i).map(|f| f.output.span()),
            SwitchField::FeedCueObject(i) => {
                feed(i).and_then(|f| f.cue_object.as_ref().map(Spanned::span))
            }
            SwitchField::Systems => Some(self.systems.span()),
            SwitchField::SystemMember(i) => self.systems.get_ref().get(i).map(|s| s.member.span()),
        }
    }
}
