/*
 * v2g_stage.c - the v2g stage's thread, its state file, its configuration and its control commands (v2g_stage.h).
 *
 * One loop: wait for hub records or the tick, take the records, sample the published state when it changed, apply
 * the control mailbox, tick the machine, send the own Item when due, publish the view.  Each machine step's actions
 * are executed at once (execute()).  Runs on a pipeline thread: no printing; what happens is counted and traced.
 */
#include "stages/v2g/v2g_stage.h"

#include "stages/uplink/rpc.h"
#include "stages/uplink/telemetry.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <urcu.h>

#include "rt/clock.h"
#include "rt/registry.h"
#include "stages/log/log_stage.h"
#include "stages/v2g/v2g_rows.h"
#include "trace/tp.h"
#include "vehicle/vstate.h"

_Static_assert(sizeof(struct hub_tx_rec) != sizeof(struct log_line), "the two output rings are told apart by size");
_Static_assert(V2G_ESPNOW_ROW_MAX <= LOG_LINE_MAX + 32 && V2G_SESSION_ROW_MAX <= LOG_LINE_MAX + 32,
	       "rows are formatted into a log line (a longer row is counted, not cut)");

enum { V2G_SINK_ESPNOW = 0, V2G_SINK_SESSIONS = 1 };

static const struct log_line_sink v2g__sinks[] = {
	[V2G_SINK_ESPNOW] = { .base = "ESP_now_data_%Y%m%d_%H%M", .ext = ".csv", .naming = LOGFILE_STAMPED,
			      .header = V2G_ESPNOW_HEADER, .rotating = 1 },
	[V2G_SINK_SESSIONS] = { .base = "v2g_sessions_%Y%m%d_%H%M", .ext = ".csv", .naming = LOGFILE_STAMPED,
				.header = V2G_SESSIONS_HEADER, .rotating = 0 },
};
static const struct log_line_sinks v2g__sink_list = { v2g__sinks, 2 };

static const char *const v2g__drop_names[V2G_DROP__COUNT] = {
	"tx_full", "rows_full", "row_format", "save_failed", "station_duplicate", "station_stale",
};

void v2g_stage_conf_init(struct v2g_stage_conf *c)
{
	struct v2g_conf m;

	memset(c, 0, sizeof(*c));
	snprintf(c->state_dir, sizeof(c->state_dir), ".");
	c->item_period_ns = 2 * RT_NS_PER_SEC;
	c->tick_ns = 200 * RT_NS_PER_MS;
	c->expiry_ns = 60 * RT_NS_PER_SEC;
	c->desired_soc = 100.0;
	c->max_cost = 0.0;
	v2g_conf_defaults(&m);
	c->match_radius_m = m.match_radius_m;
	c->depart_radius_m = m.depart_radius_m;
	c->current_on_a = m.current_on_a;
	c->current_off_a = m.current_off_a;
	c->nearer_margin_m = m.nearer_margin_m;
	c->match_window_ns = m.match_window_ns;
	c->off_hold_ns = m.off_hold_ns;
	c->negotiate_timeout_ns = m.negotiate_timeout_ns;
	c->station_timeout_ns = m.station_timeout_ns;
	c->msg_period_ns = m.msg_period_ns;
	c->stop_retry_ns = m.stop_retry_ns;
	c->fall_timeout_ns = m.fall_timeout_ns;
	c->sample_gap_max_ns = m.sample_gap_max_ns;
	c->save_period_ns = m.save_period_ns;
	c->stop_retries = m.stop_retries;
	c->ack_by_current = m.ack_by_current;
	rt_sched_conf_init(&c->sched, SCHED_OTHER, 50);
}

void v2g_stage_session_conf(const struct v2g_stage_conf *c, struct v2g_conf *m)
{
	v2g_conf_defaults(m);
	m->match_radius_m = c->match_radius_m;
	m->depart_radius_m = c->depart_radius_m;
	m->current_on_a = c->current_on_a;
	m->current_off_a = c->current_off_a;
	m->nearer_margin_m = c->nearer_margin_m;
	m->match_window_ns = c->match_window_ns;
	m->off_hold_ns = c->off_hold_ns;
	m->negotiate_timeout_ns = c->negotiate_timeout_ns;
	m->station_timeout_ns = c->station_timeout_ns;
	m->msg_period_ns = c->msg_period_ns;
	m->stop_retry_ns = c->stop_retry_ns;
	m->fall_timeout_ns = c->fall_timeout_ns;
	m->sample_gap_max_ns = c->sample_gap_max_ns;
	m->save_period_ns = c->save_period_ns;
	m->stop_retries = c->stop_retries;
	m->ack_by_current = c->ack_by_current;
}

/* ---- state file ---- */

