// SPDX-License-Identifier: GPL-2.0
/*
 * edged's command line: run (see daemon.c), --check a config, --teardown an instance.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/libbpf.h>

#include "ctl_client.h"
#include "edged.h"
#include "log.h"
#include "transit_customers.h"

struct options {
	const char *config;
	bool check;
	bool teardown;
};

static const struct option long_options[] = {
        {"config", required_argument, NULL, 'c'},
        {"check", no_argument, NULL, 'C'},
        {"teardown", no_argument, NULL, 'T'},
        {"verbose", no_argument, NULL, 'v'},
        {"version", no_argument, NULL, 'V'},
        {"help", no_argument, NULL, 'h'},
        {},
};

static void usage(FILE *f)
{
	fprintf(f,
	        "usage: edged -c FILE            run (foreground; SIGHUP reloads)\n"
	        "       edged --check -c FILE    validate FILE, print every error, exit 1 if any\n"
	        "       edged --teardown -c FILE detach and unpin everything of FILE's instance\n"
	        "options: -v/--verbose (debug logs), -V/--version, -h/--help\n");
}

static int parse_options(int argc, char **argv, struct options *o)
{
	int c;

	while ((c = getopt_long(argc, argv, "c:vVh", long_options, NULL)) != -1) {
		switch (c) {
		case 'c':
			o->config = optarg;
			break;
		case 'C':
			o->check = true;
			break;
		case 'T':
			o->teardown = true;
			break;
		case 'v':
			log_set_level(LOG_LVL_DEBUG);
			break;
		case 'V':
			printf("edged %s\n", EDGED_VERSION);
			exit(0);
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			return -1;
		}
	}
	if (!o->config || optind != argc) {
		fprintf(stderr, "edged: %s\n",
		        !o->config ? "a config file is needed: -c FILE" : "unexpected argument");
		usage(stderr);
		return -1;
	}
	return 0;
}

static int libbpf_log(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	/* libbpf's info/debug output (the verifier log included) is for `edged -v`. */
	if (level != LIBBPF_WARN && log_get_level() < LOG_LVL_DEBUG)
		return 0;
	return vfprintf(stderr, fmt, ap);
}

/* --teardown: ask a running edged to do it (it holds the links), else remove the pins. */
static int teardown(const char *path)
{
	struct edged_config *cfg = calloc(1, sizeof(*cfg));
	struct config_errors ce = {};
	struct strbuf out = {};
	int err = -1;

	/* No interface check: teardown must work after the uplinks are gone. */
	if (!cfg || config_load(path, 0, cfg, &ce)) {
		for (int i = 0; i < ce.n; i++)
			fprintf(stderr, "%s\n", ce.msgs[i]);
		goto out;
	}
	if (control_request(cfg->control_socket, "text teardown", &out) == 0) {
		/* edged exits after it replied; its unlock is our sign it is done. */
		for (int i = 0; i < 100 && access(cfg->control_socket, F_OK) == 0; i++)
			usleep(50 * 1000);
		fputs(out.buf ? out.buf : "", stdout);
		err = 0;
		goto out;
	}
	err = datapath_teardown(NULL, cfg->instance);
	/* nftables does not live in the pins; only removes a table this instance owns. */
	if (synproxy_teardown(NULL, cfg->instance))
		err = -1;
	if (cfg->fn[FN_DISPATCH].enabled)
		dispatch_teardown_offline(); /* routes and nftables do not live in the pins */
	if (cfg->fn[FN_EGRESS].enabled)
		egress_teardown_offline(cfg);
	/* Always: customers' namespaces outlive an edged stopped with them, whatever FILE says. */
	if (transit_teardown_offline(cfg->instance,
	                             cfg->fn[FN_TRANSIT].enabled ? &cfg->transit : NULL))
		err = -1;
out:
	sb_free(&out);
	config_errors_free(&ce);
	if (cfg)
		config_release(cfg); /* safe after a failed load too: it released already */
	free(cfg);
	return err ? 1 : 0;
}

int main(int argc, char **argv)
{
	struct options o = {};
	struct edged *e;
	int ret = 1;

	if (parse_options(argc, argv, &o))
		return 2;
	libbpf_set_print(libbpf_log);
	if (o.check) {
		struct edged_config *cfg = calloc(1, sizeof(*cfg));
		int err = !cfg || edged_load_config(o.config, cfg, NULL);

		if (!err) {
			printf("%s: ok\n", o.config);
			config_release(cfg);
		}
		free(cfg);
		return err ? 1 : 0;
	}
	if (o.teardown)
		return teardown(o.config);

	e = calloc(1, sizeof(*e));
	if (!e)
		return 1;
	pthread_mutex_init(&e->lock, NULL);
	e->ctl_fd = -1;
	e->dp.lock_fd = -1;
	dos_state_init(&e->dos);
	dispatch_state_init(&e->dispatch);
	lb_state_init(&e->lb);
	egress_share_init(&e->share);
	capture_init(&e->capture);
	e->efd = -1;
	snprintf(e->cfg.path, sizeof(e->cfg.path), "%s", o.config);
	if (edged_start(e, o.config) == 0 && edged_serve(e) == 0)
		ret = 0;
	edged_stop(e);
	pthread_mutex_destroy(&e->lock);
	free(e);
	return ret;
}
