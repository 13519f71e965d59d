/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Weighted Maglev (Eisenbud et al., "Maglev: A Fast and Reliable Software
 * Network Load Balancer", NSDI 2016, section 3.4).
 *
 * Every backend gets a permutation of the M slots from two hashes of its id:
 * offset = h1 % M, skip = h2 % (M - 1) + 1; M prime makes every skip coprime
 * with M, so the walk offset, offset + skip, ... visits every slot once.
 * Backends then take turns claiming the next slot of their permutation that
 * is still free, until the table is full.
 *
 * Weights decide how often a backend takes a turn, as Envoy does it: each
 * round, every backend adds its weight to a credit and takes a turn when the
 * credit reaches the largest weight W (paying W for it).  A backend of weight
 * w therefore takes w/W turns per round and, since every turn claims exactly
 * one slot, ends up with M * w / sum(w) slots give or take one.  Credits
 * start at W - w, so every backend takes a turn in the first round: any
 * backend with a positive weight gets at least one slot, which is why M must
 * be at least the number of such backends.
 *
 * The table must not depend on the order of the caller's array (the config
 * file order, or the order in which health checks came back), so backends
 * take their turns in the order of (h1, id), and the table stores the
 * caller's array index.
 *
 * Everything below the scheme is there for speed (M = 65537 and 1000
 * backends in under 2 ms) and changes no slot: a radix sort instead of
 * qsort(), a bitmap of claimed slots that stays in L1, and a different way
 * to find the last few free slots (see maglev_claim_tail()).
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "knlb/sched/sched.h"
#include "maglev-int.h"

/*
 * h2 uses a different seed so that offset and skip are independent.  The
 * constant is the 64-bit golden ratio, a nothing-up-my-sleeve number.
 */
#define MAGLEV_SEED2_XOR 0x9e3779b97f4a7c15ULL

/*
 * The round loop costs about M * W / mean(w) cheap steps; the heap costs
 * about M * log2(backends) expensive ones (unpredictable branches).  Rounds
 * win unless the weights are very skewed.
 */
#define MAGLEV_ROUNDS_MAX_SKEW 32

/*
 * Walking a permutation to the next free slot takes M / (free slots) probes
 * on average, so the last few hundred slots cost about half of all probes.
 * From this many free slots on, claims look at the free slots instead.
 */
#define MAGLEV_TAIL_SLOTS 128

/* One entry of the caller's array, for sorting into turn order. */
struct maglev_entry {
	uint64_t h1;
	const char *id;
	uint32_t index;		/* in the caller's array */
	uint32_t weight;
};

/* State shared by every claim of one fill. */
struct maglev_fill {
	uint32_t *table;
	uint64_t *used;		/* bitmap of claimed slots, M bits */
	uint32_t m;
	uint32_t left;		/* slots still free */
	uint64_t barrett;	/* maglev_barrett(M), for maglev_mulmod() */
	bool tail;		/* free[] holds the free slots */
	uint32_t nfree;
	uint32_t free[MAGLEV_TAIL_SLOTS];
};

struct maglev_scratch {
	struct maglev_entry *entries;	/* n, sorted into turn order */
	struct maglev_entry *sort_tmp;	/* n, radix sort buffer */
	struct maglev_perm *perms;	/* one per positive weight */
	uint64_t *queue;		/* idem: due list or heap */
	uint64_t *used;			/* M bits */
};

static inline bool bitmap_test(const uint64_t *map, uint32_t bit)
{
	return map[bit / 64] & (1ULL << (bit % 64));
}

static inline void bitmap_set(uint64_t *map, uint32_t bit)
{
	map[bit / 64] |= 1ULL << (bit % 64);
}

/* pos + skip modulo m without '%' and without overflowing 32 bits. */
static inline uint32_t maglev_step(uint32_t pos, uint32_t skip, uint32_t m)
{
	return pos >= m - skip ? pos - (m - skip) : pos + skip;
}

