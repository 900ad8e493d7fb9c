#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Installs the Debian packages edged, its tests and its lab need. Idempotent and quiet when
# everything is present: it asks dpkg first and runs apt only for what is missing.
set -euo pipefail

packages=(
	# build
	clang llvm gcc make pkg-config gcc-multilib bpftool libbpf-dev libelf-dev zlib1g-dev
	libmnl-dev libnftnl-dev libmicrohttpd-dev libyaml-dev libcmocka-dev libclang-rt-14-dev
	# tests and lab
	iproute2 iputils-ping nftables ethtool tcpdump tshark python3-scapy python3-yaml
	bird2 iperf3 tcpreplay netcat-openbsd curl xdp-tools
	wireguard-go wireguard-tools conntrack
	# QEMU tier: the guest kernel is fetched with apt-get download (xz unpacks it), the
	# initramfs is busybox-static
	qemu-system-x86 busybox-static xz-utils
)

# The QEMU tier's guest kernel, Debian's linux-image-6.1.0-*-amd64-unsigned: `apt-get download`
# and extracted into build/qemu/kernel/ (never installed into /boot); quiet once cached. Only
# the QEMU tier needs it: a failure is a warning, not the end of `make lab`.
guest_kernel() {
	if ! bash "$(dirname "$0")/../tests/qemu/guest-kernel.sh" >/dev/null; then
		echo "deps: warning: no guest kernel (above); make lab-qemu and the QEMU tests need it" >&2
	fi
}

missing=()
for p in "${packages[@]}"; do
	status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	[[ "$status" == "install ok installed" ]] || missing+=("$p")
done
if [[ ${#missing[@]} -eq 0 ]]; then
	guest_kernel
	exit 0
fi

if [[ $(id -u) -ne 0 ]]; then
	echo "deps: missing Debian packages: ${missing[*]}" >&2
	echo "deps: run 'sudo make deps' (apt-get needs root)" >&2
	exit 1
fi
echo "deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# --no-install-recommends: wireguard-tools recommends a whole kernel image.
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
guest_kernel
echo "deps: done"