int v2g_state_write(const char *dir, const char *name, const char *blob, size_t len)
{
	char tmp[1200], path[1200];
	int fd = -1, dfd = -1, rc = 0;
	size_t off = 0;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s/%s.tmp", dir, name) >= sizeof(tmp) ||
	    (size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >= sizeof(path))
		return -ENAMETOOLONG;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	while (off < len) {
		ssize_t n = write(fd, blob + off, len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			rc = n < 0 ? -errno : -EIO;
			goto close_file;
		}
		off += (size_t)n;
	}
	if (fsync(fd) != 0) {
		rc = -errno;
		goto close_file;
	}
	if (close(fd) != 0) {
		fd = -1;
		rc = -errno;
		goto unlink_tmp;
	}
	fd = -1;
	if (rename(tmp, path) != 0) {
		rc = -errno;
		goto unlink_tmp;
	}
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -errno;
	if (fsync(dfd) != 0)
		rc = -errno;
	close(dfd);
	return rc;
close_file:
	close(fd);
unlink_tmp:
	unlink(tmp);
	return rc;
}

/* Reads dir/name into buf (size bytes).  Returns the length, -ENOENT, -EFBIG, or -errno. */
static int v2g__state_read(const char *dir, const char *name, char *buf, size_t size)
{
	char path[1200];
	size_t len = 0;
	int fd;

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >= sizeof(path))
		return -ENAMETOOLONG;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	for (;;) {
		ssize_t n = read(fd, buf + len, size - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int e = errno;
			close(fd);
			return -e;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len == size) {
			close(fd);
			return -EFBIG;
		}
	}
	close(fd);
	return (int)len;
}

/* ---- actions ---- */

static void v2g__row(struct v2g_stage *s, unsigned sink, uint64_t rx_mono_ns, const char *text, size_t len)
{
	struct log_line l;

	if (!s->to_log)
		return;
	if (len == 0 || len > sizeof(l.text)) {
		rt_count(&s->ctr.dropped[V2G_DROP_ROW_FORMAT], 1);
		return;
	}
	l.rx_mono_ns = rx_mono_ns;
	l.sink = (uint16_t)sink;
	l.len = (uint16_t)len;
	memcpy(l.text, text, len);
	if (ring_push(s->to_log, &l))
		rt_count(&s->ctr.out, 1);
	else
		rt_count(&s->ctr.dropped[V2G_DROP_ROWS_FULL], 1);
}

static void v2g__to_hub(struct v2g_stage *s, const struct hub_tx_rec *t)
{
	if (!s->to_hub)
		return;
	if (ring_push(s->to_hub, t)) {
		rt_count(&s->ctr.out, 1);
		rt_count(t->kind == HUB_TX_V2G ? &s->v2g_out : &s->items_out, 1);
	} else {
		rt_count(&s->ctr.dropped[V2G_DROP_TX_FULL], 1);
	}
}

static void v2g__save(struct v2g_stage *s, uint64_t now, int64_t real)
{
	char blob[V2G_SAVE_MAX];
	int n = v2g_save(&s->m, now, real, blob, sizeof(blob));

	if (n < 0 || v2g_state_write(s->conf.state_dir, V2G_STATE_FILE, blob, (size_t)n) != 0) {
		rt_count(&s->ctr.dropped[V2G_DROP_SAVE_FAILED], 1);
		return;
	}
	rt_count(&s->saves, 1);
}

static void v2g__recent(struct v2g_view *v, const struct v2g_record *r)
{
	if (v->n_recent == V2G_RECENT_MAX) {
		memmove(&v->recent[0], &v->recent[1], sizeof(v->recent[0]) * (V2G_RECENT_MAX - 1));
		v->n_recent--;
	}
	v->recent[v->n_recent++] = *r;
}

/* A session start or end for the uplink (telemetry events); never waits: a full ring is counted. */
static void v2g__event(struct v2g_stage *s, enum telem_session_kind kind, const struct v2g_record *rec, int64_t real)
{
	struct telem_session_event ev;

	if (!s->to_uplink)
		return;
	memset(&ev, 0, sizeof(ev));
	ev.kind = kind;
	ev.t_real_ns = real;
	ev.session_id = rec->have_station_id ? rec->station_session_id : rec->local_id;
	ev.soc_pct = kind == TELEM_SESSION_START ? rec->soc_start : rec->soc_end;
	ev.energy_kwh = kind == TELEM_SESSION_END ? rec->energy_station_kwh : (double)NAN;
	ev.cost = kind == TELEM_SESSION_END ? rec->cost : (double)NAN;
	ev.duration_s = kind == TELEM_SESSION_END ? (double)rec->duration_ns / 1e9 : (double)NAN;
	ev.max_current_a = kind == TELEM_SESSION_END ? rec->max_current_a : (double)NAN;
	if (!ring_push(s->to_uplink, &ev))
		rt_count(&s->events_full, 1);
}

static void execute(struct v2g_stage *s, const struct v2g_actions *a, uint64_t now, int64_t real)
{
	if (s->m.active && !s->was_active)
		v2g__event(s, TELEM_SESSION_START, &s->m.rec, real);
	s->was_active = s->m.active;
	for (unsigned i = 0; i < a->n_trans; i++) {
		uint32_t id = s->m.rec.have_station_id ? s->m.rec.station_session_id : s->m.rec.local_id;

		V2X_TP(v2g_transition, v2g_state_name(a->trans[i].from), v2g_state_name(a->trans[i].to),
		       v2g_event_name(a->trans[i].event), id);
		rt_count(&s->transitions, 1);
	}
	for (unsigned i = 0; i < a->n_send; i++) {
		struct hub_tx_rec t;

		memset(&t, 0, sizeof(t));
		t.kind = HUB_TX_V2G;
		t.msg = a->msg[i];
		v2g__to_hub(s, &t);
	}
	if (a->row) {
		char row[V2G_SESSION_ROW_MAX];
		size_t n = v2g_session_row(row, sizeof(row), &a->rec);

		v2g__row(s, V2G_SINK_SESSIONS, now, row, n);
		rt_count(&s->sessions, 1);
		v2g__event(s, TELEM_SESSION_END, &a->rec, real);
		v2g__recent(&s->scratch, &a->rec);
	}
	if (a->save)
		v2g__save(s, now, real);
}

