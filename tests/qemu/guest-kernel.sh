#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Prints the path of the QEMU tier's guest kernel: Debian's newest linux-image-6.1.0-N-amd64,
# as an uncompressed ELF vmlinux (QEMU boots it through its PVH entry: a whole test round
# took 3.2-3.4 s here, against 5.0-7.4 s with the compressed bzImage). Downloaded and
# extracted once into build/qemu/kernel/<package>/ (QEMU_CACHE=DIR moves build/qemu);
# later runs only look it up.
#
#   tests/qemu/guest-kernel.sh            -> /.../build/qemu/kernel/linux-image-.../vmlinux
#   tests/qemu/guest-kernel.sh --modules  -> /.../build/qemu/kernel/linux-image-.../modules
#
# --modules prints the kernel's module tree (lib/modules/VERSION of the package, with a
# modules.dep made by busybox depmod -- the .deb ships none -- and the release in kernel.release). Only the subtrees a lab guest may
# load from are kept (MODULE_TREES: NIC drivers, networking, virtio, 9p, crypto for WireGuard),
# about 130 MB of the package's 400.
#
# Progress and errors go to stderr; on failure the message says how to fix it.
set -Eeuo pipefail # -E: the ERR trap below fires inside functions too
cd "$(dirname "$0")/../.."

CACHE=$(realpath -m "${QEMU_CACHE:-build/qemu}/kernel")
# set -e alone would exit without a word.
trap 'echo "guest-kernel: failed at line $LINENO: $BASH_COMMAND" >&2' ERR

die() {
	echo "guest-kernel: $*" >&2
	exit 1
}

# The parts of lib/modules/VERSION/kernel/ kept: what a lab guest loads (virtio and e1000(e)
# NICs, nftables, GRE, WireGuard, 9p, virtio-serial) and what those depend on.
MODULE_TREES=(net drivers/net drivers/virtio drivers/char drivers/ptp drivers/pps lib crypto arch
	fs/9p fs/netfs fs/fscache)

# The newest generic 6.1 image the apt lists know: the flavour the QEMU tier boots (its
# NIC drivers), so the pattern leaves out cloud and rt. The ABI number is in the name, so
# a version sort on names picks the newest.
newest_package() {
	local re='^linux-image-6\.1\.0-[0-9]+-amd64-unsigned$'
	{ apt-cache search --names-only "$re" 2>/dev/null || true; } | awk '{ print $1 }' |
		sort -V | tail -n 1
}

# The newest package already in the cache, for machines whose apt lists are gone.
newest_cached() {
	local d
	for d in "$CACHE"/linux-image-*/vmlinux; do
		if [[ -f $d ]]; then basename "$(dirname "$d")"; fi
	done | sort -V | tail -n 1
}

# download PKG DIR: the .deb into DIR. As root, apt downloads as its _apt user, who cannot
# write into our mode-0700 temporary directory: download as the caller. Stale apt lists
# (Debian bumped the ABI and dropped the old file from the mirror) are refreshed once.
download() {
	local pkg=$1 dir=$2 err
	if err=$(cd "$dir" && apt-get download -q -o APT::Sandbox::User=root "$pkg" 2>&1); then
		return 0
	fi
	echo "guest-kernel: download of $pkg failed, refreshing apt lists once" >&2
	apt-get update -qq >&2 || true
	if ! err=$(cd "$dir" && apt-get download -q -o APT::Sandbox::User=root "$pkg" 2>&1); then
		die "cannot download $pkg from Debian's mirror: $(tail -n 1 <<<"$err")
guest-kernel: fix: make the mirror in /etc/apt/sources.list reachable and run 'apt-get update',
guest-kernel: or place an uncompressed vmlinux of a Debian 6.1 kernel at $CACHE/$pkg/vmlinux"
	fi
}

# le32 FILE OFFSET: the little-endian 32-bit integer at OFFSET.
le32() { od -An -tu4 -j "$2" -N4 --endian=little "$1" | tr -d ' '; }

