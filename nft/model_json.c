/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The state as JSON: what `ferry dump` prints and `ferry apply-state` reads.
 * Outside input: every field is checked, unknown fields are refused (a typo
 * must not silently become a default), and any error leaves `s` empty.
 *
 * { "node": { "nodeIPs": [..], "nodePortAddresses": [..], "podCIDRs": [..],
 *             "serviceCIDRs": [..], "masqueradeAll": false, "masqueradeBit": 14 },
 *   "services": [ { "key": "ns/name:port/tcp", "protocol": "tcp", "port": 80,
 *       "nodePort": 30080, "clusterIPs": [..], "externalIPs": [..],
 *       "loadBalancerIPs": [..], "sourceRanges": [..],
 *       "externalTrafficPolicy": "Cluster", "internalTrafficPolicy": "Cluster",
 *       "affinityTimeout": 10800,
 *       "endpoints": [ { "ip": "198.18.0.2", "port": 8080, "ready": true,
 *           "serving": true, "terminating": false, "local": true } ] } ] }
 */
#include "nft/model.h"
#include "core/log.h"

#include <errno.h>
#include <json-c/json.h>
#include <netinet/in.h>
#include <string.h>

static int bad(const char *where, const char *why)
{
	log_err("nft", "bad state", "at=%s err=%s", log_q(where), log_q(why));
	return -EINVAL;
}

static int get_addrs(json_object *o, const char *where, struct faddr **l, size_t *n, bool host)
{
	if (!json_object_is_type(o, json_type_array))
		return bad(where, "want an array");
	size_t len = json_object_array_length(o);
	for (size_t i = 0; i < len; i++) {
		json_object *e = json_object_array_get_idx(o, i);
		struct faddr a;
		if (!json_object_is_type(e, json_type_string) ||
		    faddr_parse(&a, json_object_get_string(e)))
			return bad(where, "want an address");
		if (host && a.plen != (a.family == AF_INET ? 32 : 128))
			return bad(where, "want a host address");
		if (fsvc_add_addr(l, n, &a))
			return -ENOMEM;
	}
	return 0;
}

static int get_int(json_object *o, const char *where, long min, long max, long *out)
{
	if (!json_object_is_type(o, json_type_int))
		return bad(where, "want an integer");
	int64_t v = json_object_get_int64(o);
	if (v < min || v > max)
		return bad(where, "out of range");
	*out = (long)v;
	return 0;
}

static int get_bool(json_object *o, const char *where, bool *out)
{
	if (!json_object_is_type(o, json_type_boolean))
		return bad(where, "want true or false");
	*out = json_object_get_boolean(o);
	return 0;
}

static int get_policy(json_object *o, const char *where, enum fpolicy *p)
{
	const char *s = json_object_is_type(o, json_type_string) ? json_object_get_string(o) : "";
	if (!strcmp(s, "Cluster"))
		*p = FPOLICY_CLUSTER;
	else if (!strcmp(s, "Local"))
		*p = FPOLICY_LOCAL;
	else
		return bad(where, "want Cluster or Local");
	return 0;
}

