// SPDX-License-Identifier: GPL-2.0
/*
 * Parses the `egress:` section:
 *
 *   egress:
 *     interface: wgedge1            # the TUN device; unique per instance and host
 *     backend: auto                 # auto | wireguard-go | kernel
 *     listen_port: 51820
 *     private_key_file: /etc/edged/wg.key
 *     address: [100.64.0.1/10, "fd00:64::1/64"]
 *     peers:
 *       - {name: alice, public_key: "...=", addresses: [100.64.0.2/32], keepalive: 25s,
 *          max_connections: 1000}
 *     snat:
 *       - {address: 203.0.113.10, ports: 1024-65535, share: [192.0.2.11, 192.0.2.12]}
 *     self: 192.0.2.11
 *     allow: {internet: true, edge_services: false, clients: false}
 *
 * What needs the whole section (peers inside the tunnel networks, an SNAT address for every
 * family a peer uses, this edge's slice of each shared range) is checked after it.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "config_parse.h"
#include "egress_config.h"
#include "port_range.h"
#include "wg_key.h"

#define KEEPALIVE_MAX_S     65535 /* the protocol's field is 16 bits */
#define MAX_CONNECTIONS_MAX 10000000

/* Where things were written, for the checks of the whole section. */
struct egress_parse {
	struct egress_config *ec;
	yaml_mark_t section;
	yaml_mark_t *peer_marks; /* one per peer */
	yaml_mark_t snat_marks[EGRESS_MAX_SNAT];
	yaml_mark_t self_mark;
	/* a peer's `snat:` choice, resolved once all snat entries are known */
	struct prefix *peer_snat;
	yaml_mark_t *peer_snat_marks;
};

static const char *const backend_names[] = {
        [EGRESS_BACKEND_AUTO] = "auto",
        [EGRESS_BACKEND_WIREGUARD_GO] = "wireguard-go",
        [EGRESS_BACKEND_KERNEL] = "kernel",
};

const char *egress_backend_name(enum egress_backend b)
{
	return (unsigned int)b <= EGRESS_BACKEND_KERNEL ? backend_names[b] : "?";
}

void egress_config_release(struct egress_config *ec)
{
	free(ec->peers);
	memset(ec, 0, sizeof(*ec));
}

int egress_peer_index(const struct egress_config *ec, const char *name)
{
	for (int i = 0; i < ec->n_peers; i++)
		if (strcmp(ec->peers[i].name, name) == 0)
			return i;
	return -1;
}

static size_t addr_len(int family)
{
	return family == AF_INET ? 4 : 16;
}

static bool same_host(const struct prefix *a, const struct prefix *b)
{
	return a->family == b->family && memcmp(&a->addr, &b->addr, addr_len(a->family)) == 0;
}

/* Whether the first LEN bits of A and B agree. */
static bool bits_equal(const uint8_t *a, const uint8_t *b, unsigned int len)
{
	unsigned int full = len / 8, rest = len % 8;

	if (memcmp(a, b, full))
		return false;
	return !rest || ((a[full] ^ b[full]) & (0xff00 >> rest)) == 0;
}

/* Whether NET (with its length) holds all of P. */
static bool prefix_holds(const struct prefix *net, const struct prefix *p)
{
	return net->family == p->family && p->len >= net->len &&
	       bits_equal((const uint8_t *)&net->addr, (const uint8_t *)&p->addr, net->len);
}

static bool prefixes_overlap(const struct prefix *a, const struct prefix *b)
{
	return prefix_holds(a, b) || prefix_holds(b, a);
}

/* ---- small values ---- */

/* A host address without its "/32" or "/128", as users write it. */
static const char *host_format(const struct prefix *a, char *buf, size_t size)
{
	prefix_format(a, buf, size);
	buf[strcspn(buf, "/")] = '\0';
	return buf;
}

static bool ifname_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n >= IFNAMSIZ || strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && *s != '-' && *s != '_' && *s != '.')
			return false;
	return true;
}

/* A single address: a snat address, a share member, self. */
static int parse_host(struct parser *p, yaml_node_t *v, const char *path, struct prefix *out)
{
	char text[PREFIX_STRLEN];

	if (cfg_prefix(p, v, path, out))
		return -1;
	if (out->len != (out->family == AF_INET ? 32 : 128)) {
		cfg_err_at(p, v->start_mark, path, "'%s' is a prefix; give one address",
		           prefix_format(out, text, sizeof(text)));
		return -1;
	}
	return 0;
}