# extract_vmlinux BZIMAGE OUT: the ELF kernel inside a bzImage. Rather than scanning for
# compression magics (scripts/extract-vmlinux), the boot header says exactly where the
# payload is (setup_sects at 0x1f1, payload_offset/length at 0x248/0x24c, boot protocol
# >= 2.08), and the payload's last 4 bytes are the uncompressed size, which checks the result.
extract_vmlinux() {
	local bz=$1 out=$2 setup off len want magic
	setup=$(od -An -tu1 -j $((0x1f1)) -N1 "$bz" | tr -d ' ')
	((setup == 0)) && setup=4 # boot protocol: 0 means 4
	off=$(((setup + 1) * 512 + $(le32 "$bz" $((0x248)))))
	len=$(le32 "$bz" $((0x24c)))
	magic=$(od -An -tx1 -j "$off" -N4 "$bz" | tr -d ' ')
	dd if="$bz" of="$out.payload" iflag=skip_bytes,count_bytes skip="$off" count="$len" status=none
	want=$(le32 "$out.payload" $((len - 4)))
	case $magic in
	fd377a58) xz -dc --single-stream <"$out.payload" >"$out" ;;
	28b52ffd) zstd -dcq <"$out.payload" >"$out" || true ;; # the size trailer is "garbage"
	1f8b*) gzip -dc <"$out.payload" >"$out" 2>/dev/null || true ;;
	*) die "$bz: unknown kernel compression (payload starts with $magic)" ;;
	esac
	rm -f "$out.payload"
	[[ $(od -An -c -N4 "$out" | tr -d ' ') == '177ELF' ]] || die "$bz: payload is not an ELF kernel"
	local got
	got=$(stat -c %s "$out")
	[[ $got == "$want" ]] || die "$bz: kernel is $got bytes, the header says $want"
}

# keep_modules TMP: moves the kept module subtrees of the extracted package in TMP to
# TMP/boot/modules and indexes them (busybox depmod: kmod is not installed here).
keep_modules() {
	local tmp=$1 dir version t
	dir=$(echo "$tmp"/lib/modules/*)
	[[ -d $dir/kernel ]] || die "the package has no lib/modules/VERSION/kernel"
	version=$(basename "$dir")
	mkdir -p "$tmp/keep/lib/modules/$version/kernel"
	for t in "${MODULE_TREES[@]}"; do
		if [[ -d $dir/kernel/$t ]]; then
			mkdir -p "$(dirname "$tmp/keep/lib/modules/$version/kernel/$t")"
			mv "$dir/kernel/$t" "$tmp/keep/lib/modules/$version/kernel/$t"
		fi
	done
	cp "$dir"/modules.order "$dir"/modules.builtin* "$tmp/keep/lib/modules/$version/" 2>/dev/null || true
	busybox depmod -b "$tmp/keep" "$version" || die "busybox depmod failed on $version"
	echo "$version" >"$tmp/keep/lib/modules/$version/kernel.release"
	mv "$tmp/keep/lib/modules/$version" "$tmp/boot/modules"
}

# fetch PKG: download, keep boot/ and the module subtrees a lab guest loads.
fetch() {
	local pkg=$1 tmp
	tmp=$(mktemp -d "$CACHE/.fetch.XXXXXX")
	# shellcheck disable=SC2064 # expand now: tmp is local
	trap "rm -rf '$tmp'" EXIT
	echo "guest-kernel: downloading $pkg (about 70 MB, once)" >&2
	download "$pkg" "$tmp"
	dpkg-deb --fsys-tarfile "$tmp"/*.deb | tar -x -C "$tmp" ./boot ./lib/modules
	extract_vmlinux "$tmp"/boot/vmlinuz-* "$tmp/boot/vmlinux"
	keep_modules "$tmp"
	rm -rf "${CACHE:?}/$pkg"
	mv "$tmp/boot" "$CACHE/$pkg"
	# Older ABIs are superseded: keep only this one (each is about 75 MB).
	find "$CACHE" -mindepth 1 -maxdepth 1 -name 'linux-image-*' ! -name "$pkg" -exec rm -rf {} +
	rm -rf "$tmp"
	trap - EXIT
}

main() {
	local pkg want=vmlinux
	if [[ ${1-} == --modules ]]; then
		want=modules
	elif [[ $# -gt 0 ]]; then
		die "usage: $0 [--modules]"
	fi
	mkdir -p "$CACHE"
	# Two test runs at once must not both download into the same place. A download takes
	# seconds; two minutes means the other run is stuck.
	exec {lock}>"$CACHE/.lock"
	flock -w 120 "$lock" || die "another run has held $CACHE/.lock for 2 minutes: is it stuck?"
	pkg=$(newest_package)
	if [[ -z $pkg ]]; then
		pkg=$(newest_cached)
		[[ -n $pkg ]] || die "apt knows no linux-image-6.1.0-*-amd64-unsigned and $CACHE is empty.
guest-kernel: fix: add Debian bookworm and bookworm-security to /etc/apt/sources.list,
guest-kernel: then run 'apt-get update'"
		echo "guest-kernel: apt lists have no 6.1 kernel, using the cached $pkg" >&2
	fi
	# A cache from before the modules were kept has vmlinux only: fetched again, once.
	[[ -f $CACHE/$pkg/vmlinux && -f $CACHE/$pkg/modules/kernel.release ]] || fetch "$pkg"
	echo "$CACHE/$pkg/$want"
}

main "$@"