static int parse_ep(struct fsvc *v, json_object *o)
{
	struct fendpoint *e = fsvc_add_ep(v);
	bool have_serving = false, have_ip = false;
	long port = 0;

	if (!e)
		return -ENOMEM;
	if (!json_object_is_type(o, json_type_object))
		return bad(v->key, "endpoint: want an object");
	e->ready = true;
	json_object_object_foreach(o, k, val) {
		int r = 0;
		if (!strcmp(k, "ip")) {
			if (!json_object_is_type(val, json_type_string) ||
			    faddr_parse(&e->addr, json_object_get_string(val)) ||
			    e->addr.plen != (e->addr.family == AF_INET ? 32 : 128))
				return bad(v->key, "endpoint ip");
			have_ip = true;
		} else if (!strcmp(k, "port")) {
			r = get_int(val, "endpoint port", 1, 65535, &port);
		} else if (!strcmp(k, "ready")) {
			r = get_bool(val, "endpoint ready", &e->ready);
		} else if (!strcmp(k, "serving")) {
			r = get_bool(val, "endpoint serving", &e->serving);
			have_serving = true;
		} else if (!strcmp(k, "terminating")) {
			r = get_bool(val, "endpoint terminating", &e->terminating);
		} else if (!strcmp(k, "local")) {
			r = get_bool(val, "endpoint local", &e->local);
		} else if (!strcmp(k, "hintedAway")) {
			r = get_bool(val, "endpoint hintedAway", &e->hinted_away);
		} else {
			return bad(v->key, "endpoint: unknown field");
		}
		if (r)
			return r;
	}
	if (!have_ip || !port)
		return bad(v->key, "endpoint needs ip and port");
	e->port = (uint16_t)port;
	if (!have_serving)
		e->serving = e->ready;
	return 0;
}

static int parse_svc(struct fstate *s, json_object *o)
{
	json_object *key;
	long n;

	if (!json_object_is_type(o, json_type_object) ||
	    !json_object_object_get_ex(o, "key", &key) ||
	    !json_object_is_type(key, json_type_string))
		return bad("services", "each service needs a \"key\" string");
	const char *ks = json_object_get_string(key);
	if (!ks[0] || strlen(ks) > FSVC_KEY_MAX || strpbrk(ks, "\"\\\n"))
		return bad("services", "bad key");
	struct fsvc *v = fstate_add_svc(s, ks);
	if (!v)
		return -ENOMEM;
	v->proto = IPPROTO_TCP;
	json_object_object_foreach(o, k, val) {
		int r = 0;
		if (!strcmp(k, "key")) {
			continue;
		} else if (!strcmp(k, "protocol")) {
			int p = json_object_is_type(val, json_type_string) ?
				fproto_parse(json_object_get_string(val)) : -1;
			if (p < 0)
				return bad(v->key, "protocol: want tcp, udp or sctp");
			v->proto = (uint8_t)p;
		} else if (!strcmp(k, "port")) {
			if (!(r = get_int(val, "port", 1, 65535, &n)))
				v->port = (uint16_t)n;
		} else if (!strcmp(k, "nodePort")) {
			if (!(r = get_int(val, "nodePort", 0, 65535, &n)))
				v->node_port = (uint16_t)n;
		} else if (!strcmp(k, "clusterIPs")) {
			r = get_addrs(val, "clusterIPs", &v->cluster_ips, &v->n_cluster_ips, true);
		} else if (!strcmp(k, "externalIPs")) {
			r = get_addrs(val, "externalIPs", &v->external_ips, &v->n_external_ips, true);
		} else if (!strcmp(k, "loadBalancerIPs")) {
			r = get_addrs(val, "loadBalancerIPs", &v->lb_ips, &v->n_lb_ips, true);
		} else if (!strcmp(k, "sourceRanges")) {
			r = get_addrs(val, "sourceRanges", &v->source_ranges, &v->n_source_ranges, false);
		} else if (!strcmp(k, "externalTrafficPolicy")) {
			r = get_policy(val, "externalTrafficPolicy", &v->external_policy);
		} else if (!strcmp(k, "internalTrafficPolicy")) {
			r = get_policy(val, "internalTrafficPolicy", &v->internal_policy);
		} else if (!strcmp(k, "affinityTimeout")) {
			if (!(r = get_int(val, "affinityTimeout", 0, 86400, &n)))
				v->affinity_timeout = (uint32_t)n;
		} else if (!strcmp(k, "endpoints")) {
			if (!json_object_is_type(val, json_type_array))
				return bad(v->key, "endpoints: want an array");
			for (size_t i = 0; i < json_object_array_length(val) && !r; i++)
				r = parse_ep(v, json_object_array_get_idx(val, i));
		} else {
			return bad(v->key, "unknown field");
		}
		if (r)
			return r;
	}
	if (!v->port)
		return bad(v->key, "needs a port");
	return 0;
}

