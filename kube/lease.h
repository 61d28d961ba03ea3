/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * coordination.k8s.io/v1 Leases: acquire, renew, release, as client-go's
 * leader election does. Every attempt is a read-modify-write (409 retried),
 * driven by loop timers:
 *
 *  - not holding: try every retry period; a lease held by someone else is
 *    taken only after it has not changed for leaseDurationSeconds *as
 *    observed locally* (clocks of different machines are not compared);
 *  - holding: renew every retry period; if no renewal succeeded for the
 *    renew deadline, the lease is considered lost (callback) before its
 *    holders' peers could take it;
 *  - release: holderIdentity cleared, leaseDurationSeconds 1.
 */
#ifndef FERRY_KUBE_LEASE_H
#define FERRY_KUBE_LEASE_H

#include "kube/client.h"

struct kube_lease;

struct kube_lease_opts {
	const char *namespace, *name, *identity;
	int duration_s;		/* 0: 15 */
	int renew_deadline_ms;	/* 0: 10000 */
	int retry_ms;		/* 0: 2000 */
};

/* `changed` is called when holding starts or stops. */
struct kube_lease *kube_lease_new(struct kube_client *c, const struct kube_lease_opts *o,
				  void (*changed)(void *arg, bool held), void *arg);
void kube_lease_start(struct kube_lease *l);
/* Give the lease up (if held) and stop trying. */
void kube_lease_release(struct kube_lease *l);
/* Holding, as last decided (the `changed` callback tells each change). */
bool kube_lease_held(const struct kube_lease *l);
/* Fencing, for every leader-only action: held AND the last successful
 * renewal (counted from when its renewTime was taken) is younger than
 * renew_deadline_ms, which is shorter than the duration the others wait.
 * Checks the clock now, between the renew timer's ticks too. */
bool kube_lease_valid(const struct kube_lease *l);
/* ms since that renewal; -1 when not held. */
int64_t kube_lease_renew_age_ms(const struct kube_lease *l);
/* spec.leaseTransitions as last read or written. */
int64_t kube_lease_transitions(const struct kube_lease *l);
const char *kube_lease_holder(const struct kube_lease *l);	/* last seen, may be NULL */
void kube_lease_free(struct kube_lease *l);

/* "2026-11-26T13:20:01.123456Z" (metav1.MicroTime) for now. */
void kube_micro_time(char buf[32]);

#endif
