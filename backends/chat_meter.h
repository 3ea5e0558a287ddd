/* chat_meter.h: what a conversation has cost, for the status line and `--json`: tokens sent to
 * and received from the cloud model and what they cost at [gemini] price_in / price_out (USD per
 * million tokens; thinking is billed as output), tokens local models processed, and what the
 * local-first pipeline saved — the cloud prompt tokens "direct" would have sent (estimated from
 * the measured prompt, see chat_turn_direct_estimate) minus those actually sent. */
#ifndef LABDECK_CHAT_METER_H
#define LABDECK_CHAT_METER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct chat_turn_result;

struct chat_meter {
	double price_in, price_out;  /* USD per million tokens */
	int64_t cloud_in, cloud_out; /* cloud prompt and output tokens */
	int64_t local;               /* tokens local models processed */
	int64_t saved_in;            /* cloud prompt tokens the pipeline did not send */
	int turns, cached;           /* answers counted; of them, answered from the cache */
	double cost;                 /* USD spent */
};

/* chat_meter_init: an empty meter with these prices. */
void chat_meter_init(struct chat_meter *m, double price_in, double price_out);

/* chat_meter_add counts one turn's result (a cached answer counts as a turn that cost nothing;
 * a result without token counts adds what it knows). */
void chat_meter_add(struct chat_meter *m, const struct chat_turn_result *r);

/* chat_meter_saved_pct: the share of cloud prompt tokens saved, 0-100, or -1 when nothing was
 * saved or could be measured. */
double chat_meter_saved_pct(const struct chat_meter *m);

/* chat_meter_format writes the status-line text: "cloud 1.2k tok $0.004 · local 3.4k tok ·
 * saved 87%" (the saved part only when measured). false when the meter has counted nothing. */
bool chat_meter_format(const struct chat_meter *m, char *out, size_t size);

/* chat_meter_fmt_tokens writes 999, 1.2k, 3.4M. */
void chat_meter_fmt_tokens(int64_t n, char *out, size_t size);

#endif
