/* format.c: see format.h. */
#include "format.h"

#include <math.h>
#include <stdio.h>

static const char *const units[] = {"", "Ki", "Mi", "Gi", "Ti", "Pi"};

static int scale(double *v)
{
	int u = 0;
	while (*v >= 1024 && u < 5) {
		*v /= 1024;
		u++;
	}
	return u;
}

void format_bytes(int64_t bytes, char *out, size_t size)
{
	if (bytes < 0) {
		snprintf(out, size, "-");
		return;
	}
	double v = (double)bytes;
	int u = scale(&v);
	if (u == 0 || v >= 100 || fabs(v - round(v)) < 0.05) {
		snprintf(out, size, "%.0f%s", v, units[u]);
	} else {
		snprintf(out, size, "%.1f%s", v, units[u]);
	}
}

void format_duration(int64_t s, char *out, size_t size)
{
	if (s < 0) {
		snprintf(out, size, "-");
	} else if (s < 120) {
		snprintf(out, size, "%llds", (long long)s);
	} else if (s < 3600) {
		snprintf(out, size, "%lldm", (long long)(s / 60));
	} else if (s < 86400) {
		long long h = s / 3600, m = (s % 3600) / 60;
		if (m && h < 8) {
			snprintf(out, size, "%lldh%lldm", h, m);
		} else {
			snprintf(out, size, "%lldh", h);
		}
	} else {
		long long d = s / 86400, h = (s % 86400) / 3600;
		if (h && d < 8) {
			snprintf(out, size, "%lldd%lldh", d, h);
		} else {
			snprintf(out, size, "%lldd", d);
		}
	}
}

void format_percent(double fraction, char *out, size_t size)
{
	if (isnan(fraction)) {
		snprintf(out, size, "-");
	} else {
		snprintf(out, size, "%.0f%%", fraction * 100);
	}
}

void format_usage(int64_t used, int64_t total, char *out, size_t size)
{
	if (used < 0 || total <= 0) {
		if (total > 0) {
			char t[32];
			format_bytes(total, t, sizeof(t));
			snprintf(out, size, "-/%s", t);
		} else {
			snprintf(out, size, "-");
		}
		return;
	}
	/* Both in the total's unit, so the eye compares like with like. */
	double t = (double)total;
	int u = scale(&t);
	double uu = (double)used;
	for (int i = 0; i < u; i++) {
		uu /= 1024;
	}
	if (fabs(t - round(t)) < 0.05) {
		snprintf(out, size, "%.1f/%.0f%s", uu, t, units[u]);
	} else {
		snprintf(out, size, "%.1f/%.1f%s", uu, t, units[u]);
	}
}
