// SPDX-License-Identifier: GPL-2.0
/*
 * Test harness for the BPF programs of edged; see harness.h and tests/bpf/README.md.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <unistd.h>
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "harness.h"
#include "datapath.h"
#include "sysctl.h"

#define REGEN_HINT "regenerate the fixtures with: /usr/bin/python3 traffic/fixtures/gen.py"
#define MISSING_HINT                                                                               \
	"run the test from the repository root or set EDGED_FIXTURES to the fixture "              \
	"directory; if the file is missing, " REGEN_HINT

/* ---- pcap ---------------------------------------------------------------------------- */

#define PCAP_MAGIC_US       0xa1b2c3d4
#define PCAP_MAGIC_NS       0xa1b23c4d
#define PCAPNG_MAGIC        0x0a0d0d0a
#define PCAP_LINKTYPE_ETHER 1
/* Larger than any frame a test needs; a bigger record length means a corrupt file. */
#define PCAP_MAX_RECORD 262144

static uint32_t rd32(const uint8_t *p, bool swap)
{
	uint32_t v =
	        (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;

	return swap ? __builtin_bswap32(v) : v;
}

static void wr32(uint8_t *p, uint32_t v)
{
	p[0] = v;
	p[1] = v >> 8;
	p[2] = v >> 16;
	p[3] = v >> 24;
}

/* Reads the 24-byte file header; sets *swap for a big-endian file (fields are read as
 * little-endian, then swapped). */
static int pcap_read_header(FILE *f, const char *path, bool *swap)
{
	uint8_t h[24];
	uint32_t magic, linktype;

	if (fread(h, 1, sizeof(h), f) != sizeof(h)) {
		fprintf(stderr, "%s: shorter than a pcap file header (24 bytes): %s\n", path,
		        REGEN_HINT);
		return -EINVAL;
	}
	magic = rd32(h, false);
	if (magic == PCAP_MAGIC_US || magic == PCAP_MAGIC_NS) {
		*swap = false;
	} else if (magic == __builtin_bswap32(PCAP_MAGIC_US) ||
	           magic == __builtin_bswap32(PCAP_MAGIC_NS)) {
		*swap = true;
	} else if (magic == PCAPNG_MAGIC) {
		fprintf(stderr,
		        "%s: pcapng, not classic pcap: convert it with "
		        "`editcap -F pcap IN OUT`\n",
		        path);
		return -EINVAL;
	} else {
		fprintf(stderr, "%s: not a pcap file (magic 0x%08x): %s\n", path, magic,
		        REGEN_HINT);
		return -EINVAL;
	}
	linktype = rd32(h + 20, *swap) & 0xffff;
	if (linktype != PCAP_LINKTYPE_ETHER) {
		fprintf(stderr,
		        "%s: link type %u, expected 1 (Ethernet): capture on an Ethernet "
		        "device, not 'any' or a tunnel\n",
		        path, linktype);
		return -EINVAL;
	}
	return 0;
}

/* Reads one record; returns 1 when one was read, 0 at the end of the file. */
static int pcap_read_record(FILE *f, const char *path, bool swap, unsigned int idx,
                            struct pcap_pkt *pkt)
{
	uint8_t h[16];
	uint32_t incl, orig;
	size_t n = fread(h, 1, sizeof(h), f);

	if (n == 0 && feof(f))
		return 0;
	if (n != sizeof(h)) {
		fprintf(stderr, "%s: packet %u: record header cut short: %s\n", path, idx,
		        REGEN_HINT);
		return -EINVAL;
	}
	incl = rd32(h + 8, swap);
	orig = rd32(h + 12, swap);
	if (incl > PCAP_MAX_RECORD) {
		fprintf(stderr, "%s: packet %u: record of %u bytes, corrupt file: %s\n", path, idx,
		        incl, REGEN_HINT);
		return -EINVAL;
	}
	/* A frame cut by the capture's snap length is not the frame that was on the wire. */
	if (incl != orig) {
		fprintf(stderr, "%s: packet %u: captured %u of %u bytes: capture with -s 0\n", path,
		        idx, incl, orig);
		return -EINVAL;
	}
	pkt->len = incl;
	pkt->data = malloc(incl ? incl : 1);
	if (!pkt->data)
		return -ENOMEM;
	if (fread(pkt->data, 1, incl, f) != incl) {
		fprintf(stderr, "%s: packet %u: data cut short: %s\n", path, idx, REGEN_HINT);
		free(pkt->data);
		return -EINVAL;
	}
	return 1;
}

int pcap_read(const char *path, struct pcap_file *pf)
{
	unsigned int cap = 0;
	bool swap;
	FILE *f;
	int err;

	memset(pf, 0, sizeof(*pf));
	f = fopen(path, "rb");
	if (!f) {
		err = -errno;
		fprintf(stderr, "%s: %s: %s\n", path, strerror(-err), MISSING_HINT);
		return err;
	}
	err = pcap_read_header(f, path, &swap);
	while (!err) {
		struct pcap_pkt pkt;

		err = pcap_read_record(f, path, swap, pf->n, &pkt);
		if (err <= 0)
			break;
		err = 0;
		if (pf->n == cap) {
			struct pcap_pkt *p;

			cap = cap ? cap * 2 : 64;
			p = realloc(pf->pkts, cap * sizeof(*p));
			if (!p) {
				free(pkt.data);
				err = -ENOMEM;
				break;
			}
			pf->pkts = p;
		}
		pf->pkts[pf->n++] = pkt;
	}
	fclose(f);
	if (err)
		pcap_free(pf);
	return err;
}

int pcap_write(const char *path, const struct pcap_pkt *pkts, unsigned int n)
{
	uint8_t h[24] = {0};
	FILE *f = fopen(path, "wb");
	int err = 0;

	if (!f) {
		err = -errno;
		fprintf(stderr, "%s: %s\n", path, strerror(-err));
		return err;
	}
	wr32(h, PCAP_MAGIC_US);
	h[4] = 2; /* version 2.4 */
	h[6] = 4;
	wr32(h + 16, 65535);
	wr32(h + 20, PCAP_LINKTYPE_ETHER);
	if (fwrite(h, 1, sizeof(h), f) != sizeof(h))
		err = -EIO;
	for (unsigned int i = 0; i < n && !err; i++) {
		uint8_t r[16] = {0};

		wr32(r + 8, pkts[i].len);
		wr32(r + 12, pkts[i].len);
		if (fwrite(r, 1, sizeof(r), f) != sizeof(r) ||
		    fwrite(pkts[i].data, 1, pkts[i].len, f) != pkts[i].len)
			err = -EIO;
	}
	if (fclose(f) && !err)
		err = -EIO;
	if (err)
		fprintf(stderr, "%s: write failed: %s\n", path, strerror(-err));
	return err;
}

void pcap_free(struct pcap_file *pf)
{
	for (unsigned int i = 0; i < pf->n; i++)
		free(pf->pkts[i].data);
	free(pf->pkts);
	pf->pkts = NULL;
	pf->n = 0;
}

/* ---- loading ------------------------------------------------------------------------- */

int harness_unpin_maps(struct bpf_object *obj)
{
	struct bpf_map *map;

	bpf_object__for_each_map(map, obj)
	{
		int err = bpf_map__set_pin_path(map, NULL);

		if (err) {
			fprintf(stderr, "clearing the pin path of map '%s': %s\n",
			        bpf_map__name(map), strerror(-err));
			return err;
		}
	}
	return 0;
}

/* ---- running one frame --------------------------------------------------------------- */

int harness_xdp_run(int prog_fd, uint32_t ifindex, const void *frame, uint32_t len,
                    struct xdp_result *res)
{
	struct xdp_md ctx_in = {.data_end = len, .ingress_ifindex = ifindex};
	struct xdp_md ctx_out = {};
	uint8_t out[HARNESS_MAX_FRAME + 64];
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = frame, .data_size_in = len, .data_out = out,
	            .data_size_out = sizeof(out), .ctx_in = &ctx_in, .ctx_size_in = sizeof(ctx_in),
	            .ctx_out = &ctx_out, .ctx_size_out = sizeof(ctx_out), .repeat = 1);
	int err;

	if (len > HARNESS_MAX_FRAME) {
		fprintf(stderr,
		        "a %u-byte frame is over the harness's %u: raise "
		        "HARNESS_MAX_FRAME\n",
		        len, HARNESS_MAX_FRAME);
		return -E2BIG;
	}
	err = bpf_prog_test_run_opts(prog_fd, &opts);
	if (err) {
		err = -errno;
		/* The kernel runs XDP only on frames of at least an Ethernet header. */
		if (err == -EINVAL && len < ETH_HLEN)
			return err;
		fprintf(stderr, "BPF_PROG_TEST_RUN of a %u-byte frame on ifindex %u: %s%s\n", len,
		        ifindex, strerror(-err),
		        err == -EPERM ? " (run the BPF tests as root)" : "");
		return err;
	}
	/* data_out holds the metadata, if any, then the whole frame (fragments included). */
	if (ctx_out.data > opts.data_size_out ||
	    opts.data_size_out - ctx_out.data > sizeof(res->out)) {
		fprintf(stderr,
		        "the program left a %u-byte frame, over the harness's %u: raise "
		        "HARNESS_MAX_FRAME\n",
		        opts.data_size_out - ctx_out.data, HARNESS_MAX_FRAME);
		return -EOVERFLOW;
	}
	res->retval = opts.retval;
	res->out_len = opts.data_size_out - ctx_out.data;
	memcpy(res->out, out + ctx_out.data, res->out_len);
	return 0;
}

