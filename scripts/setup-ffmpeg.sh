#!/usr/bin/env bash
# setup-ffmpeg.sh: install the build dependencies and build FFmpeg 8.1.2 (shared, with NVENC)
# from Debian's source packages into a cache prefix outside the clone.
#
#   scripts/setup-ffmpeg.sh                 install deps, build if needed, print the prefix last
#   scripts/setup-ffmpeg.sh --print-prefix  print the prefix this configuration builds into; do nothing
#
# The prefix is ${XDG_CACHE_HOME:-$HOME/.cache}/abrfleet/ffmpeg-8.1.2-<config hash>, so any change
# to the pinned sources or the configure flags builds into a new prefix and never reuses a stale one.
# A second run with the same configuration finds the stamp and returns in seconds.
#
# FFMPEG_PREFIX=/some/prefix skips the build when that prefix already holds FFmpeg 8.x with the
# encoders abrfleet needs (libx264, libx265, h264_nvenc, hevc_nvenc).
set -euo pipefail

FFMPEG_VERSION=8.1.2
FFMPEG_DEB_VERSION=7:8.1.2-2
FFMPEG_ORIG_SHA256=464beb5e7bf0c311e68b45ae2f04e9cc2af88851abb4082231742a74d97b524c
NVCODEC_VERSION=12.1.14.0
NVCODEC_ORIG_SHA256=0ca1a0c85b149646fa6ce4d600584507fdccf5a23d58e668d8701e89cee0c3fb
DEB_SRC_LINE='deb-src http://deb.debian.org/debian sid main'

BUILD_DEPS=(build-essential nasm pkg-config dpkg-dev xz-utils
	libx264-dev libx265-dev libdav1d-dev libsvtav1enc-dev libvpx-dev libopus-dev libmp3lame-dev
	libzimg-dev libfreetype-dev libgnutls28-dev libsrt-gnutls-dev zlib1g-dev libbz2-dev liblzma-dev
	redis-server)

# Every decoder, demuxer and filter FFmpeg has stays enabled (the default): users send every kind of file.
CONFIGURE_FLAGS=(
	--enable-shared --disable-static --enable-rpath --enable-gpl
	--enable-ffnvcodec --enable-nvenc --enable-nvdec --enable-cuvid
	--enable-libx264 --enable-libx265 --enable-libdav1d --enable-libsvtav1 --enable-libvpx
	--enable-libopus --enable-libmp3lame --enable-libzimg --enable-gnutls --enable-libsrt
	--enable-libfreetype
	--disable-doc
)
NEEDED_ENCODERS=(libx264 libx265 h264_nvenc hevc_nvenc libsvtav1 aac)

CACHE_ROOT="${XDG_CACHE_HOME:-$HOME/.cache}/abrfleet"
config_hash() {
	printf '%s\n' "$FFMPEG_VERSION" "$FFMPEG_ORIG_SHA256" "$NVCODEC_ORIG_SHA256" "${CONFIGURE_FLAGS[@]}" |
		sha256sum | cut -c1-12
}
DEFAULT_PREFIX="$CACHE_ROOT/ffmpeg-$FFMPEG_VERSION-$(config_hash)"

log() { printf 'setup-ffmpeg: %s\n' "$*" >&2; }
die() { printf 'setup-ffmpeg: error: %s\n' "$*" >&2; exit 1; }

if [[ "${1:-}" == "--print-prefix" ]]; then
	echo "${FFMPEG_PREFIX:-$DEFAULT_PREFIX}"
	exit 0
fi

as_root() { if [[ $(id -u) -eq 0 ]]; then "$@"; else sudo "$@"; fi; }

