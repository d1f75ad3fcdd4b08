SUMMARY = "Camera daemon for embedded Linux boards"
DESCRIPTION = "gozcu reads USB (UVC) and CSI cameras through V4L2, runs object \
               detection on the Rockchip NPU (RKNN) or on the CPU while something \
               moves, stores person-visit events with a snapshot in SQLite and pushes \
               them over WebSocket to dashboards on the LAN. It ships a built-in \
               dashboard page."
SECTION = "multimedia"
LICENSE = "MIT"
LIC_FILES_CHKSUM = "file://LICENSE-MIT;md5=701a101f29173bb509e9cac7e8418ed8"
CVE_PRODUCT = "gozcu"

# bindgen runs at build time for v4l2-sys-mit (V4L2 headers), always, and for rknn-sys-rs
# with the npu feature; it loads libclang from clang-native (README.md, "Dependencies").
DEPENDS += "clang-native"

# The source repository and commit. Both are placeholders until gozcu has a public
# repository and a tagged release: set GOZCU_GIT_URI and SRCREV in a bbappend or local.conf,
# or work from a checkout with `devtool modify gozcu <path>` (README.md, "Source").
# gozcu-crates.inc must be generated from the Cargo.lock of the same commit.
GOZCU_GIT_URI ??= "git://git.example.invalid/gozcu.git;protocol=https;branch=main"
SRC_URI = "${GOZCU_GIT_URI}"
SRCREV = "0000000000000000000000000000000000000000"

require ${BPN}-crates.inc

# The unit, the sysusers file and the watchdog need systemd.
REQUIRED_DISTRO_FEATURES = "systemd"

# bindgen parses the target's kernel and libc headers with the clang-native libclang.
export LIBCLANG_PATH = "${STAGING_LIBDIR_NATIVE}"
export BINDGEN_EXTRA_CLANG_ARGS = "--sysroot=${RECIPE_SYSROOT}"

# npu: the RKNN backend (cargo feature rknn), linked against Rockchip's librknnrt.so.
PACKAGECONFIG ??= ""
PACKAGECONFIG[npu] = "--features rknn,,rknpu2-runtime,rknpu2-runtime"
# cargo.bbclass does not pass PACKAGECONFIG_CONFARGS to cargo by itself.
CARGO_BUILD_FLAGS:append = " ${PACKAGECONFIG_CONFARGS}"

inherit cargo cargo-update-recipe-crates systemd useradd features_check

USERADD_PACKAGES = "${PN}"
GROUPADD_PARAM:${PN} = "--system -f video; --system -f render"
USERADD_PARAM:${PN} = "--system --home-dir ${localstatedir}/lib/gozcu --no-create-home \
                       --shell ${base_sbindir}/nologin --user-group --groups video,render gozcu"

SYSTEMD_SERVICE:${PN} = "gozcu.service"
SYSTEMD_AUTO_ENABLE:${PN} = "enable"

do_install:append() {
    install -D -m 0644 ${S}/systemd/gozcu.service ${D}${systemd_system_unitdir}/gozcu.service
    install -D -m 0644 ${S}/systemd/sysusers.d/gozcu.conf ${D}${nonarch_libdir}/sysusers.d/gozcu.conf
    install -D -m 0644 ${S}/systemd/udev/60-gozcu-rockchip.rules \
        ${D}${nonarch_base_libdir}/udev/rules.d/60-gozcu-rockchip.rules
    # The configuration may hold the access token: readable by root and the gozcu group.
    install -d -m 0755 ${D}${sysconfdir}/gozcu
    install -m 0640 -g gozcu ${S}/config/gozcu.toml ${D}${sysconfdir}/gozcu/gozcu.toml
    # No model is shipped; a bbappend may add one here (README.md, "Adding a model").
    install -d -m 0755 ${D}${datadir}/gozcu/models
}

FILES:${PN} += "${nonarch_libdir}/sysusers.d/gozcu.conf"
CONFFILES:${PN} = "${sysconfdir}/gozcu/gozcu.toml"
# USB cameras; harmless when the driver is built into the kernel.
RRECOMMENDS:${PN} += "kernel-module-uvcvideo"
