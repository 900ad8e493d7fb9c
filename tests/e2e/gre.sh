#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# GRE data path end to end (issue 8): edged's BPF encapsulation and decapsulation on the wire,
# checked by a scapy peer that decodes and builds GRE itself (tests/e2e/gre_peer.py), so edged
# is not checked only against itself. tests/e2e/transit.sh covers the customer path as a whole
# (firewalls, isolation, health, reloads); this test looks at the packets.
#
#   inet 192.0.2.1 c0 --- e0 +-------------------------------------+ e1 --- r0 router 198.51.100.50
#   (scapy: sends, captures) | edge: edged, anycast endpoint        |    (scapy: captures GRE,
#                            | 192.0.2.100, customer acme           |     answers with GRE, key 42)
#                            | 203.0.113.0/24 in its namespace      |
#                            +-------------------------------------+
#
# Checks: the encapsulated packet (outer IPv4 header and its checksum, DF, TTL 64, id, GRE
# version, key, protocol, the inner packet as sent), MSS clamping both ways, ICMP
# fragmentation-needed for an oversized packet, decapsulated GRE reaching the internet, and
# malformed or foreign GRE to the endpoint dropped and counted, GRE to another address
# untouched.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
# shellcheck source=tests/e2e/lib.sh
source tests/e2e/lib.sh

INSTANCE="gre-$E2E_RUN"
CONF=$E2E_DIR/edge.yaml
SOCK=$E2E_DIR/edged.sock
LOG=$E2E_DIR/edged.log
PORT=$((20000 + RANDOM % 20000))
PEER=tests/e2e/gre_peer.py
PINS=/sys/fs/bpf/edged/$INSTANCE

link() { # link NS1 IF1 ADDR1 NS2 IF2 ADDR2
	ip link add "$2" netns "$(ns "$1")" type veth peer name "$5" netns "$(ns "$4")"
	nsx "$1" ip addr add "$3" dev "$2"
	nsx "$4" ip addr add "$6" dev "$5"
	nsx "$1" ip link set "$2" up
	nsx "$4" ip link set "$5" up
}

setup() {
	add_ns inet edge router || exit 1
	link inet c0 192.0.2.1/24 edge e0 192.0.2.2/24
	link edge e1 198.51.100.1/24 router r0 198.51.100.50/24
	nsx inet ip route add default via 192.0.2.2
	nsx router ip route add default via 198.51.100.1
	nsx edge sysctl -qw net.ipv4.ip_forward=1
	cat >"$CONF" <<-YAML
		instance: $INSTANCE
		uplinks: [e0, e1]
		control_socket: $SOCK
		metrics: {listen: 127.0.0.1:$PORT}
		transit:
		  endpoints: [192.0.2.100]
		  customers:
		    - name: acme
		      prefixes: [203.0.113.0/24]
		      tunnels: [{name: acme-1, remote: 198.51.100.50, key: 42, health: off}]
		      firewall: {default: allow}
	YAML
	on_cleanup "nsenter --net=/run/netns/$(ns edge) $EDGED --teardown -c $CONF"
	on_cleanup "for n in \$(ip netns list | awk '/^edged-$INSTANCE-/{print \$1}'); do ip netns del \$n; done"
}

# capture NODE IFACE SECONDS NAME [FILTER]: starts a capture; waits until it listens.
capture() {
	bg "$1" "$E2E_DIR/$4.err" /usr/bin/python3 "$PEER" capture "$2" "$3" "$E2E_DIR/$4" "${5:-ip}"
	wait_for 10 test -e "$E2E_DIR/$4.ready"
}

send() { # send NODE EXPR...
	local node=$1
	shift
	nsx "$node" /usr/bin/python3 "$PEER" send "$@"
}

# seen NAME PYEXPR: some captured packet P (a dict) makes PYEXPR true.
seen() {
	/usr/bin/python3 - "$E2E_DIR/$1" "$2" <<-'PY'
		import json, sys
		pkts = [json.loads(l) for l in open(sys.argv[1])]
		sys.exit(0 if any(eval(sys.argv[2], {}, {"p": p}) for p in pkts) else 1)
	PY
}

# metric NAME LABELS: a sample of edged's metrics (e.g. counter ... 'outcome="decap_csum"').
metric() {
	nsx edge /usr/bin/python3 - "$PORT" "$1{$2}" <<-'PY'
		import sys, urllib.request
		body = urllib.request.urlopen("http://127.0.0.1:%s/metrics" % sys.argv[1], timeout=5).read()
		for line in body.decode().splitlines():
		    if line.startswith(sys.argv[2] + " "):
		        print(line.split()[-1])
		        break
		else:
		    print(-1)
	PY
}

# counter NAME: a data path outcome (bpf/transit_gre.h), from edged's metrics.
counter() { metric edged_transit_datapath_packets_total "outcome=\"$1\""; }

ctl() { nsx edge "$EDGECTL" -s "$SOCK" "$@"; }

# check_not "what was checked" CMD...: passes when CMD fails.
check_not() {
	local what=$1
	shift
	if "$@" >/dev/null 2>&1; then fail "$what"; else ok "$what"; fi
}

# The outer header edged must send toward the router, and the inner one as the client sent it.
ENCAP_OK='(p.get("gre") and p["src"] == "192.0.2.100" and p["dst"] == "198.51.100.50" and
p["proto"] == 47 and p["df"] and p["ttl"] == 64 and p["id"] == 0 and p["csum_ok"] and
p["gre"]["version"] == 0 and p["gre"]["key_present"] == 1 and p["gre"]["key"] == 42 and
not p["gre"]["chksum_present"] and not p["gre"]["routing"] and p["gre"]["proto"] == 0x0800 and
p["len"] == p["inner"]["len"] + 28)'

