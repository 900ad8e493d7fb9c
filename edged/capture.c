// SPDX-License-Identifier: GPL-2.0
/*
 * `edgectl capture`: packets the XDP program sampled into the edge_samples ring buffer,
 * streamed to edgectl as a classic pcap (LINKTYPE_ETHERNET) that tcpdump, tshark and
 * `lab replay` read. One capture at a time; it ends after COUNT packets, at its timeout, or
 * when edgectl goes away, and sampling is switched off again in every case.
 *
 * Request: capture [verdict=drop,pass,...] [stage=dos,...] [rule=NAME] [count=N]
 *                  [every=N] [timeout=SECONDS]
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "capture.h"
#include "control.h"
#include "edged.h"
#include "log.h"
#include "sockio.h"

/* pcap's classic file header: version 2.4, microsecond timestamps. */
struct pcap_file_header {
	__u32 magic;
	__u16 major, minor;
	__s32 thiszone;
	__u32 sigfigs, snaplen, linktype;
};

struct pcap_rec_header {
	__u32 ts_sec, ts_usec, incl_len, orig_len;
};

#define PCAP_MAGIC_US     0xa1b2c3d4u
#define LINKTYPE_ETHERNET 1

static __u64 clock_ns(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return (__u64)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

/* Parses "drop,pass" against NAMES into a bit mask; -1 on an unknown word. */
static long parse_set(const char *list, const char *(*name)(int), int n)
{
	char buf[128], *save, *w;
	long mask = 0;

	snprintf(buf, sizeof(buf), "%s", list);
	for (w = strtok_r(buf, ",", &save); w; w = strtok_r(NULL, ",", &save)) {
		int i = 0;

		while (i < n && strcmp(w, name(i)))
			i++;
		if (i == n)
			return -1;
		mask |= 1L << i;
	}
	return mask;
}

static long parse_count(const char *s)
{
	char *end;
	long v = strtol(s, &end, 10);

	return *s && !*end && v >= 0 ? v : -1;
}

static long rule_id_of(struct edged *e, const char *name)
{
	long id = dos_rule_id(&e->dos, name);

	if (id < 0 && !strcmp(name, "blocklist"))
		id = DOS_RULE_ID_BLOCKLIST;
	if (id < 0 && !strcmp(name, "ceiling"))
		id = DOS_RULE_ID_CEILING;
	return id;
}

/* One key=value word of the request into CFG or the session's limits; false if bad. */
static bool parse_word(struct edged *e, const char *key, const char *val,
                       struct edge_capture_cfg *cfg, struct capture *c)
{
	long v;

	if (!strcmp(key, "verdict")) {
		v = parse_set(val, datapath_verdict_name, EDGE_NVERDICTS);
		cfg->verdicts = v;
		return v > 0;
	}
	if (!strcmp(key, "stage")) {
		v = parse_set(val, datapath_stage_name, EDGE_NSTAGES);
		cfg->stages = v;
		return v > 0;
	}
	if (!strcmp(key, "rule")) {
		v = rule_id_of(e, val);
		cfg->rule_id = v;
		return v >= 0;
	}
	v = parse_count(val);
	if (!strcmp(key, "count"))
		c->remaining = v;
	else if (!strcmp(key, "every"))
		cfg->every = v;
	else if (!strcmp(key, "timeout"))
		c->timeout_s = v;
	else
		return false;
	return v > 0 || (v == 0 && !strcmp(key, "timeout"));
}

static const char *word_hint(const char *key)
{
	if (!strcmp(key, "rule"))
		return ": no DoS rule of that name (`edgectl dos rules` lists them; also "
		       "blocklist, "
		       "ceiling)";
	if (!strcmp(key, "verdict"))
		return ": use pass, drop, tx, redirect or aborted, comma-separated";
	if (!strcmp(key, "stage"))
		return ": use parse, dos, transit, lb or end, comma-separated";
	if (!strcmp(key, "count") || !strcmp(key, "every"))
		return ": a number of packets, 1 or more";
	if (!strcmp(key, "timeout"))
		return ": seconds, 0 for none";
	return ": known keys are verdict, stage, rule, count, every, timeout";
}

/* Fills CFG and the session's limits from the request's key=value words. Defaults: dropped
 * packets of any stage and rule, 100 of them, no timeout. */
static int parse_request(struct edged *e, const struct request *rq, struct edge_capture_cfg *cfg,
                         struct capture *c, struct strbuf *err)
{
	cfg->verdicts = 1u << EDGE_VERDICT_DROP;
	cfg->rule_id = EDGE_RULE_ANY;
	c->remaining = 100;
	c->timeout_s = 0;
	for (int i = 1; i < rq->argc; i++) {
		char word[128], *eq;

		snprintf(word, sizeof(word), "%s", rq->argv[i]);
		eq = strchr(word, '=');
		if (eq)
			*eq = '\0';
		if (!eq || !parse_word(e, word, eq + 1, cfg, c)) {
			sb_printf(err, "capture: bad %s '%s'%s\n", word, eq ? eq + 1 : "",
			          word_hint(word));
			return -1;
		}
	}
	return 0;
}

static int on_sample(void *ctx, void *data, size_t size)
{
	struct edged *e = ctx;
	struct capture *c = &e->capture;
	const struct edge_sample *s = data;
	__u64 real_ns = s->ts_ns + c->boot_to_real_ns;
	struct pcap_rec_header rec = {
	        .ts_sec = real_ns / 1000000000ULL,
	        .ts_usec = (real_ns % 1000000000ULL) / 1000,
	        .incl_len = s->cap_len,
	        .orig_len = s->len,
	};

	if (size < sizeof(*s) || c->conn < 0 || c->remaining == 0)
		return 0;
	if (!sock_send_all(c->conn, &rec, sizeof(rec)) ||
	    !sock_send_all(c->conn, s->data, s->cap_len)) {
		c->failed = true;
		return 1; /* stop consuming: edgectl is gone */
	}
	c->written++;
	if (c->remaining > 0)
		c->remaining--;
	return c->remaining == 0 ? 1 : 0;
}

static void set_cfg(struct edged *e, const struct edge_capture_cfg *cfg)
{
	int fd = datapath_map_fd(&e->dp, "edge_capture");
	__u32 zero = 0;

	if (fd < 0 || bpf_map_update_elem(fd, &zero, cfg, BPF_ANY))
		pr_err("Couldn't %s packet capture: %s", cfg->verdicts ? "start" : "stop",
		       strerror(errno));
}

void capture_init(struct capture *c)
{
	memset(c, 0, sizeof(*c));
	c->conn = -1;
}

bool capture_start(struct edged *e, int conn, const struct request *rq, struct strbuf *err)
{
	struct capture *c = &e->capture;
	struct edge_capture_cfg cfg = {};
	struct pcap_file_header fh = {
	        .magic = PCAP_MAGIC_US,
	        .major = 2,
	        .minor = 4,
	        .snaplen = EDGE_SAMPLE_MAX,
	        .linktype = LINKTYPE_ETHERNET,
	};
	struct epoll_event ev = {.events = EPOLLIN};
	int ring = datapath_map_fd(&e->dp, "edge_samples");

	if (c->conn >= 0) {
		sb_printf(err, "a capture is already running; wait for it or stop it (Ctrl-C)\n");
		return false;
	}
	if (parse_request(e, rq, &cfg, c, err))
		return false;
	c->rb = ring >= 0 ? ring_buffer__new(ring, on_sample, e, NULL) : NULL;
	if (!c->rb) {
		sb_printf(err, "cannot read the capture ring buffer: %s\n", strerror(errno));
		return false;
	}
	c->conn = conn;
	c->written = 0;
	c->failed = false;
	c->deadline = c->timeout_s ? time(NULL) + c->timeout_s : 0;
	c->boot_to_real_ns = clock_ns(CLOCK_REALTIME) - clock_ns(CLOCK_BOOTTIME);
	ev.data.fd = ring_buffer__epoll_fd(c->rb);
	epoll_ctl(e->efd, EPOLL_CTL_ADD, ev.data.fd, &ev);
	/* edgectl's Ctrl-C shows as a hang-up on the connection, even with no packets. */
	ev.events = EPOLLRDHUP;
	ev.data.fd = conn;
	epoll_ctl(e->efd, EPOLL_CTL_ADD, conn, &ev);
	if (!sock_send_all(conn, "ok\n", 3) || !sock_send_all(conn, &fh, sizeof(fh))) {
		capture_stop(e, "edgectl went away");
		return true;
	}
	set_cfg(e, &cfg);
	pr_info("capture started (verdicts 0x%x, stages 0x%x, rule %d, %ld packets)", cfg.verdicts,
	        cfg.stages, (int)cfg.rule_id, c->remaining);
	return true;
}

void capture_stop(struct edged *e, const char *why)
{
	struct capture *c = &e->capture;
	struct edge_capture_cfg off = {};

	if (c->conn < 0)
		return;
	set_cfg(e, &off);
	epoll_ctl(e->efd, EPOLL_CTL_DEL, ring_buffer__epoll_fd(c->rb), NULL);
	epoll_ctl(e->efd, EPOLL_CTL_DEL, c->conn, NULL);
	ring_buffer__free(c->rb);
	c->rb = NULL;
	close(c->conn);
	c->conn = -1;
	pr_info("capture ended: %ld packets written (%s)", c->written, why);
}

bool capture_owns_fd(const struct edged *e, int fd)
{
	const struct capture *c = &e->capture;

	return c->conn >= 0 && (fd == c->conn || fd == ring_buffer__epoll_fd(c->rb));
}

void capture_event(struct edged *e, int fd)
{
	struct capture *c = &e->capture;

	if (fd == c->conn) {
		capture_stop(e, "edgectl hung up");
		return;
	}
	ring_buffer__consume(c->rb);
	if (c->failed)
		capture_stop(e, "edgectl went away");
	else if (c->remaining == 0)
		capture_stop(e, "count reached");
}

void capture_tick(struct edged *e)
{
	struct capture *c = &e->capture;

	if (c->conn >= 0 && c->deadline && time(NULL) >= c->deadline)
		capture_stop(e, "timeout");
}
