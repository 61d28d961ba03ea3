/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * RFC 4271 section 8.2.2 as a table. Each cell is what the RFC lists for
 * that state and event, with every optional session attribute FALSE (no
 * DelayOpen, no damping; passive start only as event 5). A cell left empty takes its
 * state's "any other event" row. Deviations, each on purpose:
 *  - TcpConnectionFails in Active stops the ConnectRetryTimer instead of
 *    restarting it: the session goes to Idle, where the RFC ignores it.
 *  - a NOTIFICATION received in OpenSent is not answered with an FSM
 *    error NOTIFICATION (RFC 4271 6: never reply to one).
 *  - BGPHeaderErr in Established sends the header error (as in OpenSent,
 *    and as BIRD does), not an FSM error.
 *  - an OPEN on the session in OpenConfirm is an FSM error; collisions
 *    between two connections are resolved by the driver, which feeds
 *    OpenCollisionDump to the one that loses (RFC 4271 6.8).
 */
#include "lbip/bgp_fsm.h"
#include "lbip/bgp_msg.h"
#include "core/log.h"

#include <string.h>

#define OPENSENT_HOLD_S 240	/* "a large value" until the OPEN arrives (RFC 4271 8) */

enum { CNT_KEEP, CNT_INC, CNT_ZERO };

struct cell {
	uint32_t act;
	uint8_t next;
	uint8_t code, sub;	/* BGP_A_SEND_NOTIF */
	uint8_t count;		/* ConnectRetryCounter */
	bool set;
};

#define DOWN	(BGP_A_CRT_STOP | BGP_A_RELEASE | BGP_A_TCP_DROP | BGP_A_HOLD_STOP | BGP_A_KA_STOP)
#define C(a, n, ...)	{ .act = (a), .next = BGP_ST_##n, .set = true, __VA_ARGS__ }
#define STAY(n)		C(0, n)
#define IDLE_INC(a)	C((a) | DOWN, IDLE, .count = CNT_INC)
#define NOTIFY(c, s)	C(BGP_A_SEND_NOTIF | DOWN, IDLE, .code = (c), .sub = (s), .count = CNT_INC)
#define STOP_NOTIFY	C(BGP_A_SEND_NOTIF | DOWN, IDLE, .code = BGP_ERR_CEASE, \
			  .sub = BGP_CEASE_ADMIN_SHUTDOWN, .count = CNT_ZERO)
#define OPEN_SENT	C(BGP_A_CRT_STOP | BGP_A_SEND_OPEN | BGP_A_HOLD_START, OPENSENT)