/* An interface address with its network's length, "100.64.0.1/10": host bits are the point. */
static int parse_ifaddr(struct parser *p, yaml_node_t *v, const char *path, struct prefix *out)
{
	const char *s = cfg_string(p, v, path), *slash;
	char host[PREFIX_STRLEN];
	unsigned long len;
	char *end;

	if (!s)
		return -1;
	slash = strchr(s, '/');
	if (!slash || (size_t)(slash - s) >= sizeof(host)) {
		cfg_err_at(p, v->start_mark, path,
		           "'%.80s': give the edge's address with its network's length, such as "
		           "100.64.0.1/10",
		           s);
		return -1;
	}
	snprintf(host, sizeof(host), "%.*s", (int)(slash - s), s);
	if (prefix_parse(host, out)) {
		cfg_err_at(p, v->start_mark, path, "'%.80s': '%s' is not an IPv4 or IPv6 address",
		           s, host);
		return -1;
	}
	len = strtoul(slash + 1, &end, 10);
	if (!isdigit((unsigned char)slash[1]) || *end || len == 0 || len > out->len) {
		cfg_err_at(p, v->start_mark, path, "'%.80s': the length must be 1-%u", s, out->len);
		return -1;
	}
	out->len = (uint8_t)len;
	return 0;
}

/* "25s", "1m", a bare number of seconds, or "off"/0. */
static int parse_keepalive(struct parser *p, yaml_node_t *v, const char *path, uint32_t *out)
{
	const char *s = cfg_string(p, v, path);
	unsigned long n, mult = 1;
	char *end;

	if (!s)
		return -1;
	if (strcmp(s, "off") == 0) {
		*out = 0;
		return 0;
	}
	n = strtoul(s, &end, 10);
	if (end != s && strcmp(end, "m") == 0)
		mult = 60;
	else if (end == s || (*end && strcmp(end, "s") != 0))
		mult = 0;
	if (!mult || !isdigit((unsigned char)*s) || n * mult > KEEPALIVE_MAX_S) {
		cfg_err_at(p, v->start_mark, path,
		           "'%.40s': expected a duration of 0s to %us such as 25s, or off", s,
		           KEEPALIVE_MAX_S);
		return -1;
	}
	*out = (uint32_t)(n * mult);
	return 0;
}

static int parse_key(struct parser *p, yaml_node_t *v, const char *path, uint8_t *key)
{
	const char *s = cfg_string(p, v, path);
	int err;

	if (!s)
		return -1;
	err = wg_key_from_base64(s, key);
	if (err) {
		cfg_err_at(p, v->start_mark, path, "'%.60s': %s", s, wg_key_strerror(err));
		return -1;
	}
	return 0;
}

/* ---- peers ---- */

struct peer_ctx {
	struct egress_parse *ep;
	struct egress_peer_config *peer;
	int index;
};

static void on_peer_name(struct parser *p, yaml_node_t *v, const char *path, void *obj)
{
	struct egress_peer_config *peer = ((struct peer_ctx *)obj)->peer;
	const char *s = cfg_string(p, v, path);

	if (!s)
		return;
	if (!cfg_name_ok(s, EGRESS_NAME_MAX, "-_.")) {
		cfg_err_at(p, v->start_mark, path,
		           "'%.80s': a name is 1-%d characters of letters, digits, '-', '_' and "
		           "'.', starting with a letter or digit",
		           s, EGRESS_NAME_MAX - 1);
		return;
	}
	snprintf(peer->name, sizeof(peer->name), "%s", s);
}

static void on_peer_key(struct parser *p, yaml_node_t *v, const char *path, void *obj)
{
	parse_key(p, v, path, ((struct peer_ctx *)obj)->peer->public_key);
}

static void add_peer_address(struct parser *p, yaml_node_t *item, const char *path, int i,
                             void *obj)
{
	struct egress_peer_config *peer = ((struct peer_ctx *)obj)->peer;

	(void)i;
	if (peer->n_addresses >= EGRESS_MAX_PEER_ADDRS) {
		cfg_err_at(p, item->start_mark, path, "at most %d addresses per peer",
		           EGRESS_MAX_PEER_ADDRS);
		return;
	}
	if (cfg_prefix(p, item, path, &peer->addresses[peer->n_addresses]) == 0)
		peer->n_addresses++;
}