/* a^-1 mod m for prime m and 0 < a < m, by the extended Euclid algorithm. */
uint32_t maglev_invmod(uint32_t a, uint32_t m)
{
	int64_t t = 0, new_t = 1;
	uint32_t r = m, new_r = a;

	while (new_r) {
		uint32_t q = r / new_r, tmp_r = r - q * new_r;
		int64_t tmp_t = t - (int64_t)q * new_t;

		t = new_t;
		new_t = tmp_t;
		r = new_r;
		new_r = tmp_r;
	}
	return (uint32_t)(t < 0 ? t + m : t);
}

/* The usual walk: try next, next + skip, ... until a slot is free. */
static inline uint32_t maglev_claim_walk(struct maglev_fill *f,
					 const struct maglev_perm *p)
{
	uint32_t pos = p->next;

	while (bitmap_test(f->used, pos))
		pos = maglev_step(pos, p->skip, f->m);
	bitmap_set(f->used, pos);
	return pos;
}

/*
 * The same slot as maglev_claim_walk(), found from the other end: free slot
 * s is step j = (s - next) / skip (mod M) of the walk, and the walk stops
 * at the free slot with the smallest j.  That is one multiplication per
 * free slot instead of M / (free slots) probes.
 */
static uint32_t maglev_claim_tail(struct maglev_fill *f, struct maglev_perm *p)
{
	uint32_t m = f->m, best = 0, best_j = UINT32_MAX, pos;

	if (!f->tail) {
		f->tail = true;
		f->nfree = 0;
		for (uint32_t w = 0; w < (m + 63) / 64; w++) {
			uint64_t bits = ~f->used[w];

			while (bits) {
				uint32_t s = w * 64 + (uint32_t)__builtin_ctzll(bits);

				if (s >= m)
					break;
				f->free[f->nfree++] = s;
				bits &= bits - 1;
			}
		}
	}
	if (!p->inv)
		p->inv = maglev_invmod(p->skip, m);
	for (uint32_t i = 0; i < f->nfree; i++) {
		uint32_t s = f->free[i];
		uint32_t d = s >= p->next ? s - p->next : s + (m - p->next);
		uint32_t j = maglev_mulmod(d, p->inv, m, f->barrett);

		if (j < best_j) {
			best_j = j;
			best = i;
		}
	}
	pos = f->free[best];
	f->free[best] = f->free[--f->nfree];
	return pos;
}

/* Give p its next free slot; the table is not full. */
static inline void maglev_claim(struct maglev_fill *f, struct maglev_perm *p)
{
	uint32_t pos;

	if (f->left > MAGLEV_TAIL_SLOTS)
		pos = maglev_claim_walk(f, p);
	else
		pos = maglev_claim_tail(f, p);
	f->table[pos] = p->index;
	p->next = maglev_step(pos, p->skip, f->m);
	p->claimed++;
	f->left--;
}

/*
 * Fill by rounds, exactly as the scheme reads: each round, every backend in
 * turn order adds its weight to its credit and takes a turn when the credit
 * reaches wmax.  Since weight <= wmax, that is at most one turn per round.
 * Who is due is worked out for the whole round first, without branches:
 * with unequal weights it is unpredictable, and mispredictions would cost
 * more than the rest of the loop.
 */
static void maglev_fill_rounds(struct maglev_perm *perms, uint32_t k,
			       uint64_t wmax, uint64_t *due,
			       struct maglev_fill *f)
{
	for (uint32_t i = 0; i < k; i++)
		perms[i].credit = wmax - perms[i].weight;
	for (;;) {
		uint32_t ndue = 0;

		for (uint32_t i = 0; i < k; i++) {
			uint64_t credit = perms[i].credit + perms[i].weight;
			uint64_t is_due = credit >= wmax;

			perms[i].credit = credit - (wmax & -is_due);
			due[ndue] = i;
			ndue += (uint32_t)is_due;
		}
		for (uint32_t j = 0; j < ndue; j++) {
			maglev_claim(f, &perms[due[j]]);
			if (!f->left)
				return;
		}
	}
}

static void heap_sift_down(uint64_t *heap, uint32_t k, uint32_t i)
{
	uint64_t key = heap[i];

	for (;;) {
		uint32_t c = 2 * i + 1;

		if (c >= k)
			break;
		if (c + 1 < k && heap[c + 1] < heap[c])
			c++;
		if (key <= heap[c])
			break;
		heap[i] = heap[c];
		i = c;
	}
	heap[i] = key;
}