static void step(struct v2g_stage *s, struct v2g_input *in, uint64_t now, int64_t real)
{
	const struct v2x_station_entry *e = v2x_tables_match_station(&s->tab, s->m.conf.match_radius_m,
								      s->m.conf.match_window_ns, now);
	struct v2g_candidate cand;
	struct v2g_actions a;

	if (e) {
		memset(&cand, 0, sizeof(cand));
		memcpy(cand.msg.mac, e->mac, 6);
		cand.msg.distance_m = e->distance_m;
		cand.msg.session_id = e->session_id;
		cand.msg.energy_kwh = e->energy_kwh;
		cand.msg.price_per_kwh = e->price_per_kwh;
		cand.msg.session_cost = e->session_cost;
		cand.msg.max_current_a = e->max_current_a;
		cand.msg.available = e->available;
		cand.last_heard_mono_ns = e->last_seen_mono_ns;
		in->nearest = &cand;
	}
	if (v2g_step(&s->m, in, now, real, &a) < 0)
		return; /* a command value the control handler already refused; cannot happen */
	execute(s, &a, now, real);
}

/* ---- inputs ---- */

static void v2g__hub_record(struct v2g_stage *s, const struct hub_rx_rec *r, uint64_t now, int64_t real)
{
	struct v2g_input in;
	int idx;

	rt_count(&s->ctr.in, 1);
	if (r->kind == HUB_RX_ACK) {
		if (r->stop_acked) {
			memset(&in, 0, sizeof(in));
			in.kind = V2G_IN_STOP_ACK;
			in.session_id = r->ack_session_id;
			step(s, &in, now, real);
		}
		return;
	}
	if (r->kind != HUB_RX_ITEM && r->kind != HUB_RX_STATION)
		return; /* meter readings: not used by the vehicle's session yet */
	enum v2x_update u = v2x_tables_apply(&s->tab, &r->item, r->rx_mono_ns, r->rx_real_ns, &idx);
	double dist = hub_item_is_station(&r->item) ? s->tab.station[idx].distance_m : s->tab.neigh[idx].distance_m;
	char row[V2G_ESPNOW_ROW_MAX];
	size_t n = v2g_espnow_row(row, sizeof(row), &r->item, r->rx_real_ns, r->link_seq, dist);

	v2g__row(s, V2G_SINK_ESPNOW, r->rx_mono_ns, row, n);
	if (!hub_item_is_station(&r->item))
		return;
	if (u == V2X_UPD_DUPLICATE || u == V2X_UPD_STALE) {
		rt_count(&s->ctr.dropped[u == V2X_UPD_DUPLICATE ? V2G_DROP_DUPLICATE : V2G_DROP_STALE], 1);
		return;
	}
	memset(&in, 0, sizeof(in));
	in.kind = V2G_IN_STATION;
	memcpy(in.station.mac, r->item.mac, 6);
	in.station.distance_m = dist;
	in.station.session_id = r->item.evcs_session_id;
	in.station.energy_kwh = r->item.available_energy;
	in.station.price_per_kwh = r->item.evcs_cost_per_kwh;
	in.station.session_cost = r->item.evcs_session_cost;
	in.station.max_current_a = r->item.battery_current;
	in.station.available = r->item.evcs_charging_available;
	in.station.restart = u == V2X_UPD_RESTART;
	step(s, &in, now, real);
}

static double v2g__val(const struct vstate *vs, enum canon_sig sig)
{
	return vstate_has(vs, sig) ? (double)vs->value[sig] : (double)NAN;
}

static int v2g__flag(const struct vstate *vs, enum canon_sig sig)
{
	return vstate_has(vs, sig) ? vs->value[sig] != 0 : -1;
}

/* Samples the published state when it changed: signals to the machine, our fix to the tables; fills *own (when
 * asked) with the own Item.  Returns 1 when *own was filled. */
