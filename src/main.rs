//! `gozcu` command line: parses arguments and hands off to the library.

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser, Debug)]
#[command(
    name = "gozcu",
    version,
    about = "Camera daemon: V4L2 capture, detection, events over WebSocket"
)]
struct Cli {
    /// Configuration file.
    #[arg(long, short = 'c', global = true, default_value = gozcu::config::DEFAULT_CONFIG_PATH)]
    config: PathBuf,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the daemon (default).
    Run,
    /// Validate the configuration and print the effective config; exit 0 or 78.
    CheckConfig,
    /// List V4L2 devices with their formats and a ready-to-paste [[cameras]] block.
    Devices,
    /// Run detection on image files and print the detections.
    Detect(gozcu::detect::cli::DetectArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let code = match cli.command.unwrap_or(Command::Run) {
        Command::Run => gozcu::daemon::run_main(&cli.config),
        Command::CheckConfig => gozcu::config::check_config_main(&cli.config),
        Command::Devices => gozcu::camera::devices::devices_main(),
        Command::Detect(args) => gozcu::detect::cli::detect_main(&args),
    };
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}
