//! Turns deserializer messages (from `toml` and the `config` crate) into operator language:
//! Rust type names become "a whole number", enum errors list the valid values, and a few
//! keys get an example of a valid value.

/// The field name of a serde "unknown field `x`, expected ..." message.
pub(crate) fn unknown_field(message: &str) -> Option<&str> {
    message.strip_prefix("unknown field `")?.split('`').next()
}

/// Rewrites `message` about `key` so it says what is valid.
pub(crate) fn explain(key: &str, message: String) -> String {
    if let Some(valid) = enum_values(key)
        && let Some(rest) = message.strip_prefix("enum ")
    {
        // `config` crate: "enum LogLevel does not have variant constructor verbose".
        let value = rest.rsplit(' ').next().unwrap_or_default();
        return format!("unknown value `{value}`; valid values: {valid}");
    }
    let message = plain_expected(message);
    if key.starts_with("server.listen") && message.contains("socket address") {
        format!(
            "{message}; write IP:port with a port 0..=65535, e.g. \"0.0.0.0:8080\" or \"[::]:8080\""
        )
    } else if key == "cameras" {
        format!("{message}; write each camera as a [[cameras]] table (double brackets)")
    } else {
        message
    }
}

fn enum_values(key: &str) -> Option<&'static str> {
    match key {
        "log.level" => Some("error, warn, info, debug, trace"),
        "detector.backend" => Some("auto, rknn, cpu, none"),
        "detector.family" => Some("yolox, yolov8, yolov5"),
        _ => None,
    }
}

/// `..., expected u32` -> `..., expected a whole number`.
fn plain_expected(message: String) -> String {
    const MARK: &str = ", expected ";
    let Some(at) = message.rfind(MARK) else {
        return message;
    };
    let (head, ty) = (&message[..at], &message[at + MARK.len()..]);
    let plain = match ty {
        "u8" | "u16" | "u32" | "u64" | "usize" | "an integer" => {
            "a whole number of at least 0 (no quotes)"
        }
        "i8" | "i16" | "i32" | "i64" | "isize" => "a whole number (no quotes)",
        "f32" | "f64" | "a float" => "a number such as 0.5 (no quotes)",
        "a boolean" => "true or false (no quotes)",
        "a sequence" => "a list in brackets, e.g. [\"a\", \"b\"]",
        "a string" => "a quoted string",
        t if t.starts_with("struct ") || t == "a map" => "a table",
        _ => return message,
    };
    format!("{head}{MARK}{plain}")
}

/// Splits a `config` crate error into its key and the bare message.
pub(crate) fn key_and_message(e: config::ConfigError) -> (Option<String>, String) {
    match e {
        config::ConfigError::Type {
            unexpected,
            expected,
            key,
            ..
        } => (
            key,
            format!("invalid type: {unexpected}, expected {expected}"),
        ),
        config::ConfigError::At { error, key, .. } => (key, key_and_message(*error).1),
        config::ConfigError::NotFound(key) => (Some(key), "missing".to_string()),
        other => (None, other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_field_is_taken_from_the_serde_message() {
        assert_eq!(
            unknown_field("unknown field `fpss`, expected one of `id`"),
            Some("fpss")
        );
        assert_eq!(unknown_field("unknown variant `x`, expected `a`"), None);
        assert_eq!(unknown_field("invalid type"), None);
    }

    #[test]
    fn rust_types_become_plain_words() {
        assert_eq!(
            explain(
                "cameras[0].fps",
                "invalid type: string \"x\", expected u32".into()
            ),
            "invalid type: string \"x\", expected a whole number of at least 0 (no quotes)"
        );
        assert_eq!(
            explain(
                "server.listen",
                "invalid type: string \"a\", expected a sequence".into()
            ),
            "invalid type: string \"a\", expected a list in brackets, e.g. [\"a\", \"b\"]"
        );
        assert_eq!(
            explain(
                "server",
                "invalid type: integer `3`, expected struct ServerConfig".into()
            ),
            "invalid type: integer `3`, expected a table"
        );
        // Messages that already say what is valid are kept.
        let m = "unknown variant `x`, expected one of `a`, `b`";
        assert_eq!(explain("log.level", m.into()), m);
    }

    #[test]
    fn config_crate_enum_errors_list_the_valid_values() {
        assert_eq!(
            explain(
                "log.level",
                "enum LogLevel does not have variant constructor verbose".into()
            ),
            "unknown value `verbose`; valid values: error, warn, info, debug, trace"
        );
    }
}
