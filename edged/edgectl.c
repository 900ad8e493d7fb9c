// SPDX-License-Identifier: GPL-2.0
/*
 * edgectl: talks to a running edged over its control socket.
 *
 *   edgectl [-s SOCKET | -c CONFIG] [-j] status|stats|reload|version|teardown
 *
 * The socket is found from -s, else from -c's control_socket, else $EDGED_SOCKET, else the
 * only *.sock under /run/edged/.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "ctl_client.h"

#define EDGECTL_RUN_DIR "/run/edged"

static void usage(FILE *f)
{
	fprintf(f,
	        "usage: edgectl [-s SOCKET | -c CONFIG] [-j] COMMAND\n"
	        "commands:\n"
	        "  status     instance, config generation, uplinks and attachments\n"
	        "  stats      packet and byte counters per uplink, stage and verdict\n"
	        "  reload     re-read edged's config; an invalid file changes nothing\n"
	        "  version    edged's version\n"
	        "  teardown   detach and unpin everything, then stop edged\n"
	        "  dispatch   bindings | services | register SERVICE --pid PID --fd N\n"
	        "  egress     peers | addresses | peer add NAME KEY ADDR[,ADDR] [keepalive S]\n"
	        "             [max_connections N] [snat ADDR] | peer del NAME\n"
	        "  transit    customers | tunnels | rules CUSTOMER | add FILE | remove CUSTOMER\n"
	        "options: -j/--json  JSON instead of tables\n"
	        "         -s/--socket PATH, -c/--config FILE  which edged to talk to\n");
}

/* The only socket under /run/edged, so that a server with one edged needs no flags. */
static int find_socket(char *buf, size_t len)
{
	struct dirent *de;
	int found = 0;
	DIR *dir = opendir(EDGECTL_RUN_DIR);

	if (!dir)
		return 0;
	while ((de = readdir(dir))) {
		size_t n = strlen(de->d_name);

		if (n > 5 && strcmp(de->d_name + n - 5, ".sock") == 0) {
			snprintf(buf, len, "%s/%s", EDGECTL_RUN_DIR, de->d_name);
			found++;
		}
	}
	closedir(dir);
	return found;
}

static int socket_from_config(const char *path, char *buf, size_t len)
{
	struct edged_config *cfg = calloc(1, sizeof(*cfg));
	struct config_errors ce = {};
	int err = -1;

	if (cfg && config_load(path, 0, cfg, &ce) == 0) {
		snprintf(buf, len, "%s", cfg->control_socket);
		config_release(cfg);
		err = 0;
	}
	for (int i = 0; i < ce.n; i++)
		fprintf(stderr, "%s\n", ce.msgs[i]);
	config_errors_free(&ce);
	free(cfg);
	return err;
}

static int resolve_socket(const char *sock, const char *config, char *buf, size_t len)
{
	int n;

	if (sock) {
		snprintf(buf, len, "%s", sock);
		return 0;
	}
	if (config)
		return socket_from_config(config, buf, len);
	if (getenv("EDGED_SOCKET")) {
		snprintf(buf, len, "%s", getenv("EDGED_SOCKET"));
		return 0;
	}
	n = find_socket(buf, len);
	if (n == 1)
		return 0;
	fprintf(stderr, "edgectl: %s under %s: say which edged with -s SOCKET or -c CONFIG\n",
	        n ? "several edged sockets" : "no edged socket", EDGECTL_RUN_DIR);
	return -1;
}

/* Records in a pcap file, for the closing message. */
static long pcap_records(const char *path)
{
	FILE *f = fopen(path, "r");
	unsigned char hdr[16];
	long n = 0;

	if (!f || fseek(f, 24, SEEK_SET)) {
		if (f)
			fclose(f);
		return -1;
	}
	while (fread(hdr, 1, sizeof(hdr), f) == sizeof(hdr)) {
		unsigned int incl =
		        hdr[8] | hdr[9] << 8 | hdr[10] << 16 | (unsigned int)hdr[11] << 24;

		if (fseek(f, incl, SEEK_CUR))
			break;
		n++;
	}
	fclose(f);
	return n;
}

