/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The RFC 4271 FSM table: every (state, event) against the RFC's next
 * state, written out independently here; the happy path; timers; errors. */
#include "lbip/bgp_fsm.h"
#include "lbip/bgp_msg.h"
#include "core/log.h"
#include "core/test.h"

#include <stdlib.h>

/* Next state per event, in enum bgp_event order:
 * MStart MStop AStart CRT Hold KAexp CRacked Confirmed Fails Open HdrErr
 * OpenErr CollDump NotifVer Notif KAmsg Update UpdErr GracefulStop APassive
 * I=Idle C=Connect A=Active S=OpenSent O=OpenConfirm E=Established */
static const char *const next_state[BGP_ST_COUNT] = {
	[BGP_ST_IDLE]        = "CICIIIIIIIIIIIIIIIIA",
	[BGP_ST_CONNECT]     = "CICCIISSIIIIIIIIIIIC",
	[BGP_ST_ACTIVE]      = "AIACIISSIIIIIIIIIIIA",
	[BGP_ST_OPENSENT]    = "SISIIISSAOIIIIIIIIIS",
	[BGP_ST_OPENCONFIRM] = "OIOIIOOOIIIIIIIEIIIO",
	[BGP_ST_ESTABLISHED] = "EIEIIEEEIIIIIIIEEIIE",
};

static enum bgp_state letter(char c)
{
	switch (c) {
	case 'I': return BGP_ST_IDLE;
	case 'C': return BGP_ST_CONNECT;
	case 'A': return BGP_ST_ACTIVE;
	case 'S': return BGP_ST_OPENSENT;
	case 'O': return BGP_ST_OPENCONFIRM;
	default: return BGP_ST_ESTABLISHED;
	}
}

static void test_table(void)
{
	for (int s = 0; s < BGP_ST_COUNT; s++) {
		CHECK_EQ_INT(strlen(next_state[s]), BGP_EV_COUNT);
		for (int e = 0; e < BGP_EV_COUNT; e++) {
			struct bgp_fsm f;
			struct bgp_fsm_out o;
			enum bgp_state want = letter(next_state[s][e]);

			bgp_fsm_init(&f, "198.51.100.1", 90, 0, 0);
			bgp_fsm_open(&f, 90, false);
			f.state = s;
			o = bgp_fsm_event(&f, e);
			CHECK_EQ_INT(o.from, s);
			CHECK_EQ_INT(o.to, want);
			CHECK_EQ_INT(f.state, want);
			if (o.to != want)
				fprintf(stderr, "  %s + %s\n", bgp_state_name(s), bgp_event_name(e));
			/* leaving for Idle releases everything and stops every timer */
			if (s != BGP_ST_IDLE && want == BGP_ST_IDLE) {
				uint32_t all = BGP_A_TCP_DROP | BGP_A_RELEASE | BGP_A_CRT_STOP |
					       BGP_A_HOLD_STOP | BGP_A_KA_STOP;

				CHECK_EQ_INT(o.actions & all, all);
				CHECK(!(o.actions & (BGP_A_CRT_START | BGP_A_HOLD_START |
						     BGP_A_KA_START | BGP_A_TCP_CONNECT)));
			}
			/* no OPEN exchanged yet: nothing to notify */
			if (s <= BGP_ST_ACTIVE)
				CHECK(!(o.actions & (BGP_A_SEND_NOTIF | BGP_A_SEND_NOTIF_ERR)));
			/* never both NOTIFICATION kinds; never one in reply to one */
			CHECK((o.actions & (BGP_A_SEND_NOTIF | BGP_A_SEND_NOTIF_ERR)) !=
			      (BGP_A_SEND_NOTIF | BGP_A_SEND_NOTIF_ERR));
			if (e == BGP_EV_NOTIF || e == BGP_EV_NOTIF_VERSION_ERR)
				CHECK(!(o.actions & (BGP_A_SEND_NOTIF | BGP_A_SEND_NOTIF_ERR)));
			/* decode errors after the OPEN went out send the decoder's */
			if (s >= BGP_ST_OPENSENT && (e == BGP_EV_HEADER_ERR ||
			    (e == BGP_EV_OPEN_ERR && s != BGP_ST_ESTABLISHED) ||
			    (e == BGP_EV_UPDATE_ERR && s == BGP_ST_ESTABLISHED)))
				CHECK(o.actions & BGP_A_SEND_NOTIF_ERR);
			/* hold expiry after the OPEN: 4/0 */
			if (s >= BGP_ST_OPENSENT && e == BGP_EV_HOLD_EXPIRES)
				CHECK(o.actions & BGP_A_SEND_NOTIF && o.code == BGP_ERR_HOLD &&
				      o.subcode == 0);
		}
	}
}

