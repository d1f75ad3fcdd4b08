#!/usr/bin/env python3
"""Checks meta-gozcu's structure without BitBake:

- conf/layer.conf sets the variables a layer needs (BBPATH, BBFILES, BBFILE_COLLECTIONS,
  BBFILE_PATTERN_gozcu, BBFILE_PRIORITY_gozcu, LAYERVERSION_gozcu, LAYERDEPENDS_gozcu,
  LAYERSERIES_COMPAT_gozcu naming whinlatter and wrynose);
- every recipe lies where BBFILES finds it, and the layer has README.md and COPYING.MIT;
- the gozcu recipe's LIC_FILES_CHKSUM md5 matches the repository's licence file, its
  `require` finds the crates include, and every ${S}/... file it installs exists in the tree;
- cross.toml parses and configures both cross targets.
"""

import fnmatch
import hashlib
import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
LAYER = REPO / "yocto-layer"
COLLECTION = "gozcu"
REQUIRED_SERIES = {"whinlatter", "wrynose"}
ASSIGN = re.compile(r'^([A-Za-z0-9_:${}.-]+(?:\[[^\]]+\])?)\s*(\?\?=|\?=|:=|\+=|\.=|=)\s*"((?:[^"\\]|\\.|\\\n)*)"', re.M)


def assignments(text: str) -> dict[str, str]:
    """Variable -> value (continuation lines joined; later assignments append for +=/.=)."""
    out: dict[str, str] = {}
    for name, op, value in ASSIGN.findall(text):
        value = " ".join(value.replace("\\\n", " ").split())
        if op in ("+=", ".=") and name in out:
            out[name] = f"{out[name]} {value}"
        else:
            out[name] = value
    return out


def check_layer_conf(errors: list[str]) -> None:
    conf = LAYER / "conf/layer.conf"
    try:
        v = assignments(conf.read_text(encoding="utf-8"))
    except OSError as e:
        errors.append(f"cannot read {conf}: {e}")
        return
    required = ["BBPATH", "BBFILES", "BBFILE_COLLECTIONS", f"BBFILE_PATTERN_{COLLECTION}",
                f"BBFILE_PRIORITY_{COLLECTION}", f"LAYERVERSION_{COLLECTION}",
                f"LAYERDEPENDS_{COLLECTION}", f"LAYERSERIES_COMPAT_{COLLECTION}"]
    for name in required:
        if not v.get(name):
            errors.append(f"conf/layer.conf: {name} is not set")
    if COLLECTION not in v.get("BBFILE_COLLECTIONS", "").split():
        errors.append(f"conf/layer.conf: BBFILE_COLLECTIONS does not name '{COLLECTION}'")
    if "${LAYERDIR}" not in v.get("BBPATH", ""):
        errors.append("conf/layer.conf: BBPATH does not add ${LAYERDIR}")
    series = set(v.get(f"LAYERSERIES_COMPAT_{COLLECTION}", "").split())
    if missing := REQUIRED_SERIES - series:
        errors.append(f"conf/layer.conf: LAYERSERIES_COMPAT_{COLLECTION} lacks {' '.join(sorted(missing))}")
    if not re.fullmatch(r"\d+", v.get(f"BBFILE_PRIORITY_{COLLECTION}", "")):
        errors.append(f"conf/layer.conf: BBFILE_PRIORITY_{COLLECTION} is not a number")
    # Every recipe and append must be found by one of the BBFILES patterns.
    patterns = [p.replace("${LAYERDIR}/", "") for p in v.get("BBFILES", "").split()]
    for f in sorted(LAYER.rglob("*.bb*")):
        rel = str(f.relative_to(LAYER))
        if f.suffix in (".bb", ".bbappend") and not any(fnmatch.fnmatch(rel, p) for p in patterns):
            errors.append(f"{rel} is not matched by BBFILES ({' '.join(patterns)})")