static void on_peer_addresses(struct parser *p, yaml_node_t *v, const char *path, void *obj)
{
	cfg_each(p, v, path, add_peer_address, obj);
}

static void on_peer_keepalive(struct parser *p, yaml_node_t *v, const char *path, void *obj)
{
	parse_keepalive(p, v, path, &((struct peer_ctx *)obj)->peer->keepalive_s);
}

static void on_peer_max_conn(struct parser *p, yaml_node_t *v, const char *path, void *obj)
{
	uint64_t n;

	if (cfg_u64(p, v, path, 1, MAX_CONNECTIONS_MAX, true, &n) == 0)
		((struct peer_ctx *)obj)->peer->max_connections = (uint32_t)n;
}

static void on_peer_snat(struct parser *p, yaml_node_t *v, const char *path, void *obj)
{
	struct peer_ctx *pc = obj;

	if (parse_host(p, v, path, &pc->ep->peer_snat[pc->index]) == 0)
		pc->ep->peer_snat_marks[pc->index] = v->start_mark;
}

static const struct key_handler peer_keys[] = {
        {"name", on_peer_name, "a name for edgectl and metrics: `name: alice`"},
        {"public_key", on_peer_key, "the client's key as `wg pubkey` prints it"},
        {"addresses", on_peer_addresses, "its tunnel addresses: `addresses: [100.64.0.2/32]`"},
        {"keepalive", on_peer_keepalive, NULL},
        {"max_connections", on_peer_max_conn, NULL},
        {"snat", on_peer_snat, NULL},
};

static int grow_peer_marks(struct egress_parse *ep, int n)
{
	yaml_mark_t *m = realloc(ep->peer_marks, n * sizeof(*m));
	yaml_mark_t *sm = m ? realloc(ep->peer_snat_marks, n * sizeof(*sm)) : NULL;
	struct prefix *ps;

	if (m)
		ep->peer_marks = m;
	if (sm)
		ep->peer_snat_marks = sm;
	ps = sm ? realloc(ep->peer_snat, n * sizeof(*ps)) : NULL;
	if (!ps)
		return -1;
	ep->peer_snat = ps;
	memset(&ps[n - 1], 0, sizeof(*ps));
	return 0;
}

static void add_peer(struct parser *p, yaml_node_t *item, const char *path, int i, void *obj)
{
	struct egress_parse *ep = obj;
	struct egress_config *ec = ep->ec;
	struct peer_ctx pc = {.ep = ep, .index = ec->n_peers};

	(void)i;
	if (item->type != YAML_MAPPING_NODE) {
		cfg_err_at(p, item->start_mark, path,
		           "expected a peer such as {name: alice, public_key: ..., addresses: "
		           "[100.64.0.2/32]}, got %s",
		           cfg_kind(item));
		return;
	}
	if (ec->n_peers >= EGRESS_MAX_PEERS) {
		cfg_err_at(p, item->start_mark, path, "at most %d peers", EGRESS_MAX_PEERS);
		return;
	}
	if (grow_peer_marks(ep, ec->n_peers + 1) ||
	    !(pc.peer = cfg_grow(&ec->peers, &ec->n_peers, sizeof(*pc.peer)))) {
		cfg_err_at(p, item->start_mark, path, "out of memory");
		return;
	}
	ep->peer_marks[pc.index] = item->start_mark;
	CFG_WALK(p, item, path, peer_keys, &pc);
}

static void on_peers(struct parser *p, yaml_node_t *v, const char *path, void *obj)
{
	cfg_each(p, v, path, add_peer, obj);
}

/* ---- snat ---- */

struct snat_ctx {
	struct egress_snat_config *s;
	bool ports_set;
};

static void on_snat_address(struct parser *p, yaml_node_t *v, const char *path, void *obj)
{
	parse_host(p, v, path, &((struct snat_ctx *)obj)->s->address);
}

static void on_snat_ports(struct parser *p, yaml_node_t *v, const char *path, void *obj)
{
	struct egress_snat_config *s = ((struct snat_ctx *)obj)->s;
	uint64_t lo, hi;

	if (cfg_range(p, v, path, 1, 65535, &lo, &hi))
		return;
	s->port_lo = (uint16_t)lo;
	s->port_hi = (uint16_t)hi;
}