static int v2g__sample(struct v2g_stage *s, uint64_t now, int64_t real, struct hub_item *own)
{
	int have_own = 0;
	struct v2g_input in;
	int changed = 0;

	if (!s->vstate)
		return 0;
	memset(&in, 0, sizeof(in));
	rcu_read_lock();
	const struct vstate *vs = rcu_pub_read(s->vstate);
	if (vs) {
		uint64_t gen = rcu_pub_generation(s->vstate);

		if (gen != s->vstate_gen) {
			s->vstate_gen = gen;
			changed = 1;
			in.kind = V2G_IN_SIGNALS;
			in.sig.plug = v2g__flag(vs, SIG_PLUG);
			in.sig.charging = v2g__flag(vs, SIG_CHARGING);
			in.sig.bus_online = v2g__flag(vs, SIG_BUS_ONLINE);
			in.sig.current_a = v2g__val(vs, SIG_CURRENT);
			in.sig.soc_pct = v2g__val(vs, SIG_SOC);
			in.sig.power_req = v2g__val(vs, SIG_CHARGE_POWER_REQ);
			in.sig.pack_v = v2g__val(vs, SIG_PACK_VOLTAGE);
			in.sig.energy_avail_kwh = v2g__val(vs, SIG_ENERGY_AVAIL);
			v2x_tables_set_fix(&s->tab, vs->gps_real_ns && vs->gps.valid && (vs->gps.have & GPS_HAVE_POS),
					   vs->gps.lat_deg, vs->gps.lon_deg);
		}
		if (own) {
			int ready = s->m.state == V2G_ST_NEGOTIATING || s->m.state == V2G_ST_CHARGING ||
				    s->m.state == V2G_ST_TOPOFF;
			v2g_own_item(vs, s->m.desired_soc, ready, (uint32_t)(now / RT_NS_PER_MS), own);
			have_own = 1;
		}
	}
	rcu_read_unlock();
	if (changed)
		step(s, &in, now, real);
	return have_own;
}

static void v2g__mailbox(struct v2g_stage *s, uint64_t now, int64_t real)
{
	struct v2g_input in;
	struct rpc_cmd c;
	uint64_t g;

	/* ThingsBoard RPC (the uplink validated the values): the same inputs as the control socket's commands. */
	while (s->cmd_in && ring_pop(s->cmd_in, &c)) {
		memset(&in, 0, sizeof(in));
		if (c.method == RPC_STOP_CHARGING)
			in.kind = V2G_IN_USER_STOP;
		else if (c.method == RPC_SET_DESIRED_SOC)
			in.kind = V2G_IN_SET_DESIRED_SOC, in.value = c.soc_pct;
		else if (c.method == RPC_SET_MAX_COST)
			in.kind = V2G_IN_SET_MAX_COST, in.value = c.max_cost;
		else
			continue; /* getState is answered by the uplink itself */
		step(s, &in, now, real);
	}
	memset(&in, 0, sizeof(in));
	g = atomic_load_explicit(&s->cmd_soc_gen, memory_order_acquire); /* pairs with the handler's release */
	if (g != s->seen_soc_gen) {
		s->seen_soc_gen = g;
		uint64_t bits = atomic_load_explicit(&s->cmd_soc_bits, memory_order_relaxed);
		memcpy(&in.value, &bits, sizeof(in.value));
		in.kind = V2G_IN_SET_DESIRED_SOC;
		step(s, &in, now, real);
	}
	g = atomic_load_explicit(&s->cmd_cost_gen, memory_order_acquire);
	if (g != s->seen_cost_gen) {
		s->seen_cost_gen = g;
		uint64_t bits = atomic_load_explicit(&s->cmd_cost_bits, memory_order_relaxed);
		memcpy(&in.value, &bits, sizeof(in.value));
		in.kind = V2G_IN_SET_MAX_COST;
		step(s, &in, now, real);
	}
	g = atomic_load_explicit(&s->cmd_stop_gen, memory_order_acquire);
	if (g != s->seen_stop_gen) {
		s->seen_stop_gen = g;
		in.kind = V2G_IN_USER_STOP;
		step(s, &in, now, real);
	}
}

static void v2g__publish(struct v2g_stage *s, uint64_t now)
{
	struct v2g_view *v = &s->scratch;

	v->state = s->m.state;
	v->active = s->m.active;
	v->current = s->m.rec;
	v->current.energy_station_kwh = v2g_station_energy_kwh(&s->m);
	v->desired_soc = s->m.desired_soc;
	v->max_cost = s->m.max_cost;
	memcpy(v->neigh, s->tab.neigh, sizeof(v->neigh));
	memcpy(v->station, s->tab.station, sizeof(v->station));
	v->updated_mono_ns = now;
	if (!s->view_lock_ok || pthread_mutex_trylock(&s->view_lock) != 0) {
		rt_count(&s->view_skipped, 1); /* the control thread is reading: next time */
		return;
	}
	s->view = *v;
	pthread_mutex_unlock(&s->view_lock);
}

static bool v2g__in_ready(void *arg)
{
	struct v2g_stage *s = arg;
	/* Records to take, or the end (every input drained).  Not "hub_io's ring is closed": between hub_io's close and
	 * the uplink's (which comes later in the stop) that would wake this loop at once, over and over. */
	if (ring_count(s->in) > 0 || (s->cmd_in && ring_count(s->cmd_in) > 0))
		return true;
	return ring_is_drained(s->in) && (!s->cmd_in || ring_is_drained(s->cmd_in));
}

