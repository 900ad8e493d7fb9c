#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Builds the initramfs of a QEMU guest that runs test binaries and powers off, and prints
# its path. The archive is an uncompressed cpio (newc; 12 MB, and gzip or zstd measured no
# faster to boot under TCG) in build/qemu/initramfs/ (QEMU_CACHE=DIR moves build/qemu),
# named by the hash of everything that goes in: unchanged inputs reuse the file, and the
# same inputs give the same bytes (no host inode numbers, owners or times inside).
#
#   tests/qemu/mkinitramfs.sh [-f FIXTURE_DIR] BINARY...
#
#   /init            busybox sh: mounts proc, sysfs, devtmpfs, bpffs; runs the tests; reboots
#   /bin/busybox     busybox-static, applets installed as links at boot
#   /test/NAME       each BINARY, run from /fixtures with EDGED_FIXTURES=/fixtures
#   /lib..., /lib64  the shared libraries ldd names, at the paths ldd names
#   /fixtures        *.pcap and *.expect of FIXTURE_DIR (default traffic/fixtures)
#
# The guest runs the tests named by the kernel parameter edged_test=NAME[,NAME...] (the
# kernel hands unknown NAME=VALUE parameters to /init as environment), or every /test/*.
# It prints, on the console:
#   edged-guest: uname <release>
#   edged-guest: NAME exit <status>     after each test (127: no such test)
#   edged-guest: done
set -Eeuo pipefail # -E: the ERR trap below fires inside functions too
SELF=$(readlink -f "$0")
ROOT=$(dirname "$SELF")/../..
export LC_ALL=C # byte lengths of names, byte order of sorts

CACHE=$(cd "$ROOT" && realpath -m "${QEMU_CACHE:-build/qemu}/initramfs")
BUSYBOX=/bin/busybox
KEEP=4 # archives kept: enough for a plain and a sanitizer build side by side

trap 'echo "mkinitramfs: failed at line $LINENO: $BASH_COMMAND" >&2' ERR

die() {
	echo "mkinitramfs: $*" >&2
	exit 1
}

# The archive's contents, one entry a line, in the order written (parents first):
#   dir PATH | file PATH MODE SOURCE | nod PATH MODE MAJOR MINOR
entries=()
dirs_seen=" " # the dir entries already made, space-separated
ino=0         # the last inode number written

