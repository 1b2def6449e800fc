//! Text to a typed config: the parsing pipeline and its error mapping.
//!
//! The pipeline is shared by the member file ([`MemberConfig::parse`]) and
//! the switch file (`SwitchConfig::parse`): a raw mirror implements
//! [`RawDocument`] to say where its fields are, and [`parse_document`] runs
//! the stages.
//!
//! Stages, each producing located [`ConfigError`]s:
//! 1. syntax: the text must be a TOML document (`toml::Table`);
//! 2. shape: deserialization into the raw mirror (types, required and unknown
//!    keys); the error span is mapped to a key path with a [`KeyMap`];
//! 3. addresses and defaults: raw mirror to model;
//! 4. rules: `validate::check`, blamed fields located through the raw spans.
//!
//! No stage panics on any input: every failure of the toml crate is an error
//! value, and spans are only used through the clamping `position` function.

use std::fmt;
use std::ops::Range;
use std::path::Path;

use serde::de::DeserializeOwned;

use crate::error::{ConfigError, ErrorKind};
use crate::field::{Field, Violation};
use crate::keymap::{KeyMap, KeyPath};
use crate::raw::RawConfig;
use crate::validate;
use crate::MemberConfig;

/// The file name errors carry when a config did not come from a file.
pub(crate) const IN_MEMORY: &str = "<in-memory config>";

/// A raw mirror of a config file: deserializable with spans on its leaves,
/// convertible to its model, and able to locate the fields rules blame.
pub(crate) trait RawDocument: DeserializeOwned {
    /// The fields validation rules of this file can blame.
    type Field: Copy + fmt::Display;
    /// The public model.
    type Model;

    /// The model with defaults applied; fails on values the model cannot hold.
    fn to_model(&self) -> Result<Self::Model, Violation<Self::Field>>;

    /// The span of `field`'s value, if the key was written in the file.
    fn span_of(&self, field: Self::Field) -> Option<Range<usize>>;
}

/// Runs every stage on `text`: syntax, shape, model, then `check`.
pub(crate) fn parse_document<R: RawDocument>(
    text: &str,
    origin: &Path,
    check: impl Fn(&R::Model) -> Result<(), Violation<R::Field>>,
) -> Result<R::Model, ConfigError> {
    if let Err(e) = toml::from_str::<toml::Table>(text) {
        return Err(syntax_error(&e, text.as_bytes(), origin));
    }
    let raw: R = toml::from_str(text).map_err(|e| shape_error(&e, text, origin))?;
    let locate = |v: Violation<R::Field>| located(v, &raw, text, origin);
    let config = raw.to_model().map_err(locate)?;
    check(&config).map_err(locate)?;
    Ok(config)
}

/// A violation of a config that has no text: the field is named, no line.
pub(crate) fn unlocated<F: fmt::Display>(v: Violation<F>, file: &Path) -> ConfigError {
    let field = v.blame.first().map(ToString::to_string);
    ConfigError::at(file, b"", None, field, v.kind, v.message)
}

impl MemberConfig {
    /// Parses and validates the TOML `text`. `origin` is only used to name the
    /// file in errors.
    pub fn parse(text: &str, origin: &Path) -> Result<MemberConfig, ConfigError> {
        parse_document::<RawConfig>(text, origin, validate::check)
    }

    /// Checks the rules `parse` enforces, for configs built or changed in code.
    /// Errors name the field but no file or line.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.validate_as(Path::new(IN_MEMORY))
    }

    /// Like [`MemberConfig::validate`], naming `file` in the error.
    pub(crate) fn validate_as(&self, file: &Path) -> Result<(), ConfigError> {
        validate::check(self).map_err(|v: Violation<Field>| unlocated(v, file))
    }
}

/// A TOML syntax error (including duplicate keys and tables).
fn syntax_error(e: &toml::de::Error, text: &[u8], origin: &Path) -> ConfigError {
    let mut message = one_line(e.message());
    if message.is_empty() {
        // toml says nothing for some inputs, e.g. `id =` at the end of a file.
        message = "invalid TOML here (a key without a value?)".to_owned();
    }
    let field = duplicate_key_path(&message);
    ConfigError::at(origin, text, e.span(), field, ErrorKind::Syntax, message)
}

/// toml's messages may span several lines ("invalid string\nexpected ...");
/// errors are shown on one line.
fn one_line(message: &str) -> String {
    message
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ")
}

/// "duplicate key `K` in table `T`" names the field `T.K`, "... in document
/// root" the field `K`; the phrase may follow a first line of context.
fn duplicate_key_path(message: &str) -> Option<String> {
    let (_, rest) = message.split_once("duplicate key `")?;
    let (key, rest) = rest.split_once('`')?;
    match rest.strip_prefix(" in table `") {
        Some(table) => Some(format!("{}.{key}", table.split_once('`')?.0)),
        None => Some(key.to_owned()),
    }
}

/// A deserialization error: wrong type, missing or unknown key.
fn shape_error(e: &toml::de::Error, text: &str, origin: &Path) -> ConfigError {
    let span = e.span();
    let mut raw_message = one_line(e.message());
    if raw_message.is_empty() {
        raw_message = "invalid value".to_owned();
    }
    let (kind, key) = classify(&raw_message);
    let message = friendlier(&raw_message, kind, span.as_ref(), text);
    let field =
        key_map(text, span.as_ref()).and_then(|map| field_path(&map, span.as_ref(), kind, key));
    ConfigError::at(origin, text.as_bytes(), span, field, kind, message)
}

