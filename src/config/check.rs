//! `gozcu check-config`: load and validate, then print the effective configuration (file +
//! environment, relative paths resolved, defaults filled in) as TOML, token redacted.

use super::env::process_env;
use super::{Backend, Config, DeviceKind, EXIT_CONFIG, load_with_env};
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
                for note in notes(&config) {
                    eprintln!("gozcu: note: {note}");
                }
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

/// Valid settings that will not work as things are now (a missing model, an unplugged
/// camera). Not errors: cameras get plugged in and models installed after the config is
/// written, and the daemon copes with both.
pub fn notes(config: &Config) -> Vec<String> {
    let mut out = Vec::new();
    let d = &config.detector;
    let missing = |p: &Path| !p.as_os_str().is_empty() && !p.exists();
    if d.backend != Backend::None && missing(&d.model) {
        out.push(format!(
            "detector.model {} does not exist; without a model the daemon reports motion \
             events instead of detections",
            d.model.display()
        ));
    }
    for (key, p) in [
        ("detector.cpu_model", &d.cpu_model),
        ("detector.labels_file", &d.labels_file),
    ] {
        if d.backend != Backend::None && missing(p) {
            out.push(format!("{key} {} does not exist", p.display()));
        }
    }
    if config.cameras.is_empty() {
        out.push("no [[cameras]] are configured; the daemon will only serve the API".into());
    }
    for (i, cam) in config.cameras.iter().enumerate().filter(|(_, c)| c.enabled) {
        match cam.device_kind() {
            DeviceKind::V4l2(p) if missing(&p) => out.push(format!(
                "cameras[{i}].device {} is not present now; the daemon retries until it appears",
                p.display()
            )),
            DeviceKind::Replay(p) if missing(&p) => out.push(format!(
                "cameras[{i}].device: replay source {} does not exist",
                p.display()
            )),
            _ => {}
        }
    }
    out
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
    fn notes_name_missing_files_and_devices() {
        let dir = tempfile::tempdir().unwrap();
        let model = dir.path().join("m.onnx");
        std::fs::write(&model, b"x").unwrap();
        let mut c = Config::default();
        c.detector.model = dir.path().join("absent.onnx");
        let mut cam = CameraConfig {
            id: "a".into(),
            device: "/dev/v4l/by-id/not-plugged-in".into(),
            ..CameraConfig::default()
        };
        c.cameras.push(cam.clone());
        cam.enabled = false;
        c.cameras.push(cam);
        let n = notes(&c);
        assert_eq!(n.len(), 2, "{n:#?}");
        assert!(n[0].starts_with(&format!(
            "detector.model {} does not exist",
            c.detector.model.display()
        )));
        assert_eq!(
            n[1],
            "cameras[0].device /dev/v4l/by-id/not-plugged-in is not present now; the daemon \
             retries until it appears"
        );
        c.detector.model = model;
        c.cameras.clear();
        assert_eq!(
            notes(&c),
            ["no [[cameras]] are configured; the daemon will only serve the API"]
        );
    }

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