/* edgectl capture: options become the request's key=value words; the pcap goes to -w. */
static int capture(const char *sock, int argc, char **argv)
{
	static const struct option opts[] = {
	        {"verdict", required_argument, NULL, 'v'},
	        {"stage", required_argument, NULL, 'S'},
	        {"rule", required_argument, NULL, 'r'},
	        {"count", required_argument, NULL, 'n'},
	        {"every", required_argument, NULL, 'e'},
	        {"timeout", required_argument, NULL, 't'},
	        {"write", required_argument, NULL, 'w'},
	        {},
	};
	static const char *const keys[128] = {
	        ['v'] = "verdict", ['S'] = "stage", ['r'] = "rule",
	        ['n'] = "count",   ['e'] = "every", ['t'] = "timeout"};
	char req[4096] = "text capture";
	const char *file = NULL;
	struct strbuf err = {};
	int c, fd, ret;

	optind = 1;
	while ((c = getopt_long(argc, argv, "w:", opts, NULL)) != -1) {
		size_t used = strlen(req);

		if (c == 'w')
			file = optarg;
		else if (c > 0 && c < 128 && keys[c])
			snprintf(req + used, sizeof(req) - used, " %s=%s", keys[c], optarg);
		else
			return 2;
	}
	if (!file || optind != argc) {
		fprintf(stderr, "edgectl capture: -w FILE is needed (- for stdout), and no other "
		                "arguments\n");
		return 2;
	}
	fd = strcmp(file, "-") ? open(file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644) : 1;
	if (fd < 0) {
		fprintf(stderr, "edgectl capture: cannot write %s: %s\n", file, strerror(errno));
		return 1;
	}
	ret = control_stream(sock, req, fd, &err);
	if (fd != 1)
		close(fd);
	if (ret < 0)
		fprintf(stderr, "edgectl: no edged answers on %s: %s\n", sock, strerror(-ret));
	else if (ret)
		fputs(err.buf ? err.buf : "capture refused\n", stderr);
	else if (fd != 1)
		fprintf(stderr, "edgectl: %ld packets written to %s\n", pcap_records(file), file);
	sb_free(&err);
	return ret < 0 ? 3 : ret;
}

int main(int argc, char **argv)
{
	static const struct option long_options[] = {
	        {"socket", required_argument, NULL, 's'},
	        {"config", required_argument, NULL, 'c'},
	        {"json", no_argument, NULL, 'j'},
	        {"help", no_argument, NULL, 'h'},
	        {},
	};
	const char *sock = NULL, *config = NULL;
	char path[CONFIG_SOCK_PATH_MAX], req[4096];
	struct strbuf out = {};
	bool json = false;
	int c, ret;

	/* '+': stop at the command, whose own options (capture's) follow it. */
	while ((c = getopt_long(argc, argv, "+s:c:jh", long_options, NULL)) != -1) {
		switch (c) {
		case 's':
			sock = optarg;
			break;
		case 'c':
			config = optarg;
			break;
		case 'j':
			json = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return 2;
	}
	if (resolve_socket(sock, config, path, sizeof(path)))
		return 2;

	if (strcmp(argv[optind], "capture") == 0)
		return capture(path, argc - optind, argv + optind);

	ret = snprintf(req, sizeof(req), "%s", json ? "json" : "text");
	for (int i = optind; i < argc && ret > 0 && (size_t)ret < sizeof(req); i++) {
		char abs[PATH_MAX];
		const char *arg = argv[i];

		/* `transit add FILE`: edged reads the file, from its own working directory. */
		if (i == optind + 2 && strcmp(argv[optind], "transit") == 0 &&
		    strcmp(argv[optind + 1], "add") == 0 && realpath(arg, abs))
			arg = abs;
		ret += snprintf(req + ret, sizeof(req) - ret, " %s", arg);
	}

	ret = control_request(path, req, &out);
	if (ret < 0) {
		fprintf(stderr,
		        "edgectl: no edged answers on %s: %s (is edged running? `edged -c "
		        "FILE`, or `systemctl status edged@INSTANCE`)\n",
		        path, strerror(-ret));
		sb_free(&out);
		return 3;
	}
	fputs(out.buf ? out.buf : "", ret ? stderr : stdout);
	sb_free(&out);
	return ret ? 1 : 0;
}
