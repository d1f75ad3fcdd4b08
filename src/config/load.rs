//! Loading: read the TOML file, check it strictly against the structs (so types and unknown
//! keys are reported with their line), layer the `GOZCU__*` environment overrides on it with
//! the `config` crate, resolve relative paths, validate.
//!
//! The strict pass uses the `toml` crate directly because the `config` crate converts
//! silently (`fps = 15.5` becomes 16, `enabled = "yes"` becomes true) and forgets lines.
//! The layered pass needs that leniency: environment values are strings.

use super::env::{EnvOverride, EnvValue, parse_overrides, process_env};
use super::locate::{SourceMap, position};
use super::messages::{explain, key_and_message, unknown_field};
use super::{Config, ConfigError, DeviceKind, Origin, Problem, resolve_path, validate};
use std::path::{Component, Path, PathBuf};

/// Loads and validates `path` with the process's `GOZCU__*` environment overrides.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    load_with_env(path, &process_env())
}

/// Like [`load`] with the environment given as `(name, value)` pairs (tests, reload).
pub fn load_with_env(path: &Path, env: &[(String, String)]) -> Result<Config, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let (dir, canonical) = match config_dir(path) {
        Some(dir) => (dir, true),
        None => (parent(path), false),
    };
    parse(&text, path, &dir, canonical, env)
}

/// Parses and validates `text` as if it were the file `path` (used in messages; relative
/// paths resolve against its folder, without touching the file system).
pub fn load_from_str(
    text: &str,
    path: &Path,
    env: &[(String, String)],
) -> Result<Config, ConfigError> {
    parse(text, path, &parent(path), false, env)
}

/// The absolute folder of the config file with symlinks resolved, `None` if it is gone.
pub fn config_dir(path: &Path) -> Option<PathBuf> {
    std::fs::canonicalize(path)
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf))
}