static void test_happy_path(void)
{
	struct bgp_fsm f;
	struct bgp_fsm_out o;

	bgp_fsm_init(&f, "peer-a", 90, 0, 0);
	CHECK_EQ_INT(f.state, BGP_ST_IDLE);
	o = bgp_fsm_event(&f, BGP_EV_MANUAL_START);
	CHECK_EQ_INT(o.to, BGP_ST_CONNECT);
	CHECK_EQ_INT(o.actions, BGP_A_CRT_START | BGP_A_TCP_CONNECT);
	CHECK_EQ_INT(o.connect_retry_s, 120);
	o = bgp_fsm_event(&f, BGP_EV_TCP_CR_ACKED);
	CHECK_EQ_INT(o.to, BGP_ST_OPENSENT);
	CHECK_EQ_INT(o.actions, BGP_A_CRT_STOP | BGP_A_SEND_OPEN | BGP_A_HOLD_START);
	CHECK_EQ_INT(o.hold_s, 240);
	bgp_fsm_open(&f, 9, true);
	o = bgp_fsm_event(&f, BGP_EV_OPEN);
	CHECK_EQ_INT(o.to, BGP_ST_OPENCONFIRM);
	CHECK_EQ_INT(o.actions, BGP_A_CRT_STOP | BGP_A_SEND_KEEPALIVE | BGP_A_KA_START |
				BGP_A_HOLD_START);
	CHECK_EQ_INT(o.hold_s, 9);
	CHECK_EQ_INT(o.keepalive_s, 3);
	o = bgp_fsm_event(&f, BGP_EV_KEEPALIVE_EXPIRES);
	CHECK_EQ_INT(o.actions, BGP_A_SEND_KEEPALIVE | BGP_A_KA_START);
	o = bgp_fsm_event(&f, BGP_EV_KEEPALIVE);
	CHECK_EQ_INT(o.to, BGP_ST_ESTABLISHED);
	CHECK_EQ_INT(o.actions, BGP_A_HOLD_START | BGP_A_ANNOUNCE);
	CHECK_EQ_INT(f.established_count, 1);
	o = bgp_fsm_event(&f, BGP_EV_UPDATE);
	CHECK_EQ_INT(o.actions, BGP_A_PROCESS_UPDATE | BGP_A_HOLD_START);
	CHECK_EQ_INT(o.hold_s, 9);
	o = bgp_fsm_event(&f, BGP_EV_KEEPALIVE);
	CHECK_EQ_INT(o.actions, BGP_A_HOLD_START);
	CHECK_EQ_INT(f.state, BGP_ST_ESTABLISHED);

	/* hold timer expiry: 4/0, Idle, the retry counter counts */
	o = bgp_fsm_event(&f, BGP_EV_HOLD_EXPIRES);
	CHECK_EQ_INT(o.to, BGP_ST_IDLE);
	CHECK(o.actions & BGP_A_SEND_NOTIF);
	CHECK_EQ_INT(o.code, 4);
	CHECK_EQ_INT(o.subcode, 0);
	CHECK_EQ_INT(f.connect_retry_count, 1);
	CHECK(!f.gr);

	/* the passive side (an accepted connection's machine): Idle ->
	 * Active without connecting, then OpenSent */
	o = bgp_fsm_event(&f, BGP_EV_AUTOMATIC_START_PASSIVE);
	CHECK_EQ_INT(o.to, BGP_ST_ACTIVE);
	CHECK_EQ_INT(o.actions, BGP_A_CRT_START);
	CHECK_EQ_INT(f.connect_retry_count, 0);
	o = bgp_fsm_event(&f, BGP_EV_TCP_CONFIRMED);
	CHECK_EQ_INT(o.actions, BGP_A_CRT_STOP | BGP_A_SEND_OPEN | BGP_A_HOLD_START);
	o = bgp_fsm_event(&f, BGP_EV_TCP_FAILS);
	CHECK_EQ_INT(o.to, BGP_ST_ACTIVE);
	f.state = BGP_ST_ACTIVE;
	o = bgp_fsm_event(&f, BGP_EV_TCP_CONFIRMED);
	CHECK_EQ_INT(o.to, BGP_ST_OPENSENT);
	o = bgp_fsm_event(&f, BGP_EV_TCP_FAILS);
	CHECK_EQ_INT(o.to, BGP_ST_ACTIVE);
	CHECK(o.actions & BGP_A_CRT_START);
	o = bgp_fsm_event(&f, BGP_EV_CONNECT_RETRY_EXPIRES);
	CHECK_EQ_INT(o.to, BGP_ST_CONNECT);
	CHECK(o.actions & BGP_A_TCP_CONNECT);
}

