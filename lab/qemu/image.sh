#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Builds the lab's guest image (an initramfs) and prints its path; `make qemu-image` runs it,
# and `lab/lab up` runs it before booting guests (a cache hit takes about 2 s).
#
#   lab/qemu/image.sh            -> build/qemu/initramfs/lab-guest-<hash>.cpio
#
# What goes in (tests/qemu/mkinitramfs.sh -m writes it, reproducibly, named by the hash of
# everything in it, so a changed edged or script makes a new image and an unchanged tree
# reuses the cached one):
#   /init                    lab/qemu/init
#   /usr/lib/lab/agent.py    the agent the host drives the guest through
#   edged, edgectl           from this build ($EDGED/$EDGECTL, default build/): the same
#                            binaries, with the same embedded CO-RE BPF objects, as the
#                            namespace lab runs; the build's other programs (edged-proxy,
#                            examples/) with their libraries
#   the node's tools         bash, iproute2 (ip, ss), nftables, ethtool, BIRD, tcpdump,
#                            tcpreplay, iperf3, curl, nc, wg, wireguard-go, bpftool, conntrack, python3
#                            with the part of the standard library the lab's Python programs
#                            import (lab/qemu/pylibs.py)
#   kernel modules           of the guest kernel (tests/qemu/guest-kernel.sh --modules): NIC
#                            drivers, 9p, crc32c and tun are loaded at boot (/etc/lab/modules), the
#                            rest (nftables, GRE, WireGuard, ...) on demand by the kernel
# The lab's role scripts (edge service, health watcher) are not in the image: the guest runs
# them from the repository share, the same files the namespace lab runs.
set -Eeuo pipefail
cd "$(dirname "$0")/../.."
trap 'echo "qemu image: failed at line $LINENO: $BASH_COMMAND" >&2' ERR

die() {
	echo "qemu image: $*" >&2
	exit 1
}

EDGED=${EDGED:-build/edged}
EDGECTL=${EDGECTL:-build/edgectl}

# Loaded by /init before anything else: the NICs (virtio-net, e1000, e1000e), the 9p shares,
# and crc32c, which busybox modprobe would not load as libcrc32c's softdep.
# tun too: /dev/net/tun appears only once it is loaded (busybox has no static device nodes
# from modules.devname), and edged's egress opens it (wireguard-go).
BOOT_MODULES=(virtio_pci virtio_net e1000 e1000e 9pnet_virtio 9p crc32c_generic tun)
# In the image, loaded when first used: what edged's functions and the guest roles need.
ON_DEMAND_MODULES=(
	nf_tables nft_ct nft_nat nft_masq nft_chain_nat nft_tproxy nft_socket nft_fib_inet
	nft_reject_inet nft_limit nft_synproxy nf_conntrack nf_nat nf_tproxy_ipv4 nf_tproxy_ipv6
	sch_ingress cls_bpf act_bpf ip_gre ip6_gre ipip wireguard veth dummy vrf
	nft_connlimit nft_objref nf_conntrack_netlink
)
# Executables at their own paths, each with the libraries it needs.
TOOLS=(/usr/bin/bash /usr/bin/ip /usr/sbin/ethtool /usr/sbin/nft /usr/sbin/bird /usr/sbin/birdc
	/usr/bin/tcpdump /usr/bin/tcpreplay /usr/bin/iperf3 /usr/bin/curl /usr/bin/nc.openbsd
	/usr/bin/ss /usr/bin/wg /usr/bin/wireguard-go /usr/bin/date /usr/bin/python3.11 /usr/sbin/bpftool
	/usr/sbin/conntrack)
# Plain files the tools read.
ETC=(/etc/protocols /etc/services)

manifest() {
	local tmp=$1 t
	echo "init lab/qemu/init"
	echo "file /bin/busybox /bin/busybox 755"
	# the kernel's usermode helper for module auto-loading
	echo "link /sbin/modprobe /bin/busybox"
	echo "bin $EDGED /usr/sbin/edged"
	echo "bin $EDGECTL /usr/sbin/edgectl"
	# The build's other programs (edged-proxy, examples/...): the guest runs them from the
	# repository share at their build paths, like the namespace lab; their libraries come here.
	for t in "$(dirname "$EDGED")"/* "$(dirname "$EDGED")"/examples/*; do
		if [[ -f $t && -x $t && $t != "$EDGED" && $t != "$EDGECTL" ]]; then
			echo "bin $t /usr/lib/edged/$(basename "$t")"
		fi
	done
	for t in "${TOOLS[@]}"; do
		[[ -x $t ]] || die "$t is missing: bash ci/deps.sh installs the packages the guest image takes"
		echo "bin $t"
	done
	echo "link /bin/bash /usr/bin/bash"
	echo "link /usr/bin/python3 python3.11"
	echo "link /usr/bin/nc nc.openbsd"
	echo "link /usr/bin/env /bin/busybox" # the role scripts start with #!/usr/bin/env bash
	for t in "${ETC[@]}"; do
		[[ -f $t ]] && echo "file $t $t"
	done
	printf 'root:x:0:0:root:/root:/bin/bash\n' >"$tmp/passwd"
	printf 'root:x:0:\n' >"$tmp/group"
	echo "file $tmp/passwd /etc/passwd"
	echo "file $tmp/group /etc/group"
	echo "file lab/qemu/agent.py /usr/lib/lab/agent.py"
	printf '%s\n' "${BOOT_MODULES[@]}" >"$tmp/modules"
	echo "file $tmp/modules /etc/lab/modules"
	echo "kmods $MODULES"
	echo "module ${BOOT_MODULES[*]} ${ON_DEMAND_MODULES[*]}"
	/usr/bin/python3 lab/qemu/pylibs.py lab/roles/edge_service.py traffic/clients/udp_flows.py
}

main() {
	local tmp
	for b in "$EDGED" "$EDGECTL"; do
		[[ -x $b ]] || die "$b is missing: build it first (make)"
	done
	MODULES=$(bash tests/qemu/guest-kernel.sh --modules) || die "no guest kernel modules (see above)"
	tmp=$(mktemp -d)
	# shellcheck disable=SC2064 # expand now: tmp is local
	trap "rm -rf '$tmp'" EXIT
	manifest "$tmp" >"$tmp/manifest"
	bash tests/qemu/mkinitramfs.sh -m "$tmp/manifest" -n lab-guest
}

main "$@"
