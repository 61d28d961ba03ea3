/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef FERRY_SRC_STATUS_H
#define FERRY_SRC_STATUS_H

struct fstate;
struct fsvc;
struct httpd_resp;

/* The state as text for people (GET /status, `ferry status`); `note`
 * (may be NULL) adds lines to a port: what it lost to another Service. */
void status_text(const struct fstate *s, struct httpd_resp *r,
		 void (*note)(void *arg, const struct fsvc *v, struct httpd_resp *r), void *arg);

#endif
