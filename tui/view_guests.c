/* view_guests.c: view 2 — every Proxmox VM and container, from the status poller. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "palette.h"
#include "format.h"
#include "guest_actions.h"
#include "status_poller.h"
#include "util.h"

struct guests_view {
	struct view base;
	struct listview lv;
	const struct guest_list *rows;
	uint64_t seen_gen;
};

enum { C_VMID, C_NAME, C_TYPE, C_NODE, C_STATUS, C_CPU, C_MEM, C_UPTIME, C_PASS, C_N };

static const struct list_column columns[C_N] = {
        [C_VMID] = {"VMID", 0, true, true, false},
        [C_NAME] = {"NAME", 32, false, false, true},
        [C_TYPE] = {"TYPE", 0, false, false, false},
        [C_NODE] = {"NODE", 16, false, false, false},
        [C_STATUS] = {"STATUS", 0, false, false, false},
        [C_CPU] = {"CPU", 0, true, true, false},
        [C_MEM] = {"MEMORY", 0, true, true, false},
        [C_UPTIME] = {"UPTIME", 0, true, true, false, true},
        [C_PASS] = {"PASSTHROUGH", 28, false, false, false},
};

static size_t g_count(void *ud)
{
	struct guests_view *g = ud;
	return g->rows ? g->rows->len : 0;
}

static void g_cell(void *ud, size_t row, size_t col, char *buf, size_t size)
{
	struct guests_view *g = ud;
	const struct guest_row *r = &g->rows->items[row];
	buf[0] = '\0';
	switch (col) {
	case C_VMID:
		snprintf(buf, size, "%d", r->vmid);
		break;
	case C_NAME:
		snprintf(buf, size, "%s%s", r->name ? r->name : "", r->n_passthrough ? " ◆" : "");
		break;
	case C_TYPE:
		snprintf(buf, size, "%s", r->type ? r->type : "-");
		break;
	case C_NODE:
		snprintf(buf, size, "%s", r->node ? r->node : "-");
		break;
	case C_STATUS: {
		/* A symbol with the word: colour is never the only sign. */
		const char *sym = str_eq(r->status, "running")   ? "▶"
		                  : str_eq(r->status, "stopped") ? "■"
		                  : str_eq(r->status, "paused")  ? "‖"
		                                                 : "?";
		snprintf(buf, size, "%s %s", sym, r->status ? r->status : "unknown");
		break;
	}
	case C_CPU:
		format_percent(r->cpu, buf, size);
		break;
	case C_MEM:
		format_usage(r->mem_used, r->mem_total, buf, size);
		break;
	case C_UPTIME:
		format_duration(str_eq(r->status, "running") ? r->uptime : -1, buf, size);
		break;
	case C_PASS: {
		size_t used = 0;
		for (size_t i = 0; i < r->n_passthrough && used < size; i++) {
			used += (size_t)snprintf(buf + used, size - used, "%s%s", i ? "," : "",
			                         r->passthrough[i]);
		}
		if (!r->n_passthrough) {
			snprintf(buf, size, "-");
		}
		break;
	}
	}
}

static double g_number(void *ud, size_t row, size_t col)
{
	struct guests_view *g = ud;
	const struct guest_row *r = &g->rows->items[row];
	switch (col) {
	case C_VMID:
		return r->vmid;
	case C_CPU:
		return isnan(r->cpu) ? -1 : r->cpu;
	case C_MEM:
		return (double)r->mem_used;
	case C_UPTIME:
		return (double)r->uptime;
	default:
		return 0;
	}
}

static enum theme_slot g_slot(void *ud, size_t row)
{
	struct guests_view *g = ud;
	const struct guest_row *r = &g->rows->items[row];
	return str_eq(r->status, "running") ? SLOT_NORMAL : SLOT_DIM;
}

static void g_key(void *ud, size_t row, char *buf, size_t size)
{
	struct guests_view *g = ud;
	snprintf(buf, size, "%d", g->rows->items[row].vmid);
}

