#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# How incident.pcap was made. The real capture of this incident cannot be committed (customer
# addresses), so it is rebuilt with the lab's generator: same shapes, same counts, addresses
# moved into the documentation ranges. Re-running this script rebuilds the same packets
# (fixed seeds); only the timestamps differ.
#
#   60 malformed TCP SYNs from 198.51.100.192/26 to 203.0.113.10:443, 20 of each:
#      trunc-tcp   TCP header cut after 10 bytes
#      bad-doff    TCP data offset 3 (12-byte header)
#      bad-totlen  IPv4 total length 200 bytes larger than the frame
#   20 well-formed SYNs from the same sources, right after them
set -euo pipefail
cd "$(dirname "$0")"
gen=../../gen.py
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
/usr/bin/python3 "$gen" malformed --dst 203.0.113.10 --port 443 --variants trunc-tcp,bad-doff,bad-totlen \
	--repeat 20 --spoof 198.51.100.192/26 --seed 11 --write "$tmp/malformed.pcap"
/usr/bin/python3 "$gen" syn-flood --dst 203.0.113.10 --port 443 --count 20 --spoof 198.51.100.192/26 \
	--seed 12 --write "$tmp/syn.pcap"
mergecap -F pcap -w incident.pcap "$tmp/malformed.pcap" "$tmp/syn.pcap"
capinfos -c incident.pcap