/*
 * The same sequence of turns as maglev_fill_rounds(), without visiting the
 * backends that sit a round out.  Backend i's k-th turn (from 0) falls in
 * round ceil(k * W / w_i); turns are taken in (round, position) order, so a
 * min-heap keyed by round << 32 | position yields them in sequence.  The
 * next round is found without dividing: with W = q * w + r, consecutive
 * turns are q or q + 1 rounds apart, and an error term in [0, w) says which.
 */
static void maglev_fill_heap(struct maglev_perm *perms, uint32_t k,
			     uint64_t wmax, uint64_t *heap,
			     struct maglev_fill *f)
{
	/* Round 0 for everyone: keys ascending, which is already a heap. */
	for (uint32_t i = 0; i < k; i++) {
		perms[i].q = (uint32_t)(wmax / perms[i].weight);
		perms[i].r = (uint32_t)(wmax % perms[i].weight);
		perms[i].e = 0;
		heap[i] = i;
	}
	for (;;) {
		uint32_t i = (uint32_t)heap[0];
		struct maglev_perm *p = &perms[i];
		uint64_t round = (heap[0] >> 32) + p->q;

		maglev_claim(f, p);
		if (!f->left)
			return;
		if (p->r > p->e) {
			round++;
			p->e += p->weight - p->r;
		} else {
			p->e -= p->r;
		}
		/*
		 * The wmax backend takes a turn every round, so the table is
		 * full before round M - 1 < UINT32_MAX: a clamped round is
		 * never reached, and clamping keeps the key in 64 bits.
		 */
		if (round > UINT32_MAX)
			round = UINT32_MAX;
		heap[0] = round << 32 | i;
		heap_sift_down(heap, k, 0);
	}
}

/*
 * Sort entries by (h1, id).  LSD radix sort on h1, a byte per pass: qsort()
 * alone took a tenth of the time budget for 1000 backends.  Equal h1 means
 * equal ids or a 64-bit collision; either way such runs are tiny, and an
 * insertion sort by id finishes them.
 */
static void maglev_sort(struct maglev_entry *v, struct maglev_entry *tmp,
			size_t n)
{
	for (unsigned int shift = 0; shift < 64; shift += 8) {
		size_t count[256] = { 0 }, sum = 0;
		struct maglev_entry *swap;

		for (size_t i = 0; i < n; i++)
			count[(v[i].h1 >> shift) & 0xff]++;
		for (unsigned int b = 0; b < 256; b++) {
			size_t c = count[b];

			count[b] = sum;
			sum += c;
		}
		for (size_t i = 0; i < n; i++)
			tmp[count[(v[i].h1 >> shift) & 0xff]++] = v[i];
		/* Eight passes: the sorted result ends up back in v. */
		swap = v;
		v = tmp;
		tmp = swap;
	}
	for (size_t i = 1; i < n; i++) {
		struct maglev_entry e = v[i];
		size_t j = i;

		while (j > 0 && v[j - 1].h1 == e.h1 &&
		       strcmp(v[j - 1].id, e.id) > 0) {
			v[j] = v[j - 1];
			j--;
		}
		v[j] = e;
	}
}

static void maglev_scratch_free(struct maglev_scratch *s)
{
	free(s->entries);
	s->entries = NULL;
	s->sort_tmp = NULL;
	s->perms = NULL;
	s->queue = NULL;
	s->used = NULL;
}

/* One allocation for everything; all parts are 8-byte aligned. */
static int maglev_scratch_alloc(struct maglev_scratch *s, size_t n, uint32_t m)
{
	size_t per_backend = 2 * sizeof(*s->entries) + sizeof(*s->perms) +
			     sizeof(*s->queue);
	size_t used_sz = ((size_t)m + 63) / 64 * sizeof(*s->used);
	char *base;

	/* Only a 32-bit host can overflow here (n < 2^32 was checked). */
	if (n > (SIZE_MAX - used_sz) / per_backend)
		return -ENOMEM;
	base = malloc(n * per_backend + used_sz);
	if (!base)
		return -ENOMEM;
	s->entries = (struct maglev_entry *)base;
	s->sort_tmp = s->entries + n;
	s->perms = (struct maglev_perm *)(s->sort_tmp + n);
	s->queue = (uint64_t *)(s->perms + n);
	s->used = s->queue + n;
	memset(s->used, 0, used_sz);
	return 0;
}

