/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "core/log.h"
#include "core/test.h"

#include <stdlib.h>

static char *capture(void (*fn)(void))
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	log_set_stream(f);
	fn();
	log_set_stream(NULL);
	fclose(f);
	return buf;
}

static void emit_info(void) { log_info("nft", "sync done", "services=%d ms=%.1f", 10, 2.5); }
static void emit_quoted(void) { log_warn("kube", "watch broke", "err=%s", log_q("connection reset \"x\"")); }
static void emit_v2(void) { log_v(2, "proxy", "detail", "n=%d", 1); }

int main(void)
{
	char *s;

	s = capture(emit_info);
	CHECK(strncmp(s, "ts=", 3) == 0);
	CHECK(strstr(s, " level=info sub=nft msg=\"sync done\" services=10 ms=2.5\n") != NULL);
	free(s);

	s = capture(emit_quoted);
	CHECK(strstr(s, "level=warn sub=kube msg=\"watch broke\" err=\"connection reset \\\"x\\\"\"") != NULL);
	free(s);

	/* Detail appears only at the verbosity it asks for. */
	log_set_verbosity(1);
	s = capture(emit_v2);
	CHECK_EQ_STR(s, "");
	free(s);
	log_set_verbosity(2);
	s = capture(emit_v2);
	CHECK(strstr(s, "level=debug v=2 sub=proxy msg=detail n=1") != NULL);
	free(s);

	CHECK_EQ_STR(log_q("plain"), "plain");
	CHECK_EQ_STR(log_q(""), "\"\"");
	return test_done("core_log");
}