static void add_share(struct parser *p, yaml_node_t *item, const char *path, int i, void *obj)
{
	struct egress_snat_config *s = obj;
	struct prefix a;

	(void)i;
	if (parse_host(p, item, path, &a))
		return;
	if (s->n_share >= EGRESS_MAX_SHARE) {
		cfg_err_at(p, item->start_mark, path, "at most %d edges share an address",
		           EGRESS_MAX_SHARE);
		return;
	}
	if (port_range_member_index(s->share, s->n_share, &a) >= 0) {
		cfg_err_at(p, item->start_mark, path,
		           "listed twice: each edge appears once (its position fixes its ports)");
		return;
	}
	s->share[s->n_share++] = a;
}

static void on_snat_share(struct parser *p, yaml_node_t *v, const char *path, void *obj)
{
	cfg_each(p, v, path, add_share, ((struct snat_ctx *)obj)->s);
	if (v->type == YAML_SEQUENCE_NODE && ((struct snat_ctx *)obj)->s->n_share == 0)
		cfg_err_at(p, v->start_mark, path,
		           "empty: list the edges sharing this address, this one among them, or "
		           "leave share out");
}

static const struct key_handler snat_keys[] = {
        {"address", on_snat_address, "the egress address: `address: 203.0.113.10`"},
        {"ports", on_snat_ports, NULL},
        {"share", on_snat_share, NULL},
};

static void add_snat(struct parser *p, yaml_node_t *item, const char *path, int i, void *obj)
{
	struct egress_parse *ep = obj;
	struct egress_config *ec = ep->ec;
	struct snat_ctx sc;

	(void)i;
	if (item->type != YAML_MAPPING_NODE) {
		cfg_err_at(p, item->start_mark, path,
		           "expected {address: 203.0.113.10, ports: 1024-65535}, got %s",
		           cfg_kind(item));
		return;
	}
	if (ec->n_snat >= EGRESS_MAX_SNAT) {
		cfg_err_at(p, item->start_mark, path, "at most %d egress addresses",
		           EGRESS_MAX_SNAT);
		return;
	}
	sc.s = &ec->snat[ec->n_snat];
	memset(sc.s, 0, sizeof(*sc.s));
	sc.s->port_lo = EGRESS_DEFAULT_PORT_LO;
	sc.s->port_hi = EGRESS_DEFAULT_PORT_HI;
	sc.s->self_index = -1;
	ep->snat_marks[ec->n_snat++] = item->start_mark;
	CFG_WALK(p, item, path, snat_keys, &sc);
}

static void on_snat(struct parser *p, yaml_node_t *v, const char *path, void *obj)
{
	cfg_each(p, v, path, add_snat, obj);
	if (v->type == YAML_SEQUENCE_NODE &&
	    v->data.sequence.items.start == v->data.sequence.items.top)
		cfg_err_at(p, v->start_mark, path,
		           "empty: give the egress addresses, such as [{address: 203.0.113.10}]");
}

/* ---- the section's scalars ---- */

static struct egress_config *ec_of(void *obj)
{
	return ((struct egress_parse *)obj)->ec;
}

static void on_enabled(struct parser *p, yaml_node_t *v, const char *path, void *obj)
{
	(void)obj;
	cfg_bool(p, v, path, &p->cfg->fn[FN_EGRESS].enabled);
}

static void on_interface(struct parser *p, yaml_node_t *v, const char *path, void *obj)
{
	const char *s = cfg_string(p, v, path);

	if (!s)
		return;
	if (!ifname_ok(s)) {
		cfg_err_at(p, v->start_mark, path,
		           "'%.80s': an interface name is 1-%d letters, digits, '-', '_' or '.'", s,
		           IFNAMSIZ - 1);
		return;
	}
	snprintf(ec_of(obj)->interface, IFNAMSIZ, "%s", s);
}

static void on_backend(struct parser *p, yaml_node_t *v, const char *path, void *obj)
{
	const char *s = cfg_string(p, v, path);

	if (!s)
		return;
	for (int i = 0; i <= EGRESS_BACKEND_KERNEL; i++) {
		if (strcmp(s, backend_names[i]) == 0) {
			ec_of(obj)->backend = i;
			return;
		}
	}
	cfg_err_at(p, v->start_mark, path,
	           "'%.80s': use auto (kernel WireGuard when the kernel has it), wireguard-go or "
	           "kernel",
	           s);
}

static void on_listen_port(struct parser *p, yaml_node_t *v, const char *path, void *obj)
{
	uint64_t port;

	if (cfg_u64(p, v, path, 1, 65535, false, &port) == 0)
		ec_of(obj)->listen_port = (uint16_t)port;
}