/*
 * backends may be NULL only when n == 0.  Every id must be non-NULL and
 * unique (two backends with one id would share a permutation and a place
 * in the turn order), including ids of zero-weight backends, since a
 * duplicate is a configuration error whatever the weights.  On error the
 * table is left untouched.  Allocates about 100 bytes per backend plus
 * M / 8 bytes of scratch once, and frees it before returning.
 */
int maglev_build_end(const struct sched_backend *backends, size_t n,
		     uint32_t seed, uint32_t *table, uint32_t m,
		     struct maglev_end *end)
{
	struct maglev_scratch s;
	struct maglev_fill f;
	uint64_t wmax = 0, wsum = 0;
	uint32_t k = 0;
	int err = 0;

	if (end)
		*end = (struct maglev_end){ 0 };
	if (!table || (n && !backends) || !sched_is_prime(m))
		return -EINVAL;
	/* Indices must fit in a slot and differ from SCHED_SLOT_EMPTY. */
	if (n >= UINT32_MAX)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		if (!backends[i].id)
			return -EINVAL;
		if (backends[i].weight) {
			k++;
			/* Fewer than 2^32 weights below 2^32: no overflow. */
			wsum += backends[i].weight;
			if (backends[i].weight > wmax)
				wmax = backends[i].weight;
		}
	}
	if (k > m)
		return -EINVAL;

	err = maglev_scratch_alloc(&s, n, m);
	if (err)
		return err;

	for (size_t i = 0; i < n; i++) {
		const char *id = backends[i].id;

		s.entries[i] = (struct maglev_entry){
			.h1 = sched_hash(id, strlen(id), seed),
			.id = id,
			.index = (uint32_t)i,
			.weight = backends[i].weight,
		};
	}
	maglev_sort(s.entries, s.sort_tmp, n);
	/* Equal ids hash alike, so after sorting duplicates are neighbours. */
	for (size_t i = 1; i < n; i++) {
		if (s.entries[i].h1 == s.entries[i - 1].h1 &&
		    !strcmp(s.entries[i].id, s.entries[i - 1].id)) {
			err = -EINVAL;
			goto out_free_scratch;
		}
	}

	if (!k) {
		for (uint32_t i = 0; i < m; i++)
			table[i] = SCHED_SLOT_EMPTY;
		goto out_free_scratch;
	}

	k = 0;
	for (size_t i = 0; i < n; i++) {
		const struct maglev_entry *e = &s.entries[i];
		uint64_t h2;

		if (!e->weight)
			continue;
		h2 = sched_hash(e->id, strlen(e->id), seed ^ MAGLEV_SEED2_XOR);
		s.perms[k++] = (struct maglev_perm){
			.next = (uint32_t)(e->h1 % m),
			/* m == 2 gives skip 1, which is fine. */
			.skip = (uint32_t)(h2 % (m - 1)) + 1,
			.index = e->index,
			.weight = e->weight,
		};
	}

	f = (struct maglev_fill){
		.table = table,
		.used = s.used,
		.m = m,
		.left = m,
		.barrett = maglev_barrett(m),
	};
	if (wmax / MAGLEV_ROUNDS_MAX_SKEW <= wsum / k)
		maglev_fill_rounds(s.perms, k, wmax, s.queue, &f);
	else
		maglev_fill_heap(s.perms, k, wmax, s.queue, &f);
	if (end) {
		end->perms = malloc(k * sizeof(*end->perms));
		if (!end->perms) {
			err = -ENOMEM;
			goto out_free_scratch;
		}
		memcpy(end->perms, s.perms, k * sizeof(*end->perms));
		end->k = k;
		end->wmax = wmax;
	}

out_free_scratch:
	maglev_scratch_free(&s);
	return err;
}

int maglev_build(const struct sched_backend *backends, size_t n,
		 uint32_t seed, uint32_t *table, uint32_t m)
{
	return maglev_build_end(backends, n, seed, table, m, NULL);
}
