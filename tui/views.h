/* views.h: the table of top-level views (1 nodes … 8 topology) the console shell builds. */
#ifndef LABDECK_VIEWS_H
#define LABDECK_VIEWS_H

#include "app.h"

#define N_TOP 8

struct top_view {
	const char *name;                      /* its tab and `:` command */
	struct view *(*create)(struct app *a); /* NULL: not in this build */
};

extern const struct top_view top_views[N_TOP];

/* The constructors of the views 5-8, for views.c (each in its view_*.c). */
struct view *view_deploy_create(struct app *a);
struct view *view_jobs_create(struct app *a);
struct view *view_hosts_create(struct app *a);
struct view *view_topology_create(struct app *a);

#endif
