/* SPDX-License-Identifier: GPL-2.0-or-later */
/* core/hash.h, core/vec.h, core/file.h, core/nlframe.h: the small shared toolkit. */
#include "core/file.h"
#include "core/hash.h"
#include "core/nlframe.h"
#include "core/vec.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/netlink.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- hash table ---- */

void htab_free(struct htab *t)
{
	free(t->b);
	t->b = NULL;
	t->n_buckets = t->count = 0;
}

static void htab_rehash(struct htab *t, size_t n)
{
	struct hnode **nb = calloc(n, sizeof(*nb));

	if (!nb)
		return;		/* keep the old buckets: longer chains, still correct */
	for (size_t i = 0; i < t->n_buckets; i++) {
		for (struct hnode *e = t->b[i], *nx; e; e = nx) {
			nx = e->next;
			e->next = nb[e->hash & (n - 1)];
			nb[e->hash & (n - 1)] = e;
		}
	}
	free(t->b);
	t->b = nb;
	t->n_buckets = n;
}

int htab_add(struct htab *t, struct hnode *n, uint64_t hash)
{
	if (!t->n_buckets) {
		htab_rehash(t, 64);
		if (!t->n_buckets)
			return -ENOMEM;
	} else if (t->count >= t->n_buckets && t->n_buckets < (SIZE_MAX / sizeof(*t->b)) / 2) {
		htab_rehash(t, t->n_buckets * 2);
	}
	n->hash = hash;
	n->next = t->b[hash & (t->n_buckets - 1)];
	t->b[hash & (t->n_buckets - 1)] = n;
	t->count++;
	return 0;
}

void htab_del(struct htab *t, struct hnode *n)
{
	if (!t->n_buckets)
		return;
	for (struct hnode **pp = &t->b[n->hash & (t->n_buckets - 1)]; *pp; pp = &(*pp)->next) {
		if (*pp == n) {
			*pp = n->next;
			n->next = NULL;
			t->count--;
			return;
		}
	}
}

struct hnode *htab_first(const struct htab *t, uint64_t hash)
{
	struct hnode *e;

	if (!t->n_buckets)
		return NULL;
	for (e = t->b[hash & (t->n_buckets - 1)]; e && e->hash != hash; e = e->next)
		;
	return e;
}

struct hnode *htab_next(const struct hnode *n, uint64_t hash)
{
	struct hnode *e;

	for (e = n->next; e && e->hash != hash; e = e->next)
		;
	return e;
}

/* ---- growable arrays ---- */

int vec_grow(void **arr, size_t *cap, size_t need, size_t size)
{
	size_t n = *cap ? *cap : 8;
	void *p;

	if (need <= *cap)
		return 0;
	while (n < need) {
		if (n > SIZE_MAX / 2)
			return -ENOMEM;
		n *= 2;
	}
	if (size && n > SIZE_MAX / size)
		return -ENOMEM;
	p = realloc(*arr, n * size);
	if (!p)
		return -ENOMEM;
	*arr = p;
	*cap = n;
	return 0;
}

/* ---- files ---- */

int file_read(const char *path, size_t max, char **out, size_t *len)
{
	int fd = strcmp(path, "-") ? open(path, O_RDONLY | O_CLOEXEC) : STDIN_FILENO;
	char *buf = NULL;
	size_t n = 0, cap = 0;
	int err = 0;

	if (fd < 0)
		return -errno;
	for (;;) {
		ssize_t r;

		if (n + 1 >= cap && vec_grow((void **)&buf, &cap, n + 4096, 1)) {
			err = -ENOMEM;
			break;
		}
		r = read(fd, buf + n, cap - n - 1);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			err = -errno;
			break;
		}
		if (r == 0)
			break;
		n += (size_t)r;
		if (n > max) {
			err = -EFBIG;
			break;
		}
	}
	if (fd != STDIN_FILENO)
		close(fd);
	if (err) {
		free(buf);
		return err;
	}
	if (!buf && !(buf = malloc(1)))
		return -ENOMEM;
	buf[n] = '\0';
	*out = buf;
	if (len)
		*len = n;
	return 0;
}

/* ---- netlink frames ---- */

int nl_errno(void)
{
	return errno > 0 && errno < 4096 ? -errno : -EPROTO;
}

bool nl_frames_ok(const void *buf, size_t len)
{
	const unsigned char *p = buf;

	while (len >= sizeof(struct nlmsghdr)) {
		struct nlmsghdr h;
		size_t step;

		memcpy(&h, p, sizeof(h));
		if (h.nlmsg_len < sizeof(h) || h.nlmsg_len > len)
			return false;
		step = NLMSG_ALIGN((size_t)h.nlmsg_len);
		if (step >= len)
			return true;
		p += step;
		len -= step;
	}
	return true;
}
