//! `gozcu check-config`: load and validate, then print the effective configuration (file +
//! environment, relative paths resolved, defaults filled in) as TOML, token redacted.

use super::env::process_env;
use super::{Config, EXIT_CONFIG, load_with_env};
use std::io::Write;
use std::path::Path;

/// What `check-config` prints in place of a non-empty token.
pub const REDACTED: &str = "***";

/// `gozcu check-config`: returns the process exit code (0, or 78 for a bad config).
pub fn check_config_main(path: &Path) -> i32 {
    let env = process_env();
    match load_with_env(path, &env) {
        Ok(config) => match effective_toml(&config, path, &env) {
            Ok(text) => {
                let mut out = std::io::stdout().lock();
                // A closed stdout (`| head`) is not a config problem.
                let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
                0
            }
            Err(e) => {
                eprintln!(
                    "gozcu: {}: cannot print the effective configuration: {e}",
                    path.display()
                );
                EXIT_CONFIG
            }
        },
        Err(e) => {
            eprintln!("gozcu: {e}");
            EXIT_CONFIG
        }
    }
}

/// A copy of `config` that is safe to print or log: the token becomes `***`.
pub fn redacted(config: &Config) -> Config {
    let mut c = config.clone();
    if !c.server.token.is_empty() {
        c.server.token = REDACTED.to_string();
    }
    c
}

/// The effective configuration as TOML, with a header naming the file and the overrides.
pub fn effective_toml(
    config: &Config,
    path: &Path,
    env: &[(String, String)],
) -> Result<String, toml::ser::Error> {
    let body = toml::to_string_pretty(&redacted(config))?;
    let mut vars: Vec<&str> = env.iter().map(|(k, _)| k.as_str()).collect();
    vars.sort_unstable();
    let overrides = if vars.is_empty() {
        "none".to_string()
    } else {
        vars.join(", ")
    };
    Ok(format!(
        "# gozcu effective configuration\n# file: {}\n# environment overrides: {overrides}\n\n\
         {body}",
        path.display()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{CameraConfig, load_from_str};

    #[test]
    fn printed_config_loads_back_identically_and_hides_the_token() {
        let mut c = Config::default();
        c.cameras.push(CameraConfig {
            id: "cam-1".into(),
            device: "testsrc:".into(),
            ..CameraConfig::default()
        });
        let text = effective_toml(&c, Path::new("/etc/gozcu/gozcu.toml"), &[]).unwrap();
        assert!(text.starts_with("# gozcu effective configuration\n# file: /etc/gozcu/gozcu.toml\n# environment overrides: none\n"), "{text}");
        let back = load_from_str(&text, Path::new("/x/y.toml"), &[]).unwrap();
        assert_eq!(back, c);

        c.server.token = "s3cret".into();
        let env = [("GOZCU__SERVER__TOKEN".to_string(), "s3cret".to_string())];
        let text = effective_toml(&c, Path::new("g.toml"), &env).unwrap();
        assert!(!text.contains("s3cret"), "{text}");
        assert!(text.contains("token = \"***\""), "{text}");
        assert!(text.contains("# environment overrides: GOZCU__SERVER__TOKEN\n"));
    }
}