static void on_key_file(struct parser *p, yaml_node_t *v, const char *path, void *obj)
{
	struct egress_config *ec = ec_of(obj);
	const char *s = cfg_string(p, v, path);

	if (!s)
		return;
	if (s[0] != '/' || strlen(s) >= sizeof(ec->private_key_file)) {
		cfg_err_at(p, v->start_mark, path,
		           "'%.80s': give an absolute path (at most %zu characters), such as "
		           "/etc/edged/wg.key",
		           s, sizeof(ec->private_key_file) - 1);
		return;
	}
	snprintf(ec->private_key_file, sizeof(ec->private_key_file), "%s", s);
}

static void add_address(struct parser *p, yaml_node_t *item, const char *path, int i, void *obj)
{
	struct egress_config *ec = ec_of(obj);

	(void)i;
	if (ec->n_address >= EGRESS_MAX_ADDRESSES) {
		cfg_err_at(p, item->start_mark, path, "at most %d addresses", EGRESS_MAX_ADDRESSES);
		return;
	}
	if (parse_ifaddr(p, item, path, &ec->address[ec->n_address]) == 0)
		ec->n_address++;
}

static void on_address(struct parser *p, yaml_node_t *v, const char *path, void *obj)
{
	if (v->type == YAML_SCALAR_NODE)
		add_address(p, v, path, 0, obj);
	else
		cfg_each(p, v, path, add_address, obj);
	if (v->type == YAML_SEQUENCE_NODE &&
	    v->data.sequence.items.start == v->data.sequence.items.top)
		cfg_err_at(p, v->start_mark, path,
		           "empty: give the edge's tunnel addresses, such as [100.64.0.1/10]");
}

static void on_self(struct parser *p, yaml_node_t *v, const char *path, void *obj)
{
	if (parse_host(p, v, path, &ec_of(obj)->self) == 0)
		((struct egress_parse *)obj)->self_mark = v->start_mark;
}

static void on_allow_internet(struct parser *p, yaml_node_t *v, const char *path, void *obj)
{
	cfg_bool(p, v, path, &((struct egress_allow_config *)obj)->internet);
}

static void on_allow_services(struct parser *p, yaml_node_t *v, const char *path, void *obj)
{
	cfg_bool(p, v, path, &((struct egress_allow_config *)obj)->edge_services);
}

static void on_allow_clients(struct parser *p, yaml_node_t *v, const char *path, void *obj)
{
	cfg_bool(p, v, path, &((struct egress_allow_config *)obj)->clients);
}

static const struct key_handler allow_keys[] = {
        {"internet", on_allow_internet, NULL},
        {"edge_services", on_allow_services, NULL},
        {"clients", on_allow_clients, NULL},
};

static void on_allow(struct parser *p, yaml_node_t *v, const char *path, void *obj)
{
	if (v->type != YAML_MAPPING_NODE) {
		cfg_err_at(p, v->start_mark, path,
		           "expected a mapping such as {internet: true, clients: false}, got %s",
		           cfg_kind(v));
		return;
	}
	CFG_WALK(p, v, path, allow_keys, &ec_of(obj)->allow);
}

static void on_mark(struct parser *p, yaml_node_t *v, const char *path, void *obj)
{
	const char *s = cfg_string(p, v, path);
	unsigned long m;
	char *end;

	if (!s)
		return;
	m = strtoul(s, &end, 0);
	if (!isdigit((unsigned char)*s) || *end || m == 0 || m > 0xffffffffUL) {
		cfg_err_at(p, v->start_mark, path,
		           "'%.40s': expected a non-zero 32-bit mark such as 0x01000000", s);
		return;
	}
	ec_of(obj)->mark = (uint32_t)m;
}

static void on_table(struct parser *p, yaml_node_t *v, const char *path, void *obj)
{
	uint64_t t;

	if (cfg_u64(p, v, path, 1, 0xffffffffULL, false, &t))
		return;
	if (t >= 253 && t <= 255) {
		cfg_err_at(p, v->start_mark, path,
		           "table %llu is the kernel's default/main/local table: pick another",
		           (unsigned long long)t);
		return;
	}
	ec_of(obj)->table = (uint32_t)t;
}

