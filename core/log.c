/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "core/log.h"

#include <stdarg.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

static int verbosity;
static FILE *stream;

static const char *const level_names[] = {
	[LOG_ERROR] = "error", [LOG_WARN] = "warn",
	[LOG_INFO] = "info", [LOG_DEBUG] = "debug",
};

void log_set_verbosity(int v) { verbosity = v; }
int log_verbosity(void) { return verbosity; }
void log_set_stream(FILE *f) { stream = f; }

static int needs_quotes(const char *s)
{
	if (!*s)
		return 1;
	for (; *s; s++)
		if (*s == ' ' || *s == '"' || *s == '=' || *s == '\\' || (unsigned char)*s < 0x20)
			return 1;
	return 0;
}

const char *log_q(const char *s)
{
	static char bufs[4][512];
	static unsigned next;
	char *b = bufs[next++ % 4];
	size_t n = 0;

	if (!s)
		return "\"\"";
	if (!needs_quotes(s))
		return s;
	b[n++] = '"';
	for (; *s && n < sizeof(bufs[0]) - 4; s++) {
		if (*s == '"' || *s == '\\') {
			b[n++] = '\\';
			b[n++] = *s;
		} else if (*s == '\n') {
			b[n++] = '\\';
			b[n++] = 'n';
		} else if ((unsigned char)*s < 0x20) {
			b[n++] = '?';
		} else {
			b[n++] = *s;
		}
	}
	b[n++] = '"';
	b[n] = 0;
	return b;
}

void log_msg(enum log_level lvl, int v, const char *sub, const char *msg,
	     const char *fields, ...)
{
	FILE *f = stream ? stream : stderr;
	char ts[32], line[4096];
	struct timeval tv;
	struct tm tm;
	int n;

	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);

	n = snprintf(line, sizeof(line), "ts=%s.%03ldZ level=%s", ts,
		     (long)tv.tv_usec / 1000, level_names[lvl]);
	if (v > 0 && n < (int)sizeof(line))
		n += snprintf(line + n, sizeof(line) - n, " v=%d", v);
	if (n < (int)sizeof(line))
		n += snprintf(line + n, sizeof(line) - n, " sub=%s msg=%s", sub, log_q(msg));
	if (fields && *fields && n < (int)sizeof(line) - 1) {
		va_list ap;

		line[n++] = ' ';
		va_start(ap, fields);
		n += vsnprintf(line + n, sizeof(line) - n, fields, ap);
		va_end(ap);
	}
	if (n >= (int)sizeof(line))
		n = sizeof(line) - 1;
	line[n] = 0;
	/* One write per line so lines from one process never interleave. */
	fprintf(f, "%s\n", line);
	fflush(f);
}