static void sync_data(struct guests_view *g)
{
	struct status_poller *p = app_poller(g->base.app);
	uint64_t gen = status_poller_generation(p);
	if (gen == g->seen_gen && g->rows) {
		return;
	}
	g->seen_gen = gen;
	g->rows = status_poller_guests(p);
	listview_data_changed(&g->lv);
}

static void draw(struct view *v, WINDOW *w, int y, int h, int cols)
{
	struct guests_view *g = (struct guests_view *)v;
	sync_data(g);
	if (!g->rows || g->rows->len == 0) {
		wattrset(w, palette_attr(SLOT_DIM));
		mvwaddnstr(w, y + 1, 2,
		           app_config(v->app)->proxmox.configured
		                   ? "no guests yet (waiting for Proxmox; see the status line)"
		                   : "Proxmox is not configured: add [proxmox] url, token_id and "
		                     "token_secret_env to the config",
		           cols - 4);
		return;
	}
	listview_draw(&g->lv, w, y, 0, h, cols);
}

static bool handle(struct view *v, enum action a, int key)
{
	struct guests_view *g = (struct guests_view *)v;
	if (a == ACT_NONE && key == -1) {
		return false; /* data changed: picked up at the next draw */
	}
	sync_data(g); /* the rows may have changed since the last draw */
	size_t row = listview_selected(&g->lv);
	const struct guest_row *r = row != (size_t)-1 && g->rows ? &g->rows->items[row] : NULL;
	if (a == ACT_ENTER) {
		if (r) {
			app_message(
			        v->app, false,
			        "%d %s on %s: %s, %d vCPU, %s · U start, D shut down, X stop, B "
			        "reboot",
			        r->vmid, r->name ? r->name : "", r->node ? r->node : "-",
			        r->status ? r->status : "?", r->cpus,
			        r->n_passthrough ? "PCI passthrough" : "no passthrough");
		}
		return true;
	}
	static const struct {
		enum action act;
		enum pve_action pve;
	} power[] = {
	        {ACT_GUEST_START, PVE_ACTION_START},
	        {ACT_GUEST_SHUTDOWN, PVE_ACTION_SHUTDOWN},
	        {ACT_GUEST_STOP, PVE_ACTION_STOP},
	        {ACT_GUEST_REBOOT, PVE_ACTION_REBOOT},
	};
	for (size_t i = 0; i < sizeof(power) / sizeof(power[0]); i++) {
		if (a == power[i].act) {
			if (r) {
				guest_actions_request(app_guest_actions(v->app), r, power[i].pve);
			}
			return true;
		}
	}
	return false;
}

static void title(struct view *v, char *out, size_t size)
{
	struct guests_view *g = (struct guests_view *)v;
	sync_data(g);
	size_t running = 0, n = g->rows ? g->rows->len : 0;
	for (size_t i = 0; i < n; i++) {
		running += str_eq(g->rows->items[i].status, "running");
	}
	snprintf(out, size, "guests %zu (%zu running)", n, running);
}

static struct listview *list(struct view *v)
{
	return &((struct guests_view *)v)->lv;
}

static void enter(struct view *v)
{
	status_poller_set_visible(app_poller(v->app), true);
}

static void leave(struct view *v)
{
	status_poller_set_visible(app_poller(v->app), false);
}

static void destroy(struct view *v)
{
	struct guests_view *g = (struct guests_view *)v;
	listview_finish(&g->lv);
	free(g);
}

static void sync(struct view *v)
{
	sync_data((struct guests_view *)v);
}

static const struct view_ops ops = {
        .name = "guests",
        .scope = SCOPE_GUESTS,
        .draw = draw,
        .handle = handle,
        .title = title,
        .list = list,
        .enter = enter,
        .leave = leave,
        .destroy = destroy,
        .sync = sync,
};

struct view *view_guests_create(struct app *a)
{
	struct guests_view *g = xcalloc(1, sizeof(*g));
	g->base.ops = &ops;
	g->base.app = a;
	struct list_source src = {
	        .cols = columns,
	        .ncols = C_N,
	        .count = g_count,
	        .cell = g_cell,
	        .number = g_number,
	        .slot = g_slot,
	        .key = g_key,
	        .ud = g,
	};
	listview_init(&g->lv, &src);
	return &g->base;
}
