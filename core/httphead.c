/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Strict HTTP/1.x request heads (RFC 9112 sections 2-3, 5, 6.3). */
#include "core/httphead.h"

#include <string.h>
#include <strings.h>

/* RFC 9110 5.6.2: tchar */
static bool tchar(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* field-value characters: visible, obs-text, space and tab; no controls */
static bool vchar(unsigned char c)
{
	return c == ' ' || c == '\t' || (c > 0x20 && c != 0x7f);
}

/* Does a comma-separated list hold the token (case-insensitive)? */
static bool list_has(const char *v, const char *tok)
{
	size_t n = strlen(tok);

	while (*v) {
		while (*v == ' ' || *v == '\t' || *v == ',')
			v++;
		const char *e = v;

		while (*e && *e != ',')
			e++;
		const char *t = e;

		while (t > v && (t[-1] == ' ' || t[-1] == '\t'))
			t--;
		if ((size_t)(t - v) == n && !strncasecmp(v, tok, n))
			return true;
		v = e;
	}
	return false;
}

static int request_line(char *l, struct http_head *h)
{
	char *sp1 = strchr(l, ' '), *sp2, *q;

	if (!sp1 || sp1 == l)
		return 400;
	sp2 = strchr(sp1 + 1, ' ');
	if (!sp2 || sp2[1] == ' ' || strchr(sp2 + 1, ' '))
		return 400;
	*sp1 = *sp2 = 0;
	for (char *p = l; *p; p++)
		if (!tchar((unsigned char)*p))
			return 400;
	/* origin-form only: a path, nothing a proxy would rewrite */
	if (sp1[1] != '/')
		return 400;
	for (char *p = sp1 + 1; *p; p++)
		if ((unsigned char)*p <= 0x20 || *p == 0x7f)
			return 400;
	if (strncmp(sp2 + 1, "HTTP/", 5) || strlen(sp2 + 1) != 8 || sp2[7] != '.' ||
	    sp2[6] < '0' || sp2[6] > '9' || sp2[8] < '0' || sp2[8] > '9')
		return 400;
	if (sp2[6] != '1')
		return 505;
	h->close = sp2[8] == '0';
	h->method = l;
	h->path = sp1 + 1;
	h->query = "";
	if ((q = strchr(h->path, '?'))) {
		*q = 0;
		h->query = q + 1;
	}
	return 0;
}

int http_head_parse(char *buf, size_t len, struct http_head *h)
{
	bool seen_length = false, seen_host = false, body = false;
	char *line, *next;
	int rc;

	memset(h, 0, sizeof(*h));
	if (len < 4 || memcmp(buf + len - 4, "\r\n\r\n", 4) || memchr(buf, 0, len))
		return 400;
	/* CR only before LF, LF only after CR: no bare line ends */
	for (size_t i = 0; i < len; i++)
		if ((buf[i] == '\r' && (i + 1 == len || buf[i + 1] != '\n')) ||
		    (buf[i] == '\n' && (i == 0 || buf[i - 1] != '\r')))
			return 400;
	buf[len - 2] = 0;	/* the head is now NUL-terminated lines */
	next = strstr(buf, "\r\n");
	*next = 0;
	if ((rc = request_line(buf, h)))
		return rc;
	for (line = next + 2; *line; line = next + 2) {
		char *colon, *v, *e;

		next = strstr(line, "\r\n");
		*next = 0;
		/* obs-fold and a space before the colon are both smuggling tools */
		colon = strchr(line, ':');
		if (!colon || colon == line)
			return 400;
		for (char *p = line; p < colon; p++)
			if (!tchar((unsigned char)*p))
				return 400;
		*colon = 0;
		for (v = colon + 1; *v == ' ' || *v == '\t'; v++)
			;
		for (e = v + strlen(v); e > v && (e[-1] == ' ' || e[-1] == '\t'); e--)
			;
		*e = 0;
		for (char *p = v; *p; p++)
			if (!vchar((unsigned char)*p))
				return 400;
		if (!strcasecmp(line, "Content-Length")) {
			if (seen_length || !*v || strspn(v, "0123456789") != strlen(v))
				return 400;
			seen_length = true;
			body = strspn(v, "0") != strlen(v);
		} else if (!strcasecmp(line, "Transfer-Encoding")) {
			return 400;
		} else if (!strcasecmp(line, "Host")) {
			if (seen_host)
				return 400;
			seen_host = true;
		} else if (!strcasecmp(line, "Connection") && list_has(v, "close")) {
			h->close = true;
		}
	}
	h->head_only = !strcmp(h->method, "HEAD");
	if (strcmp(h->method, "GET") && !h->head_only)
		return 405;
	/* no bodies: one would desynchronise keep-alive */
	if (body)
		return 413;
	return 0;
}
