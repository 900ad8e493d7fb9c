// SPDX-License-Identifier: GPL-2.0
/*
 * Named network namespaces (see netns.h), the way iproute2's `ip netns add|del` makes them.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "netns.h"

#ifndef NSFS_MAGIC
#define NSFS_MAGIC 0x6e736673 /* <linux/magic.h> */
#endif

static int ns_path(const char *name, char *buf, size_t len)
{
	if (!*name || strchr(name, '/') ||
	    snprintf(buf, len, "%s/%s", NETNS_RUN_DIR, name) >= (int)len)
		return -EINVAL;
	return 0;
}

/* Bind-mounts the calling thread's (new) namespace on PATH. */
static int pin_current(const char *path)
{
	if (mount("/proc/thread-self/ns/net", path, "none", MS_BIND, NULL))
		return -errno;
	return 0;
}

int netns_create(const char *name)
{
	char path[PATH_MAX];
	int fd, saved, err;

	err = ns_path(name, path, sizeof(path));
	if (err)
		return err;
	if (mkdir(NETNS_RUN_DIR, 0755) && errno != EEXIST)
		return -errno;
	fd = open(path, O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	close(fd);
	saved = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	if (saved < 0) {
		err = -errno;
		unlink(path);
		return err;
	}
	if (unshare(CLONE_NEWNET)) {
		err = -errno;
	} else {
		err = pin_current(path);
		/* Back to where the thread was, whatever happened: the thread serves edged. */
		if (setns(saved, CLONE_NEWNET) && !err)
			err = -errno;
	}
	close(saved);
	if (err) {
		umount2(path, MNT_DETACH);
		unlink(path);
		return err;
	}
	return netns_open(name);
}

int netns_open(const char *name)
{
	char path[PATH_MAX];
	int err = ns_path(name, path, sizeof(path)), fd;
	struct statfs sfs;

	if (err)
		return err;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstatfs(fd, &sfs) || sfs.f_type != NSFS_MAGIC) {
		/* The file is there but nothing is mounted on it: its mount went with the
		 * mount namespace that made it, or with a crash between create and mount. */
		close(fd);
		return -ESTALE;
	}
	return fd;
}

int netns_delete(const char *name)
{
	char path[PATH_MAX];
	int err = ns_path(name, path, sizeof(path));

	if (err)
		return err;
	if (umount2(path, MNT_DETACH) && errno != EINVAL && errno != ENOENT)
		return -errno;
	if (unlink(path) && errno != ENOENT)
		return -errno;
	return 0;
}

int netns_enter(int fd, int *saved)
{
	*saved = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	if (*saved < 0)
		return -errno;
	if (setns(fd, CLONE_NEWNET)) {
		int err = -errno;

		close(*saved);
		*saved = -1;
		return err;
	}
	return 0;
}

void netns_leave(int saved)
{
	if (saved < 0)
		return;
	setns(saved, CLONE_NEWNET);
	close(saved);
}

int netns_list(const char *prefix, void (*fn)(const char *name, void *arg), void *arg)
{
	DIR *d = opendir(NETNS_RUN_DIR);
	struct dirent *de;

	if (!d)
		return errno == ENOENT ? 0 : -errno;
	while ((de = readdir(d)))
		if (strncmp(de->d_name, prefix, strlen(prefix)) == 0)
			fn(de->d_name, arg);
	closedir(d);
	return 0;
}
