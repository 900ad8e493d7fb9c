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
	wireguard-go wireguard-tools
	# QEMU tier: the guest kernel is fetched with apt-get download (xz unpacks it), the
	# initramfs is busybox-static
	qemu-system-x86 busybox-static xz-utils
)

missing=()
for p in "${packages[@]}"; do
	status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	[[ "$status" == "install ok installed" ]] || missing+=("$p")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

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
echo "deps: done"