static const struct key_handler egress_keys[] = {
        {"enabled", on_enabled, NULL},
        {"interface", on_interface, NULL},
        {"backend", on_backend, NULL},
        {"listen_port", on_listen_port, NULL},
        {"private_key_file", on_key_file, NULL},
        {"address", on_address, NULL},
        {"peers", on_peers, NULL},
        {"snat", on_snat, NULL},
        {"self", on_self, NULL},
        {"allow", on_allow, NULL},
        {"mark", on_mark, NULL},
        {"table", on_table, NULL},
};

/* ---- checks of the whole section ---- */

/* The first snat entry of FAMILY, or -1. */
static int first_snat(const struct egress_config *ec, int family)
{
	for (int i = 0; i < ec->n_snat; i++)
		if (ec->snat[i].address.family == family)
			return i;
	return -1;
}

static int snat_index(const struct egress_config *ec, const struct prefix *a)
{
	for (int i = 0; i < ec->n_snat; i++)
		if (same_host(&ec->snat[i].address, a))
			return i;
	return -1;
}

static int check_peer_address(const struct egress_config *ec, const struct egress_peer_config *pe,
                              const struct prefix *a, int skip, char *err, size_t errlen)
{
	char text[PREFIX_STRLEN];
	bool inside = false;

	prefix_format(a, text, sizeof(text));
	for (int i = 0; i < ec->n_address; i++) {
		struct prefix host = ec->address[i];

		host.len = host.family == AF_INET ? 32 : 128;
		if (prefix_holds(a, &host)) {
			snprintf(err, errlen, "%s holds the edge's own tunnel address", text);
			return -1;
		}
		inside |= prefix_holds(&ec->address[i], a);
	}
	if (!inside) {
		snprintf(
		        err, errlen,
		        "%s is outside the edge's tunnel networks (egress.address): the edge would "
		        "not route replies to it",
		        text);
		return -1;
	}
	for (int j = 0; j < ec->n_peers; j++) {
		const struct egress_peer_config *o = &ec->peers[j];

		if (j == skip || o == pe)
			continue;
		for (int k = 0; k < o->n_addresses; k++)
			if (prefixes_overlap(&o->addresses[k], a)) {
				snprintf(err, errlen, "%s overlaps peer '%s': one peer per address",
				         text, o->name);
				return -1;
			}
	}
	return 0;
}

/* Picks the peer's SNAT address per family: CHOICE if given, else the first of the family. */
static int pick_snat(const struct egress_config *ec, struct egress_peer_config *pe,
                     const struct prefix *choice, char *err, size_t errlen)
{
	char text[PREFIX_STRLEN];

	pe->snat[0] = first_snat(ec, AF_INET);
	pe->snat[1] = first_snat(ec, AF_INET6);
	if (choice && choice->family) {
		int i = snat_index(ec, choice);

		if (i < 0) {
			snprintf(err, errlen, "snat %s is not one of egress.snat's addresses",
			         host_format(choice, text, sizeof(text)));
			return -1;
		}
		pe->snat[choice->family == AF_INET ? 0 : 1] = i;
	}
	for (int k = 0; k < pe->n_addresses; k++) {
		int fam = pe->addresses[k].family;

		if (pe->snat[fam == AF_INET ? 0 : 1] < 0) {
			snprintf(
			        err, errlen,
			        "the peer has IPv%d addresses but egress.snat has no IPv%d address",
			        fam == AF_INET ? 4 : 6, fam == AF_INET ? 4 : 6);
			return -1;
		}
	}
	return 0;
}

static int peer_check(const struct egress_config *ec, struct egress_peer_config *pe, int skip,
                      const struct prefix *choice, char *err, size_t errlen)
{
	if (pe->n_addresses == 0) {
		snprintf(err, errlen,
		         "the peer has no addresses: give its tunnel address, such as "
		         "addresses: [100.64.0.2/32]");
		return -1;
	}
	for (int j = 0; j < ec->n_peers; j++) {
		const struct egress_peer_config *o = &ec->peers[j];

		if (j == skip || o == pe)
			continue;
		if (pe->name[0] && strcmp(o->name, pe->name) == 0) {
			snprintf(err, errlen, "a peer named '%s' exists already: names are unique",
			         pe->name);
			return -1;
		}
		if (memcmp(o->public_key, pe->public_key, EGRESS_KEY_LEN) == 0) {
			snprintf(err, errlen,
			         "peer '%s' has the same public key: WireGuard knows a peer by its "
			         "key",
			         o->name);
			return -1;
		}
	}
	for (int k = 0; k < pe->n_addresses; k++)
		if (check_peer_address(ec, pe, &pe->addresses[k], skip, err, errlen))
			return -1;
	return pick_snat(ec, pe, choice, err, errlen);
}

