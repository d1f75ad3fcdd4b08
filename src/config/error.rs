//! Configuration errors. Every message names the file, the key (`cameras[1].fps`), where the
//! bad value came from (a line of the file or an environment variable) and what is valid,
//! because the operator reading it has only the journal and an editor.

use std::fmt;
use std::path::PathBuf;

/// Where a configuration value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// A line (1-based) of the config file.
    Line(usize),
    /// An environment variable such as `GOZCU__SERVER__MAX_CLIENTS`.
    Env(String),
    /// Not written anywhere: the built-in default. `table_line` is the line of the
    /// enclosing table (e.g. the `[[cameras]]` header) when that is written.
    Default { table_line: Option<usize> },
}

/// One thing wrong with one key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Dotted key with list indices, e.g. `cameras[1].fps` or `server.listen[0]`.
    pub key: String,
    pub origin: Origin,
    /// What is wrong and what is valid.
    pub message: String,
}

impl Problem {
    /// A problem whose origin is filled in later (validation works on the merged config
    /// and does not know where values came from).
    pub fn new(key: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            origin: Origin::Default { table_line: None },
            message: message.into(),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.origin {
            Origin::Line(line) => write!(f, "line {line}: `{}`: {}", self.key, self.message),
            Origin::Env(var) => write!(
                f,
                "environment variable {var} (key `{}`): {}",
                self.key, self.message
            ),
            Origin::Default {
                table_line: Some(line),
            } => write!(
                f,
                "line {line}: `{}` (not set, default): {}",
                self.key, self.message
            ),
            Origin::Default { table_line: None } => write!(f, "`{}`: {}", self.key, self.message),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(
        "cannot read config file {}: {source}; pass the right file with --config",
        path.display()
    )]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: line {line}, column {column}: TOML syntax error: {message}", path.display())]
    Syntax {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{}: {}", path.display(), ProblemList(problems))]
    Invalid {
        path: PathBuf,
        problems: Vec<Problem>,
    },
}

impl ConfigError {
    /// The problems of an `Invalid` error (empty for read and syntax errors).
    pub fn problems(&self) -> &[Problem] {
        match self {
            ConfigError::Invalid { problems, .. } => problems,
            _ => &[],
        }
    }
}

struct ProblemList<'a>(&'a [Problem]);

impl fmt::Display for ProblemList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            [one] => write!(f, "{one}"),
            many => {
                write!(f, "{} problems:", many.len())?;
                for p in many {
                    write!(f, "\n  - {p}")?;
                }
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_problem_is_one_line_naming_file_line_and_key() {
        let e = ConfigError::Invalid {
            path: PathBuf::from("/etc/gozcu/gozcu.toml"),
            problems: vec![Problem {
                key: "cameras[1].fps".into(),
                origin: Origin::Line(14),
                message: "must be 1..=240, got 0".into(),
            }],
        };
        assert_eq!(
            e.to_string(),
            "/etc/gozcu/gozcu.toml: line 14: `cameras[1].fps`: must be 1..=240, got 0"
        );
    }

    #[test]
    fn several_problems_are_listed_one_per_line() {
        let e = ConfigError::Invalid {
            path: PathBuf::from("g.toml"),
            problems: vec![
                Problem::new("server.listen", "must not be empty"),
                Problem {
                    key: "server.max_clients".into(),
                    origin: Origin::Env("GOZCU__SERVER__MAX_CLIENTS".into()),
                    message: "must be at least 1".into(),
                },
            ],
        };
        assert_eq!(
            e.to_string(),
            "g.toml: 2 problems:\n  - `server.listen`: must not be empty\n  - environment \
             variable GOZCU__SERVER__MAX_CLIENTS (key `server.max_clients`): must be at least 1"
        );
    }
}
