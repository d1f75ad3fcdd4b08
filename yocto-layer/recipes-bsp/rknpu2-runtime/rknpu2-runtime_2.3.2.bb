SUMMARY = "Rockchip RKNPU2 runtime library (librknnrt.so), prebuilt"
DESCRIPTION = "The user-space runtime for the NPU of Rockchip RK3588, RK3576, RK3568, \
               RK3566 and RK3562 SoCs, as released in binary form by Rockchip in \
               rknn-toolkit2. gozcu's npu PACKAGECONFIG links against it."
HOMEPAGE = "https://github.com/airockchip/rknn-toolkit2"
BUGTRACKER = "https://github.com/airockchip/rknn-toolkit2/issues"
SECTION = "libs"
# Rockchip's "RKNN SDK License": redistribution is limited to applications for Rockchip
# products, and reverse engineering is forbidden. Builds must opt in with
# LICENSE_FLAGS_ACCEPTED += "commercial_rknpu2-runtime" after reading the licence.
# The checksum covers the licence's title and first clause (lines 1-3); if Rockchip changes
# them, the build stops and shows the new checksum to review.
LICENSE = "Proprietary"
LIC_FILES_CHKSUM = "file://LICENSE;beginline=1;endline=3;md5=3f45b520afdcb7493b7fe60bc6aa0a0c"
NO_GENERIC_LICENSE[Proprietary] = "LICENSE"
LICENSE_FLAGS = "commercial"
CVE_PRODUCT = "rknn-toolkit2"

# rknn-toolkit2 at the v2.3.2 release. The repository is large (Python wheels for every
# release); a shallow fetch keeps the download to this one commit.
SRC_URI = "git://github.com/airockchip/rknn-toolkit2.git;protocol=https;nobranch=1"
SRCREV = "59a913d172e7f5ff03c9076e2ec7b1b1288ffd08"
BB_GIT_SHALLOW = "1"

# Rockchip ships the library for 64-bit and 32-bit (hard-float) Arm Linux only.
COMPATIBLE_HOST = "(aarch64|arm).*-linux.*"
RKNN_ARCH = "${@'aarch64' if d.getVar('TARGET_ARCH') == 'aarch64' else 'armhf'}"
RKNN_API_DIR = "${S}/rknpu2/runtime/Linux/librknn_api"

do_configure[noexec] = "1"
do_compile[noexec] = "1"

do_install() {
    install -D -m 0755 ${RKNN_API_DIR}/${RKNN_ARCH}/librknnrt.so ${D}${libdir}/librknnrt.so
    install -d ${D}${includedir}
    install -m 0644 ${RKNN_API_DIR}/include/*.h ${D}${includedir}/
}

# The library has no versioned name: programs link against librknnrt.so itself, so it
# belongs in the main package, not in -dev.
FILES_SOLIBSDEV = ""
FILES:${PN} += "${libdir}/librknnrt.so"

# already-stripped: Rockchip ships the library stripped; there is nothing to split into -dbg.
# ldflags: it was linked by Rockchip's toolchain, not with this build's LDFLAGS, which a
# prebuilt binary cannot honour.
# nooelint: oelint.vars.insaneskip
INSANE_SKIP:${PN} = "already-stripped ldflags"