static const struct cell table[BGP_ST_COUNT][BGP_EV_COUNT] = {
	[BGP_ST_IDLE] = {
		[BGP_EV_MANUAL_START] = C(BGP_A_CRT_START | BGP_A_TCP_CONNECT, CONNECT,
					  .count = CNT_ZERO),
		[BGP_EV_AUTOMATIC_START] = C(BGP_A_CRT_START | BGP_A_TCP_CONNECT, CONNECT,
					     .count = CNT_ZERO),
		/* listen (the agent's listener does) and wait in Active */
		[BGP_EV_AUTOMATIC_START_PASSIVE] = C(BGP_A_CRT_START, ACTIVE, .count = CNT_ZERO),
	},
	[BGP_ST_CONNECT] = {
		[BGP_EV_MANUAL_START] = STAY(CONNECT),
		[BGP_EV_AUTOMATIC_START] = STAY(CONNECT),
		[BGP_EV_AUTOMATIC_START_PASSIVE] = STAY(CONNECT),
		[BGP_EV_MANUAL_STOP] = C(DOWN, IDLE, .count = CNT_ZERO),
		[BGP_EV_GRACEFUL_STOP] = C(DOWN, IDLE, .count = CNT_ZERO),
		[BGP_EV_CONNECT_RETRY_EXPIRES] = C(BGP_A_TCP_DROP | BGP_A_CRT_START |
						   BGP_A_TCP_CONNECT, CONNECT),
		[BGP_EV_TCP_CR_ACKED] = OPEN_SENT,
		[BGP_EV_TCP_CONFIRMED] = OPEN_SENT,
		[BGP_EV_TCP_FAILS] = C(DOWN, IDLE),
	},
	[BGP_ST_ACTIVE] = {
		[BGP_EV_MANUAL_START] = STAY(ACTIVE),
		[BGP_EV_AUTOMATIC_START] = STAY(ACTIVE),
		[BGP_EV_AUTOMATIC_START_PASSIVE] = STAY(ACTIVE),
		[BGP_EV_MANUAL_STOP] = C(DOWN, IDLE, .count = CNT_ZERO),
		[BGP_EV_GRACEFUL_STOP] = C(DOWN, IDLE, .count = CNT_ZERO),
		[BGP_EV_CONNECT_RETRY_EXPIRES] = C(BGP_A_CRT_START | BGP_A_TCP_CONNECT, CONNECT),
		[BGP_EV_TCP_CR_ACKED] = OPEN_SENT,
		[BGP_EV_TCP_CONFIRMED] = OPEN_SENT,
		[BGP_EV_TCP_FAILS] = IDLE_INC(0),
	},
	[BGP_ST_OPENSENT] = {
		[BGP_EV_MANUAL_START] = STAY(OPENSENT),
		[BGP_EV_AUTOMATIC_START] = STAY(OPENSENT),
		[BGP_EV_AUTOMATIC_START_PASSIVE] = STAY(OPENSENT),
		[BGP_EV_MANUAL_STOP] = STOP_NOTIFY,
		[BGP_EV_GRACEFUL_STOP] = STOP_NOTIFY,
		[BGP_EV_HOLD_EXPIRES] = NOTIFY(BGP_ERR_HOLD, 0),
		[BGP_EV_TCP_CR_ACKED] = STAY(OPENSENT),
		[BGP_EV_TCP_CONFIRMED] = STAY(OPENSENT),
		[BGP_EV_TCP_FAILS] = C(BGP_A_TCP_DROP | BGP_A_CRT_START | BGP_A_HOLD_STOP, ACTIVE),
		[BGP_EV_OPEN] = C(BGP_A_CRT_STOP | BGP_A_SEND_KEEPALIVE | BGP_A_KA_START |
				  BGP_A_HOLD_START, OPENCONFIRM),
		[BGP_EV_HEADER_ERR] = IDLE_INC(BGP_A_SEND_NOTIF_ERR),
		[BGP_EV_OPEN_ERR] = IDLE_INC(BGP_A_SEND_NOTIF_ERR),
		[BGP_EV_OPEN_COLLISION_DUMP] = NOTIFY(BGP_ERR_CEASE, BGP_CEASE_COLLISION),
		[BGP_EV_NOTIF_VERSION_ERR] = C(DOWN, IDLE),
		[BGP_EV_NOTIF] = IDLE_INC(0),
	},
	[BGP_ST_OPENCONFIRM] = {
		[BGP_EV_MANUAL_START] = STAY(OPENCONFIRM),
		[BGP_EV_AUTOMATIC_START] = STAY(OPENCONFIRM),
		[BGP_EV_AUTOMATIC_START_PASSIVE] = STAY(OPENCONFIRM),
		[BGP_EV_MANUAL_STOP] = STOP_NOTIFY,
		[BGP_EV_GRACEFUL_STOP] = STOP_NOTIFY,
		[BGP_EV_HOLD_EXPIRES] = NOTIFY(BGP_ERR_HOLD, 0),
		[BGP_EV_KEEPALIVE_EXPIRES] = C(BGP_A_SEND_KEEPALIVE | BGP_A_KA_START, OPENCONFIRM),
		[BGP_EV_TCP_CR_ACKED] = STAY(OPENCONFIRM),
		[BGP_EV_TCP_CONFIRMED] = STAY(OPENCONFIRM),
		[BGP_EV_TCP_FAILS] = IDLE_INC(0),
		[BGP_EV_NOTIF] = IDLE_INC(0),
		[BGP_EV_NOTIF_VERSION_ERR] = C(DOWN, IDLE),
		[BGP_EV_HEADER_ERR] = IDLE_INC(BGP_A_SEND_NOTIF_ERR),
		[BGP_EV_OPEN_ERR] = IDLE_INC(BGP_A_SEND_NOTIF_ERR),
		[BGP_EV_OPEN_COLLISION_DUMP] = NOTIFY(BGP_ERR_CEASE, BGP_CEASE_COLLISION),
		[BGP_EV_KEEPALIVE] = C(BGP_A_HOLD_START | BGP_A_ANNOUNCE, ESTABLISHED),
	},
	[BGP_ST_ESTABLISHED] = {
		[BGP_EV_MANUAL_START] = STAY(ESTABLISHED),
		[BGP_EV_AUTOMATIC_START] = STAY(ESTABLISHED),
		[BGP_EV_AUTOMATIC_START_PASSIVE] = STAY(ESTABLISHED),
		[BGP_EV_MANUAL_STOP] = STOP_NOTIFY,
		/* RFC 4724: the peer keeps our routes while we restart */
		[BGP_EV_GRACEFUL_STOP] = C(DOWN, IDLE, .count = CNT_ZERO),
		[BGP_EV_HOLD_EXPIRES] = NOTIFY(BGP_ERR_HOLD, 0),
		[BGP_EV_KEEPALIVE_EXPIRES] = C(BGP_A_SEND_KEEPALIVE | BGP_A_KA_START, ESTABLISHED),
		[BGP_EV_TCP_CR_ACKED] = STAY(ESTABLISHED),
		[BGP_EV_TCP_CONFIRMED] = STAY(ESTABLISHED),
		[BGP_EV_TCP_FAILS] = IDLE_INC(0),
		[BGP_EV_NOTIF_VERSION_ERR] = IDLE_INC(0),
		[BGP_EV_NOTIF] = IDLE_INC(0),
		[BGP_EV_KEEPALIVE] = C(BGP_A_HOLD_START, ESTABLISHED),
		[BGP_EV_UPDATE] = C(BGP_A_PROCESS_UPDATE | BGP_A_HOLD_START, ESTABLISHED),
		[BGP_EV_UPDATE_ERR] = IDLE_INC(BGP_A_SEND_NOTIF_ERR),
		[BGP_EV_HEADER_ERR] = IDLE_INC(BGP_A_SEND_NOTIF_ERR),
		[BGP_EV_OPEN_COLLISION_DUMP] = NOTIFY(BGP_ERR_CEASE, BGP_CEASE_COLLISION),
	},
};