static int parse_node(struct fnode *nd, json_object *o)
{
	if (!json_object_is_type(o, json_type_object))
		return bad("node", "want an object");
	json_object_object_foreach(o, k, val) {
		int r;
		if (!strcmp(k, "nodeIPs"))
			r = get_addrs(val, "nodeIPs", &nd->node_ips, &nd->n_node_ips, true);
		else if (!strcmp(k, "nodePortAddresses"))
			r = get_addrs(val, "nodePortAddresses", &nd->nodeport_cidrs, &nd->n_nodeport_cidrs, false);
		else if (!strcmp(k, "podCIDRs"))
			r = get_addrs(val, "podCIDRs", &nd->pod_cidrs, &nd->n_pod_cidrs, false);
		else if (!strcmp(k, "serviceCIDRs"))
			r = get_addrs(val, "serviceCIDRs", &nd->service_cidrs, &nd->n_service_cidrs, false);
		else if (!strcmp(k, "masqueradeAll"))
			r = get_bool(val, "masqueradeAll", &nd->masquerade_all);
		else if (!strcmp(k, "podInterfacePrefix"))
			r = get_bool(val, "podInterfacePrefix", &nd->pod_iface_prefix);
		else if (!strcmp(k, "podInterface")) {
			const char *n = json_object_is_type(val, json_type_string) ?
					json_object_get_string(val) : "";
			r = 0;
			if (!*n || strlen(n) >= sizeof(nd->pod_iface))
				r = bad("podInterface", "want an interface name of 1 to 15 characters");
			else
				strcpy(nd->pod_iface, n);
		}
		else if (!strcmp(k, "masqueradeBit")) {
			long bit = 14;
			if (!(r = get_int(val, "masqueradeBit", 0, 31, &bit)))
				nd->masq_mark = 1u << bit;
		}
		else
			return bad("node", "unknown field");
		if (r)
			return r;
	}
	if (nd->pod_iface_prefix && !nd->pod_iface[0])
		return bad("podInterfacePrefix", "needs podInterface");
	return 0;
}

int fstate_from_json(struct fstate *s, const char *text, size_t len)
{
	struct json_tokener *tok = json_tokener_new();
	json_object *root;
	int r = 0;

	fstate_init(s);
	if (!tok)
		return -ENOMEM;
	root = json_tokener_parse_ex(tok, text, (int)(len > 0x7fffffff ? 0x7fffffff : len));
	if (!root || json_tokener_get_error(tok) != json_tokener_success ||
	    tok->char_offset != (int)len) {
		/* Trailing garbage counts as an error too, except whitespace. */
		size_t off = (size_t)tok->char_offset;
		while (root && off < len && strchr(" \t\r\n", text[off]))
			off++;
		if (!root || off != len) {
			json_object_put(root);
			json_tokener_free(tok);
			return bad("top", "not one JSON document");
		}
	}
	json_tokener_free(tok);
	if (!json_object_is_type(root, json_type_object)) {
		r = bad("top", "want an object");
		goto out;
	}
	json_object_object_foreach(root, k, val) {
		if (!strcmp(k, "node")) {
			r = parse_node(&s->node, val);
		} else if (!strcmp(k, "services")) {
			if (!json_object_is_type(val, json_type_array)) {
				r = bad("services", "want an array");
				break;
			}
			for (size_t i = 0; i < json_object_array_length(val) && !r; i++)
				r = parse_svc(s, json_object_array_get_idx(val, i));
		} else {
			r = bad("top", "unknown field");
		}
		if (r)
			break;
	}
	if (!r) {
		fstate_sort(s);
		r = fstate_check(s);
	}
out:
	json_object_put(root);
	if (r)
		fstate_free(s);
	return r;
}