int egress_peer_check(const struct egress_config *ec, struct egress_peer_config *peer, int skip,
                      char *err, size_t errlen)
{
	return peer_check(ec, peer, skip, NULL, err, errlen);
}

int egress_peer_check_snat(const struct egress_config *ec, struct egress_peer_config *peer,
                           int skip, const struct prefix *choice, char *err, size_t errlen)
{
	return peer_check(ec, peer, skip, choice, err, errlen);
}

static void check_peers(struct parser *p, struct egress_parse *ep)
{
	struct egress_config *ec = ep->ec;
	char path[KEY_PATH_MAX], err[256];
	int n = ec->n_peers;

	for (int i = 0; i < n; i++) {
		yaml_mark_t at =
		        ep->peer_snat[i].family ? ep->peer_snat_marks[i] : ep->peer_marks[i];

		snprintf(path, sizeof(path), "egress.peers[%d]", i);
		/* Compare with the earlier peers only, so a clash is reported once. */
		ec->n_peers = i + 1;
		if (peer_check(ec, &ec->peers[i], -1, &ep->peer_snat[i], err, sizeof(err)))
			cfg_err_at(p, at, path, "%s", err);
	}
	ec->n_peers = n;
}

static void check_snat_entry(struct parser *p, struct egress_parse *ep, int i)
{
	struct egress_config *ec = ep->ec;
	struct egress_snat_config *s = &ec->snat[i];
	struct port_slice slice;
	char path[KEY_PATH_MAX], text[PREFIX_STRLEN];
	int err;

	snprintf(path, sizeof(path), "egress.snat[%d]", i);
	for (int j = 0; j < i; j++)
		if (s->address.family && same_host(&ec->snat[j].address, &s->address))
			cfg_err_at(p, ep->snat_marks[i], path, "%s is listed twice (snat[%d])",
			           host_format(&s->address, text, sizeof(text)), j);
	if (s->n_share) {
		if (!ec->self.family) {
			cfg_err_at(p, ep->snat_marks[i], path,
			           "the address is shared: give this edge's fleet address as "
			           "egress.self (one of share's)");
			return;
		}
		s->self_index = port_range_member_index(s->share, s->n_share, &ec->self);
		if (s->self_index < 0) {
			cfg_err_at(p, ep->snat_marks[i], path,
			           "egress.self %s is not in share: list every edge sharing the "
			           "address, this one among them",
			           host_format(&ec->self, text, sizeof(text)));
			return;
		}
	}
	err = port_range_slice(s, s->self_index < 0 ? 0 : s->self_index, &slice);
	if (err) {
		cfg_err_at(p, ep->snat_marks[i], path,
		           "ports %u-%u cannot be split among %d edges: %s; widen the range",
		           s->port_lo, s->port_hi, s->n_share, port_range_strerror(err));
		return;
	}
	s->own_lo = slice.lo;
	s->own_hi = slice.hi;
}

/* Whether the mapping MAP has KEY (a key given with a bad value was reported already). */
static bool has_key(struct parser *p, yaml_node_t *map, const char *key)
{
	for (yaml_node_pair_t *kv = map->data.mapping.pairs.start; kv < map->data.mapping.pairs.top;
	     kv++) {
		yaml_node_t *k = cfg_node(p, kv->key);

		if (k && k->type == YAML_SCALAR_NODE && strcmp(cfg_scalar(k), key) == 0)
			return true;
	}
	return false;
}

static void check_section(struct parser *p, struct egress_parse *ep, yaml_node_t *v)
{
	struct egress_config *ec = ep->ec;

	/* Required only when the function is on: `egress: {enabled: false}` needs nothing. */
	if (!has_key(p, v, "interface"))
		cfg_err_at(p, ep->section, "egress",
		           "give the tunnel device: `interface: wgedge1`");
	if (!has_key(p, v, "private_key_file"))
		cfg_err_at(p, ep->section, "egress",
		           "give the WireGuard key: `private_key_file: /etc/edged/wg.key` (wg "
		           "genkey)");
	if (!has_key(p, v, "address"))
		cfg_err_at(p, ep->section, "egress",
		           "give the edge's tunnel addresses: `address: [100.64.0.1/10]`");
	if (!has_key(p, v, "snat"))
		cfg_err_at(p, ep->section, "egress",
		           "give the egress addresses: `snat: [{address: 203.0.113.10}]`");
	for (int i = 0; i < ec->n_snat; i++)
		check_snat_entry(p, ep, i);
	check_peers(p, ep);
}