/// The key index of `text`. When the value at the error span is itself what
/// the index cannot handle (a date-time), it is retried with that value
/// replaced by a number padded to the same length, which keeps every span.
fn key_map(text: &str, span: Option<&Range<usize>>) -> Option<KeyMap> {
    if let Ok(map) = KeyMap::build(text) {
        return Some(map);
    }
    let span = span?;
    let value = text.get(span.clone())?;
    if value.is_empty() {
        return None;
    }
    let mut patched = String::with_capacity(text.len());
    patched.push_str(text.get(..span.start)?);
    patched.push('0');
    patched.extend(std::iter::repeat_n(' ', value.len() - 1));
    patched.push_str(text.get(span.end..)?);
    KeyMap::build(&patched).ok()
}

/// The error kind of a serde message, and the key it names if any.
fn classify(message: &str) -> (ErrorKind, Option<&str>) {
    let quoted = |prefix: &str| {
        message
            .strip_prefix(prefix)
            .and_then(|rest| rest.split_once('`'))
            .map(|(key, _)| key)
    };
    if let Some(key) = quoted("unknown field `") {
        (ErrorKind::UnknownKey, Some(key))
    } else if let Some(key) = quoted("missing field `") {
        (ErrorKind::MissingKey, Some(key))
    } else {
        (ErrorKind::InvalidValue, None)
    }
}

/// The key path an error is about.
///
/// A missing key is reported with the span of the table that lacks it, an
/// unknown key with the span of the key itself (inside its table), anything
/// else with the span of the bad value.
fn field_path(
    map: &KeyMap,
    span: Option<&Range<usize>>,
    kind: ErrorKind,
    key: Option<&str>,
) -> Option<String> {
    let root = KeyPath::default();
    let base = match (span, kind) {
        (None, _) => &root,
        (Some(span), ErrorKind::MissingKey) => map.exact(span).unwrap_or(&root),
        (Some(span), _) => map
            .exact(span)
            .or_else(|| map.containing(span.start))
            .unwrap_or(&root),
    };
    let path = match key {
        // `[cluster.extra]` reports `extra` at its header, which the index
        // already records as the value `cluster.extra`.
        Some(key) if kind == ErrorKind::UnknownKey && base.ends_with_key(key) => base.clone(),
        // `[[feedz]]` reports `feedz` at its header, which lies inside the
        // item the index records as `feedz[0]`.
        Some(key) if kind == ErrorKind::UnknownKey && base.ends_with_item_of(key) => base.parent(),
        Some(key) => base.join(key),
        None => base.clone(),
    };
    (!path.is_root()).then(|| path.to_string())
}

/// Replaces toml's messages about its own span machinery with what the
/// operator wrote wrong.
fn friendlier(message: &str, kind: ErrorKind, span: Option<&Range<usize>>, text: &str) -> String {
    if message.contains("expected a borrowed string") || message.contains("a spanned value") {
        return "expected a single value here, not a table or dotted key".to_owned();
    }
    let snippet = span.and_then(|s| text.get(s.clone()));
    let is_datetime = snippet.is_some_and(|s| s.trim().parse::<toml::value::Datetime>().is_ok());
    if kind == ErrorKind::InvalidValue && is_datetime {
        // toml hands date-times to serde as maps: "invalid type: map, ...".
        return message.replacen("invalid type: map", "invalid type: date-time", 1);
    }
    message.to_owned()
}

/// A rule violation located through the spans of the raw mirror.
fn located<R: RawDocument>(
    v: Violation<R::Field>,
    raw: &R,
    text: &str,
    origin: &Path,
) -> ConfigError {
    let found = v
        .blame
        .iter()
        .find_map(|&f| raw.span_of(f).map(|span| (f, span)));
    let (field, span) = match found {
        Some((f, span)) => (Some(f), Some(span)),
        None => (v.blame.first().copied(), None),
    };
    ConfigError::at(
        origin,
        text.as_bytes(),
        span,
        field.map(|f| f.to_string()),
        v.kind,
        v.message,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicate_key_messages_name_the_field() {
        assert_eq!(
            duplicate_key_path("duplicate key `name` in table `cluster`").as_deref(),
            Some("cluster.name")
        );
        assert_eq!(
            duplicate_key_path("duplicate key `id` in document root").as_deref(),
            Some("id")
        );
        assert_eq!(
            duplicate_key_path("invalid table header; duplicate key `cluster` in document root")
                .as_deref(),
            Some("cluster")
        );
        assert_eq!(duplicate_key_path("expected newline"), None);
    }

    #[test]
    fn classifies_serde_messages() {
        assert_eq!(
            classify("unknown field `x`, expected `a`"),
            (ErrorKind::UnknownKey, Some("x"))
        );
        assert_eq!(
            classify("missing field `secret`"),
            (ErrorKind::MissingKey, Some("secret"))
        );
        assert_eq!(
            classify("invalid type: integer `5`, expected a string"),
            (ErrorKind::InvalidValue, None)
        );
    }
}