static void establish(struct bgp_fsm *f, uint16_t peer_hold, bool gr)
{
	bgp_fsm_event(f, BGP_EV_MANUAL_START);
	bgp_fsm_event(f, BGP_EV_TCP_CONFIRMED);
	bgp_fsm_open(f, peer_hold, gr);
	bgp_fsm_event(f, BGP_EV_OPEN);
	bgp_fsm_event(f, BGP_EV_KEEPALIVE);
}

static void test_stops_and_errors(void)
{
	struct bgp_fsm f;
	struct bgp_fsm_out o;

	/* graceful stop with GR negotiated: close without NOTIFICATION */
	bgp_fsm_init(&f, "gr", 90, 0, 0);
	establish(&f, 90, true);
	CHECK_EQ_INT(f.state, BGP_ST_ESTABLISHED);
	o = bgp_fsm_event(&f, BGP_EV_GRACEFUL_STOP);
	CHECK_EQ_INT(o.to, BGP_ST_IDLE);
	CHECK(o.actions & BGP_A_TCP_DROP);
	CHECK(!(o.actions & (BGP_A_SEND_NOTIF | BGP_A_SEND_NOTIF_ERR)));
	/* without GR: Cease, administrative shutdown */
	bgp_fsm_init(&f, "nogr", 90, 0, 0);
	establish(&f, 90, false);
	o = bgp_fsm_event(&f, BGP_EV_GRACEFUL_STOP);
	CHECK(o.actions & BGP_A_SEND_NOTIF);
	CHECK_EQ_INT(o.code, BGP_ERR_CEASE);
	CHECK_EQ_INT(o.subcode, BGP_CEASE_ADMIN_SHUTDOWN);
	CHECK_EQ_INT(f.connect_retry_count, 0);
	/* ManualStop in Established */
	establish(&f, 90, true);
	o = bgp_fsm_event(&f, BGP_EV_MANUAL_STOP);
	CHECK(o.actions & BGP_A_SEND_NOTIF && o.code == 6 && o.subcode == 2);

	/* FSM errors name the state (RFC 6608) */
	bgp_fsm_init(&f, "fsm", 90, 0, 0);
	bgp_fsm_event(&f, BGP_EV_MANUAL_START);
	bgp_fsm_event(&f, BGP_EV_TCP_CR_ACKED);
	o = bgp_fsm_event(&f, BGP_EV_UPDATE);
	CHECK_EQ_INT(o.code, BGP_ERR_FSM);
	CHECK_EQ_INT(o.subcode, BGP_FSM_IN_OPENSENT);
	establish(&f, 90, false);
	o = bgp_fsm_event(&f, BGP_EV_OPEN);
	CHECK_EQ_INT(o.code, BGP_ERR_FSM);
	CHECK_EQ_INT(o.subcode, BGP_FSM_IN_ESTABLISHED);
	bgp_fsm_event(&f, BGP_EV_MANUAL_START);
	bgp_fsm_event(&f, BGP_EV_TCP_CR_ACKED);
	bgp_fsm_event(&f, BGP_EV_OPEN);
	o = bgp_fsm_event(&f, BGP_EV_UPDATE);
	CHECK_EQ_INT(o.subcode, BGP_FSM_IN_OPENCONFIRM);
	/* collision: Cease 6/7 */
	establish(&f, 90, false);
	o = bgp_fsm_event(&f, BGP_EV_OPEN_COLLISION_DUMP);
	CHECK(o.code == 6 && o.subcode == 7);
	/* UPDATE error: the decoder's NOTIFICATION */
	establish(&f, 90, false);
	o = bgp_fsm_event(&f, BGP_EV_UPDATE_ERR);
	CHECK_EQ_INT(o.to, BGP_ST_IDLE);
	CHECK(o.actions & BGP_A_SEND_NOTIF_ERR);
	/* repeated failures count; a ManualStart zeroes */
	bgp_fsm_init(&f, "count", 90, 0, 0);
	for (int i = 0; i < 3; i++) {
		bgp_fsm_event(&f, BGP_EV_AUTOMATIC_START);
		bgp_fsm_event(&f, BGP_EV_TCP_CR_ACKED);
		bgp_fsm_event(&f, BGP_EV_HOLD_EXPIRES);
	}
	CHECK_EQ_INT(f.connect_retry_count, 1);	/* AutomaticStart zeroes too (RFC 4271 8.2.2) */
	bgp_fsm_event(&f, BGP_EV_MANUAL_START);
	bgp_fsm_event(&f, BGP_EV_TCP_CR_ACKED);
	bgp_fsm_event(&f, BGP_EV_TCP_FAILS);
	bgp_fsm_event(&f, BGP_EV_KEEPALIVE);	/* Active: unexpected, counts */
	CHECK_EQ_INT(f.connect_retry_count, 1);
	CHECK_EQ_INT(f.state, BGP_ST_IDLE);
	/* out-of-range event: no change, no action */
	o = bgp_fsm_event(&f, (enum bgp_event)99);
	CHECK_EQ_INT(o.actions, 0);
	CHECK_EQ_INT(f.state, BGP_ST_IDLE);
}

