/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Named network namespaces as iproute2 keeps them (/run/netns/NAME, a bind mount of the
 * namespace), so that `ip netns exec` and `nsenter --net=/run/netns/NAME` reach what edged
 * creates. Entering one switches only the calling thread (setns), so edged's other threads
 * keep working in edged's own namespace meanwhile.
 */
#ifndef EDGED_NETNS_H
#define EDGED_NETNS_H

#include <stddef.h>

#define NETNS_RUN_DIR "/run/netns"

/* Creates the namespace NAME; returns an open fd of it (O_CLOEXEC) or -errno (-EEXIST when
 * the name is taken). The calling thread stays in its namespace. */
int netns_create(const char *name);
/* An open fd of the namespace NAME, or -errno (-ENOENT; -ESTALE when /run/netns/NAME is a
 * file with no namespace mounted on it, which netns_delete removes). */
int netns_open(const char *name);
/* Unmounts and removes NAME; the namespace goes when its last user (a process, an open fd,
 * a socket) does. Returns 0 or -errno. */
int netns_delete(const char *name);
/* Switches the calling thread into FD's namespace; *SAVED receives an fd of the one it was
 * in, for netns_leave(). Returns 0 or -errno. */
int netns_enter(int fd, int *saved);
/* Back to SAVED (closed). */
void netns_leave(int saved);
/* Calls FN for every name in /run/netns that starts with PREFIX. */
int netns_list(const char *prefix, void (*fn)(const char *name, void *arg), void *arg);

#endif
