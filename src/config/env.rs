//! Environment overrides: `GOZCU__SECTION__KEY=value`. Pure: takes the variables as a list
//! so tests need not touch the process environment.
//!
//! Values are handed to the `config` crate as strings (or lists of strings) and converted
//! by the target type, so a token such as `007` stays `007` instead of becoming the number
//! 7. Lists are comma-separated; blanks around items are trimmed and empty items dropped,
//! so `GOZCU__SERVER__ALLOWED_ORIGINS=` sets an empty list.

use super::{Config, Origin, Problem};
use std::collections::BTreeMap;

/// Environment variables with this prefix (case-insensitive) override config keys.
pub const ENV_PREFIX: &str = "GOZCU__";
/// Separates the section from the key, and the prefix from the section.
pub const ENV_SEPARATOR: &str = "__";
/// Separates list items.
pub const ENV_LIST_SEPARATOR: char = ',';

/// One override, ready for `ConfigBuilder::set_override`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvOverride {
    /// The variable as written, e.g. `GOZCU__SERVER__MAX_CLIENTS`.
    pub var: String,
    /// The config key, e.g. `server.max_clients`.
    pub key: String,
    pub value: EnvValue,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnvValue {
    One(String),
    List(Vec<String>),
}

/// The `GOZCU__*` variables of this process.
pub fn process_env() -> Vec<(String, String)> {
    std::env::vars_os()
        .filter_map(|(k, v)| {
            let k = k.into_string().ok()?;
            is_override(&k).then(|| (k, v.to_string_lossy().into_owned()))
        })
        .collect()
}

fn is_override(name: &str) -> bool {
    name.get(..ENV_PREFIX.len())
        .is_some_and(|p| p.eq_ignore_ascii_case(ENV_PREFIX))
}

/// Every `section.key` that may be overridden, and whether it is a list. Derived from the
/// serialized defaults so a key added to the structs is overridable without more code.
pub fn overridable_keys() -> BTreeMap<String, bool> {
    let mut keys = BTreeMap::new();
    let Ok(table) = toml::Table::try_from(Config::default()) else {
        return keys;
    };
    for (section, value) in &table {
        if let toml::Value::Table(t) = value {
            for (key, v) in t {
                keys.insert(format!("{section}.{key}"), v.is_array());
            }
        }
    }
    keys
}

/// Turns `GOZCU__*` variables into overrides; other variables are ignored. Every variable
/// that names no key is reported, with the valid keys.
pub fn parse_overrides(vars: &[(String, String)]) -> Result<Vec<EnvOverride>, Vec<Problem>> {
    let keys = overridable_keys();
    let mut out = Vec::new();
    let mut problems = Vec::new();
    for (var, value) in vars {
        if !is_override(var) {
            continue;
        }
        match key_of(var, &keys) {
            Ok((key, is_list)) => {
                let value = if is_list {
                    EnvValue::List(split_list(value))
                } else {
                    EnvValue::One(value.clone())
                };
                out.push(EnvOverride {
                    var: var.clone(),
                    key,
                    value,
                });
            }
            Err((key, message)) => problems.push(Problem {
                key,
                origin: Origin::Env(var.clone()),
                message,
            }),
        }
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(problems)
    }
}

