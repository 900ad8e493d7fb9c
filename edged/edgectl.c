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
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "ctl_client.h"

#define EDGECTL_RUN_DIR "/run/edged"

static void usage(FILE *f)
{
	fprintf(f, "usage: edgectl [-s SOCKET | -c CONFIG] [-j] COMMAND\n"
	           "commands:\n"
	           "  status     instance, config generation, uplinks and attachments\n"
	           "  stats      packet and byte counters per uplink, stage and verdict\n"
	           "  reload     re-read edged's config; an invalid file changes nothing\n"
	           "  version    edged's version\n"
	           "  teardown   detach and unpin everything, then stop edged\n"
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

	while ((c = getopt_long(argc, argv, "s:c:jh", long_options, NULL)) != -1) {
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

	ret = snprintf(req, sizeof(req), "%s", json ? "json" : "text");
	for (int i = optind; i < argc && ret > 0 && (size_t)ret < sizeof(req); i++)
		ret += snprintf(req + ret, sizeof(req) - ret, " %s", argv[i]);

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