def check_gozcu_recipe(errors: list[str]) -> None:
    recipes = sorted((LAYER / "recipes-multimedia/gozcu").glob("gozcu_*.bb"))
    if len(recipes) != 1:
        errors.append(f"expected one gozcu_<version>.bb, found {[r.name for r in recipes]}")
        return
    recipe = recipes[0]
    text = recipe.read_text(encoding="utf-8")
    v = assignments(text)
    # The recipe's version must be the crate's.
    pv = recipe.stem.split("_", 1)[1]
    cargo_version = re.search(r'^version\s*=\s*"([^"]+)"', (REPO / "Cargo.toml").read_text(), re.M)
    if not cargo_version or cargo_version.group(1) != pv:
        errors.append(f"{recipe.name}: version {pv} differs from Cargo.toml's {cargo_version and cargo_version.group(1)}")
    # Licence checksum against the file in the tree.
    for entry in v.get("LIC_FILES_CHKSUM", "").split():
        m = re.fullmatch(r"file://([^;]+);md5=([0-9a-f]{32})", entry)
        if not m:
            errors.append(f"{recipe.name}: cannot check LIC_FILES_CHKSUM entry {entry}")
            continue
        path = REPO / m.group(1)
        actual = hashlib.md5(path.read_bytes()).hexdigest() if path.is_file() else None
        if actual != m.group(2):
            errors.append(f"{recipe.name}: LIC_FILES_CHKSUM md5 for {m.group(1)} is {m.group(2)}, file has {actual}")
    if "require ${BPN}-crates.inc" not in text or not (recipe.parent / "gozcu-crates.inc").is_file():
        errors.append(f"{recipe.name}: must `require ${{BPN}}-crates.inc` and the file must exist")
    for word in ("cargo", "cargo-update-recipe-crates", "systemd", "useradd"):
        if not re.search(rf"^inherit\b.*\s{re.escape(word)}(\s|$)", text, re.M):
            errors.append(f"{recipe.name}: does not inherit {word}")
    # Files installed from the source tree.
    for rel in sorted(set(re.findall(r"\$\{S\}/(\S+)", text))):
        if not (REPO / rel).exists():
            errors.append(f"{recipe.name}: installs ${{S}}/{rel}, which is not in the repository")
    if "clang-native" not in v.get("DEPENDS", ""):
        errors.append(f"{recipe.name}: DEPENDS lacks clang-native (bindgen)")


def check_cross_toml(errors: list[str]) -> None:
    """cross.toml (cross-rs, used as CROSS_CONFIG=cross.toml) parses and names both targets."""
    import tomllib

    try:
        data = tomllib.loads((REPO / "cross.toml").read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as e:
        errors.append(f"cross.toml: {e}")
        return
    for triple in ("aarch64-unknown-linux-gnu", "armv7-unknown-linux-gnueabihf"):
        target = data.get("target", {}).get(triple, {})
        if not str(target.get("image", "")).startswith("ghcr.io/cross-rs/"):
            errors.append(f"cross.toml: no cross-rs image for {triple}")
        if not any(e.startswith("BINDGEN_EXTRA_CLANG_ARGS") for e in target.get("env", {}).get("passthrough", [])):
            errors.append(f"cross.toml: no BINDGEN_EXTRA_CLANG_ARGS for {triple}")
    if not any("libclang" in step for step in data.get("build", {}).get("pre-build", [])):
        errors.append("cross.toml: pre-build does not install libclang")


def main() -> int:
    errors: list[str] = []
    for name in ("README.md", "COPYING.MIT", "conf/layer.conf"):
        if not (LAYER / name).is_file():
            errors.append(f"yocto-layer/{name} is missing")
    check_layer_conf(errors)
    check_gozcu_recipe(errors)
    check_cross_toml(errors)
    for e in errors:
        print(f"check-layer: {e}", file=sys.stderr)
    if errors:
        return 1
    print("check-layer: layer.conf, recipe files and cross.toml OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