fn split_list(value: &str) -> Vec<String> {
    value
        .split(ENV_LIST_SEPARATOR)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// `GOZCU__SERVER__MAX_CLIENTS` -> `server.max_clients`, or (key, why not).
fn key_of(var: &str, keys: &BTreeMap<String, bool>) -> Result<(String, bool), (String, String)> {
    let rest = var[ENV_PREFIX.len()..].to_ascii_lowercase();
    let parts: Vec<&str> = rest.split(ENV_SEPARATOR).collect();
    let key = parts.join(".");
    let sections: Vec<&str> = {
        let mut s: Vec<&str> = keys.keys().filter_map(|k| k.split('.').next()).collect();
        s.dedup();
        s
    };
    if parts.first() == Some(&"cameras") {
        return Err((
            key,
            "cameras cannot be set from the environment; edit the [[cameras]] tables in the file"
                .to_string(),
        ));
    }
    let [section, name] = parts.as_slice() else {
        return Err((
            key,
            format!(
                "expected GOZCU__<SECTION>__<KEY> with one section ({}) and one key, \
                 e.g. GOZCU__SERVER__MAX_CLIENTS",
                sections.join(", ")
            ),
        ));
    };
    if !sections.contains(section) {
        return Err((
            key,
            format!(
                "unknown section `{section}`; valid sections: {}",
                sections.join(", ")
            ),
        ));
    }
    match keys.get(&key) {
        Some(is_list) => Ok((key, *is_list)),
        None => {
            let valid: Vec<&str> = keys
                .keys()
                .filter_map(|k| k.strip_prefix(&format!("{section}.")))
                .collect();
            Err((
                key.clone(),
                format!(
                    "unknown key `{name}` in [{section}]; valid keys: {}",
                    valid.join(", ")
                ),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn the_four_list_keys_are_lists_and_scalars_are_not() {
        let keys = overridable_keys();
        let lists: Vec<&str> = keys
            .iter()
            .filter(|(_, l)| **l)
            .map(|(k, _)| k.as_str())
            .collect();
        assert_eq!(
            lists,
            [
                "detector.labels",
                "server.allowed_origins",
                "server.hostnames",
                "server.listen"
            ]
        );
        assert_eq!(keys.get("server.max_clients"), Some(&false));
        assert_eq!(keys.get("log.level"), Some(&false));
        assert!(!keys.keys().any(|k| k.starts_with("cameras")));
    }

    #[test]
    fn lists_are_split_and_scalars_kept_verbatim() {
        let o = parse_overrides(&vars(&[
            ("GOZCU__SERVER__LISTEN", "127.0.0.1:8080, [::1]:8080,"),
            ("gozcu__server__token", "007"),
            ("GOZCU__SERVER__ALLOWED_ORIGINS", ""),
            ("PATH", "/usr/bin"),
        ]))
        .unwrap();
        assert_eq!(o.len(), 3);
        assert_eq!(o[0].key, "server.listen");
        assert_eq!(
            o[0].value,
            EnvValue::List(vec!["127.0.0.1:8080".into(), "[::1]:8080".into()])
        );
        assert_eq!(o[1].key, "server.token");
        assert_eq!(o[1].var, "gozcu__server__token");
        assert_eq!(o[1].value, EnvValue::One("007".into()));
        assert_eq!(o[2].value, EnvValue::List(vec![]));
    }

    #[test]
    fn unknown_keys_sections_and_cameras_are_named() {
        let problems = parse_overrides(&vars(&[
            ("GOZCU__SERVER__MAX_CLIENT", "3"),
            ("GOZCU__SERVR__LISTEN", "x"),
            ("GOZCU__CAMERAS__0__FPS", "3"),
            ("GOZCU__LOG", "debug"),
        ]))
        .unwrap_err();
        let text: Vec<String> = problems.iter().map(|p| p.to_string()).collect();
        assert_eq!(
            text[0],
            "environment variable GOZCU__SERVER__MAX_CLIENT (key `server.max_client`): unknown \
             key `max_client` in [server]; valid keys: allowed_origins, client_queue, hostnames, \
             idle_timeout_s, listen, max_clients, max_clients_per_ip, ping_interval_s, token"
        );
        assert!(
            text[1].contains("unknown section `servr`; valid sections: detector, events, log"),
            "{}",
            text[1]
        );
        assert!(text[2].contains("cameras cannot be set from the environment"));
        assert!(
            text[3].contains("expected GOZCU__<SECTION>__<KEY>"),
            "{}",
            text[3]
        );
    }
}