void *v2g_stage_thread(void *arg)
{
	struct v2g_stage *s = arg;
	struct hub_rx_rec r;

	rcu_register_thread();
	for (;;) {
		uint64_t now = rt_mono_ns();
		int64_t real = rt_real_ns();
		struct v2g_input in;
		struct hub_item own;

		while (ring_pop(s->in, &r))
			v2g__hub_record(s, &r, now, real);
		int due = now >= s->next_item_ns;
		int have_own = v2g__sample(s, now, real, due ? &own : NULL);
		if (due) {
			s->next_item_ns = now + s->conf.item_period_ns;
			if (have_own) { /* nothing is sent before the vehicle state exists */
				struct hub_tx_rec t;

				/* ready_to_charge from the state after this sample was applied: a stop decided in that
				 * step went out first, and an Item still asking to charge after it would reopen the
				 * station's session. */
				own.ready_to_charge = s->m.state == V2G_ST_NEGOTIATING || s->m.state == V2G_ST_CHARGING ||
						      s->m.state == V2G_ST_TOPOFF;
				memset(&t, 0, sizeof(t));
				t.kind = HUB_TX_ITEM;
				t.item = own;
				v2g__to_hub(s, &t);
			}
		}
		v2g__mailbox(s, now, real);
		memset(&in, 0, sizeof(in));
		in.kind = V2G_IN_TICK;
		step(s, &in, now, real);
		v2x_tables_expire(&s->tab, now);
		if (now >= s->next_publish_ns) {
			s->next_publish_ns = now + 500 * RT_NS_PER_MS;
			v2g__publish(s, now);
		}
		/* The end: hub_io's ring drained, and the uplink's commands too (it closes its ring at the stop). */
		if (ring_is_drained(s->in) && (!s->cmd_in || ring_is_drained(s->cmd_in)))
			break;
		(void)rt_waiter_wait(s->waiter, v2g__in_ready, s, (int64_t)s->conf.tick_ns);
	}
	v2g__publish(s, rt_mono_ns());
	if (s->to_hub)
		ring_close(s->to_hub);
	if (s->to_log)
		ring_close(s->to_log);
	if (s->to_uplink)
		ring_close(s->to_uplink);
	V2X_TP(stage_stop, "v2g", rt_counter_get(&s->ctr.in), rt_counter_get(&s->ctr.out),
	       rt_counters_dropped_total(&s->ctr));
	rcu_unregister_thread();
	return NULL;
}

/* ---- init ---- */

int v2g_stage_init(struct v2g_stage *s, const struct v2g_stage_conf *conf, struct ring *in, struct ring *to_hub,
		   struct ring *to_log, struct rt_waiter *waiter, struct rcu_pub *vstate)
{
	struct v2g_conf mc;
	char blob[V2G_SAVE_MAX];
	int n;

	memset(s, 0, sizeof(*s));
	s->conf = *conf;
	if (!in || !waiter || in->rec_size != sizeof(struct hub_rx_rec) ||
	    (to_hub && to_hub->rec_size != sizeof(struct hub_tx_rec)) ||
	    (to_log && to_log->rec_size != sizeof(struct log_line)))
		return -EINVAL;
	s->in = in;
	s->to_hub = to_hub;
	s->to_log = to_log;
	s->waiter = waiter;
	s->vstate = vstate;
	rt_counters_init(&s->ctr, "v2g", v2g__drop_names, V2G_DROP__COUNT);
	v2g_stage_session_conf(conf, &mc);
	v2g_init(&s->m, &mc);
	s->m.desired_soc = conf->desired_soc;
	s->m.max_cost = conf->max_cost;
	v2x_tables_init(&s->tab, conf->expiry_ns);
	if (mkdir(conf->state_dir, 0755) != 0 && errno != EEXIST)
		return -errno;
	n = v2g__state_read(conf->state_dir, V2G_STATE_FILE, blob, sizeof(blob));
	if (n >= 0) {
		if (v2g_restore(&s->m, blob, (size_t)n, rt_mono_ns(), rt_real_ns()) == 0) {
			s->restored = 1;
			s->was_active = s->m.active; /* a session resumed is not a new start for the uplink */
		} else {
			char from[1200], to[1300];

			s->restored = -1;
			snprintf(from, sizeof(from), "%s/%s", conf->state_dir, V2G_STATE_FILE);
			snprintf(to, sizeof(to), "%s.bad", from);
			if (rename(from, to) != 0)
				return -errno;
		}
	} else if (n != -ENOENT) {
		return n;
	}
	if (pthread_mutex_init(&s->view_lock, NULL) != 0)
		return -ENOMEM;
	s->view_lock_ok = 1;
	v2g__publish(s, rt_mono_ns());
	return 0;
}

void v2g_stage_fini(struct v2g_stage *s)
{
	if (s->view_lock_ok)
		pthread_mutex_destroy(&s->view_lock);
	s->view_lock_ok = 0;
}

/* ---- control commands ---- */

void v2g_stage_view(struct v2g_stage *s, struct v2g_view *out)
{
	pthread_mutex_lock(&s->view_lock);
	*out = s->view;
	pthread_mutex_unlock(&s->view_lock);
}