static json_object *addrs_json(const struct faddr *l, size_t n)
{
	json_object *a = json_object_new_array();
	char buf[64];
	for (size_t i = 0; i < n; i++)
		json_object_array_add(a, json_object_new_string(faddr_str(&l[i], buf, sizeof(buf))));
	return a;
}

char *fstate_to_json(const struct fstate *s)
{
	json_object *root = json_object_new_object(), *node = json_object_new_object();
	json_object *svcs = json_object_new_array();
	char buf[64];

	json_object_object_add(node, "nodeIPs", addrs_json(s->node.node_ips, s->node.n_node_ips));
	json_object_object_add(node, "nodePortAddresses", addrs_json(s->node.nodeport_cidrs, s->node.n_nodeport_cidrs));
	json_object_object_add(node, "podCIDRs", addrs_json(s->node.pod_cidrs, s->node.n_pod_cidrs));
	json_object_object_add(node, "serviceCIDRs", addrs_json(s->node.service_cidrs, s->node.n_service_cidrs));
	if (s->node.pod_iface[0])	/* absent when unused: older dumps stay valid */
		json_object_object_add(node, "podInterface", json_object_new_string(s->node.pod_iface));
	if (s->node.pod_iface_prefix)
		json_object_object_add(node, "podInterfacePrefix", json_object_new_boolean(true));
	json_object_object_add(node, "masqueradeAll", json_object_new_boolean(s->node.masquerade_all));
	json_object_object_add(node, "masqueradeBit", json_object_new_int(__builtin_ctz(fnode_masq_mark(&s->node))));
	json_object_object_add(root, "node", node);
	for (size_t i = 0; i < s->n_svcs; i++) {
		const struct fsvc *v = &s->svcs[i];
		json_object *o = json_object_new_object(), *eps = json_object_new_array();
		json_object_object_add(o, "key", json_object_new_string(v->key));
		json_object_object_add(o, "protocol", json_object_new_string(fproto_name(v->proto)));
		json_object_object_add(o, "port", json_object_new_int(v->port));
		json_object_object_add(o, "nodePort", json_object_new_int(v->node_port));
		json_object_object_add(o, "clusterIPs", addrs_json(v->cluster_ips, v->n_cluster_ips));
		json_object_object_add(o, "externalIPs", addrs_json(v->external_ips, v->n_external_ips));
		json_object_object_add(o, "loadBalancerIPs", addrs_json(v->lb_ips, v->n_lb_ips));
		json_object_object_add(o, "sourceRanges", addrs_json(v->source_ranges, v->n_source_ranges));
		json_object_object_add(o, "externalTrafficPolicy", json_object_new_string(
			v->external_policy == FPOLICY_LOCAL ? "Local" : "Cluster"));
		json_object_object_add(o, "internalTrafficPolicy", json_object_new_string(
			v->internal_policy == FPOLICY_LOCAL ? "Local" : "Cluster"));
		json_object_object_add(o, "affinityTimeout", json_object_new_int((int)v->affinity_timeout));
		for (size_t k = 0; k < v->n_eps; k++) {
			const struct fendpoint *e = &v->eps[k];
			json_object *eo = json_object_new_object();
			json_object_object_add(eo, "ip", json_object_new_string(faddr_str(&e->addr, buf, sizeof(buf))));
			json_object_object_add(eo, "port", json_object_new_int(e->port));
			json_object_object_add(eo, "ready", json_object_new_boolean(e->ready));
			json_object_object_add(eo, "serving", json_object_new_boolean(e->serving));
			json_object_object_add(eo, "terminating", json_object_new_boolean(e->terminating));
			json_object_object_add(eo, "local", json_object_new_boolean(e->local));
			if (e->hinted_away)
				json_object_object_add(eo, "hintedAway", json_object_new_boolean(true));
			json_object_array_add(eps, eo);
		}
		json_object_object_add(o, "endpoints", eps);
		json_object_array_add(svcs, o);
	}
	json_object_object_add(root, "services", svcs);
	char *out = strdup(json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(root);
	return out;
}
