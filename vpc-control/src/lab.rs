//! The declarative lab file (`vpc apply -f lab.toml`): TOML of [`Model`].
use std::path::Path;

use thiserror::Error;

use crate::model::Model;

/// Why a lab file could not be read.
#[derive(Debug, Error)]
pub enum LabError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read { path: String, source: std::io::Error },
    /// The file is not valid TOML of the lab schema.
    #[error("{path}: {message}")]
    Syntax { path: String, message: String },
}

impl LabError {
    /// The cloud-style error code.
    pub fn code(&self) -> &'static str {
        match self {
            LabError::Read { .. } => "InvalidParameter",
            LabError::Syntax { .. } => "InvalidParameter.Malformed",
        }
    }
}

/// Reads a lab file.
pub fn load(path: &Path) -> Result<Model, LabError> {
    let text = std::fs::read_to_string(path)
        .map_err(|source| LabError::Read { path: path.display().to_string(), source })?;
    parse(&text).map_err(|message| LabError::Syntax { path: path.display().to_string(), message })
}

/// Parses lab TOML.
pub fn parse(text: &str) -> Result<Model, String> {
    toml::from_str(text).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_lab_parses_and_validates() {
        let text = include_str!("../examples/lab.toml");
        let model = parse(text).unwrap().with_system_route_tables();
        crate::validate::validate(&model).unwrap();
        assert_eq!(model.vswitches.len(), 2);
    }

    #[test]
    fn unknown_fields_and_bad_cidrs_are_syntax_errors() {
        assert!(parse("[[vpc]]\nid = \"vpc-a\"\ncidr_block = \"10.0.0.0/16\"\ncolour = 1\n").is_err());
        assert!(parse("[[vpc]]\nid = \"vpc-a\"\ncidr_block = \"10.0.0.0/33\"\n").is_err());
    }
}