static cJSON *v2g__rec_json(const struct v2g_record *r)
{
	cJSON *o = cJSON_CreateObject();
	char mac[18];

	if (!o)
		return NULL;
	hub_mac_format(r->mac, mac, sizeof(mac));
	if (r->have_station_id)
		cJSON_AddNumberToObject(o, "session_id", r->station_session_id);
	else
		cJSON_AddNumberToObject(o, "local_id", r->local_id);
	cJSON_AddStringToObject(o, "station_mac", mac);
	cJSON_AddNumberToObject(o, "distance_m", r->distance_m);
	cJSON_AddNumberToObject(o, "start_real_s", (double)r->start_real_ns / 1e9);
	cJSON_AddNumberToObject(o, "energy_batt_kwh", r->energy_batt_kwh);
	cJSON_AddNumberToObject(o, "energy_station_kwh", r->energy_station_kwh);
	cJSON_AddNumberToObject(o, "price_per_kwh", r->price_per_kwh);
	cJSON_AddNumberToObject(o, "cost", r->cost);
	cJSON_AddNumberToObject(o, "max_current_a", r->max_current_a);
	if (isfinite(r->soc_start))
		cJSON_AddNumberToObject(o, "soc_start", r->soc_start);
	if (r->reason != V2G_END_NONE) {
		cJSON_AddNumberToObject(o, "end_real_s", (double)r->end_real_ns / 1e9);
		cJSON_AddNumberToObject(o, "duration_s", (double)r->duration_ns / 1e9);
		if (isfinite(r->soc_end))
			cJSON_AddNumberToObject(o, "soc_end", r->soc_end);
		cJSON_AddStringToObject(o, "end_reason", v2g_end_name(r->reason));
	}
	return o;
}

int v2g_cmd_sessions(void *ctx, const cJSON *args, cJSON *result, char *err, size_t errsz)
{
	static struct v2g_view v; /* control thread only */
	cJSON *recent;

	v2g_stage_view(ctx, &v);
	cJSON_AddStringToObject(result, "state", v2g_state_name(v.state));
	cJSON_AddNumberToObject(result, "desired_soc", v.desired_soc);
	cJSON_AddNumberToObject(result, "max_cost", v.max_cost);
	if (v.active)
		cJSON_AddItemToObject(result, "current", v2g__rec_json(&v.current));
	recent = cJSON_AddArrayToObject(result, "recent");
	for (unsigned i = 0; recent && i < v.n_recent; i++)
		cJSON_AddItemToArray(recent, v2g__rec_json(&v.recent[i]));
	return 0;
}

/* Seconds since then; 0 for an entry heard after the view was taken (hub_io stamps records after the v2g thread read
 * its clock), not a wrapped 2^64 ns. */
static double v2g__age_s(uint64_t now, uint64_t then)
{
	return now > then ? (double)(now - then) / 1e9 : 0.0;
}

int v2g_cmd_neighbours(void *ctx, const cJSON *args, cJSON *result, char *err, size_t errsz)
{
	static struct v2g_view v;
	cJSON *arr = cJSON_AddArrayToObject(result, "neighbours");

	v2g_stage_view(ctx, &v);
	for (int i = 0; arr && i < V2X_NEIGH_MAX; i++) {
		const struct v2x_neighbour *n = &v.neigh[i];
		cJSON *o;
		char mac[18];

		if (!n->used || !(o = cJSON_CreateObject()))
			continue;
		hub_mac_format(n->mac, mac, sizeof(mac));
		cJSON_AddStringToObject(o, "mac", mac);
		cJSON_AddNumberToObject(o, "soc", n->item.soc);
		cJSON_AddNumberToObject(o, "speed_kmh", n->item.speed_kmh);
		cJSON_AddNumberToObject(o, "latitude", n->item.gps_latitude);
		cJSON_AddNumberToObject(o, "longitude", n->item.gps_longitude);
		if (isfinite(n->distance_m))
			cJSON_AddNumberToObject(o, "distance_m", n->distance_m);
		cJSON_AddNumberToObject(o, "age_s", v2g__age_s(v.updated_mono_ns, n->last_seen_mono_ns));
		cJSON_AddNumberToObject(o, "items", (double)n->items);
		cJSON_AddItemToArray(arr, o);
	}
	return 0;
}

int v2g_cmd_stations(void *ctx, const cJSON *args, cJSON *result, char *err, size_t errsz)
{
	static struct v2g_view v;
	cJSON *arr = cJSON_AddArrayToObject(result, "stations");

	v2g_stage_view(ctx, &v);
	for (int i = 0; arr && i < V2X_STATION_MAX; i++) {
		const struct v2x_station_entry *e = &v.station[i];
		cJSON *o;
		char mac[18];

		if (!e->used || !(o = cJSON_CreateObject()))
			continue;
		hub_mac_format(e->mac, mac, sizeof(mac));
		cJSON_AddStringToObject(o, "mac", mac);
		cJSON_AddNumberToObject(o, "latitude", e->lat_deg);
		cJSON_AddNumberToObject(o, "longitude", e->lon_deg);
		cJSON_AddNumberToObject(o, "ac_voltage_v", e->ac_voltage_v);
		cJSON_AddNumberToObject(o, "max_current_a", e->max_current_a);
		cJSON_AddNumberToObject(o, "max_power_w", e->max_power_w);
		cJSON_AddNumberToObject(o, "price_per_kwh", e->price_per_kwh);
		cJSON_AddNumberToObject(o, "session_id", e->session_id);
		cJSON_AddNumberToObject(o, "energy_kwh", e->energy_kwh);
		cJSON_AddNumberToObject(o, "session_cost", e->session_cost);
		cJSON_AddBoolToObject(o, "available", e->available);
		if (isfinite(e->distance_m))
			cJSON_AddNumberToObject(o, "distance_m", e->distance_m);
		cJSON_AddNumberToObject(o, "age_s", v2g__age_s(v.updated_mono_ns, e->last_seen_mono_ns));
		cJSON_AddItemToArray(arr, o);
	}
	return 0;
}