int harness_tc_run(int prog_fd, uint32_t ifindex, const void *frame, uint32_t len,
                   struct xdp_result *res)
{
	struct __sk_buff ctx = {.ifindex = ifindex};
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = frame, .data_size_in = len,
	            .data_out = res->out, .data_size_out = sizeof(res->out), .ctx_in = &ctx,
	            .ctx_size_in = sizeof(ctx), .repeat = 1);
	int err;

	if (len > HARNESS_MAX_FRAME) {
		fprintf(stderr,
		        "a %u-byte frame is over the harness's %u: raise HARNESS_MAX_FRAME\n", len,
		        HARNESS_MAX_FRAME);
		return -E2BIG;
	}
	err = bpf_prog_test_run_opts(prog_fd, &opts);
	if (err) {
		err = -errno;
		if (err == -EINVAL && len < ETH_HLEN)
			return err;
		fprintf(stderr, "BPF_PROG_TEST_RUN (tc) of a %u-byte frame on ifindex %u: %s%s\n",
		        len, ifindex, strerror(-err),
		        err == -EPERM ? " (run the BPF tests as root)" : "");
		return err;
	}
	res->retval = HARNESS_TC((int)opts.retval);
	res->out_len = opts.data_size_out;
	return 0;
}

/* ---- frames built by a test ---------------------------------------------------------- */