install_deps() {
	local missing=()
	for p in "${BUILD_DEPS[@]}"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
	done
	if ((${#missing[@]} == 0)); then
		log "build dependencies present"
		return
	fi
	log "installing: ${missing[*]}"
	as_root apt-get update -q >/dev/null
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
}

# check_prefix PREFIX: FFmpeg 8.x (libavcodec 62) with the needed encoders.
check_prefix() {
	local prefix=$1 ver enc
	[[ -f "$prefix/lib/pkgconfig/libavcodec.pc" ]] || { log "$prefix: no lib/pkgconfig/libavcodec.pc"; return 1; }
	ver=$(PKG_CONFIG_PATH="$prefix/lib/pkgconfig" pkg-config --modversion libavcodec)
	[[ "${ver%%.*}" == 62 ]] || { log "$prefix: libavcodec $ver is not FFmpeg 8.x (want 62.x)"; return 1; }
	[[ -x "$prefix/bin/ffmpeg" ]] || { log "$prefix: no bin/ffmpeg (needed by bench compare-cli)"; return 1; }
	enc=$("$prefix/bin/ffmpeg" -hide_banner -encoders 2>/dev/null)
	for e in "${NEEDED_ENCODERS[@]}"; do
		grep -qE "^ [A-Z.]{6} $e( |$)" <<<"$enc" || { log "$prefix: encoder $e missing"; return 1; }
	done
}

private_apt() {
	local dir=$CACHE_ROOT/apt
	mkdir -p "$dir/lists/partial" "$dir/cache/archives/partial"
	echo "$DEB_SRC_LINE" >"$dir/sources.list"
	apt-get -q \
		-o Dir::Etc::SourceList="$dir/sources.list" -o Dir::Etc::SourceParts=/dev/null \
		-o Dir::State::Lists="$dir/lists" -o Dir::Cache="$dir/cache" \
		-o APT::Sandbox::User="$(id -un)" "$@"
}

# fetch_orig PKG VERSION TARBALL SHA256: download the source package's orig tarball into $SRC_DIR
# and check it. The Debian diff is not needed (and nv-codec-headers' is missing from the archive).
fetch_orig() {
	local pkg=$1 ver=$2 tarball=$3 sum=$4
	if [[ -f "$SRC_DIR/$tarball" ]] && echo "$sum  $SRC_DIR/$tarball" | sha256sum -c --status; then
		return
	fi
	log "downloading source package $pkg=$ver"
	(cd "$SRC_DIR" && private_apt source --download-only "$pkg=$ver" >"$SRC_DIR/$pkg.apt.log" 2>&1) || true
	if [[ ! -f "$SRC_DIR/$tarball" ]]; then
		sed 's/^/    /' "$SRC_DIR/$pkg.apt.log" >&2
		die "the archive ('$DEB_SRC_LINE') no longer has source package $pkg version $ver ($tarball).
    Point the build at another FFmpeg 8.x: FFMPEG_PREFIX=/path/to/prefix make setup
    (the prefix needs lib/pkgconfig/libavcodec.pc 62.x and bin/ffmpeg with: ${NEEDED_ENCODERS[*]}),
    or update the pinned versions and sha256 sums at the top of $0."
	fi
	echo "$sum  $SRC_DIR/$tarball" | sha256sum -c --status ||
		die "$tarball: sha256 $(sha256sum "$SRC_DIR/$tarball" | cut -d' ' -f1) does not match the pinned $sum"
	log "$tarball: sha256 ok"
}

main() {
	local t0=$SECONDS
	install_deps
	if [[ -n "${FFMPEG_PREFIX:-}" ]]; then
		check_prefix "$FFMPEG_PREFIX" || die "FFMPEG_PREFIX=$FFMPEG_PREFIX is not a usable FFmpeg 8.x prefix (see above)"
		log "using FFMPEG_PREFIX=$FFMPEG_PREFIX"
		echo "$FFMPEG_PREFIX"
		return
	fi
	local prefix=$DEFAULT_PREFIX
	if [[ -f "$prefix/.abrfleet-complete" ]] && check_prefix "$prefix"; then
		log "FFmpeg $FFMPEG_VERSION already built at $prefix ($((SECONDS - t0)) s)"
		echo "$prefix"
		return
	fi

	SRC_DIR=$CACHE_ROOT/src
	mkdir -p "$SRC_DIR"
	if [[ ! -d "$CACHE_ROOT/apt/lists" ]] || [[ -z "$(find "$CACHE_ROOT/apt/lists" -maxdepth 1 -name '*Sources*' -mmin -1440 2>/dev/null)" ]]; then
		log "updating the private source list ($DEB_SRC_LINE)"
		private_apt update >/dev/null 2>"$SRC_DIR/apt-update.log" || { cat "$SRC_DIR/apt-update.log" >&2; die "apt-get update of the private source list failed"; }
	fi
	fetch_orig ffmpeg "$FFMPEG_DEB_VERSION" "ffmpeg_$FFMPEG_VERSION.orig.tar.xz" "$FFMPEG_ORIG_SHA256"
	fetch_orig nv-codec-headers "$NVCODEC_VERSION-1" "nv-codec-headers_$NVCODEC_VERSION.orig.tar.xz" "$NVCODEC_ORIG_SHA256"

	work=$(mktemp -d "$CACHE_ROOT/build.XXXXXX") # global: the EXIT trap runs after main returns
	trap 'rm -rf "$work"' EXIT
	rm -rf "$prefix"
	mkdir -p "$prefix"

	log "installing nv-codec-headers $NVCODEC_VERSION into $prefix"
	tar -C "$work" -xf "$SRC_DIR/nv-codec-headers_$NVCODEC_VERSION.orig.tar.xz"
	make -s -C "$work/nv-codec-headers-n$NVCODEC_VERSION" PREFIX="$prefix" install >/dev/null

	tar -C "$work" -xf "$SRC_DIR/ffmpeg_$FFMPEG_VERSION.orig.tar.xz"
	cd "$work/ffmpeg-$FFMPEG_VERSION"
	log "configuring FFmpeg $FFMPEG_VERSION: ${CONFIGURE_FLAGS[*]}"
	if ! PKG_CONFIG_PATH="$prefix/lib/pkgconfig" ./configure --prefix="$prefix" "${CONFIGURE_FLAGS[@]}" >configure.out 2>&1; then
		tail -20 ffbuild/config.log >&2
		die "configure failed (full log above)"
	fi
	for c in nvenc nvdec cuvid; do
		grep -q "^CONFIG_${c^^}=yes" ffbuild/config.mak || die "configure dropped $c"
	done
	local jobs
	jobs=$(nproc)
	log "building with make -j$jobs (4.5 to 15 minutes on 2 cores); progress every 500 steps"
	if ! make -j"$jobs" >build.log 2>&1 & then :; fi
	local pid=$! last=0 n
	while kill -0 "$pid" 2>/dev/null; do
		sleep 5
		n=$(wc -l <build.log)
		if ((n / 500 > last / 500)); then
			log "  $n build steps, $((SECONDS - t0)) s"
			last=$n
		fi
	done
	wait "$pid" || { tail -30 build.log >&2; die "make failed"; }
	make install >install.log 2>&1 || { tail -30 install.log >&2; die "make install failed"; }
	check_prefix "$prefix" || die "the build finished but $prefix fails the checks above"
	printf '%s\n' "${CONFIGURE_FLAGS[@]}" >"$prefix/.abrfleet-complete"
	log "FFmpeg $FFMPEG_VERSION built into $prefix in $((SECONDS - t0)) s"
	echo "$prefix"
}

main "$@"
