#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Builds the initramfs of a QEMU guest that runs test binaries and powers off, and prints
# its path. The archive is an uncompressed cpio (newc; 12 MB, and gzip or zstd measured no
# faster to boot under TCG) in build/qemu/initramfs/ (QEMU_CACHE=DIR moves build/qemu),
# named by the hash of everything that goes in: unchanged inputs reuse the file, and the
# same inputs give the same bytes (no host inode numbers, owners or times inside).
#
#   tests/qemu/mkinitramfs.sh [-f FIXTURE_DIR] BINARY...
#   tests/qemu/mkinitramfs.sh -m MANIFEST [-n NAME]      (the lab's guest image: lab/qemu/image.sh)
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
#
# With -m, the archive holds what MANIFEST lists instead (one entry a line, # comments):
#   init SRC                 /init (PID 1)
#   bin SRC [DEST]           an executable at DEST (default: SRC's own path), plus the shared
#                            libraries ldd names; /etc/guest.env gets their LD_LIBRARY_PATH
#   file SRC DEST [MODE]     a file (MODE default 644)
#   link DEST TARGET         a symbolic link
#   dir DEST                 an empty directory
#   kmods DIR                the kernel's module tree (tests/qemu/guest-kernel.sh --modules)
#   module NAME...           kernel modules from that tree with everything they depend on, under
#                            /lib/modules/RELEASE/, and a modules.dep for busybox modprobe
# NAME (-n, default initramfs) names the archive, NAME-<hash>.cpio, and the set of archives the
# pruning keeps KEEP of: the test and lab images do not evict each other.
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

add_link() {
	add_dirs "$(dirname "$1")"
	entries+=("link $1 777 $2")
}

libdirs= # directories of the shared libraries added, space-separated

# add_bin DEST SRC: an executable and the libraries it needs.
add_bin() {
	local lib real
	add_file "$1" 755 "$2"
	while read -r lib real; do
		add_file "$lib" 755 "$real"
		[[ " $libdirs " == *" $(dirname "$lib") "* ]] || libdirs+=" $(dirname "$lib")"
	done < <(libraries "$2")
}