test_start() {
	bg edge "$LOG" "$EDGED" -c "$CONF"
	check "edged starts with transit (customer acme, endpoint 192.0.2.100)" wait_for 10 ctl status
	check "the TC encap program is attached to acme's veth (pinned link)" \
		sh -c "ls $PINS | grep -q '^link_tc_transit_'"
}

test_encap() {
	capture router r0 8 router.json "ip proto 47" || fail "router capture did not start"
	send inet "IP(src='192.0.2.1', dst='203.0.113.10')/UDP(sport=40000, dport=5000)/Raw(b'hello-gre')" \
		"IP(src='192.0.2.1', dst='203.0.113.11')/TCP(sport=40001, dport=80, flags='S', options=[('NOP', None), ('MSS', 1460)])"
	wait_for 8 seen router.json "p.get('inner', {}).get('dport') == 80"
	check "GRE to the router: outer IPv4 from the endpoint, DF, TTL 64, checksum, key 42" \
		seen router.json "$ENCAP_OK and p['inner']['dport'] == 5000"
	check "the inner packet as the client sent it (TTL less the two hops through edged)" \
		seen router.json "p['inner']['payload'] == 'hello-gre' and p['inner']['src'] == '192.0.2.1' and p['inner']['dst'] == '203.0.113.10' and p['inner']['ttl'] == 62"
	check "a SYN toward the site: MSS clamped to 1472 - 40 = 1432" \
		seen router.json "$ENCAP_OK and p['inner'].get('flags') == 'S' and p['inner'].get('mss') == 1432"
}

test_too_big() {
	capture inet c0 6 inet_icmp.json "icmp" || fail "client capture did not start"
	send inet "IP(src='192.0.2.1', dst='203.0.113.10', flags='DF')/UDP(sport=40002, dport=5000)/Raw(b'x' * 1445)"
	check "an oversized packet gets ICMP fragmentation needed, MTU 1472, from the endpoint" \
		wait_for 6 seen inet_icmp.json "p.get('icmp') and p['src'] == '192.0.2.100' and p['icmp']['type'] == 3 and p['icmp']['code'] == 4 and p['icmp']['mtu'] == 1472 and p['icmp']['quoted_dst'] == '203.0.113.10'"
	check "counted as encap_too_big" test "$(counter encap_too_big)" -ge 1
}

# gre INNER [GRE FIELDS]: GRE from the router to the endpoint around INNER.
gre() { echo "IP(src='198.51.100.50', dst='192.0.2.100')/GRE(${2-key_present=1, key=42})/$1"; }

test_decap() {
	local reply="IP(src='203.0.113.10', dst='192.0.2.1')/UDP(sport=5000, dport=40000)"
	capture inet c0 8 inet.json "ip and not icmp" || fail "client capture did not start"
	send router "$(gre "$reply/Raw(b'reply-gre')")" \
		"$(gre "IP(src='203.0.113.11', dst='192.0.2.1')/TCP(sport=80, dport=40001, flags='SA', options=[('MSS', 1460)])")" \
		"$(gre "$reply/Raw(b'bad-version')" "key_present=1, key=42, version=1")" \
		"$(gre "$reply/Raw(b'bad-key')" "key_present=1, key=43")" \
		"$(gre "$reply/Raw(b'no-key')" "")" \
		"$(gre "$reply/Raw(b'bad-csum')" "key_present=1, key=42, chksum_present=1, chksum=0x1234")" \
		"$(gre "$reply/Raw(b'routing')" "key_present=1, key=42, routing_present=1")" \
		"$(gre "IP(src='198.18.0.1', dst='192.0.2.1')/UDP(sport=5000, dport=40000)/Raw(b'spoofed')")" \
		"$(gre "IP(src='203.0.113.10', dst='192.0.2.1', ihl=4)/UDP(sport=5000, dport=40000)/Raw(b'bad-inner')")" \
		"IP(src='198.51.100.50', dst='192.0.2.1')/GRE()/$reply/Raw(b'not-for-us')"
	wait_for 8 seen inet.json "p.get('gre') is not None"
	check "decapsulated GRE reaches the internet client as the site sent it" \
		seen inet.json "p.get('inner', {}).get('payload') == 'reply-gre' and p['src'] == '203.0.113.10' and not p.get('gre')"
	check "a SYN-ACK from the site: MSS clamped to 1432 on the way out" \
		seen inet.json "p.get('inner', {}).get('flags') == 'SA' and p['inner']['mss'] == 1432"
	check "GRE to an address that is not an endpoint passes untouched" \
		seen inet.json "p.get('gre') and p['inner']['payload'] == 'not-for-us'"
	check_not "GRE version 1, wrong or missing key, bad checksum, routing, spoofed or malformed inner packets are never delivered" \
		seen inet.json "not p.get('gre') and p.get('inner', {}).get('payload') in ('bad-version', 'bad-key', 'no-key', 'bad-csum', 'routing', 'spoofed', 'bad-inner')"
	for c in decap_version decap_bad_key decap_csum decap_flags decap_spoofed decap_inner; do
		check "counted: $c" test "$(counter $c)" -ge 1
	done
	check "counted: decap_bad_key for both the wrong and the missing key" test "$(counter decap_bad_key)" -ge 2
	check "counted: decap (2 delivered)" test "$(counter decap)" -ge 2
	check "per tunnel: acme-1's SYNs clamped both ways, in the metrics" \
		test "$(metric edged_transit_tunnel_mss_clamped_total 'tunnel="acme-1"')" -ge 2
	check "per tunnel: acme-1's too-big answers, in the metrics" \
		test "$(metric edged_transit_tunnel_too_big_total 'tunnel="acme-1"')" -ge 1
}

setup
test_start
test_encap
test_too_big
test_decap
summary
