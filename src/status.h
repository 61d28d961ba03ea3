/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef FERRY_SRC_STATUS_H
#define FERRY_SRC_STATUS_H

struct fstate;
struct httpd_resp;

/* The state as text for people (GET /status, `ferry status`). */
void status_text(const struct fstate *s, struct httpd_resp *r);

#endif
