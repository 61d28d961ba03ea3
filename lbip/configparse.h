/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Build a struct lb_config from MetalLB's two formats (docs/lbip-config.md):
 *  - the legacy ConfigMap value (the `config` key of ConfigMap
 *    metallb-system/config), strict like MetalLB's parser;
 *  - metallb.io resources, one object each, as JSON (from the API) or YAML.
 * Feed any number of pieces, then finish: the whole configuration is
 * validated as MetalLB validates it and is either returned complete or
 * refused as a whole (the caller keeps its last good one).
 *
 * When both formats are given, the resources win and the ConfigMap is
 * ignored with a warning, as MetalLB >= 0.13 reads only the resources.
 */
#ifndef FERRY_LBIP_CONFIGPARSE_H
#define FERRY_LBIP_CONFIGPARSE_H

#include "lbip/config.h"

/* One finding: path is where ("address-pools[1].addresses[0]",
 * "IPAddressPool metallb-system/pool-a: spec.addresses[2]"), msg says what. */
struct lb_error {
	char *path, *msg;
	bool warning;			/* reported, does not refuse the config */
};
struct lb_errors {
	struct lb_error *v;
	size_t n, cap;
	size_t n_errors;		/* entries with !warning */
};
void lb_errors_free(struct lb_errors *e);	/* leaves an empty list */

struct lb_config_builder;
struct lb_config_builder *lb_config_builder_new(void);	/* NULL: out of memory */
void lb_config_builder_free(struct lb_config_builder *b);

/* The legacy ConfigMap's `config` value. 0, or -EINVAL with errors in e. */
int lb_config_add_configmap_text(struct lb_config_builder *b, const char *text, size_t len,
				 struct lb_errors *e);
/* One metallb.io object (IPAddressPool, L2Advertisement, BGPAdvertisement,
 * Community, BGPPeer, BFDProfile) as JSON or YAML text, exactly one
 * document. 0, or -EINVAL with errors in e. */
int lb_config_add_resource(struct lb_config_builder *b, const char *text, size_t len,
			   struct lb_errors *e);
/* A multi-document YAML stream (ferry check-config): each document is a
 * ConfigMap manifest (its data.config is used), a metallb.io object, or a
 * bare legacy config value. name prefixes the paths ("file.yaml#2: ..."). */
int lb_config_add_stream(struct lb_config_builder *b, const char *name, const char *text,
			 size_t len, struct lb_errors *e);

/* Validate everything added and hand the result over (*out is the caller's,
 * lb_config_free). 0, or -EINVAL when any error was found now or by an
 * earlier add of the source used (*out is then NULL). Only the findings of
 * the whole-configuration checks are added to e here (the add calls
 * reported theirs). With nothing added, an empty config with source
 * LB_SRC_NONE. Use one builder per attempt; free it afterwards. */
int lb_config_finish(struct lb_config_builder *b, struct lb_config **out, struct lb_errors *e);
void lb_config_free(struct lb_config *c);

/* The one-line summary check-config prints and the agent logs:
 * "source=crds pools=2 addresses=300 l2advertisements=1 bgpadvertisements=0 peers=0 bfdprofiles=0". */
void lb_config_summary(const struct lb_config *c, char *buf, size_t len);

/* Go duration ("90s", "1m30s", "1.5h") rounded down to whole seconds.
 * 0 or -EINVAL. */
int lb_parse_duration(const char *s, uint64_t *seconds);

/* What the parser reads, from its own tables (for `ferry reference`). */
struct lb_config_kind {
	const char *kind;		/* metallb.io/v1beta1 */
	bool v1beta2;			/* metallb.io/v1beta2 served too */
	const char *what;
};
extern const struct lb_config_kind lb_config_kinds[];	/* until kind NULL */

struct lb_config_object {
	const char *kind;		/* a kind above, "ConfigMap" (the legacy
					 * value) or "*" (in several kinds) */
	const char *path;		/* in it: "spec.serviceAllocation", "peers[]" */
	const char *what;		/* NULL: nothing to add */
	const char *const *keys;	/* the fields taken, NULL-terminated; NULL:
					 * not a fixed set */
	const char *const *ignored;	/* MetalLB's fields ferry warns about and ignores */
};
extern const struct lb_config_object lb_config_objects[];	/* until kind NULL */

#endif
