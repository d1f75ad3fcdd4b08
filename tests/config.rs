//! Configuration loading end to end: real files, the process environment, the shipped
//! config files, and the `gozcu check-config` binary. Error tests assert message text.

use gozcu::config::{
    Backend, CameraConfig, Config, ConfigError, LogLevel, load, load_with_env, overridable_keys,
};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, MutexGuard};

/// Serializes tests that read or change the process environment (including those that
/// start the binary, which inherits it).
static ENV: Mutex<()> = Mutex::new(());

fn env_lock() -> MutexGuard<'static, ()> {
    ENV.lock().unwrap_or_else(|e| e.into_inner())
}

/// Sets environment variables for the life of the guard; needs `env_lock` held.
struct EnvVars(Vec<&'static str>);

impl EnvVars {
    fn set(vars: &[(&'static str, &str)]) -> Self {
        for (k, v) in vars {
            // SAFETY: every test that touches or reads the environment holds `env_lock`.
            unsafe { std::env::set_var(k, v) };
        }
        EnvVars(vars.iter().map(|(k, _)| *k).collect())
    }
}

impl Drop for EnvVars {
    fn drop(&mut self) {
        for k in &self.0 {
            // SAFETY: as in `set`.
            unsafe { std::env::remove_var(k) };
        }
    }
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Writes `text` to a temporary gozcu.toml and returns (dir guard, path).
fn file(text: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gozcu.toml");
    std::fs::write(&path, text).unwrap();
    (dir, path)
}

const CAMERA: &str = "[[cameras]]\nid = \"cam-1\"\ndevice = \"testsrc:\"\n";

/// Loads `text` with no environment overrides; returns the error message.
fn error_of(text: &str) -> (String, PathBuf) {
    let (_dir, path) = file(text);
    let err = load_with_env(&path, &[]).expect_err("config should be rejected");
    (err.to_string(), path)
}

#[test]
fn malformed_toml_names_file_and_line() {
    let (msg, path) = error_of("[server]\nmax_clients = 5\nlisten = [\"0.0.0.0:80\"\n\n");
    assert!(
        msg.starts_with(&format!("{}: line ", path.display())),
        "{msg}"
    );
    assert!(msg.contains("TOML syntax error"), "{msg}");
    let (msg, _) = error_of("[server]\nmax_clients == 5\n");
    assert!(msg.contains(": line 2, column "), "{msg}");
}

#[test]
fn unknown_key_is_named_with_the_valid_ones() {
    let (msg, path) = error_of("[server]\n\nmax_client = 5\n");
    assert!(
        msg.starts_with(&format!(
            "{}: line 3: `server.max_client`: unknown field `max_client`, expected one of",
            path.display()
        )),
        "{msg}"
    );
    assert!(msg.contains("`max_clients`"), "{msg}");

    let (msg, _) = error_of(&format!("{CAMERA}fpss = 3\n"));
    assert!(
        msg.contains("line 4: `cameras[0].fpss`: unknown field `fpss`"),
        "{msg}"
    );
    let (msg, _) = error_of("[servr]\nlisten = []\n");
    assert!(
        msg.contains("line 1: `servr`: unknown field `servr`"),
        "{msg}"
    );
}

#[test]
fn wrong_type_names_key_line_and_expected_type() {
    let (msg, _) = error_of(&format!("{CAMERA}{CAMERA}fps = \"fast\"\n"));
    assert!(
        msg.contains(
            "line 7: `cameras[1].fps`: invalid type: string \"fast\", expected a whole \
             number of at least 0 (no quotes)"
        ),
        "{msg}"
    );
    let (msg, _) = error_of("[log]\nlevel = \"verbose\"\n");
    assert!(
        msg.contains("line 2: `log.level`: unknown variant `verbose`, expected one of"),
        "{msg}"
    );
}

#[test]
fn duplicate_camera_id_is_rejected() {
    let (msg, path) = error_of(&format!("{CAMERA}\n{CAMERA}"));
    assert_eq!(
        msg,
        format!(
            "{}: line 6: `cameras[1].id`: \"cam-1\" is used by an earlier camera; ids must be \
             unique",
            path.display()
        )
    );
}

#[test]
fn fps_zero_is_out_of_range() {
    let (msg, _) = error_of(&format!("{CAMERA}fps = 0\ndetect_fps = 1.0\n"));
    assert!(
        msg.ends_with("line 4: `cameras[0].fps`: must be 1..=240 frames per second, got 0"),
        "{msg}"
    );
}

#[test]
fn threshold_above_one_is_out_of_range() {
    let (msg, path) = error_of("[detector]\nmin_score = 1.5\n");
    assert_eq!(
        msg,
        format!(
            "{}: 2 problems:\n  - line 1: `detector.confirm_score` (not set, default): must be \
             at least detector.min_score (1.5), got 0.7\n  - line 2: `detector.min_score`: must \
             be 0..=1 (a fraction), got 1.5",
            path.display()
        )
    );
}

#[test]
fn bad_listen_address_is_explained() {
    let (msg, _) = error_of("[server]\nlisten = [\"999.1.1.1:99999\"]\n");
    assert!(
        msg.contains(
            "line 2: `server.listen[0]`: invalid socket address syntax; write IP:port with a \
             port 0..=65535"
        ),
        "{msg}"
    );
}

#[test]
fn env_override_with_bad_value_names_the_variable() {
    let _lock = env_lock();
    let _vars = EnvVars::set(&[("GOZCU__SERVER__MAX_CLIENTS", "lots")]);
    let (_dir, path) = file(CAMERA);
    let msg = load(&path).unwrap_err().to_string();
    assert_eq!(
        msg,
        format!(
            "{}: environment variable GOZCU__SERVER__MAX_CLIENTS (key `server.max_clients`): \
             bad value \"lots\": invalid type: string \"lots\", expected a whole number of at \
             least 0 (no quotes)",
            path.display()
        )
    );
}

#[test]
fn env_override_out_of_range_names_the_variable() {
    let _lock = env_lock();
    let _vars = EnvVars::set(&[
        ("GOZCU__SERVER__LISTEN", "127.0.0.1:8080,999.1.1.1:99999"),
        ("GOZCU__EVENTS__END_AFTER_S", "0"),
    ]);
    let (_dir, path) = file(CAMERA);
    let msg = load(&path).unwrap_err().to_string();
    assert!(
        msg.contains(
            "environment variable GOZCU__SERVER__LISTEN (key `server.listen[1]`): bad value \
             [\"127.0.0.1:8080\", \"999.1.1.1:99999\"]: invalid socket address syntax"
        ),
        "{msg}"
    );
    drop(_vars);
    let _vars = EnvVars::set(&[("GOZCU__EVENTS__END_AFTER_S", "0")]);
    let msg = load(&path).unwrap_err().to_string();
    assert!(
        msg.ends_with(
            "environment variable GOZCU__EVENTS__END_AFTER_S (key `events.end_after_s`): must \
             be a number of seconds greater than 0, got 0"
        ),
        "{msg}"
    );
}

#[test]
fn env_overrides_parse_lists_and_win_over_the_file() {
    let _lock = env_lock();
    let _vars = EnvVars::set(&[
        ("GOZCU__SERVER__LISTEN", "127.0.0.1:8080,[::1]:8080"),
        ("GOZCU__SERVER__TOKEN", "007"),
        ("GOZCU__DETECTOR__LABELS", "person, car"),
        ("GOZCU__DETECTOR__MIN_SCORE", "0.25"),
        ("GOZCU__DETECTOR__BACKEND", "none"),
        ("GOZCU__MOTION__ENABLED", "false"),
        ("GOZCU__LOG__LEVEL", "debug"),
    ]);
    let (_dir, path) = file(&format!(
        "[server]\nlisten = [\"0.0.0.0:9000\"]\nmax_clients = 70\n{CAMERA}"
    ));
    let c = load(&path).unwrap();
    let want: Vec<SocketAddr> = vec![
        "127.0.0.1:8080".parse().unwrap(),
        "[::1]:8080".parse().unwrap(),
    ];
    assert_eq!(c.server.listen, want);
    assert_eq!(c.server.token, "007");
    assert_eq!(c.server.max_clients, 70);
    assert_eq!(c.detector.labels, ["person", "car"]);
    assert_eq!(c.detector.min_score, 0.25);
    assert_eq!(c.detector.backend, Backend::None);
    assert!(!c.motion.enabled);
    assert_eq!(c.log.level, LogLevel::Debug);
}

#[test]
fn relative_paths_resolve_against_the_config_folder() {
    let (dir, path) = file(
        "[storage]\ndir = \"data\"\n[detector]\nmodel = \"../m/x.onnx\"\n\
         [[cameras]]\nid = \"r\"\ndevice = \"replay:clips/a\"\nfps = 7\n",
    );
    let base = std::fs::canonicalize(dir.path()).unwrap();
    let c = load_with_env(&path, &[]).unwrap();
    assert_eq!(c.storage.dir, base.join("data"));
    assert_eq!(c.detector.model, base.parent().unwrap().join("m/x.onnx"));
    assert_eq!(c.detector.cpu_model, Path::new(""));
    assert_eq!(
        c.cameras[0].device,
        format!("replay:{}", base.join("clips/a").display())
    );
}

#[test]
fn missing_file_says_which_and_what_to_do() {
    let err = load_with_env(Path::new("/nonexistent/gozcu.toml"), &[]).unwrap_err();
    assert!(matches!(err, ConfigError::Read { .. }));
    assert_eq!(
        err.to_string(),
        "cannot read config file /nonexistent/gozcu.toml: No such file or directory (os error \
         2); pass the right file with --config"
    );
}

#[test]
fn demo_config_is_valid_and_points_into_the_repo() {
    let c = load_with_env(&repo().join("config/demo.toml"), &[]).unwrap();
    let root = std::fs::canonicalize(repo()).unwrap();
    assert_eq!(
        c.server.listen,
        ["127.0.0.1:8080".parse::<SocketAddr>().unwrap()]
    );
    assert_eq!(c.storage.dir, root.join("demo-data"));
    assert_eq!(c.detector.backend, Backend::Cpu);
    assert_eq!(
        c.detector.model,
        root.parent().unwrap().join("shared/models/yolox_nano.onnx")
    );
    let summary: Vec<(&str, &str, u32, u32, u32)> = c
        .cameras
        .iter()
        .map(|c| (c.id.as_str(), c.name.as_str(), c.width, c.height, c.fps))
        .collect();
    assert_eq!(
        summary,
        [
            ("cam-1", "Front door", 640, 360, 10),
            ("cam-2", "Back yard", 640, 360, 10),
            ("pets", "Street", 768, 576, 7),
        ]
    );
    assert_eq!(c.cameras[0].device, "testsrc:");
    assert_eq!(
        c.cameras[2].device,
        format!(
            "replay:{}",
            root.parent()
                .unwrap()
                .join("shared/testdata/pets2009/img")
                .display()
        )
    );
}

#[test]
fn device_default_config_is_valid_and_equals_the_built_in_defaults() {
    let c = load_with_env(&repo().join("config/gozcu.toml"), &[]).unwrap();
    let want = Config {
        cameras: vec![CameraConfig {
            id: "cam-1".into(),
            name: "Front door".into(),
            device: "/dev/v4l/by-id/usb-046d_0825-video-index0".into(),
            ..CameraConfig::default()
        }],
        ..Config::default()
    };
    assert_eq!(c, want);
}

#[test]
fn device_default_config_comments_every_key() {
    let text = std::fs::read_to_string(repo().join("config/gozcu.toml")).unwrap();
    let mut prev = "";
    let mut keys = Vec::new();
    for line in text.lines() {
        if let Some((key, _)) = line.split_once(" = ").filter(|_| !line.starts_with('#')) {
            assert!(prev.starts_with('#'), "no comment above `{line}`");
            keys.push(key.trim().to_string());
        }
        prev = line;
    }
    let camera_keys = [
        "id",
        "name",
        "device",
        "width",
        "height",
        "fps",
        "format",
        "detect_fps",
        "enabled",
    ];
    for key in overridable_keys().keys() {
        let name = key.split('.').nth(1).unwrap();
        assert!(
            keys.iter().any(|k| k == name),
            "{key} missing from config/gozcu.toml"
        );
    }
    for key in camera_keys {
        assert!(keys.iter().any(|k| k == key), "cameras.{key} missing");
    }
}

#[test]
fn documentation_covers_every_key() {
    let doc = std::fs::read_to_string(repo().join("docs/configuration.md")).unwrap();
    for key in overridable_keys().keys() {
        let name = key.split('.').nth(1).unwrap();
        assert!(
            doc.contains(&format!("| `{name}` |")),
            "{key} not documented"
        );
    }
    assert!(doc.contains("78"));
    assert!(doc.contains("GOZCU__SERVER__LISTEN=127.0.0.1:8080,[::1]:8080"));
}

fn check_config(path: &Path, env: &[(&str, &str)]) -> (i32, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_gozcu"));
    cmd.arg("check-config").arg("--config").arg(path);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn check_config_binary_rejects_a_bad_file_with_exit_78() {
    let _lock = env_lock();
    let (_dir, path) = file(&format!("{CAMERA}fps = 0\n"));
    let (code, stdout, stderr) = check_config(&path, &[]);
    assert_eq!(code, 78, "stderr: {stderr}");
    assert_eq!(stdout, "");
    assert!(
        stderr.contains(&format!("{}: ", path.display()))
            && stderr.contains("`cameras[0].fps`: must be 1..=240"),
        "{stderr}"
    );
    let (code, _, stderr) = check_config(Path::new("/nonexistent/x.toml"), &[]);
    assert_eq!(code, 78);
    assert!(
        stderr.contains("cannot read config file /nonexistent/x.toml"),
        "{stderr}"
    );
}

#[test]
fn check_config_binary_prints_the_effective_demo_config() {
    let _lock = env_lock();
    let demo = repo().join("config/demo.toml");
    let (code, stdout, stderr) = check_config(&demo, &[("GOZCU__SERVER__TOKEN", "s3cret-token")]);
    assert_eq!(code, 0, "stderr: {stderr}");
    assert!(
        stdout.contains("# environment overrides: GOZCU__SERVER__TOKEN"),
        "{stdout}"
    );
    assert!(stdout.contains("token = \"***\""), "{stdout}");
    assert!(!stdout.contains("s3cret"), "{stdout}");
    assert!(stdout.contains("id = \"pets\""), "{stdout}");
    let printed: Config = toml::from_str(&stdout).unwrap();
    assert_eq!(printed.cameras.len(), 3);
}

#[test]
fn env_list_replaces_the_whole_file_list() {
    let (_dir, path) = file(&format!(
        "[server]\nlisten = [\"0.0.0.0:1\", \"0.0.0.0:2\", \"0.0.0.0:3\"]\n\
         [detector]\nlabels = [\"person\", \"car\"]\n{CAMERA}"
    ));
    let env = [
        ("GOZCU__SERVER__LISTEN".to_string(), "[::]:8080".to_string()),
        ("GOZCU__DETECTOR__LABELS".to_string(), "dog".to_string()),
    ];
    let c = load_with_env(&path, &env).unwrap();
    assert_eq!(
        c.server.listen,
        ["[::]:8080".parse::<SocketAddr>().unwrap()]
    );
    assert_eq!(c.detector.labels, ["dog"]);
    let env = [("GOZCU__DETECTOR__LABELS".to_string(), " , ".to_string())];
    let msg = load_with_env(&path, &env).unwrap_err().to_string();
    assert!(
        msg.ends_with(
            "environment variable GOZCU__DETECTOR__LABELS (key `detector.labels`): must list at \
             least one label that creates events, e.g. [\"person\"]"
        ),
        "{msg}"
    );
}
