/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * src/bgpsession against a real BIRD 2, in throw-away network namespaces
 * (ctest runs it under `unshare -n`; BIRD runs in a second namespace made
 * by a child, joined to ours by a veth pair a <-> b):
 *  - an eBGP session over IPv4 (graceful restart on both sides) reaches
 *    Established; a /32 and a /128 (IPv6 next hop over the IPv4 session)
 *    show in `birdc show route all` with their community and large
 *    community;
 *  - a route removed from the RIB is withdrawn;
 *  - a graceful stop with graceful restart negotiated closes without a
 *    NOTIFICATION and BIRD keeps the routes (stale) until we are back;
 *    the new session (R bit) re-announces and they stay;
 *  - a plain stop sends Cease and BIRD drops the routes at once;
 *  - GoBGP (when installed) as a second implementation: the same routes,
 *    communities and next hops in its RIB, and the withdrawal;
 *  - a second session over IPv6 with a TCP MD5 password establishes;
 *    one with the wrong password does not, nor one with a password BIRD
 *    does not have;
 *  - our listener (port 179, as the agent's): BIRD connects to us too, so
 *    sessions start with a collision or not, and stay up once up; with
 *    our connections refused (peer port 1179) BIRD's connection with the
 *    MD5 key of the listening socket establishes, the wrong key does not;
 *    BIRD `passive on`: we connect.
 * Exit 77 (skipped) when not root or bird/birdc/ip is missing.
 */
#include "core/log.h"
#include "core/loop.h"
#include "core/test.h"
#include "lbip/bgp_rib.h"
#include "src/bgplisten.h"
#include "src/bgpsession.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static struct loop *L;
static char dir[64], sock[128];
static pid_t bird_pid = -1;
static struct bgp_listener *LS;

/* A session known to the listener, as the agent's are. */
static struct bgp_session *sess_new(const struct lb_peer *p, const struct bgp_session_opts *o)
{
	struct bgp_session *s = bgp_session_new(L, p, o, NULL, NULL);

	if (s)
		bgp_listener_add(LS, s);
	return s;
}

static void sess_free(struct bgp_session *s, bool graceful)
{
	if (s)
		bgp_listener_del(LS, s);
	bgp_session_free(s, graceful);
}

static int sh(const char *cmd)
{
	int rc = system(cmd);

	return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

static void spin(int ms)
{
	uint64_t end = loop_now_ms() + (uint64_t)ms;

	while (loop_now_ms() < end)
		loop_run_once(L, 10);
}

/* cmd's output into out (the loop keeps running meanwhile). */
static int run_out(const char *what, char *out, size_t len)
{
	char cmd[700], path[160];
	int st = 0, fd;
	pid_t pid;
	ssize_t n;

	snprintf(path, sizeof(path), "%s/out", dir);
	snprintf(cmd, sizeof(cmd), "%s >%s 2>&1", what, path);
	if ((pid = fork()) == 0) {
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	while (waitpid(pid, &st, WNOHANG) == 0)
		loop_run_once(L, 10);
	out[0] = 0;
	if ((fd = open(path, O_RDONLY)) >= 0) {
		n = read(fd, out, len - 1);
		out[n > 0 ? n : 0] = 0;
		close(fd);
	}
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int birdc(const char *what, char *out, size_t len)
{
	char cmd[400];

	snprintf(cmd, sizeof(cmd), "birdc -s %s %s", sock, what);
	return run_out(cmd, out, len);
}

/* Wait up to ms for `needle` to be in (or, present false, gone from)
 * birdc's answer to `what`. */
static bool wait_for(const char *what, const char *needle, bool present, int ms, char *out,
		     size_t len)
{
	uint64_t end = loop_now_ms() + (uint64_t)ms;

	do {
		birdc(what, out, len);
		if ((strstr(out, needle) != NULL) == present)
			return true;
		spin(100);
	} while (loop_now_ms() < end);
	return false;
}

static bool wait_state(struct bgp_session *s, enum bgp_state st, int ms)
{
	uint64_t end = loop_now_ms() + (uint64_t)ms;
	struct bgp_session_info i;

	do {
		bgp_session_info(s, &i);
		if (i.state == st)
			return true;
		spin(20);
	} while (loop_now_ms() < end);
	return false;
}

static const char bird_conf[] =
	"router id 192.0.2.2;\n"
	"log stderr all;\n"
	"protocol device { scan time 1; }\n"
	"protocol direct { ipv4; ipv6; interface \"b\"; }\n"
	"template bgp t {\n"
	"  local as 64512;\n"
	"  hold time 9; keepalive time 3; connect retry time 1; error wait time 1, 2;\n"
	"  graceful restart on;\n"
	"  ipv4 { import all; export none; };\n"
	"  ipv6 { import all; export none; };\n"
	"}\n"
	"protocol bgp v4 from t { local 192.0.2.2 as 64512; neighbor 192.0.2.1 as 64513; }\n"
	"protocol bgp sec6 from t { local 2001:db8::2 as 64512; neighbor 2001:db8::1 as 64513;\n"
	"  password \"s3cret-key\"; }\n"
	"protocol bgp pas from t { local 192.0.2.12 as 64512; neighbor 192.0.2.11 as 64513;\n"
	"  passive on; }\n";

/* GoBGP as a second, independent implementation reading our messages. */
static const char gobgp_conf[] =
	"[global.config]\n"
	"  as = 64512\n"
	"  router-id = \"192.0.2.2\"\n"
	"[[neighbors]]\n"
	"  [neighbors.config]\n"
	"    neighbor-address = \"192.0.2.1\"\n"
	"    peer-as = 64513\n"
	"  [[neighbors.afi-safis]]\n"
	"    [neighbors.afi-safis.config]\n"
	"      afi-safi-name = \"ipv4-unicast\"\n"
	"  [[neighbors.afi-safis]]\n"
	"    [neighbors.afi-safis.config]\n"
	"      afi-safi-name = \"ipv6-unicast\"\n";

/* `gobgp ARGS` inside GoBGP's namespace, its answer in out. */
static int gobgp(const char *args, char *out, size_t len)
{
	char cmd[300];

	snprintf(cmd, sizeof(cmd), "nsenter --net=/proc/%d/ns/net gobgp %s", (int)bird_pid, args);
	return run_out(cmd, out, len);
}

static bool gobgp_wait(const char *args, const char *needle, bool present, int ms, char *out,
		       size_t len)
{
	uint64_t end = loop_now_ms() + (uint64_t)ms;

	do {
		gobgp(args, out, len);
		if ((strstr(out, needle) != NULL) == present)
			return true;
		spin(100);
	} while (loop_now_ms() < end);
	return false;
}

/* A child in its own network namespace gets veth end b, then becomes the
 * router program: argv, output to dir/<log>. */
static int start_peer(const char *const *argv, const char *logname)
{
	int p[2], q[2];
	char c = 1, cmd[256];

	if (pipe(p) < 0)
		return -1;
	if (pipe(q) < 0) {
		close(p[0]);
		close(p[1]);
		return -1;
	}
	if ((bird_pid = fork()) == 0) {
		char log[160];
		int fd;

		close(p[1]);
		close(q[0]);
		/* own namespace first, then tell the parent it may move b in */
		if (unshare(CLONE_NEWNET) < 0 || write(q[1], &c, 1) != 1)
			_exit(1);
		if (read(p[0], &c, 1) != 1)	/* parent moved b in */
			_exit(1);
		if (sh("ip link set lo up && ip addr add 192.0.2.2/24 dev b && "
		       "ip addr add 192.0.2.12/24 dev b && "
		       "ip -6 addr add 2001:db8::2/64 dev b nodad && ip link set dev b up"))
			_exit(1);
		snprintf(log, sizeof(log), "%s/%s", dir, logname);
		if ((fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644)) >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execvp(argv[0], (char *const *)argv);
		_exit(127);
	}
	close(p[0]);
	close(q[1]);
	if (bird_pid < 0 || read(q[0], &c, 1) != 1) {
		close(q[0]);
		close(p[1]);
		return -1;
	}
	close(q[0]);
	snprintf(cmd, sizeof(cmd), "ip link add name a type veth peer name b netns %d && "
		 "ip link set lo up && ip addr add 192.0.2.1/24 dev a && "
		 "ip addr add 192.0.2.11/24 dev a && "
		 "ip -6 addr add 2001:db8::1/64 dev a nodad && ip link set dev a up", (int)bird_pid);
	if (bird_pid < 0 || sh(cmd)) {
		close(p[1]);
		return -1;
	}
	c = 1;
	if (write(p[1], &c, 1) != 1)
		return -1;
	close(p[1]);
	return 0;
}

static int start_bird(void)
{
	char conf[160];
	const char *argv[] = { "bird", "-f", "-c", conf, "-s", sock, NULL };
	FILE *f;

	snprintf(conf, sizeof(conf), "%s/bird.conf", dir);
	if (!(f = fopen(conf, "w")))
		return -1;
	fputs(bird_conf, f);
	fclose(f);
	return start_peer(argv, "bird.log");
}

/* The router goes, its namespace and the veth pair with it. */
static void stop_peer(void)
{
	if (bird_pid > 0) {
		kill(bird_pid, SIGTERM);
		waitpid(bird_pid, NULL, 0);
		bird_pid = -1;
	}
	/* the pair dies with the namespace; do not race the next one */
	for (int i = 0; i < 50 && sh("ip link show dev a >/dev/null 2>&1") == 0; i++)
		usleep(20000);
}

static void cleanup(void)
{
	char cmd[200];

	stop_peer();
	if (dir[0]) {
		snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
		sh(cmd);
	}
}

static struct lb_addr A(const char *s)
{
	struct lb_addr a = { 0 };

	if (lb_addr_parse(s, &a))
		abort();
	return a;
}

static struct lb_community comms[] = { { false, { 65000, 1 } }, { true, { 64513, 7, 42 } } };

static void add(struct bgp_rib *r, const char *ip, int len)
{
	struct bgp_route x = { { A(ip), (uint8_t)len }, 0, comms, 2 };
	struct bgp_rib one = { &x, 1, 1 }, cp = { 0 };

	if (bgp_rib_copy(&cp, &one))
		abort();
	r->r = realloc(r->r, (r->n + 1) * sizeof(*r->r));
	r->r[r->n++] = cp.r[0];
	free(cp.r);
}

int main(void)
{
	struct lb_peer v4 = { .name = "bird-v4", .peer_address = A("192.0.2.2"), .peer_asn = 64512,
			      .my_asn = 64513, .hold_time_s = 9, .graceful_restart = true };
	struct lb_peer md5 = { .name = "bird-md5", .peer_address = A("2001:db8::2"),
			       .peer_asn = 64512, .my_asn = 64513, .hold_time_s = 9,
			       .password = "s3cret-key" };
	struct bgp_session_opts o = { .fallback_id = 0xc0000201, .nh4 = A("192.0.2.1"), .nh6 = A("2001:db8::1"),
				      .connect_retry_s = 2, .idle_min_ms = 200, .idle_max_ms = 1000 };
	struct bgp_rib rib = { 0 }, v6only = { 0 };
	struct bgp_session *s, *m;
	struct bgp_session_info info;
	static char out[65536];
	bool ok;

	if (geteuid() != 0 || sh("command -v ip >/dev/null && command -v bird >/dev/null && "
				 "command -v birdc >/dev/null")) {
		fprintf(stderr, "skipped: needs root, ip, bird and birdc\n");
		return 77;
	}
	snprintf(dir, sizeof(dir), "/tmp/ferry-bgp-bird-XXXXXX");
	if (!mkdtemp(dir)) {
		dir[0] = 0;
		return 1;
	}
	snprintf(sock, sizeof(sock), "%s/bird.ctl", dir);
	atexit(cleanup);
	log_set_verbosity(2);
	L = loop_new();
	LS = bgp_listener_new(L, NULL, 0);
	CHECK(LS != NULL);
	if (start_bird() < 0) {
		fprintf(stderr, "cannot start BIRD in its namespace\n");
		return 1;
	}
	/* BIRD up and listening */
	CHECK(wait_for("show protocols", "v4", true, 5000, out, sizeof(out)));
	/* our link-local comes with the link up */
	for (int i = 0; i < 50 && sh("ip -6 addr show dev a scope link | grep -q fe80"); i++)
		spin(100);

	add(&rib, "198.51.100.10", 32);
	add(&rib, "2001:db8:5::10", 128);
	add(&v6only, "2001:db8:5::10", 128);

	/* ---- establish, announce ---- */
	s = sess_new(&v4, &o);
	CHECK(s != NULL);
	if (!s)
		return test_done("src_bgp_bird");
	CHECK(bgp_session_set_rib(s, &rib) == 0);
	CHECK(wait_state(s, BGP_ST_ESTABLISHED, 10000));
	bgp_session_info(s, &info);
	CHECK(info.gr);
	/* BIRD connects to us as well: whatever the collision left stays up */
	spin(2500);
	bgp_session_info(s, &info);
	CHECK_EQ_INT(info.state, BGP_ST_ESTABLISHED);
	CHECK_EQ_INT(info.established, 1);
	fprintf(stderr, "v4: established on %s connection, %llu collision(s)\n",
		info.incoming ? "BIRD's" : "our", (unsigned long long)info.collisions);
	/* BIRD saw our graceful restart capability, forwarding preserved */
	birdc("show protocols all v4", out, sizeof(out));
	{
		const char *nc = strstr(out, "Neighbor capabilities");

		CHECK(nc && strstr(nc, "AF preserved: ipv4 ipv6"));
		CHECK(nc && strstr(nc, "4-octet AS numbers") && strstr(nc, "Route refresh"));
	}
	ok = wait_for("show route all", "2001:db8:5::10/128", true, 5000, out, sizeof(out));
	CHECK(ok);
	CHECK(strstr(out, "198.51.100.10/32") != NULL);
	CHECK(strstr(out, "via 192.0.2.1 on b") != NULL);
	CHECK(strstr(out, "via 2001:db8::1 on b") != NULL);
	/* the IPv6 route over the IPv4 session: the link-local of the
	 * session's interface beside the node's IPv6 address */
	CHECK(strstr(out, "BGP.next_hop: 2001:db8::1 fe80::") != NULL);
	CHECK(strstr(out, "BGP.community: (65000,1)") != NULL);
	CHECK(strstr(out, "BGP.large_community: (64513, 7, 42)") != NULL);
	CHECK(strstr(out, "BGP.as_path: 64513") != NULL);
	if (!ok)
		fprintf(stderr, "%s\n", out);
	CHECK_EQ_INT(info.prefixes, 2);

	/* ---- withdraw ---- */
	CHECK(bgp_session_set_rib(s, &v6only) == 0);
	CHECK(wait_for("show route all", "198.51.100.10/32", false, 5000, out, sizeof(out)));
	CHECK(strstr(out, "2001:db8:5::10/128") != NULL);
	CHECK(bgp_session_set_rib(s, &rib) == 0);
	CHECK(wait_for("show route", "198.51.100.10/32", true, 5000, out, sizeof(out)));

	/* ---- graceful stop: no NOTIFICATION, BIRD keeps the routes ---- */
	sess_free(s, true);
	spin(1500);
	birdc("show protocols all v4", out, sizeof(out));
	CHECK(strstr(out, "Neighbor graceful restart active") != NULL);
	birdc("show route", out, sizeof(out));
	CHECK(strstr(out, "198.51.100.10/32") != NULL);
	CHECK(strstr(out, "2001:db8:5::10/128") != NULL);
	birdc("show protocols all v4", out, sizeof(out));
	CHECK(strstr(out, "Received: Cease") == NULL);
	/* back, as a restarted agent: same routes, End-of-RIB, still there */
	o.restarted = true;
	s = sess_new(&v4, &o);
	CHECK(s && bgp_session_set_rib(s, &rib) == 0);
	CHECK(wait_state(s, BGP_ST_ESTABLISHED, 10000));
	spin(1500);
	birdc("show route all", out, sizeof(out));
	CHECK(strstr(out, "198.51.100.10/32") != NULL);
	CHECK(strstr(out, "(stale)") == NULL && strstr(out, "stale") == NULL);

	/* ---- plain stop: Cease, the routes go at once ---- */
	sess_free(s, false);
	CHECK(wait_for("show route", "198.51.100.10/32", false, 2000, out, sizeof(out)));
	birdc("show protocols all v4", out, sizeof(out));
	CHECK(strstr(out, "Administrative shutdown") != NULL);

	/* ---- TCP MD5 over IPv6: right password, then a wrong one ---- */
	m = sess_new(&md5, &o);
	CHECK(m && bgp_session_set_rib(m, &rib) == 0);
	CHECK(wait_state(m, BGP_ST_ESTABLISHED, 10000));
	CHECK(wait_for("show route all protocol sec6", "198.51.100.10/32", true, 5000, out,
		       sizeof(out)));
	/* over IPv6: the global next hop and our link-local beside it */
	CHECK(strstr(out, "BGP.next_hop: 2001:db8::1 fe80::") != NULL);
	sess_free(m, false);
	md5.password = "wrong-key";
	m = sess_new(&md5, &o);
	CHECK(m != NULL);
	CHECK(!wait_state(m, BGP_ST_OPENSENT, 4000));
	bgp_session_info(m, &info);
	CHECK(info.state != BGP_ST_ESTABLISHED);
	sess_free(m, false);
	/* BIRD connects to us, MD5 on the listening socket: our own
	 * connections go to a port nobody listens on */
	md5.password = "s3cret-key";
	md5.peer_port = 1179;
	m = sess_new(&md5, &o);
	CHECK(m && bgp_session_set_rib(m, &rib) == 0);
	CHECK(wait_state(m, BGP_ST_ESTABLISHED, 10000));
	bgp_session_info(m, &info);
	CHECK(info.incoming);
	CHECK(wait_for("show route all protocol sec6", "198.51.100.10/32", true, 5000, out,
		       sizeof(out)));
	sess_free(m, false);
	CHECK(wait_for("show route all protocol sec6", "198.51.100.10/32", false, 5000, out,
		       sizeof(out)));
	md5.password = "wrong-key";
	m = sess_new(&md5, &o);
	CHECK(m != NULL);
	CHECK(!wait_state(m, BGP_ST_OPENSENT, 4000));
	sess_free(m, false);
	md5.peer_port = 0;
	/* BIRD passive: only our connection */
	{
		struct lb_peer pas = v4;

		pas.name = "bird-passive";
		pas.peer_address = A("192.0.2.12");
		pas.source_address = A("192.0.2.11");
		pas.password = NULL;
		m = sess_new(&pas, &o);
		CHECK(m && bgp_session_set_rib(m, &rib) == 0);
		CHECK(wait_state(m, BGP_ST_ESTABLISHED, 10000));
		bgp_session_info(m, &info);
		CHECK(!info.incoming);
		CHECK_EQ_INT(info.collisions, 0);
		CHECK(wait_for("show route all protocol pas", "198.51.100.10/32", true, 5000, out,
			       sizeof(out)));
		sess_free(m, false);
	}
	/* a collision with BIRD: our OPEN on our connection held back by
	 * nftables until BIRD's own connection to us is there; BIRD's
	 * identifier is higher, so its connection must be the one kept */
	if (sh("nft add table inet ferrytest && nft add chain inet ferrytest o "
	       "'{ type filter hook output priority 0; }' && nft add rule inet ferrytest o "
	       "ip daddr 192.0.2.2 tcp dport 179 'tcp flags & psh == psh' drop") == 0) {
		m = sess_new(&v4, &o);
		CHECK(m && bgp_session_set_rib(m, &rib) == 0);
		CHECK(wait_state(m, BGP_ST_ESTABLISHED, 10000));
		sh("nft delete table inet ferrytest");
		spin(2500);
		bgp_session_info(m, &info);
		CHECK_EQ_INT(info.state, BGP_ST_ESTABLISHED);
		CHECK_EQ_INT(info.established, 1);
		CHECK(info.incoming);
		CHECK(info.collisions >= 1);
		fprintf(stderr, "v4 with our OPEN held: established on %s connection, %llu "
			"collision(s)\n", info.incoming ? "BIRD's" : "our",
			(unsigned long long)info.collisions);
		CHECK(wait_for("show route all protocol v4", "198.51.100.10/32", true, 5000, out,
			       sizeof(out)));
		sess_free(m, false);
	} else {
		fprintf(stderr, "collision part skipped: no nft\n");
	}
	/* a password where BIRD has none: the kernel drops the signed SYNs */
	v4.password = "only-ours";
	m = sess_new(&v4, &o);
	CHECK(m != NULL);
	CHECK(!wait_state(m, BGP_ST_OPENSENT, 3000));
	sess_free(m, false);

	/* ---- the same routes as GoBGP reads them ---- */
	stop_peer();
	if (sh("command -v gobgpd >/dev/null && command -v gobgp >/dev/null && "
	       "command -v nsenter >/dev/null") == 0) {
		char conf[160];
		const char *argv[] = { "gobgpd", "-t", "toml", "-f", conf, NULL };
		FILE *f;

		snprintf(conf, sizeof(conf), "%s/gobgpd.toml", dir);
		if ((f = fopen(conf, "w"))) {
			fputs(gobgp_conf, f);
			fclose(f);
		}
		CHECK(start_peer(argv, "gobgpd.log") == 0);
		spin(1000);	/* gobgpd listening */
		v4.password = NULL;
		v4.graceful_restart = false;
		s = sess_new(&v4, &o);
		CHECK(s && bgp_session_set_rib(s, &rib) == 0);
		CHECK(wait_state(s, BGP_ST_ESTABLISHED, 15000));
		CHECK(gobgp_wait("neighbor", "Establ", true, 5000, out, sizeof(out)));
		CHECK(gobgp_wait("global rib -a ipv4", "198.51.100.10/32", true, 5000, out, sizeof(out)));
		CHECK(strstr(out, "192.0.2.1") && strstr(out, "65000:1") && strstr(out, "64513:7:42"));
		if (!strstr(out, "64513:7:42"))
			fprintf(stderr, "%s\n", out);
		CHECK(gobgp_wait("global rib -a ipv6", "2001:db8:5::10/128", true, 5000, out, sizeof(out)));
		CHECK(strstr(out, "2001:db8::1") != NULL);
		CHECK(bgp_session_set_rib(s, &v6only) == 0);
		CHECK(gobgp_wait("global rib -a ipv4", "198.51.100.10/32", false, 5000, out, sizeof(out)));
		sess_free(s, false);
		CHECK(gobgp_wait("global rib -a ipv6", "2001:db8:5::10/128", false, 5000, out, sizeof(out)));
	} else {
		fprintf(stderr, "GoBGP part skipped: gobgpd, gobgp or nsenter missing\n");
	}

	bgp_rib_free(&rib);
	bgp_rib_free(&v6only);
	bgp_listener_free(LS);
	loop_free(L);
	if (test_failures) {
		char cmd[200];

		snprintf(cmd, sizeof(cmd), "tail -50 %s/*.log >&2", dir);
		sh(cmd);
	}
	return test_done("src_bgp_bird");
}