static void v2g__kick(struct v2g_stage *s)
{
	rt_waiter_kick(s->waiter);
}

int v2g_cmd_stop_charging(void *ctx, const cJSON *args, cJSON *result, char *err, size_t errsz)
{
	struct v2g_stage *s = ctx;

	atomic_fetch_add_explicit(&s->cmd_stop_gen, 1, memory_order_release); /* pairs with the thread's acquire */
	v2g__kick(s);
	cJSON_AddBoolToObject(result, "requested", 1);
	return 0;
}

static int v2g__number_arg(const cJSON *args, const char *name, double lo, double hi, double *out, char *err,
			   size_t errsz)
{
	const cJSON *v = args ? cJSON_GetObjectItemCaseSensitive(args, name) : NULL;

	if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) || v->valuedouble < lo || v->valuedouble > hi) {
		snprintf(err, errsz, "args.%s: a number from %g to %g is required", name, lo, hi);
		return -EINVAL;
	}
	*out = v->valuedouble;
	return 0;
}

int v2g_cmd_set_desired_soc(void *ctx, const cJSON *args, cJSON *result, char *err, size_t errsz)
{
	struct v2g_stage *s = ctx;
	double soc;
	uint64_t bits;

	if (v2g__number_arg(args, "soc", 1, 100, &soc, err, errsz) < 0)
		return -EINVAL;
	memcpy(&bits, &soc, sizeof(bits));
	atomic_store_explicit(&s->cmd_soc_bits, bits, memory_order_relaxed);
	atomic_fetch_add_explicit(&s->cmd_soc_gen, 1, memory_order_release); /* publishes the bits above */
	v2g__kick(s);
	cJSON_AddNumberToObject(result, "desired_soc", soc);
	return 0;
}

int v2g_cmd_set_max_cost(void *ctx, const cJSON *args, cJSON *result, char *err, size_t errsz)
{
	struct v2g_stage *s = ctx;
	double cost;
	uint64_t bits;

	if (v2g__number_arg(args, "cost", 0, 1e6, &cost, err, errsz) < 0)
		return -EINVAL;
	memcpy(&bits, &cost, sizeof(bits));
	atomic_store_explicit(&s->cmd_cost_bits, bits, memory_order_relaxed);
	atomic_fetch_add_explicit(&s->cmd_cost_gen, 1, memory_order_release);
	v2g__kick(s);
	cJSON_AddNumberToObject(result, "max_cost", cost);
	return 0;
}

/* ---- pipeline and configuration ---- */

static int v2g__pipeline_init(void *self, const struct rt_stage_env *env)
{
	struct v2g_stage *s = self;
	struct ring *to_hub = NULL, *to_log = NULL, *to_uplink = NULL, *from_hub = NULL, *cmd_in = NULL;
	int rc;

	/* Inputs by producer (hub_io's items, the uplink's RPC commands), outputs by record type. */
	for (size_t i = 0; i < env->n_in; i++) {
		if (env->in[i]->rec_size == sizeof(struct rpc_cmd) && strcmp(env->in_from[i], "uplink") == 0 && !cmd_in)
			cmd_in = env->in[i];
		else if (env->in[i]->rec_size == sizeof(struct hub_rx_rec) && !from_hub)
			from_hub = env->in[i];
		else
			return -EINVAL;
	}
	for (size_t i = 0; i < env->n_out; i++) {
		if (env->out[i]->rec_size == sizeof(struct hub_tx_rec) && !to_hub)
			to_hub = env->out[i];
		else if (env->out[i]->rec_size == sizeof(struct log_line) && !to_log)
			to_log = env->out[i];
		else if (env->out[i]->rec_size == sizeof(struct telem_session_event) && !to_uplink)
			to_uplink = env->out[i];
		else
			return -EINVAL;
	}
	if (!from_hub)
		return -EINVAL;
	rc = v2g_stage_init(s, env->conf, from_hub, to_hub, to_log, env->waiter,
			    rt_pipeline_lookup(env->pipeline, "vstate"));
	if (rc < 0)
		return rc;
	s->cmd_in = cmd_in;
	s->to_uplink = to_uplink;
	if (to_log) {
		rc = rt_pipeline_provide(env->pipeline, "log_sinks.v2g", (void *)&v2g__sink_list);
		if (rc < 0)
			return rc;
	}
	rc = rt_pipeline_provide(env->pipeline, "v2g", s); /* for the program's control commands */
	if (rc < 0)
		return rc;
	if (env->registry) {
		/* Best effort: a metric the program registered already (-EEXIST) is not an error of the stage. */
		(void)rt_registry_add_counters(env->registry, "v2g", NULL, &s->ctr);
		(void)rt_registry_add_counter(env->registry, "v2g", "transitions", &s->transitions);
		(void)rt_registry_add_counter(env->registry, "v2g", "sessions", &s->sessions);
		(void)rt_registry_add_counter(env->registry, "v2g", "saves", &s->saves);
		(void)rt_registry_add_counter(env->registry, "v2g", "items_out", &s->items_out);
		(void)rt_registry_add_counter(env->registry, "v2g", "v2g_out", &s->v2g_out);
		(void)rt_registry_add_counter(env->registry, "v2g", "events_full", &s->events_full);
	}
	return 0;
}