uint32_t harness_csum_add(uint32_t sum, const void *p, size_t n)
{
	const uint8_t *b = p;

	for (size_t i = 0; i + 1 < n; i += 2)
		sum += (uint32_t)b[i] << 8 | b[i + 1];
	if (n & 1)
		sum += (uint32_t)b[n - 1] << 8;
	return sum;
}

uint16_t harness_csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)sum;
}

/* ---- expectation files --------------------------------------------------------------- */

static const char *const action_names[] = {
        [XDP_ABORTED] = "XDP_ABORTED", [XDP_DROP] = "XDP_DROP",         [XDP_PASS] = "XDP_PASS",
        [XDP_TX] = "XDP_TX",           [XDP_REDIRECT] = "XDP_REDIRECT",
};

/* TC verdicts, by TC_ACT_* value (linux/pkt_cls.h). */
static const char *const tc_action_names[] = {
        [0] = "TC_ACT_OK",
        [2] = "TC_ACT_SHOT",
        [7] = "TC_ACT_REDIRECT",
};

#define NAMES(a) (int)(sizeof(a) / sizeof((a)[0]))

const char *harness_action_name(int action)
{
	if (action == HARNESS_REFUSED)
		return "REFUSED";
	if (action >= HARNESS_TC(0) && action < HARNESS_TC(NAMES(tc_action_names)))
		return tc_action_names[action - HARNESS_TC(0)];
	if (action < 0 || action >= NAMES(action_names))
		return NULL;
	return action_names[action];
}

int harness_action_parse(const char *name)
{
	if (!strcmp(name, "REFUSED"))
		return HARNESS_REFUSED;
	for (int i = 0; i < NAMES(action_names); i++)
		if (action_names[i] && !strcmp(action_names[i], name))
			return i;
	for (int i = 0; i < NAMES(tc_action_names); i++)
		if (tc_action_names[i] && !strcmp(tc_action_names[i], name))
			return HARNESS_TC(i);
	return HARNESS_ACTION_UNKNOWN;
}

