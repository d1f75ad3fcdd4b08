//! The built-in dashboard: files from `src/dashboard/` embedded in the binary, so the device
//! needs nothing on disk to serve its page.

/// One embedded file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Asset {
    pub body: &'static [u8],
    pub content_type: &'static str,
}

const HTML: &str = "text/html; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

const ASSETS: &[(&str, Asset)] = &[
    (
        "index.html",
        Asset {
            body: include_bytes!("../dashboard/index.html"),
            content_type: HTML,
        },
    ),
    (
        "app.js",
        Asset {
            body: include_bytes!("../dashboard/app.js"),
            content_type: JS,
        },
    ),
    (
        "client.js",
        Asset {
            body: include_bytes!("../dashboard/client.js"),
            content_type: JS,
        },
    ),
    (
        "react.js",
        Asset {
            body: include_bytes!("../dashboard/react.js"),
            content_type: JS,
        },
    ),
    (
        "style.css",
        Asset {
            body: include_bytes!("../dashboard/style.css"),
            content_type: CSS,
        },
    ),
    (
        "i18n.js",
        Asset {
            body: include_bytes!("../dashboard/i18n.js"),
            content_type: JS,
        },
    ),
    (
        "api.js",
        Asset {
            body: include_bytes!("../dashboard/api.js"),
            content_type: JS,
        },
    ),
    (
        "view-status.js",
        Asset {
            body: include_bytes!("../dashboard/view-status.js"),
            content_type: JS,
        },
    ),
    (
        "view-events.js",
        Asset {
            body: include_bytes!("../dashboard/view-events.js"),
            content_type: JS,
        },
    ),
];

/// The file served for a request path: `/` is `index.html`; unknown paths are `None`.
pub fn lookup(path: &str) -> Option<Asset> {
    let name = match path.trim_start_matches('/') {
        "" => "index.html",
        other => other,
    };
    ASSETS.iter().find(|(n, _)| *n == name).map(|(_, a)| *a)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_maps_paths_and_types() {
        let index = lookup("/").unwrap();
        assert_eq!(index.content_type, "text/html; charset=utf-8");
        assert_eq!(lookup("/index.html"), Some(index));
        assert!(String::from_utf8_lossy(index.body).contains("<html"));
        assert_eq!(lookup("/app.js").unwrap().content_type, JS);
        for module in ["/api.js", "/view-status.js", "/view-events.js"] {
            assert_eq!(lookup(module).unwrap().content_type, JS, "{module}");
        }
        assert_eq!(lookup("/style.css").unwrap().content_type, CSS);
        assert_eq!(lookup("/nope.js"), None);
        assert_eq!(lookup("/../Cargo.toml"), None);
    }
}