# The guest has no /etc/ld.so.cache: a library outside the loader's built-in directories
# (a libbpf in /usr/local/lib) is found only through this.
add_guest_env() {
	libdirs=${libdirs# }
	echo "export LD_LIBRARY_PATH=${libdirs// /:}" >"$1/guest.env"
	add_file /etc/guest.env 644 "$1/guest.env"
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
	local tmp=$1 fixtures=$2 bin
	shift 2
	write_init "$tmp/init"
	add_file /init 755 "$tmp/init"
	add_file /bin/busybox 755 "$BUSYBOX"
	# The kernel opens /dev/console for /init before anything is mounted.
	entries+=("dir /dev" "nod /dev/console 600 5 1" "dir /proc" "dir /sys" "dir /tmp")
	dirs_seen+="/dev /proc /sys /tmp "
	for bin in "$@"; do
		add_bin "/test/$(basename "$bin")" "$bin"
	done
	add_guest_env "$tmp"
	for f in "$fixtures"/*.pcap "$fixtures"/*.expect; do
		if [[ -f $f ]]; then add_file "/fixtures/$(basename "$f")" 644 "$f"; fi
	done
	# Two binaries may share libraries: keep the first of each path.
	mapfile -t entries < <(printf '%s\n' "${entries[@]}" | awk '!seen[$2]++')
}

# module_closure MODDIR NAME...: the modules.dep lines of NAME and of everything it needs,
# each once, dependencies first ("kernel/x/y.ko: deps..."). '-' and '_' are one in names.
module_closure() {
	local moddir=$1
	shift
	awk -v want="$*" '
		function base(p) { sub(/.*\//, "", p); sub(/\.ko(\.[a-z]+)?$/, "", p); gsub(/-/, "_", p); return p }
		function visit(m,   i, n, d) {
			if (m in done) return
			done[m] = 1
			n = split(deps[m], d, " ")
			for (i = 1; i <= n; i++) visit(d[i])
			print line[m]
		}
		{ path = $1; sub(/:$/, "", path); line[path] = $0; deps[path] = ""
		  for (i = 2; i <= NF; i++) deps[path] = deps[path] " " $i
		  byname[base(path)] = path }
		END {
			n = split(want, w, " ")
			for (i = 1; i <= n; i++) {
				m = w[i]; gsub(/-/, "_", m)
				if (!(m in byname)) { print "missing " w[i]; continue }
				visit(byname[m])
			}
		}' "$moddir/modules.dep"
}

# add_modules TMP MODDIR NAME...: the modules under /lib/modules/RELEASE/ and their modules.dep.
add_modules() {
	local tmp=$1 moddir=$2 release line path
	shift 2
	[[ -f $moddir/modules.dep ]] || die "$moddir: no modules.dep (kmods must name tests/qemu/guest-kernel.sh --modules)"
	release=$(cat "$moddir/kernel.release" 2>/dev/null) || die "$moddir: no kernel.release"
	: >"$tmp/modules.dep"
	while read -r line; do
		[[ $line == missing\ * ]] && die "kernel module '${line#missing }' is not in $moddir"
		path=${line%%:*}
		add_file "/lib/modules/$release/$path" 644 "$moddir/$path"
		echo "$line" >>"$tmp/modules.dep"
	done < <(module_closure "$moddir" "$@")
	sort -u -o "$tmp/modules.dep" "$tmp/modules.dep"
	add_file "/lib/modules/$release/modules.dep" 644 "$tmp/modules.dep"
	# The aliases of those modules: the kernel asks /sbin/modprobe for "nft-expr-ct" or
	# "rtnl-link-gre" when a feature is first used, so most modules load on demand.
	awk 'NR == FNR { m = $1; sub(/:$/, "", m); sub(/.*\//, "", m); sub(/\.ko$/, "", m); gsub(/-/, "_", m); have[m] = 1; next }
		$1 == "alias" && ($3 in have)' "$tmp/modules.dep" "$moddir/modules.alias" >"$tmp/modules.alias"
	add_file "/lib/modules/$release/modules.alias" 644 "$tmp/modules.alias"
}

# collect_manifest TMPDIR MANIFEST: fills entries from a manifest (see the top of this file).
collect_manifest() {
	local tmp=$1 manifest=$2 kind rest a b c moddir='' mods=() names=() n=0
	entries+=("dir /dev" "nod /dev/console 600 5 1" "dir /proc" "dir /sys" "dir /tmp" "dir /run")
	dirs_seen+="/dev /proc /sys /tmp /run "
	while read -r kind rest; do
		n=$((n + 1))
		read -r a b c <<<"$rest"
		case $kind in
		'' | '#'*) continue ;;
		init) add_file /init 755 "$a" ;;
		bin) add_bin "${b:-$a}" "$a" ;;
		file) add_file "$b" "${c:-644}" "$a" ;;
		link) add_link "$a" "$b" ;;
		dir) add_dirs "$a" ;;
		kmods) moddir=$a ;;
		module)
			read -ra names <<<"$rest"
			mods+=("${names[@]}")
			;;
		*) die "$manifest:$n: unknown entry '$kind' (init, bin, file, link, dir, kmods, module)" ;;
		esac
		if [[ $kind =~ ^(init|bin|file)$ && ! -f $a ]]; then
			die "$manifest:$n: no such file: $a"
		fi
	done <"$manifest"
	[[ ${#mods[@]} -eq 0 ]] || add_modules "$tmp" "$moddir" "${mods[@]}"
	add_guest_env "$tmp"
	mapfile -t entries < <(printf '%s\n' "${entries[@]}" | awk '!seen[$2]++')
}

# The cache key: every entry, with the bytes of its source rather than the source's path
# (generated files live in a fresh temporary directory), and this script (the writer).
content_key() {
	local e kind path mode src i=0 srcs=() sums=()
	for e in "${entries[@]}"; do
		read -r kind path mode src _ <<<"$e"
		[[ $kind == file ]] && srcs+=("$src")
	done
	# One sha256sum for all files: the lab image has about two thousand.
	if [[ ${#srcs[@]} -gt 0 ]]; then
		mapfile -t sums < <(printf '%s\0' "${srcs[@]}" | xargs -0 sha256sum | cut -c1-64)
	fi
	for e in "${entries[@]}"; do
		read -r kind path mode src _ <<<"$e"
		if [[ $kind == file ]]; then
			echo "$kind $path $mode ${sums[i]}"
			i=$((i + 1))
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
		link) # arg1: the target
			header "$path" $((8#120000 | 8#$mode)) "${#arg1}" 0 0
			printf '%s' "$arg1"
			pad "${#arg1}"
			;;
		esac
	done
	header TRAILER!!! 0 0 0 0
}

main() {
	local fixtures=$ROOT/traffic/fixtures manifest='' name=initramfs tmp key out b bins=()
	while [[ ${1-} == -[fmn] ]]; do
		case $1 in
		-f) fixtures=$2 ;;
		-m) manifest=$2 ;;
		-n) name=$2 ;;
		esac
		shift 2
	done
	[[ $name =~ ^[a-z0-9-]+$ ]] || die "-n $name: a name of [a-z0-9-]"
	[[ $# -gt 0 || -n $manifest ]] || die "usage: $0 [-f FIXTURE_DIR] BINARY... | $0 -m MANIFEST [-n NAME]"
	if [[ ! -x $BUSYBOX ]] || ldd "$BUSYBOX" >/dev/null 2>&1; then
		die "$BUSYBOX is missing or not static: apt-get install --no-install-recommends busybox-static"
	fi
	if [[ -z $manifest ]]; then
		for b in "$@"; do
			[[ -x $b ]] || die "$b: no such executable (build it first, e.g. make $b)"
			bins+=("$(readlink -f "$b")")
		done
		compgen -G "$fixtures/*.expect" >/dev/null || die "$fixtures: no *.expect fixtures here (-f DIR)"
	else
		[[ -f $manifest ]] || die "$manifest: no such manifest"
	fi

	mkdir -p "$CACHE"
	tmp=$(mktemp -d "$CACHE/.build.XXXXXX")
	# shellcheck disable=SC2064 # expand now: tmp is local to main
	trap "rm -rf '$tmp'" EXIT
	if [[ -n $manifest ]]; then
		collect_manifest "$tmp" "$manifest"
	else
		collect "$tmp" "$fixtures" "${bins[@]}"
	fi
	key=$(content_key)
	out=$CACHE/$name-$key.cpio
	if [[ ! -f $out ]]; then
		echo "mkinitramfs: writing $(basename "$out") (${#entries[@]} entries)" >&2
		write_cpio >"$tmp/cpio"
		mv "$tmp/cpio" "$out" # atomic: a concurrent run sees the whole file or none
		find "$CACHE" -maxdepth 1 -name "$name-*.cpio" -printf '%T@ %p\n' | sort -rn |
			tail -n +$((KEEP + 1)) | cut -d' ' -f2- | xargs -r rm -f
	fi
	touch "$out" # most recently used, for the pruning above
	echo "$out"
}

main "$@"