static const char *action_str(int action)
{
	const char *s = harness_action_name(action);

	return s ? s : "an unknown action";
}

const char *harness_fixture_dir(void)
{
	const char *dir = getenv("EDGED_FIXTURES");

	return dir && *dir ? dir : "traffic/fixtures";
}

void fixture_report(const struct fixture_line *fl, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s:%u: packet %u (%s): ", fl->file, fl->lineno, fl->index, fl->how);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static char *trim(char *s)
{
	char *end;

	while (isspace((unsigned char)*s))
		s++;
	end = s + strlen(s);
	while (end > s && isspace((unsigned char)end[-1]))
		*--end = '\0';
	return s;
}

/* Parses "out=N" / "xfail=BUG"; returns false on anything else. */
static bool parse_option(struct fixture_line *fl, const char *tok)
{
	char *end;

	if (!strncmp(tok, "out=", 4)) {
		long v = strtol(tok + 4, &end, 10);

		if (end == tok + 4 || *end || v < 0 || v > INT_MAX)
			return false;
		fl->out = v;
		return true;
	}
	if (!strncmp(tok, "xfail=", 6) && tok[6] && strlen(tok + 6) < sizeof(fl->xfail)) {
		strcpy(fl->xfail, tok + 6);
		return true;
	}
	return false;
}

/* Parses one non-empty, non-comment line: <index> <action> <stage> [out=N] [xfail=BUG] */
static bool parse_line(char *line, struct fixture_line *fl)
{
	char *hash = strchr(line, '#');
	char *tok, *save, *end;
	long idx;

	fl->how[0] = '\0';
	if (hash) {
		*hash = '\0';
		snprintf(fl->how, sizeof(fl->how), "%s", trim(hash + 1));
	}
	fl->out = -1;
	fl->xfail[0] = '\0';

	tok = strtok_r(line, " \t", &save);
	idx = tok ? strtol(tok, &end, 10) : -1;
	if (!tok || *end || idx < 0 || idx > INT_MAX)
		return false;
	fl->index = idx;
	tok = strtok_r(NULL, " \t", &save);
	if (!tok || (fl->action = harness_action_parse(tok)) == HARNESS_ACTION_UNKNOWN)
		return false;
	tok = strtok_r(NULL, " \t", &save);
	if (!tok || strlen(tok) >= sizeof(fl->stage))
		return false;
	strcpy(fl->stage, tok);
	while ((tok = strtok_r(NULL, " \t", &save)))
		if (!parse_option(fl, tok))
			return false;
	if (!fl->how[0])
		snprintf(fl->how, sizeof(fl->how), "no comment");
	return true;
}

struct expect_file {
	unsigned int n;
	struct fixture_line *lines;
};

/* Reads every line of an expectation file; `file` must outlive the result. */
static int expect_read(const char *file, struct expect_file *ef)
{
	unsigned int cap = 0, lineno = 0;
	char buf[512];
	FILE *f;
	int err = 0;

	memset(ef, 0, sizeof(*ef));
	f = fopen(file, "r");
	if (!f) {
		err = -errno;
		fprintf(stderr, "%s: %s: %s\n", file, strerror(-err), MISSING_HINT);
		return err;
	}
	while (!err && fgets(buf, sizeof(buf), f)) {
		struct fixture_line fl = {.file = file};
		char *s = trim(buf);

		fl.lineno = ++lineno;

		if (!*s || *s == '#')
			continue;
		if (!parse_line(s, &fl)) {
			fprintf(stderr,
			        "%s:%u: expected '<index> <XDP_action|REFUSED> <stage> "
			        "[out=N] [xfail=BUG]  # how it was made'\n",
			        file, lineno);
			err = -EINVAL;
			break;
		}
		if (ef->n == cap) {
			struct fixture_line *p;

			cap = cap ? cap * 2 : 64;
			p = realloc(ef->lines, cap * sizeof(*p));
			if (!p) {
				err = -ENOMEM;
				break;
			}
			ef->lines = p;
		}
		ef->lines[ef->n++] = fl;
	}
	fclose(f);
	if (err) {
		free(ef->lines);
		ef->lines = NULL;
	}
	return err;
}

/* Every packet described exactly once, every output index present. */
static int expect_check(const struct expect_file *ef, const char *set, unsigned int npkts,
                        unsigned int nouts)
{
	unsigned char *seen = calloc(npkts ? npkts : 1, 1);
	int err = 0;

	if (!seen)
		return -ENOMEM;
	for (unsigned int i = 0; i < ef->n; i++) {
		const struct fixture_line *fl = &ef->lines[i];

		if (fl->index >= npkts || seen[fl->index]++) {
			fprintf(stderr, "%s:%u: packet %u %s in %s.pcap (%u packets): %s\n",
			        fl->file, fl->lineno, fl->index,
			        fl->index >= npkts ? "is not" : "is described twice", set, npkts,
			        REGEN_HINT);
			err = -EINVAL;
		} else if (fl->out >= 0 && (unsigned int)fl->out >= nouts) {
			fprintf(stderr, "%s:%u: out=%d, but %s.out.pcap has %u packets: %s\n",
			        fl->file, fl->lineno, fl->out, set, nouts, REGEN_HINT);
			err = -EINVAL;
		}
	}
	for (unsigned int i = 0; i < npkts && !err; i++) {
		if (!seen[i]) {
			fprintf(stderr, "%s.pcap: packet %u has no line in %s.expect: %s\n", set, i,
			        set, REGEN_HINT);
			err = -EINVAL;
		}
	}
	free(seen);
	return err;
}

/* ---- hex dump ------------------------------------------------------------------------ */

#define DUMP_ROW 16
/* Width of one row of bytes: "xx" and a space between each. */
#define DUMP_WIDTH (DUMP_ROW * 3 - 1)

static void dump_row(const uint8_t *p, uint32_t len, uint32_t off, bool pad)
{
	int n = 0;

	for (uint32_t i = off; i < off + DUMP_ROW && i < len; i++)
		n += fprintf(stderr, i == off ? "%02x" : " %02x", p[i]);
	if (pad)
		fprintf(stderr, "%*s", DUMP_WIDTH - n, "");
}

static bool byte_differs(const uint8_t *a, uint32_t alen, const uint8_t *b, uint32_t blen,
                         uint32_t i)
{
	return (i < alen) != (i < blen) || (i < alen && a[i] != b[i]);
}

static bool row_differs(const uint8_t *a, uint32_t alen, const uint8_t *b, uint32_t blen,
                        uint32_t off)
{
	for (uint32_t i = off; i < off + DUMP_ROW; i++)
		if (byte_differs(a, alen, b, blen, i))
			return true;
	return false;
}

/* Carets under the bytes that differ, in the "got" column. */
static void dump_carets(const uint8_t *a, uint32_t alen, const uint8_t *b, uint32_t blen,
                        uint32_t off)
{
	uint32_t last = off;

	for (uint32_t i = off; i < off + DUMP_ROW; i++)
		if (byte_differs(a, alen, b, blen, i))
			last = i;
	fprintf(stderr, "%*s", 14 + DUMP_WIDTH + 2, "");
	for (uint32_t i = off; i <= last; i++) {
		if (i > off)
			fputc(' ', stderr);
		fputs(byte_differs(a, alen, b, blen, i) ? "^^" : "  ", stderr);
	}
	fputc('\n', stderr);
}

void harness_hexdump_diff(const uint8_t *want, uint32_t want_len, const uint8_t *got,
                          uint32_t got_len)
{
	uint32_t max = want_len > got_len ? want_len : got_len;
	bool skipped = false;

	fprintf(stderr, "      offset  %-*s  got\n", DUMP_WIDTH, "expected");
	for (uint32_t off = 0; off < max; off += DUMP_ROW) {
		bool diff = row_differs(want, want_len, got, got_len, off);
		/* Rows next to a difference give the context; long equal runs are elided. */
		bool near = diff ||
		            (off >= DUMP_ROW &&
		             row_differs(want, want_len, got, got_len, off - DUMP_ROW)) ||
		            row_differs(want, want_len, got, got_len, off + DUMP_ROW);

		if (!near && max > 8 * DUMP_ROW) {
			if (!skipped)
				fputs("      ...\n", stderr);
			skipped = true;
			continue;
		}
		skipped = false;
		fprintf(stderr, "    %c %04x    ", diff ? '!' : ' ', off);
		dump_row(want, want_len, off, true);
		fputs("  ", stderr);
		if (diff)
			dump_row(got, got_len, off, false);
		else
			fputs("(same)", stderr);
		fputc('\n', stderr);
		if (diff)
			dump_carets(want, want_len, got, got_len, off);
	}
}

/* ---- the runner ---------------------------------------------------------------------- */

struct fixture_set {
	char pcap[PATH_MAX], expect[PATH_MAX], out[PATH_MAX];
	struct pcap_file in, outs;
	struct expect_file ef;
};

static void fixture_set_free(struct fixture_set *fs)
{
	pcap_free(&fs->in);
	pcap_free(&fs->outs);
	free(fs->ef.lines);
}

static int fixture_set_load(struct fixture_set *fs, const char *dir, const char *set)
{
	bool want_out = false;
	int err;

	snprintf(fs->pcap, sizeof(fs->pcap), "%s/%s.pcap", dir, set);
	snprintf(fs->expect, sizeof(fs->expect), "%s/%s.expect", dir, set);
	snprintf(fs->out, sizeof(fs->out), "%s/%s.out.pcap", dir, set);
	err = pcap_read(fs->pcap, &fs->in);
	if (!err)
		err = expect_read(fs->expect, &fs->ef);
	for (unsigned int i = 0; !err && i < fs->ef.n; i++)
		want_out |= fs->ef.lines[i].out >= 0;
	if (!err && want_out)
		err = pcap_read(fs->out, &fs->outs);
	if (!err)
		err = expect_check(&fs->ef, set, fs->in.n, fs->outs.n);
	return err;
}

enum outcome { OUTCOME_OK, OUTCOME_MISMATCH, OUTCOME_KNOWN_BUG };

/* The packet's own verdict: action, output bytes, then the program's checks. */
static enum outcome judge(const struct fixture_line *fl, const struct pcap_pkt *in,
                          const struct pcap_pkt *want, const struct xdp_result *res,
                          const struct fixture_hooks *hooks)
{
	bool action_ok = res->retval == fl->action;
	/* A refused frame has no output to compare. */
	bool out_ok = res->retval == HARNESS_REFUSED ||
	              (res->out_len == want->len && !memcmp(res->out, want->data, want->len));

	if (fl->xfail[0]) {
		if (!action_ok || !out_ok) {
			fixture_report(fl, "known bug '%s': got %s", fl->xfail,
			               action_str(res->retval));
			return OUTCOME_KNOWN_BUG;
		}
		fixture_report(fl,
		               "known bug '%s' no longer shows (got %s as it should): remove "
		               "xfail=%s from this case in traffic/fixtures/gen.py",
		               fl->xfail, action_str(res->retval), fl->xfail);
		return OUTCOME_MISMATCH;
	}
	if (!action_ok) {
		fixture_report(fl, "expected %s (stage %s), got %s", action_str(fl->action),
		               fl->stage, action_str(res->retval));
		return OUTCOME_MISMATCH;
	}
	if (!out_ok) {
		fixture_report(fl,
		               "%s as expected, but the output frame differs from %s "
		               "(expected %u bytes, got %u)",
		               action_str(res->retval),
		               fl->out >= 0 ? "the .out.pcap's" : "the input", want->len,
		               res->out_len);
		harness_hexdump_diff(want->data, want->len, res->out, res->out_len);
		return OUTCOME_MISMATCH;
	}
	if (hooks && hooks->check && !hooks->check(hooks->arg, fl, in, res))
		return OUTCOME_MISMATCH;
	return OUTCOME_OK;
}

static int run_fixtures(const char *dir, int prog_fd, uint32_t ifindex, const char *set,
                        const struct fixture_hooks *hooks, bool tc)
{
	struct fixture_set *fs = calloc(1, sizeof(*fs));
	struct xdp_result *res = malloc(sizeof(*res));
	unsigned int bad = 0, known = 0;
	int err = 0;

	if (!fs || !res) {
		err = -ENOMEM;
		goto out;
	}
	err = fixture_set_load(fs, dir, set);
	for (unsigned int i = 0; !err && i < fs->ef.n; i++) {
		const struct fixture_line *fl = &fs->ef.lines[i];
		const struct pcap_pkt *in = &fs->in.pkts[fl->index];
		const struct pcap_pkt *want = fl->out >= 0 ? &fs->outs.pkts[fl->out] : in;

		if (hooks && hooks->before)
			hooks->before(hooks->arg, fl);
		err = tc ? harness_tc_run(prog_fd, ifindex, in->data, in->len, res)
		         : harness_xdp_run(prog_fd, ifindex, in->data, in->len, res);
		if (err == -EINVAL && in->len < ETH_HLEN) {
			err = 0;
			res->retval = HARNESS_REFUSED;
			res->out_len = 0;
		}
		if (err)
			break;
		switch (judge(fl, in, want, res, hooks)) {
		case OUTCOME_MISMATCH:
			bad++;
			break;
		case OUTCOME_KNOWN_BUG:
			known++;
			break;
		case OUTCOME_OK:
			break;
		}
	}
	if (!err)
		fprintf(stderr, "%s: %u packets, %u not as expected, %u known bugs (xfail)\n", set,
		        fs->ef.n, bad, known);
out:
	if (fs)
		fixture_set_free(fs);
	free(fs);
	free(res);
	return err ? err : (int)bad;
}

int harness_run_fixtures_in(const char *dir, int prog_fd, uint32_t ifindex, const char *set,
                            const struct fixture_hooks *hooks)
{
	return run_fixtures(dir, prog_fd, ifindex, set, hooks, false);
}

int harness_run_fixtures_tc(int prog_fd, uint32_t ifindex, const char *set,
                            const struct fixture_hooks *hooks)
{
	return run_fixtures(harness_fixture_dir(), prog_fd, ifindex, set, hooks, true);
}

int harness_run_fixtures(int prog_fd, uint32_t ifindex, const char *set,
                         const struct fixture_hooks *hooks)
{
	return harness_run_fixtures_in(harness_fixture_dir(), prog_fd, ifindex, set, hooks);
}

/* ---- a network namespace of the test's own -------------------------------------------- */

int harness_sh(const char *cmd)
{
	char buf[300];

	snprintf(buf, sizeof(buf), "%s >/dev/null 2>&1", cmd);
	return system(buf) ? -1 : 0;
}

int harness_sh_all(const char *who, const char *const *cmds, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (harness_sh(cmds[i])) {
			fprintf(stderr, "%s: `%s` failed\n", who, cmds[i]);
			return -1;
		}
	return 0;
}

int harness_netns_enter(const char *who)
{
	if (unshare(CLONE_NEWNET)) {
		fprintf(stderr, "%s: unshare(CLONE_NEWNET): %s (run as root)\n", who,
		        strerror(errno));
		return -1;
	}
	if (harness_sh("ip link set lo up")) {
		fprintf(stderr, "%s: `ip link set lo up` failed (iproute2 needed)\n", who);
		return -1;
	}
	return 0;
}

int harness_sysctls(const char *who, const char *const (*sysctls)[2], size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (sysctl_write(sysctls[i][0], sysctls[i][1])) {
			fprintf(stderr, "%s: cannot write %s\n", who, sysctls[i][0]);
			return -1;
		}
	return 0;
}

int harness_veths(const char *who, const char *no_veth_env, const char *const *cmds, size_t n,
                  bool *made)
{
	*made = !getenv(no_veth_env) && harness_sh(cmds[0]) == 0;
	return *made ? harness_sh_all(who, cmds + 1, n - 1) : 0;
}

/* ---- edged's counters ---------------------------------------------------------------- */

/* Per-CPU map values are laid out one per possible CPU, each rounded up to 8 bytes. */
#define PERCPU_STRIDE(sz) (((sz) + 7) & ~(size_t)7)

static int zero_percpu(int map_fd, uint32_t key, size_t value_size)
{
	int ncpu = libbpf_num_possible_cpus();
	void *vals;
	int err;

	if (ncpu < 0)
		return ncpu;
	vals = calloc(ncpu, PERCPU_STRIDE(value_size));
	if (!vals)
		return -ENOMEM;
	err = bpf_map_update_elem(map_fd, &key, vals, BPF_ANY) ? -errno : 0;
	free(vals);
	return err;
}

int harness_uplink_register(int slots_fd, int stats_fd, uint32_t ifindex, uint32_t slot)
{
	int err = zero_percpu(stats_fd, slot, sizeof(struct edge_uplink_stats));

	if (!err && bpf_map_update_elem(slots_fd, &ifindex, &slot, BPF_ANY))
		err = -errno;
	if (err)
		fprintf(stderr, "registering ifindex %u in slot %u: %s\n", ifindex, slot,
		        strerror(-err));
	return err;
}

int harness_dos_active(int active_fd, uint32_t word)
{
	uint32_t zero = 0;

	if (bpf_map_update_elem(active_fd, &zero, &word, BPF_ANY)) {
		fprintf(stderr, "writing dos_active: %s\n", strerror(errno));
		return -errno;
	}
	return 0;
}

int harness_uplink_stats_read(int map_fd, uint32_t slot, struct edge_uplink_stats *sum)
{
	size_t stride = PERCPU_STRIDE(sizeof(*sum));
	int ncpu = libbpf_num_possible_cpus();
	uint8_t *vals;
	int err;

	memset(sum, 0, sizeof(*sum));
	if (ncpu < 0)
		return ncpu;
	vals = calloc(ncpu, stride);
	if (!vals)
		return -ENOMEM;
	err = bpf_map_lookup_elem(map_fd, &slot, vals) ? -errno : 0;
	for (int cpu = 0; !err && cpu < ncpu; cpu++) {
		const struct edge_uplink_stats *v = (const void *)(vals + cpu * stride);

		for (int s = 0; s < EDGE_NSTAGES; s++) {
			for (int d = 0; d < EDGE_NVERDICTS; d++) {
				sum->c[s][d].packets += v->c[s][d].packets;
				sum->c[s][d].bytes += v->c[s][d].bytes;
			}
		}
	}
	free(vals);
	return err;
}

int harness_verdict_of_action(int action)
{
	switch (action) {
	case XDP_PASS:
		return EDGE_VERDICT_PASS;
	case XDP_DROP:
		return EDGE_VERDICT_DROP;
	case XDP_TX:
		return EDGE_VERDICT_TX;
	case XDP_REDIRECT:
		return EDGE_VERDICT_REDIRECT;
	default:
		return EDGE_VERDICT_ABORTED;
	}
}

int harness_stage_parse(const char *name)
{
	for (int s = 0; s < EDGE_NSTAGES; s++)
		if (!strcmp(datapath_stage_name(s), name))
			return s;
	return -1;
}

bool harness_uplink_moved_once(const struct fixture_line *fl,
                               const struct edge_uplink_stats *before,
                               const struct edge_uplink_stats *after, int stage, int verdict,
                               uint32_t len)
{
	bool ok = true;

	for (int s = 0; s < EDGE_NSTAGES; s++)
		for (int v = 0; v < EDGE_NVERDICTS; v++) {
			bool this = s == stage && v == verdict;
			uint64_t dp = after->c[s][v].packets - before->c[s][v].packets;
			uint64_t db = after->c[s][v].bytes - before->c[s][v].bytes;

			if (dp == (this ? 1 : 0) && db == (this ? len : 0))
				continue;
			fixture_report(fl,
			               "counter %s/%s moved by %llu packets, %llu bytes; "
			               "expected %u and %u",
			               datapath_stage_name(s), datapath_verdict_name(v),
			               (unsigned long long)dp, (unsigned long long)db, this ? 1 : 0,
			               this ? len : 0);
			ok = false;
		}
	return ok;
}

void harness_uplink_snapshot(void *arg, const struct fixture_line *fl)
{
	struct harness_uplink_check *uc = arg;

	(void)fl;
	harness_uplink_stats_read(uc->stats_fd, uc->slot, &uc->before);
}

bool harness_uplink_check_stage(struct harness_uplink_check *uc, const struct fixture_line *fl,
                                const char *stage, const struct pcap_pkt *in,
                                const struct xdp_result *res)
{
	bool refused = res->retval == HARNESS_REFUSED;
	int s = refused ? -1 : harness_stage_parse(stage);
	struct edge_uplink_stats after;
	int err;

	if (!refused && s < 0) {
		fixture_report(fl, "unknown stage '%s' (parse, dos, transit, egress, lb or end)",
		               stage);
		return false;
	}
	err = harness_uplink_stats_read(uc->stats_fd, uc->slot, &after);
	if (err) {
		fixture_report(fl, "reading uplink_stats[%u]: %s", uc->slot, strerror(-err));
		return false;
	}
	return harness_uplink_moved_once(fl, &uc->before, &after, s,
	                                 harness_verdict_of_action(res->retval), in->len);
}

bool harness_uplink_check(void *uc, const struct fixture_line *fl, const struct pcap_pkt *in,
                          const struct xdp_result *res)
{
	return harness_uplink_check_stage(uc, fl, fl->stage, in, res);
}
