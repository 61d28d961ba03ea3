/* SPDX-License-Identifier: GPL-2.0-or-later */
/* kube Service -> struct lb_svc (see svc.h). */
#include "lbip/svc.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool lb_svc_is_ours(const struct kube_service *s, const char *lb_class)
{
	if (!s || s->type != KUBE_SVC_LOAD_BALANCER)
		return false;
	if (!s->load_balancer_class || !*s->load_balancer_class)
		return true;
	return lb_class && !strcmp(s->load_balancer_class, lb_class);
}

const char *lb_svc_annotation(const struct kube_service *s, const char *suffix)
{
	char key[128];
	const char *v;

	snprintf(key, sizeof(key), "metallb.io/%s", suffix);
	if ((v = kube_object_annotation(&s->obj, key)))
		return v;
	snprintf(key, sizeof(key), "metallb.universe.tf/%s", suffix);
	return kube_object_annotation(&s->obj, key);
}

static enum lb_family_policy policy_of(const char *p)
{
	if (p && !strcmp(p, "RequireDualStack"))
		return LB_REQUIRE_DUAL_STACK;
	if (p && !strcmp(p, "PreferDualStack"))
		return LB_PREFER_DUAL_STACK;
	return LB_SINGLE_STACK;
}

static size_t copy_kv(struct lb_label *out, const struct kube_kv *kv, size_t n)
{
	for (size_t i = 0; i < n; i++)
		out[i] = (struct lb_label){ kv[i].key, kv[i].value };
	return n;
}

int lb_svc_view_init(struct lb_svc_view *v, const struct kube_service *s,
		     const struct kube_namespace *ns)
{
	size_t nl = s->obj.n_labels, nn = ns ? ns->obj.n_labels : 0, nsel = s->n_selector;
	struct lb_svc *o = &v->svc;

	memset(v, 0, sizeof(*v));
	v->labels = calloc(nl + nn + nsel + 1, sizeof(*v->labels));
	v->ports = calloc(s->n_ports + 1, sizeof(*v->ports));
	v->status_ips = calloc(s->n_lb_ingress + 1, sizeof(*v->status_ips));
	if (!v->labels || !v->ports || !v->status_ips) {
		lb_svc_view_free(v);
		return -ENOMEM;
	}
	o->ns = s->obj.namespace;
	o->name = s->obj.name;
	o->labels = v->labels;
	o->n_labels = copy_kv(v->labels, s->obj.labels, nl);
	o->ns_labels = v->labels + nl;
	o->n_ns_labels = ns ? copy_kv(v->labels + nl, ns->obj.labels, nn) : 0;
	o->selector = v->labels + nl + nn;
	o->n_selector = copy_kv(v->labels + nl + nn, s->selector, nsel);
	o->created = s->obj.created;
	o->load_balancer_ip = s->load_balancer_ip;
	o->lb_ips_annotation = lb_svc_annotation(s, "loadBalancerIPs");
	o->pool = lb_svc_annotation(s, "address-pool");
	o->sharing_key = lb_svc_annotation(s, "allow-shared-ip");
	o->policy = policy_of(s->ip_family_policy);
	for (size_t i = 0; i < s->n_ip_families && i < 2; i++)
		o->families[o->n_families++] = s->ip_families[i] == KUBE_IPV6 ? 6 : 4;
	for (size_t i = 0; i < s->n_ports; i++)
		v->ports[i] = (struct lb_port){ s->ports[i].protocol, s->ports[i].port };
	o->ports = v->ports;
	o->n_ports = s->n_ports;
	o->local = s->external_traffic_policy == KUBE_POLICY_LOCAL;
	for (size_t i = 0; i < s->n_lb_ingress; i++)
		if (s->lb_ingress[i].ip && !lb_addr_parse(s->lb_ingress[i].ip, &v->status_ips[o->n_status_ips]))
			o->n_status_ips++;
	o->status_ips = v->status_ips;
	return 0;
}

void lb_svc_view_free(struct lb_svc_view *v)
{
	free(v->labels);
	free(v->ports);
	free(v->status_ips);
	memset(v, 0, sizeof(*v));
}