static void test_timers(void)
{
	struct bgp_fsm f;
	struct bgp_fsm_out o;

	/* hold 0 on either side: no hold timer, no keepalives */
	bgp_fsm_init(&f, "t0", 90, 0, 5);
	bgp_fsm_event(&f, BGP_EV_MANUAL_START);
	bgp_fsm_event(&f, BGP_EV_TCP_CR_ACKED);
	bgp_fsm_open(&f, 0, false);
	o = bgp_fsm_event(&f, BGP_EV_OPEN);
	CHECK(!(o.actions & (BGP_A_HOLD_START | BGP_A_KA_START)));
	CHECK(o.actions & BGP_A_HOLD_STOP && o.actions & BGP_A_KA_STOP);
	o = bgp_fsm_event(&f, BGP_EV_KEEPALIVE);
	CHECK_EQ_INT(o.to, BGP_ST_ESTABLISHED);
	CHECK(!(o.actions & BGP_A_HOLD_START));

	/* configured keepalive below the hold time is used; above it, hold/3 */
	bgp_fsm_init(&f, "t1", 90, 30, 0);
	bgp_fsm_open(&f, 240, false);
	CHECK_EQ_INT(f.neg_hold_s, 90);
	CHECK_EQ_INT(f.neg_keepalive_s, 30);
	bgp_fsm_open(&f, 9, false);
	CHECK_EQ_INT(f.neg_hold_s, 9);
	CHECK_EQ_INT(f.neg_keepalive_s, 3);
	bgp_fsm_init(&f, "t2", 3, 0, 0);
	bgp_fsm_open(&f, 90, false);
	CHECK_EQ_INT(f.neg_hold_s, 3);
	CHECK_EQ_INT(f.neg_keepalive_s, 1);
	bgp_fsm_init(&f, "t3", 0, 0, 0);
	CHECK_EQ_INT(f.hold_s, 90);
	CHECK_EQ_INT(f.connect_retry_s, 120);
}

static void test_log(void)
{
	struct bgp_fsm f;
	FILE *mem;
	char *buf = NULL;
	size_t len = 0;

	mem = open_memstream(&buf, &len);
	log_set_stream(mem);
	bgp_fsm_init(&f, "peer-log", 90, 0, 0);
	establish(&f, 90, false);
	fflush(mem);
	log_set_stream(stderr);
	fclose(mem);
	CHECK(buf && strstr(buf, "from=Idle to=Connect event=ManualStart"));
	CHECK(buf && strstr(buf, "from=OpenConfirm to=Established event=KeepAliveMsg"));
	CHECK(buf && strstr(buf, "peer=peer-log"));
	CHECK_EQ_INT(f.transitions, 4);
	free(buf);
	CHECK_EQ_STR(bgp_state_name(BGP_ST_OPENCONFIRM), "OpenConfirm");
	CHECK_EQ_STR(bgp_event_name(BGP_EV_HOLD_EXPIRES), "HoldTimer_Expires");
	for (int e = 0; e < BGP_EV_COUNT; e++)
		CHECK(bgp_event_name(e) != NULL);
}

int main(void)
{
	test_table();
	test_happy_path();
	test_stops_and_errors();
	test_timers();
	test_log();
	return test_done("lbip_bgp_fsm");
}
