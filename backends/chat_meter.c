/* chat_meter.c: adding up what a conversation cost (see chat_meter.h). */
#include "chat_meter.h"

#include <stdio.h>
#include <string.h>

#include "chat_turn.h"

void chat_meter_init(struct chat_meter *m, double price_in, double price_out)
{
	memset(m, 0, sizeof(*m));
	m->price_in = price_in;
	m->price_out = price_out;
}

void chat_meter_add(struct chat_meter *m, const struct chat_turn_result *r)
{
	m->turns++;
	if (r->cached) {
		m->cached++;
	}
	m->local += r->local_tokens;
	const struct llm_result *a = r->answer;
	if (r->cached || !a || !a->usage.known || !llm_provider_is_cloud(a->provider)) {
		return;
	}
	m->cloud_in += a->usage.prompt_tokens;
	m->cloud_out += a->usage.completion_tokens;
	m->cost += (double)a->usage.prompt_tokens * m->price_in / 1e6 +
	           (double)a->usage.completion_tokens * m->price_out / 1e6;
	if (r->direct_prompt_tokens > a->usage.prompt_tokens) {
		m->saved_in += r->direct_prompt_tokens - a->usage.prompt_tokens;
	}
}

double chat_meter_saved_pct(const struct chat_meter *m)
{
	if (m->saved_in <= 0) {
		return -1;
	}
	return 100.0 * (double)m->saved_in / (double)(m->saved_in + m->cloud_in);
}

void chat_meter_fmt_tokens(int64_t n, char *out, size_t size)
{
	if (n < 1000) {
		snprintf(out, size, "%lld", (long long)n);
	} else if (n < 999950) { /* from there "%.1fk" would round up to "1000.0k" */
		snprintf(out, size, "%.1fk", (double)n / 1000.0);
	} else {
		snprintf(out, size, "%.1fM", (double)n / 1e6);
	}
}

bool chat_meter_format(const struct chat_meter *m, char *out, size_t size)
{
	if (m->turns == 0) {
		return false;
	}
	char cloud[32], local[32];
	chat_meter_fmt_tokens(m->cloud_in + m->cloud_out, cloud, sizeof(cloud));
	chat_meter_fmt_tokens(m->local, local, sizeof(local));
	int n = snprintf(out, size, "cloud %s tok $%.3f · local %s tok", cloud, m->cost, local);
	double pct = chat_meter_saved_pct(m);
	char saved[32];
	if (pct >= 0 && n > 0 &&
	    (size_t)n + (size_t)snprintf(saved, sizeof(saved), " · saved %.0f%%", pct) < size) {
		/* whole or not at all: a cut could split the "·" */
		memcpy(out + n, saved, strlen(saved) + 1);
	}
	return true;
}
