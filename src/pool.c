/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Runtime state: services and backends with their effective weights and
 * the slot table each service wants in the kernel.  Pure bookkeeping; the
 * schedulers compute, the nft layer programs.
 */
#include <errno.h>
#include <stdlib.h>

#include "knlb/config-t.h"
#include "knlb/pool.h"
#include "knlb/sched.h"

int pool_compute_slots(struct knlb_service *svc)
{
	const struct knlb_service_config *cfg = svc->cfg;
	struct sched_backend *in;
	int ret;

	in = calloc(svc->n_backends ? svc->n_backends : 1, sizeof(*in));
	if (!in)
		return -ENOMEM;
	for (size_t i = 0; i < svc->n_backends; i++) {
		in[i].id = svc->backends[i].cfg->id;
		in[i].weight = svc->backends[i].effective_weight;
	}
	if (cfg->scheduler == KNLB_SCHED_MAGLEV)
		ret = maglev_build(in, svc->n_backends, cfg->hash_seed,
				   svc->slots, cfg->table_size);
	else
		ret = wrr_build(in, svc->n_backends, svc->slots,
				cfg->table_size);
	free(in);
	if (ret == 0)
		svc->dirty = false;
	return ret;
}

uint32_t pool_slots_of(const struct knlb_service *svc, size_t b)
{
	uint32_t n = 0;

	for (uint32_t i = 0; i < svc->cfg->table_size; i++)
		n += svc->slots[i] == b;
	return n;
}

static int service_init(struct knlb_service *svc,
			const struct knlb_service_config *cfg, uint32_t mark)
{
	svc->cfg = cfg;
	svc->ct_mark = mark;
	svc->n_backends = cfg->n_backends;
	svc->backends = calloc(cfg->n_backends ? cfg->n_backends : 1,
			       sizeof(*svc->backends));
	svc->slots = calloc(cfg->table_size, sizeof(*svc->slots));
	if (!svc->backends || !svc->slots)
		return -ENOMEM;
	for (size_t i = 0; i < cfg->n_backends; i++) {
		svc->backends[i].cfg = &cfg->backends[i];
		svc->backends[i].effective_weight = cfg->backends[i].weight;
	}
	svc->dirty = true;
	return pool_compute_slots(svc);
}

int pool_create(const struct knlb_config *config, struct knlb_pool **out)
{
	struct knlb_pool *pool;
	int ret = -ENOMEM;

	*out = NULL;
	pool = calloc(1, sizeof(*pool));
	if (!pool)
		return -ENOMEM;
	pool->config = config;
	pool->services = calloc(config->n_services ? config->n_services : 1,
				sizeof(*pool->services));
	if (!pool->services)
		goto out_free;
	pool->n_services = config->n_services;
	for (size_t i = 0; i < config->n_services; i++) {
		/* Marks follow config order; 0 means "not ours" to conntrack. */
		ret = service_init(&pool->services[i], &config->services[i],
				   (uint32_t)i + 1);
		if (ret < 0)
			goto out_free;
	}
	*out = pool;
	return 0;

out_free:
	pool_free(pool);
	return ret;
}

void pool_free(struct knlb_pool *pool)
{
	if (!pool)
		return;
	for (size_t i = 0; i < pool->n_services; i++) {
		free(pool->services[i].backends);
		free(pool->services[i].slots);
	}
	free(pool->services);
	free(pool);
}