static void v2g__pipeline_fini(void *self)
{
	v2g_stage_fini(self);
}

static void v2g__defaults(void *conf)
{
	v2g_stage_conf_init(conf);
}

#define V2G__MS(k, member, lo, hi, h)                                                                              \
	{ .section = "v2g", .key = k, .type = RT_CONFIG_DURATION, RT_CONFIG_FIELD(struct v2g_stage_conf, member),   \
	  .unit = "ms", .umin = lo, .umax = hi, .help = h }
#define V2G__DBL(k, member, lo, hi, u, h)                                                                          \
	{ .section = "v2g", .key = k, .type = RT_CONFIG_DOUBLE, RT_CONFIG_FIELD(struct v2g_stage_conf, member),     \
	  .dmin = lo, .dmax = hi, .unit = u, .help = h }

static const struct rt_config_key v2g__keys[] = {
	{ .section = "v2g", .key = "state_dir", .type = RT_CONFIG_PATH, RT_CONFIG_FIELD(struct v2g_stage_conf, state_dir),
	  .help = "directory of the saved charging session (created if missing)" },
	V2G__MS("item_period_ms", item_period_ns, 100, 60000, "own Item to the hub for V2V broadcast"),
	V2G__MS("tick_ms", tick_ns, 10, 5000, "session machine tick"),
	V2G__MS("expiry_ms", expiry_ns, 1000, 3600000, "neighbours and stations forgotten after this silence"),
	V2G__DBL("desired_soc", desired_soc, 1, 100, "%", "stop charging at this SOC (100: full)"),
	V2G__DBL("max_cost", max_cost, 0, 1e6, "", "stop charging at this session cost (0: no cap)"),
	V2G__DBL("match_radius_m", match_radius_m, 0.1, 1000, "m", "a station this near may be matched"),
	V2G__MS("match_window_ms", match_window_ns, 100, 600000, "... if heard this recently"),
	V2G__DBL("nearer_margin_m", nearer_margin_m, 0, 100, "m", "how much nearer another station must be to take over"),
	V2G__DBL("depart_radius_m", depart_radius_m, 1, 10000, "m", "departing ends beyond this distance"),
	V2G__DBL("current_on_a", current_on_a, 0.01, 100, "A", "charging when the current is above this"),
	V2G__DBL("current_off_a", current_off_a, 0, 100, "A", "... and stays charging while above this"),
	V2G__MS("off_hold_ms", off_hold_ns, 0, 600000, "current below current_off_a this long ends charging"),
	V2G__MS("negotiate_timeout_ms", negotiate_timeout_ns, 100, 600000, "matched station silent while negotiating"),
	V2G__MS("station_timeout_ms", station_timeout_ns, 100, 600000, "matched station silent while charging"),
	V2G__MS("msg_period_ms", msg_period_ns, 100, 60000, "V2G messages to the matched station"),
	V2G__MS("stop_retry_ms", stop_retry_ns, 100, 60000, "stop request repeated this often"),
	{ .section = "v2g", .key = "stop_retries", .type = RT_CONFIG_UINT,
	  RT_CONFIG_FIELD(struct v2g_stage_conf, stop_retries), .umin = 0, .umax = 100,
	  .help = "stop requests after the first before stop_not_acknowledged" },
	V2G__MS("fall_timeout_ms", fall_timeout_ns, 100, 3600000, "bound on waiting for the current to fall"),
	V2G__MS("sample_gap_ms", sample_gap_max_ns, 10, 60000, "longer gaps between samples are not integrated"),
	V2G__MS("save_period_ms", save_period_ns, 100, 3600000, "save an open session at least this often"),
	{ .section = "v2g", .key = "ack_by_current", .type = RT_CONFIG_BOOL,
	  RT_CONFIG_FIELD(struct v2g_stage_conf, ack_by_current),
	  .help = "legacy hub: take a fallen current as the station's acknowledgement of a stop" },
	RT_CONFIG_SCHED_KEYS("v2g", struct v2g_stage_conf, sched),
};

const struct rt_config_table v2g_config = {
	.name = "v2g",
	.keys = v2g__keys,
	.n_keys = sizeof(v2g__keys) / sizeof(v2g__keys[0]),
	.conf_size = sizeof(struct v2g_stage_conf),
	.defaults = v2g__defaults,
};

const struct rt_stage_desc v2g_stage = {
	.name = "v2g",
	.size = sizeof(struct v2g_stage),
	.polls = false,
	.init = v2g__pipeline_init,
	.thread = v2g_stage_thread,
	.fini = v2g__pipeline_fini,
	.config = &v2g_config,
	.sched_offset = offsetof(struct v2g_stage_conf, sched),
};
