/* model.c: see model.h. */
#include "model.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

void node_row_finish(struct node_row *r)
{
	free(r->name);
	free(r->status);
	free(r->roles);
	free(r->pressures);
	free(r->internal_ip);
}

void guest_row_finish(struct guest_row *r)
{
	free(r->name);
	free(r->type);
	free(r->node);
	free(r->status);
	for (size_t i = 0; i < r->n_passthrough; i++) {
		free(r->passthrough[i]);
	}
	free(r->passthrough);
}

void pod_row_finish(struct pod_row *r)
{
	free(r->namespace_);
	free(r->name);
	free(r->phase);
	free(r->ready);
	free(r->node);
	free(r->ip);
	free(r->owner_kind);
	free(r->owner_name);
}

/* Grow a row array by one; returns the new (zeroed) slot. */
static void *push(void **items, size_t *len, size_t *cap, size_t size)
{
	if (*len == *cap) {
		*cap = *cap ? *cap * 2 : 16;
		*items = xrealloc(*items, *cap * size);
	}
	char *slot = (char *)*items + *len * size;
	memset(slot, 0, size);
	(*len)++;
	return slot;
}

struct node_row *node_list_push(struct node_list *l)
{
	struct node_row *r = push((void **)&l->items, &l->len, &l->cap, sizeof(*r));
	r->cpu = NAN;
	r->mem_used = r->mem_total = r->uptime = -1;
	r->cpus = -1;
	return r;
}

struct guest_row *guest_list_push(struct guest_list *l)
{
	struct guest_row *r = push((void **)&l->items, &l->len, &l->cap, sizeof(*r));
	r->cpu = NAN;
	r->mem_used = r->mem_total = r->uptime = -1;
	r->cpus = -1;
	r->passthrough = xcalloc(1, sizeof(char *));
	return r;
}

struct pod_row *pod_list_push(struct pod_list *l)
{
	struct pod_row *r = push((void **)&l->items, &l->len, &l->cap, sizeof(*r));
	r->restarts = -1;
	r->created = NAN;
	return r;
}

void node_list_finish(struct node_list *l)
{
	for (size_t i = 0; i < l->len; i++) {
		node_row_finish(&l->items[i]);
	}
	free(l->items);
	memset(l, 0, sizeof(*l));
}

void guest_list_finish(struct guest_list *l)
{
	for (size_t i = 0; i < l->len; i++) {
		guest_row_finish(&l->items[i]);
	}
	free(l->items);
	memset(l, 0, sizeof(*l));
}

void pod_list_finish(struct pod_list *l)
{
	for (size_t i = 0; i < l->len; i++) {
		pod_row_finish(&l->items[i]);
	}
	free(l->items);
	memset(l, 0, sizeof(*l));
}