/* "Any other event" per state. */
static const struct cell other[BGP_ST_COUNT] = {
	[BGP_ST_IDLE] = STAY(IDLE),
	[BGP_ST_CONNECT] = IDLE_INC(0),
	[BGP_ST_ACTIVE] = IDLE_INC(0),
	[BGP_ST_OPENSENT] = NOTIFY(BGP_ERR_FSM, BGP_FSM_IN_OPENSENT),
	[BGP_ST_OPENCONFIRM] = NOTIFY(BGP_ERR_FSM, BGP_FSM_IN_OPENCONFIRM),
	[BGP_ST_ESTABLISHED] = NOTIFY(BGP_ERR_FSM, BGP_FSM_IN_ESTABLISHED),
};

static const char *const state_names[BGP_ST_COUNT] = {
	"Idle", "Connect", "Active", "OpenSent", "OpenConfirm", "Established",
};
static const char *const event_names[BGP_EV_COUNT] = {
	[BGP_EV_MANUAL_START] = "ManualStart",
	[BGP_EV_MANUAL_STOP] = "ManualStop",
	[BGP_EV_AUTOMATIC_START] = "AutomaticStart",
	[BGP_EV_CONNECT_RETRY_EXPIRES] = "ConnectRetryTimer_Expires",
	[BGP_EV_HOLD_EXPIRES] = "HoldTimer_Expires",
	[BGP_EV_KEEPALIVE_EXPIRES] = "KeepaliveTimer_Expires",
	[BGP_EV_TCP_CR_ACKED] = "Tcp_CR_Acked",
	[BGP_EV_TCP_CONFIRMED] = "TcpConnectionConfirmed",
	[BGP_EV_TCP_FAILS] = "TcpConnectionFails",
	[BGP_EV_OPEN] = "BGPOpen",
	[BGP_EV_HEADER_ERR] = "BGPHeaderErr",
	[BGP_EV_OPEN_ERR] = "BGPOpenMsgErr",
	[BGP_EV_OPEN_COLLISION_DUMP] = "OpenCollisionDump",
	[BGP_EV_NOTIF_VERSION_ERR] = "NotifMsgVerErr",
	[BGP_EV_NOTIF] = "NotifMsg",
	[BGP_EV_KEEPALIVE] = "KeepAliveMsg",
	[BGP_EV_UPDATE] = "UpdateMsg",
	[BGP_EV_UPDATE_ERR] = "UpdateMsgErr",
	[BGP_EV_GRACEFUL_STOP] = "GracefulStop",
	[BGP_EV_AUTOMATIC_START_PASSIVE] = "AutomaticStart_with_PassiveTcpEstablishment",
};