add_dirs() {
	local path=$1 d=
	local IFS=/
	for part in ${path#/}; do
		d+=/$part
		[[ $dirs_seen == *" $d "* ]] && continue
		dirs_seen+="$d "
		entries+=("dir $d")
	done
}

add_file() {
	add_dirs "$(dirname "$1")"
	entries+=("file $1 $2 $3")
}

# The libraries of BINARY, as "path-the-loader-looks-for real-file" pairs. The soname is
# usually a symlink; the guest gets a plain copy under that name.
libraries() {
	ldd "$1" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' |
		while read -r lib; do echo "$lib $(readlink -f "$lib")"; done
}

write_init() {
	cat >"$1" <<-'INIT'
		#!/bin/busybox sh
		# PID 1 of the test guest, written by tests/qemu/mkinitramfs.sh.
		/bin/busybox --install -s /bin
		export PATH=/bin
		mount -t proc proc /proc
		mount -t sysfs sysfs /sys
		mount -t devtmpfs devtmpfs /dev
		# libbpf reads kernel BTF from /sys; bpffs so tests may pin like edged does.
		mount -t bpf bpf /sys/fs/bpf
		# The firmware's last line ("Booting from ROM..") has no newline: start a fresh one.
		echo
		echo "edged-guest: uname $(uname -r)"
		. /etc/guest.env
		cd /fixtures
		for t in $(echo "${edged_test:-$(ls /test)}" | tr , ' '); do
			if [ -x "/test/$t" ]; then
				EDGED_FIXTURES=/fixtures "/test/$t"
				rc=$?
			else
				echo "edged-guest: /test/$t: no such test binary (have: $(ls /test))"
				rc=127
			fi
			echo "edged-guest: $t exit $rc"
		done
		echo "edged-guest: done"
		# The last close of the console waits until the UART has sent everything; a reboot
		# right after the echo could cut the marker lines off.
		exec >/dev/null 2>&1 </dev/null
		# QEMU runs with -no-reboot: a reboot ends it on any machine type, ACPI or not.
		reboot -f
	INIT
}

# collect TMPDIR FIXTURE_DIR BINARY...: fills entries with everything the guest needs;
# the generated files go to TMPDIR.
collect() {
	local tmp=$1 fixtures=$2 bin lib real libdirs=
	shift 2
	write_init "$tmp/init"
	add_file /init 755 "$tmp/init"
	add_file /bin/busybox 755 "$BUSYBOX"
	# The kernel opens /dev/console for /init before anything is mounted.
	entries+=("dir /dev" "nod /dev/console 600 5 1" "dir /proc" "dir /sys" "dir /tmp")
	dirs_seen+="/dev /proc /sys /tmp "
	for bin in "$@"; do
		add_file "/test/$(basename "$bin")" 755 "$bin"
		while read -r lib real; do
			add_file "$lib" 755 "$real"
			[[ " $libdirs " == *" $(dirname "$lib") "* ]] || libdirs+=" $(dirname "$lib")"
		done < <(libraries "$bin")
	done
	# The guest has no /etc/ld.so.cache: a library outside the loader's built-in directories
	# (a libbpf in /usr/local/lib) is found only through this.
	libdirs=${libdirs# }
	echo "export LD_LIBRARY_PATH=${libdirs// /:}" >"$tmp/guest.env"
	add_file /etc/guest.env 644 "$tmp/guest.env"
	for f in "$fixtures"/*.pcap "$fixtures"/*.expect; do
		if [[ -f $f ]]; then add_file "/fixtures/$(basename "$f")" 644 "$f"; fi
	done
	# Two binaries may share libraries: keep the first of each path.
	mapfile -t entries < <(printf '%s\n' "${entries[@]}" | awk '!seen[$2]++')
}

# The cache key: every entry, with the bytes of its source rather than the source's path
# (generated files live in a fresh temporary directory), and this script (the writer).
content_key() {
	local e kind path mode src
	for e in "${entries[@]}"; do
		read -r kind path mode src _ <<<"$e"
		if [[ $kind == file ]]; then
			echo "$kind $path $mode $(sha256sum <"$src" | cut -c1-64)"
		else
			echo "$e"
		fi
	done | cat - "$SELF" | sha256sum | cut -c1-16
}

# cpio newc, as the kernel's unpacker reads it: a 110-byte ASCII header, the name with its
# NUL, padding to 4 bytes, the data, padding to 4. Inode numbers count up from 1; owner,
# times and devices are 0.
pad() {
	local i
	for ((i = $1 % 4 ? 4 - $1 % 4 : 0; i > 0; i--)); do printf '\0'; done
}

header() { # NAME MODE SIZE RDEV_MAJOR RDEV_MINOR
	ino=$((ino + 1))
	printf '070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%s\0' \
		"$ino" "$2" 0 0 1 0 "$3" 0 0 "$4" "$5" $((${#1} + 1)) 0 "$1"
	pad $((110 + ${#1} + 1))
}

write_cpio() {
	local e kind path mode arg1 arg2 size
	for e in "${entries[@]}"; do
		read -r kind path mode arg1 arg2 <<<"$e"
		path=${path#/}
		case $kind in
		dir) header "$path" $((8#40755)) 0 0 0 ;;
		nod) header "$path" $((8#20000 | 8#$mode)) 0 "$arg1" "$arg2" ;;
		file) # arg1: the source file
			size=$(stat -L -c %s "$arg1")
			header "$path" $((8#100000 | 8#$mode)) "$size" 0 0
			cat "$arg1"
			pad "$size"
			;;
		esac
	done
	header TRAILER!!! 0 0 0 0
}

main() {
	local fixtures=$ROOT/traffic/fixtures tmp key out b bins=()
	if [[ ${1-} == -f ]]; then
		fixtures=$2
		shift 2
	fi
	[[ $# -gt 0 ]] || die "usage: $0 [-f FIXTURE_DIR] BINARY..."
	if [[ ! -x $BUSYBOX ]] || ldd "$BUSYBOX" >/dev/null 2>&1; then
		die "$BUSYBOX is missing or not static: apt-get install --no-install-recommends busybox-static"
	fi
	for b in "$@"; do
		[[ -x $b ]] || die "$b: no such executable (build it first, e.g. make $b)"
		bins+=("$(readlink -f "$b")")
	done
	compgen -G "$fixtures/*.expect" >/dev/null || die "$fixtures: no *.expect fixtures here (-f DIR)"

	mkdir -p "$CACHE"
	tmp=$(mktemp -d "$CACHE/.build.XXXXXX")
	# shellcheck disable=SC2064 # expand now: tmp is local to main
	trap "rm -rf '$tmp'" EXIT
	collect "$tmp" "$fixtures" "${bins[@]}"
	key=$(content_key)
	out=$CACHE/initramfs-$key.cpio
	if [[ ! -f $out ]]; then
		write_cpio >"$tmp/cpio"
		mv "$tmp/cpio" "$out" # atomic: a concurrent run sees the whole file or none
		find "$CACHE" -maxdepth 1 -name 'initramfs-*.cpio' -printf '%T@ %p\n' | sort -rn |
			tail -n +$((KEEP + 1)) | cut -d' ' -f2- | xargs -r rm -f
	fi
	touch "$out" # most recently used, for the pruning above
	echo "$out"
}

main "$@"