void egress_config_parse(struct parser *p, yaml_node_t *v, const char *path)
{
	struct egress_config *ec = &p->cfg->egress;
	struct egress_parse ep = {.ec = ec, .section = v->start_mark};

	ec->backend = EGRESS_BACKEND_AUTO;
	ec->listen_port = EGRESS_DEFAULT_PORT;
	ec->allow.internet = true;
	ec->mark = EGRESS_DEFAULT_MARK;
	ec->table = EGRESS_DEFAULT_TABLE;
	CFG_WALK(p, v, path, egress_keys, &ep);
	if (!p->cfg->fn[FN_EGRESS].enabled) {
		free(ep.peer_marks);
		free(ep.peer_snat);
		free(ep.peer_snat_marks);
		return;
	}
	check_section(p, &ep, v);
	free(ep.peer_marks);
	free(ep.peer_snat);
	free(ep.peer_snat_marks);
}

/* ---- a peer from edgectl's words ---- */

static int peer_addresses(const char *text, struct egress_peer_config *pe, char *err, size_t errlen)
{
	char list[256], *save, *a;

	snprintf(list, sizeof(list), "%s", text);
	for (a = strtok_r(list, ",", &save); a; a = strtok_r(NULL, ",", &save)) {
		if (pe->n_addresses >= EGRESS_MAX_PEER_ADDRS) {
			snprintf(err, errlen, "at most %d addresses per peer",
			         EGRESS_MAX_PEER_ADDRS);
			return -1;
		}
		if (prefix_parse(a, &pe->addresses[pe->n_addresses])) {
			snprintf(err, errlen,
			         "'%s': not an address or prefix such as 100.64.0.9/32", a);
			return -1;
		}
		pe->n_addresses++;
	}
	return 0;
}

static int peer_option(const char *k, const char *v, struct egress_peer_config *pe,
                       struct prefix *snat, char *err, size_t errlen)
{
	char *end;
	unsigned long n = strtoul(v, &end, 10);

	if (strcmp(k, "snat") == 0) {
		if (prefix_parse(v, snat) == 0)
			return 0;
		snprintf(err, errlen, "snat '%s': give one of egress.snat's addresses", v);
		return -1;
	}
	if (*end || end == v) {
		snprintf(err, errlen, "%s '%s': expected a number", k, v);
		return -1;
	}
	if (strcmp(k, "keepalive") == 0 && n <= 65535) {
		pe->keepalive_s = (uint32_t)n;
		return 0;
	}
	if (strcmp(k, "max_connections") == 0 && n <= 10000000) {
		pe->max_connections = (uint32_t)n;
		return 0;
	}
	snprintf(err, errlen,
	         "%s '%s': unknown option or out of range (keepalive SECONDS, max_connections N, "
	         "snat ADDRESS)",
	         k, v);
	return -1;
}

int egress_peer_from_args(int argc, char *const argv[], struct egress_peer_config *pe,
                          struct prefix *snat, char *err, size_t errlen)
{
	int kerr;

	memset(pe, 0, sizeof(*pe));
	memset(snat, 0, sizeof(*snat));
	if (argc < 3 || argc % 2 == 0) {
		snprintf(err, errlen,
		         "expected NAME PUBLIC_KEY ADDR[,ADDR...] and OPTION VALUE pairs");
		return -1;
	}
	if (strlen(argv[0]) >= sizeof(pe->name)) {
		snprintf(err, errlen, "peer name '%s' is longer than %zu characters", argv[0],
		         sizeof(pe->name) - 1);
		return -1;
	}
	snprintf(pe->name, sizeof(pe->name), "%s", argv[0]);
	kerr = wg_key_from_base64(argv[1], pe->public_key);
	if (kerr) {
		snprintf(err, errlen, "public key '%.60s': %s", argv[1], wg_key_strerror(kerr));
		return -1;
	}
	if (peer_addresses(argv[2], pe, err, errlen))
		return -1;
	for (int i = 3; i + 1 < argc; i += 2)
		if (peer_option(argv[i], argv[i + 1], pe, snat, err, errlen))
			return -1;
	return 0;
}