fn parent(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

fn parse(
    text: &str,
    path: &Path,
    dir: &Path,
    canonical_dir: bool,
    env: &[(String, String)],
) -> Result<Config, ConfigError> {
    let invalid = |problems| ConfigError::Invalid {
        path: path.to_path_buf(),
        problems,
    };
    let doc = toml::de::DeTable::parse(text).map_err(|e| {
        let (line, column) = position(text, e.span().map_or(0, |s| s.start));
        ConfigError::Syntax {
            path: path.to_path_buf(),
            line,
            column,
            message: e.message().trim().to_string(),
        }
    })?;
    let map = SourceMap::new(text, doc.get_ref());
    toml::from_str::<Config>(text).map_err(|e| invalid(vec![strict_problem(&map, &e)]))?;
    let overrides = parse_overrides(env).map_err(invalid)?;
    let mut config = layered(text, &overrides).map_err(|p| invalid(vec![p]))?;
    for p in [
        &mut config.storage.dir,
        &mut config.detector.model,
        &mut config.detector.cpu_model,
        &mut config.detector.labels_file,
    ] {
        *p = resolve(dir, canonical_dir, p);
    }
    for cam in &mut config.cameras {
        if let DeviceKind::Replay(p) = cam.device_kind()
            && !p.as_os_str().is_empty()
        {
            cam.device = format!("replay:{}", resolve(dir, canonical_dir, &p).display());
        }
    }
    validate(&config).map_err(|mut problems| {
        for p in &mut problems {
            p.origin = origin_of(&p.key, &overrides, &map);
        }
        // In file order, so they read top to bottom beside the editor; overrides last.
        problems.sort_by_key(|p| match p.origin {
            Origin::Line(l) => l,
            Origin::Default { table_line } => table_line.unwrap_or(usize::MAX - 1),
            Origin::Env(_) => usize::MAX,
        });
        invalid(problems)
    })?;
    Ok(config)
}

/// Where the value of `key` came from: an override wins over the file.
fn origin_of(key: &str, overrides: &[EnvOverride], map: &SourceMap) -> Origin {
    let from_env = overrides.iter().rev().find(|o| {
        key == o.key
            || key
                .strip_prefix(o.key.as_str())
                .is_some_and(|rest| rest.starts_with(['[', '.']))
    });
    match from_env {
        Some(o) => Origin::Env(o.var.clone()),
        None => match map.line_of(key) {
            Some(line) => Origin::Line(line),
            None => Origin::Default {
                table_line: map.table_line_of(key),
            },
        },
    }
}

fn strict_problem(map: &SourceMap, e: &toml::de::Error) -> Problem {
    let offset = e.span().map_or(0, |s| s.start);
    let mut key = map.key_at(offset).unwrap_or("").to_string();
    let message = e.message().trim().to_string();
    // serde reports an unknown field against the table that holds it.
    if let Some(field) = unknown_field(&message)
        && key != field
        && !key.ends_with(&format!(".{field}"))
    {
        key = if key.is_empty() {
            field.to_string()
        } else {
            format!("{key}.{field}")
        };
    }
    let line = map.line_of(&key).unwrap_or_else(|| map.position(offset).0);
    Problem {
        message: explain(&key, message),
        key,
        origin: Origin::Line(line),
    }
}

/// The file plus overrides through the `config` crate. The file already passed the strict
/// check, so an error here comes from an override.
fn layered(text: &str, overrides: &[EnvOverride]) -> Result<Config, Problem> {
    let mut builder = config::Config::builder()
        .add_source(config::File::from_str(text, config::FileFormat::Toml));
    for o in overrides {
        let set = match &o.value {
            EnvValue::One(v) => builder.set_override(&o.key, v.as_str()),
            EnvValue::List(v) => builder.set_override(&o.key, v.clone()),
        };
        builder = set.map_err(|e| env_problem(o, &o.key, e.to_string()))?;
    }
    let merged = builder
        .build()
        .map_err(|e| Problem::new("", e.to_string()))?;
    merged.try_deserialize::<Config>().map_err(|e| {
        let (key, message) = key_and_message(e);
        let key = key.unwrap_or_default();
        let source = overrides
            .iter()
            .rev()
            .find(|o| key == o.key || key.starts_with(&format!("{}[", o.key)));
        match source {
            Some(o) => env_problem(o, &key, explain(&key, message)),
            None => Problem::new(key.clone(), explain(&key, message)),
        }
    })
}

fn env_problem(o: &EnvOverride, key: &str, message: String) -> Problem {
    let value = match &o.value {
        EnvValue::One(v) => format!("{v:?}"),
        EnvValue::List(v) => format!("{v:?}"),
    };
    Problem {
        key: key.to_string(),
        origin: Origin::Env(o.var.clone()),
        message: format!("bad value {value}: {message}"),
    }
}

/// Resolves a relative path against the config folder. When the folder is canonical (no
/// symlinks), leading `..` can be removed textually, so `../demo-data` prints as a clean
/// absolute path.
fn resolve(dir: &Path, canonical: bool, p: &Path) -> PathBuf {
    if !canonical || p.as_os_str().is_empty() || p.is_absolute() {
        return resolve_path(dir, p);
    }
    let mut out = dir.to_path_buf();
    let mut comps = p.components().peekable();
    while let Some(c) = comps.peek() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            _ => break,
        }
        comps.next();
    }
    out.extend(comps);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leading_parent_dirs_are_removed_only_for_canonical_folders() {
        let dir = Path::new("/srv/gozcu/config");
        assert_eq!(
            resolve(dir, true, Path::new("../demo-data")),
            Path::new("/srv/gozcu/demo-data")
        );
        assert_eq!(
            resolve(dir, true, Path::new("./a/../b")),
            Path::new("/srv/gozcu/config/a/../b")
        );
        assert_eq!(
            resolve(dir, false, Path::new("../demo-data")),
            Path::new("/srv/gozcu/config/../demo-data")
        );
        assert_eq!(resolve(dir, true, Path::new("/abs")), Path::new("/abs"));
        assert_eq!(resolve(dir, true, Path::new("")), Path::new(""));
    }
}
