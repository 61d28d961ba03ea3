/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Growable arrays. Two ways to use one helper:
 *  - a VEC(T) member: vec_push(&s->items, x), s->items.v[i], s->items.n;
 *  - an existing pointer/count/capacity trio:
 *	if (vec_grow((void **)&p->a, &p->cap, p->n + 1, sizeof(*p->a))) ...
 * Capacity doubles from 8; every size computation is overflow-checked.
 * Failures are -ENOMEM and leave the array as it was.
 */
#ifndef FERRY_CORE_VEC_H
#define FERRY_CORE_VEC_H

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>

/* Make room for at least `need` elements of `size` bytes in *arr. */
int vec_grow(void **arr, size_t *cap, size_t need, size_t size);

#define VEC(T) struct { T *v; size_t n, cap; }

#define vec_reserve(vec, need) \
	vec_grow((void **)&(vec)->v, &(vec)->cap, (need), sizeof(*(vec)->v))
/* 0, or -ENOMEM with the vector unchanged. */
#define vec_push(vec, x) \
	(vec_reserve((vec), (vec)->n + 1) ? -ENOMEM : ((vec)->v[(vec)->n++] = (x), 0))
#define vec_free(vec) do { free((vec)->v); (vec)->v = NULL; (vec)->n = (vec)->cap = 0; } while (0)

/* qsort for any count. An empty array's pointer is often NULL, which
 * qsort's base may not be even for 0 elements (undefined behaviour: the
 * sanitizer build aborts); fewer than two need no sorting anyway. */
static inline void vec_sort(void *base, size_t n, size_t size,
			    int (*cmp)(const void *, const void *))
{
	if (n > 1)
		qsort(base, n, size, cmp);
}

#endif
