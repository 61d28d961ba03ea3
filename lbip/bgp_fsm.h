/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The BGP-4 finite-state machine of RFC 4271 section 8, as one table of
 * (state, event) -> (actions, next state). Pure computation: the driver
 * (sockets, timers) feeds events in and performs the returned actions in
 * the order the enum bgp_action bits are listed. Every transition is logged
 * by one function. Not modelled (RFC 4271 optional attributes all FALSE):
 * DelayOpen, peer oscillation damping, collision detection in
 * Established (the driver runs one machine per connection, resolves
 * collisions and feeds OpenCollisionDump to the losing one). Passive TCP
 * establishment is event 5 only: the machine of an accepted connection.
 */
#ifndef FERRY_LBIP_BGP_FSM_H
#define FERRY_LBIP_BGP_FSM_H

#include <stdbool.h>
#include <stdint.h>

enum bgp_state {
	BGP_ST_IDLE, BGP_ST_CONNECT, BGP_ST_ACTIVE, BGP_ST_OPENSENT, BGP_ST_OPENCONFIRM,
	BGP_ST_ESTABLISHED,
	BGP_ST_COUNT
};

/* RFC 4271 8.1 event numbers in comments; GracefulStop is ferry's. */
enum bgp_event {
	BGP_EV_MANUAL_START,		/* 1 */
	BGP_EV_MANUAL_STOP,		/* 2 */
	BGP_EV_AUTOMATIC_START,		/* 3: the driver's retry after Idle */
	BGP_EV_CONNECT_RETRY_EXPIRES,	/* 9 */
	BGP_EV_HOLD_EXPIRES,		/* 10 */
	BGP_EV_KEEPALIVE_EXPIRES,	/* 11 */
	BGP_EV_TCP_CR_ACKED,		/* 16: our connect() completed */
	BGP_EV_TCP_CONFIRMED,		/* 17: we accepted the peer's connection */
	BGP_EV_TCP_FAILS,		/* 18 */
	BGP_EV_OPEN,			/* 19: a valid OPEN (bgp_fsm_open() first) */
	BGP_EV_HEADER_ERR,		/* 21: the driver sends the decoder's NOTIFICATION */
	BGP_EV_OPEN_ERR,		/* 22: likewise */
	BGP_EV_OPEN_COLLISION_DUMP,	/* 23 */
	BGP_EV_NOTIF_VERSION_ERR,	/* 24: NOTIFICATION 2/1 received */
	BGP_EV_NOTIF,			/* 25: any other NOTIFICATION received */
	BGP_EV_KEEPALIVE,		/* 26 */
	BGP_EV_UPDATE,			/* 27 */
	BGP_EV_UPDATE_ERR,		/* 28: the decoder said RESET */
	BGP_EV_GRACEFUL_STOP,		/* ferry: stop for a restart; ManualStop unless
					 * Established with graceful restart negotiated */
	BGP_EV_AUTOMATIC_START_PASSIVE,	/* 5: the machine of an accepted connection,
					 * TcpConnectionConfirmed follows at once */
	BGP_EV_COUNT
};

/* What the driver does, in this bit order. Timers: *_START (re)arms with
 * the value in struct bgp_fsm_out, *_STOP disarms. */
enum bgp_action {
	BGP_A_SEND_NOTIF	= 1u << 0,	/* out.code/out.subcode, no data */
	BGP_A_SEND_NOTIF_ERR	= 1u << 1,	/* the decoder's struct bgp_error */
	BGP_A_SEND_OPEN		= 1u << 2,
	BGP_A_SEND_KEEPALIVE	= 1u << 3,
	BGP_A_TCP_DROP		= 1u << 4,	/* close; without a NOTIFICATION unless above */
	BGP_A_TCP_CONNECT	= 1u << 5,	/* start connect() (and keep listening) */
	BGP_A_RELEASE		= 1u << 6,	/* forget the peer's routes and session state */
	BGP_A_CRT_START		= 1u << 7,	/* ConnectRetryTimer, out.connect_retry_s */
	BGP_A_CRT_STOP		= 1u << 8,
	BGP_A_HOLD_START	= 1u << 9,	/* HoldTimer, out.hold_s */
	BGP_A_HOLD_STOP		= 1u << 10,
	BGP_A_KA_START		= 1u << 11,	/* KeepaliveTimer, out.keepalive_s */
	BGP_A_KA_STOP		= 1u << 12,
	BGP_A_PROCESS_UPDATE	= 1u << 13,	/* apply the UPDATE just decoded */
	BGP_A_ANNOUNCE		= 1u << 14,	/* entered Established: send our routes + EoR */
};

/* The configuration and the session's negotiated values. */
struct bgp_fsm {
	const char *peer;		/* for the log */
	enum bgp_state state;
	/* configured */
	uint16_t hold_s;		/* ours: 0 or >= 3 (default 90) */
	uint16_t keepalive_s;		/* 0: hold/3 */
	uint16_t connect_retry_s;	/* default 120 */
	/* from the peer's OPEN (bgp_fsm_open) */
	uint16_t neg_hold_s, neg_keepalive_s;
	bool gr;			/* graceful restart negotiated (both sent cap 64) */
	/* counters */
	uint32_t connect_retry_count;	/* RFC 4271 ConnectRetryCounter */
	uint32_t established_count;	/* times Established was entered */
	uint32_t transitions;
};

struct bgp_fsm_out {
	uint32_t actions;		/* enum bgp_action bits */
	enum bgp_state from, to;
	uint8_t code, subcode;		/* for BGP_A_SEND_NOTIF */
	uint16_t connect_retry_s, hold_s, keepalive_s;	/* for the *_START actions */
};

/* Idle, with defaults for the zero values (hold 90, retry 120). */
void bgp_fsm_init(struct bgp_fsm *f, const char *peer, uint16_t hold_s, uint16_t keepalive_s,
		  uint16_t connect_retry_s);

/* Before BGP_EV_OPEN: the peer's hold time and whether both sides sent
 * the graceful restart capability. Hold = min(ours, theirs); keepalive =
 * the configured value if below the hold time, else hold/3; 0 when hold is 0. */
void bgp_fsm_open(struct bgp_fsm *f, uint16_t peer_hold_s, bool gr);

/* Look up the cell, update state and counters, log the transition. */
struct bgp_fsm_out bgp_fsm_event(struct bgp_fsm *f, enum bgp_event ev);

const char *bgp_state_name(enum bgp_state s);
const char *bgp_event_name(enum bgp_event e);

#endif