const char *bgp_state_name(enum bgp_state s)
{
	return (unsigned)s < BGP_ST_COUNT ? state_names[s] : "?";
}

const char *bgp_event_name(enum bgp_event e)
{
	return (unsigned)e < BGP_EV_COUNT ? event_names[e] : "?";
}

void bgp_fsm_init(struct bgp_fsm *f, const char *peer, uint16_t hold_s, uint16_t keepalive_s,
		  uint16_t connect_retry_s)
{
	memset(f, 0, sizeof(*f));
	f->peer = peer ? peer : "";
	f->state = BGP_ST_IDLE;
	f->hold_s = hold_s == 1 || hold_s == 2 ? 3 : hold_s ? hold_s : 90;
	f->keepalive_s = keepalive_s;
	f->connect_retry_s = connect_retry_s ? connect_retry_s : 120;
}

void bgp_fsm_open(struct bgp_fsm *f, uint16_t peer_hold_s, bool gr)
{
	f->neg_hold_s = peer_hold_s < f->hold_s ? peer_hold_s : f->hold_s;
	if (!f->neg_hold_s)
		f->neg_keepalive_s = 0;
	else if (f->keepalive_s && f->keepalive_s < f->neg_hold_s)
		f->neg_keepalive_s = f->keepalive_s;
	else
		f->neg_keepalive_s = f->neg_hold_s / 3 ? f->neg_hold_s / 3 : 1;
	f->gr = gr;
}

/* The one place the state changes. */
static void set_state(struct bgp_fsm *f, enum bgp_state to, enum bgp_event ev, uint32_t act)
{
	f->transitions++;
	if (f->state != to)
		log_info("bgp", "session state", "peer=%s from=%s to=%s event=%s actions=0x%x",
			 log_q(f->peer), state_names[f->state], state_names[to], event_names[ev],
			 act);
	else
		log_v(3, "bgp", "session event", "peer=%s state=%s event=%s actions=0x%x",
		      log_q(f->peer), state_names[to], event_names[ev], act);
	if (to == BGP_ST_ESTABLISHED && f->state != BGP_ST_ESTABLISHED)
		f->established_count++;
	if (to == BGP_ST_IDLE)
		f->gr = false;	/* negotiated per session */
	f->state = to;
}

struct bgp_fsm_out bgp_fsm_event(struct bgp_fsm *f, enum bgp_event ev)
{
	struct bgp_fsm_out out = { .from = f->state };
	const struct cell *c;

	if ((unsigned)ev >= BGP_EV_COUNT || (unsigned)f->state >= BGP_ST_COUNT) {
		out.to = f->state;
		return out;
	}
	/* Without a negotiated graceful restart, stopping is stopping. */
	if (ev == BGP_EV_GRACEFUL_STOP && !(f->state == BGP_ST_ESTABLISHED && f->gr))
		ev = BGP_EV_MANUAL_STOP;
	c = &table[f->state][ev];
	if (!c->set)
		c = &other[f->state];
	out.actions = c->act;
	out.to = c->next;
	out.code = c->code;
	out.subcode = c->sub;
	out.connect_retry_s = f->connect_retry_s;
	out.hold_s = c->next == BGP_ST_OPENSENT ? OPENSENT_HOLD_S : f->neg_hold_s;
	out.keepalive_s = f->neg_keepalive_s;
	/* A negotiated hold time of 0 means no hold and no keepalive timer. */
	if ((out.actions & BGP_A_HOLD_START) && !out.hold_s)
		out.actions = (out.actions & ~BGP_A_HOLD_START) | BGP_A_HOLD_STOP;
	if ((out.actions & BGP_A_KA_START) && !out.keepalive_s)
		out.actions = (out.actions & ~BGP_A_KA_START) | BGP_A_KA_STOP;
	if (c->count == CNT_INC)
		f->connect_retry_count++;
	else if (c->count == CNT_ZERO)
		f->connect_retry_count = 0;
	set_state(f, out.to, ev, out.actions);
	return out;
}
