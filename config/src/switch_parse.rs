//! Text to [`SwitchConfig`]: the shared parsing pipeline
//! (`crate::parse::parse_document`) applied to the switch file's raw mirror
//! and rules.

use std::path::Path;

use crate::error::ConfigError;
use crate::parse::{parse_document, unlocated, IN_MEMORY};
use crate::switch_raw::RawSwitch;
use crate::switch_validate;
use crate::SwitchConfig;

impl SwitchConfig {
    /// Parses and validates the TOML `text` of a switch file. `origin` is only
    /// used to name the file in errors.
    pub fn parse(text: &str, origin: &Path) -> Result<SwitchConfig, ConfigError> {
        parse_document::<RawSwitch>(text, origin, switch_validate::check)
    }

    /// Checks the rules `parse` enforces, for configs built or changed in code.
    /// Errors name the field but no file or line.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.validate_as(Path::new(IN_MEMORY))
    }

    /// Like [`SwitchConfig::validate`], naming `file` in the error.
    pub(crate) fn validate_as(&self, file: &Path) -> Result<(), ConfigError> {
        switch_validate::check(self).map_err(|v| unlocated(v, file))
    }
}
