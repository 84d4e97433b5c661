/*
 * uplink.c - the MQTT side of the uplink (see uplink.h).
 *
 * libmosquitto runs without its own thread: the stage polls mosquitto_socket() and calls mosquitto_loop() with a
 * zero timeout, so every callback (on_connect, on_disconnect, on_publish, on_message) runs inside
 * uplink_process() on the uplink thread.  Callbacks only record what happened (flags, acknowledgements, RPC
 * answers); reconnecting and publishing happen after mosquitto_loop() returns.
 */
#include "stages/uplink/uplink.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <mosquitto.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "stages/uplink/mqtt_conf.h"
#include "trace/tp.h"

#define NS_PER_S 1000000000ull

#define ST_ADD(u, f, n) atomic_fetch_add_explicit(&(u)->stats.f, (n), memory_order_relaxed)
#define ST_SET(u, f, v) atomic_store_explicit(&(u)->stats.f, (v), memory_order_relaxed)
#define ST_GET(u, f) atomic_load_explicit(&(u)->stats.f, memory_order_relaxed)

static pthread_once_t lib_once = PTHREAD_ONCE_INIT;

static void uplink__lib_init(void)
{
	mosquitto_lib_init();
}

const char *uplink_state_name(enum uplink_conn_state s)
{
	switch (s) {
	case UPLINK_DOWN:
		return "down";
	case UPLINK_CONNECTING:
		return "connecting";
	case UPLINK_UP:
		return "up";
	}
	return "?";
}

void uplink_conf_defaults(struct uplink_conf *c)
{
	memset(c, 0, sizeof(*c));
	c->keepalive_s = 60;
	c->sample_interval_ns = NS_PER_S;
	c->reconnect_min_ns = NS_PER_S;
	c->reconnect_max_ns = 60 * NS_PER_S;
	c->connect_timeout_ns = 15 * NS_PER_S;
	c->max_inflight_msgs = 10;
	c->batch_max_samples = 50;
	c->batch_max_bytes = 32768;
	c->publish_rate_hz = 5;
	c->spool_fsync_interval_ns = UINT64_MAX;
	c->telem.fallback_lat_deg = NAN;
	c->telem.fallback_lon_deg = NAN;
}

static void uplink__set_state(struct uplink *u, enum uplink_conn_state s, int rc)
{
	u->state = s;
	ST_SET(u, state, (uint64_t)s);
	V2X_TP(uplink_conn, (int)s, rc);
}

static uint64_t uplink__rand(struct uplink *u)
{
	/* xorshift64*: jitter only, no security role */
	u->rng ^= u->rng >> 12;
	u->rng ^= u->rng << 25;
	u->rng ^= u->rng >> 27;
	return u->rng * 2685821657736338717ull;
}

/* ---- callbacks (inside mosquitto_loop, on the uplink thread) ---- */

static void uplink__on_connect(struct mosquitto *m, void *obj, int rc)
{
	struct uplink *u = obj;
	(void)m;
	u->connack_rc = rc;
	ST_SET(u, last_connack, rc);
}

static void uplink__on_disconnect(struct mosquitto *m, void *obj, int rc)
{
	struct uplink *u = obj;
	(void)m;
	u->lost = 1;
	if (rc)
		ST_SET(u, last_error, rc);
}

static void uplink__on_publish(struct mosquitto *m, void *obj, int mid)
{
	struct uplink *u = obj;
	(void)m;
	for (unsigned i = 0; i < u->conf.max_inflight_msgs; i++) {
		struct uplink_batch *b = &u->batches[i];
		if (b->n == 0 || b->mid != mid)
			continue;
		for (unsigned k = 0; k < b->n; k++)
			spool_ack(&u->spool, b->seqs[k]);
		ST_ADD(u, acked_msgs, 1);
		ST_ADD(u, acked_samples, b->n);
		V2X_TP(uplink_puback, mid, b->seqs[0], b->n);
		b->n = 0;
		atomic_fetch_sub_explicit(&u->stats.inflight_msgs, 1, memory_order_relaxed);
		return;
	}
	/* attributes and RPC answers are QoS 1 too: their acknowledgements have no batch */
}

static void uplink__answer(struct uplink *u, uint32_t id, const char *body, int len)
{
	char topic[RPC_TOPIC_MAX];
	if (rpc_response_topic(topic, sizeof(topic), id) < 0 || len < 0)
		return;
	if (mosquitto_publish(u->mosq, NULL, topic, len, body, 1, false) != MOSQ_ERR_SUCCESS)
		ST_ADD(u, publish_errors, 1);
}

static int uplink__state_body(struct uplink *u, char *buf, size_t size)
{
	struct vstate *s = malloc(sizeof(*s));
	cJSON *o = cJSON_CreateObject();
	cJSON *r = o ? cJSON_AddObjectToObject(o, "result") : NULL;
	int n = -ENOMEM;

	if (!s || !r)
		goto out;
	if (!u->conf.state_fn || u->conf.state_fn(u->conf.hook_ctx, s) < 0) {
		n = -ENODATA;
		goto out;
	}
	if (telem_add_values(r, s, &u->conf.telem) < 0 ||
	    !cJSON_AddNumberToObject(r, "ts", (double)telem_data_time_ms(s)))
		goto out;
	n = cJSON_PrintPreallocated(o, buf, (int)size, 0) ? (int)strlen(buf) : -ENOBUFS;
out:
	cJSON_Delete(o);
	free(s);
	return n;
}

static void uplink__on_message(struct mosquitto *m, void *obj, const struct mosquitto_message *msg)
{
	struct uplink *u = obj;
	struct rpc_cmd cmd;
	char body[RPC_ANSWER_MAX];
	(void)m;

	if (!msg->topic || strncmp(msg->topic, RPC_REQUEST_PREFIX, strlen(RPC_REQUEST_PREFIX)) != 0)
		return; /* only RPC is subscribed */
	enum rpc_err err = rpc_parse(msg->topic, msg->payload, msg->payloadlen < 0 ? 0 : (size_t)msg->payloadlen,
				     &cmd);
	int n = -1;
	if (err == RPC_OK && cmd.method == RPC_GET_STATE) {
		n = uplink__state_body(u, body, sizeof(body));
		if (n == -ENODATA) {
			n = snprintf(body, sizeof(body), "{\"result\":{}}"); /* nothing decoded yet: an empty state */
		}
	} else if (err == RPC_OK) {
		int rc = u->conf.cmd_fn ? u->conf.cmd_fn(u->conf.hook_ctx, &cmd) : -EAGAIN;
		if (rc < 0)
			err = RPC_ERR_BUSY;
		else
			n = rpc_result_body(body, sizeof(body), &cmd);
	}
	rpc_count(&u->stats.rpc, cmd.method, err);
	if (err == RPC_ERR_TOPIC)
		return; /* no id: nobody to answer */
	if (err != RPC_OK)
		n = rpc_error_body(body, sizeof(body), err);
	if (n > 0)
		uplink__answer(u, cmd.request_id, body, n);
}

/* ---- connection ---- */

static int uplink__setup_client(struct uplink *u)
{
	const struct uplink_conf *c = &u->conf;
	int rc;

	mosquitto_connect_callback_set(u->mosq, uplink__on_connect);
	mosquitto_disconnect_callback_set(u->mosq, uplink__on_disconnect);
	mosquitto_publish_callback_set(u->mosq, uplink__on_publish);
	mosquitto_message_callback_set(u->mosq, uplink__on_message);
	rc = mosquitto_int_option(u->mosq, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V311);
	if (rc == MOSQ_ERR_SUCCESS)
		rc = mosquitto_max_inflight_messages_set(u->mosq, c->max_inflight_msgs + 8u);
	if (rc == MOSQ_ERR_SUCCESS && c->token[0])
		rc = mosquitto_username_pw_set(u->mosq, c->token, c->password[0] ? c->password : NULL);
	if (rc == MOSQ_ERR_SUCCESS && c->ca_file[0]) {
		rc = mosquitto_tls_set(u->mosq, c->ca_file, NULL, c->cert_file[0] ? c->cert_file : NULL,
				       c->key_file[0] ? c->key_file : NULL, NULL);
		if (rc == MOSQ_ERR_SUCCESS)
			rc = mosquitto_tls_opts_set(u->mosq, 1 /* SSL_VERIFY_PEER */, "tlsv1.2", NULL);
		if (rc == MOSQ_ERR_SUCCESS)
			rc = mosquitto_tls_insecure_set(u->mosq, c->tls_insecure ? true : false);
	}
	return rc;
}

/* Drops the connection and everything libmosquitto queued; the spool sends it all again. */
static void uplink__reset(struct uplink *u)
{
	unsigned n = 0;
	for (unsigned i = 0; i < u->conf.max_inflight_msgs; i++) {
		n += u->batches[i].n;
		u->batches[i].n = 0;
	}
	ST_SET(u, inflight_msgs, 0);
	spool_rewind(&u->spool);
	mosquitto_disconnect(u->mosq);
	mosquitto_reinitialise(u->mosq, u->conf.client_id, true, u);
	if (uplink__setup_client(u) != MOSQ_ERR_SUCCESS)
		ST_ADD(u, publish_errors, 1);
	u->lost = 0;
	u->connack_rc = -1;
	(void)n;
}

static void uplink__schedule_retry(struct uplink *u, uint64_t now)
{
	uint64_t b = u->backoff_ns ? u->backoff_ns : u->conf.reconnect_min_ns;
	uint64_t wait = b / 2 + uplink__rand(u) % (b / 2 + 1);
	u->next_attempt_ns = now + wait;
	u->backoff_ns = b * 2 > u->conf.reconnect_max_ns ? u->conf.reconnect_max_ns : b * 2;
	ST_SET(u, next_retry_ms, wait / 1000000);
}

static void uplink__connection_failed(struct uplink *u, uint64_t now, int rc)
{
	if (u->state == UPLINK_UP) {
		ST_ADD(u, disconnects, 1);
		u->backoff_ns = 0; /* a working connection was lost: start again from the shortest wait */
	} else {
		ST_ADD(u, connect_failures, 1);
	}
	if (rc)
		ST_SET(u, last_error, rc);
	uplink__reset(u);
	uplink__set_state(u, UPLINK_DOWN, rc);
	uplink__schedule_retry(u, now);
}

static void uplink__try_connect(struct uplink *u, uint64_t now)
{
	u->connack_rc = -1;
	u->lost = 0;
	int rc = mosquitto_connect_async(u->mosq, u->conf.host, (int)u->conf.port, (int)u->conf.keepalive_s);
	if (rc != MOSQ_ERR_SUCCESS) {
		u->state = UPLINK_CONNECTING; /* counted as a failed attempt */
		uplink__connection_failed(u, now, rc);
		return;
	}
	u->connect_started_ns = now;
	uplink__set_state(u, UPLINK_CONNECTING, 0);
}

static void uplink__connected(struct uplink *u, uint64_t now)
{
	char attrs[1024];

	uplink__set_state(u, UPLINK_UP, 0);
	ST_ADD(u, connects, 1);
	u->backoff_ns = 0;
	u->next_pub_ns = now;
	if (mosquitto_subscribe(u->mosq, NULL, RPC_REQUEST_SUB, 1) != MOSQ_ERR_SUCCESS)
		ST_ADD(u, publish_errors, 1);
	int n = telem_attributes(attrs, sizeof(attrs), u->conf.sw_version, u->conf.vehicle_id, u->conf.dbc_name);
	if (n > 2) {
		if (mosquitto_publish(u->mosq, NULL, TELEM_ATTR_TOPIC, n, attrs, 1, false) == MOSQ_ERR_SUCCESS)
			ST_ADD(u, attrs_published, 1);
		else
			ST_ADD(u, publish_errors, 1);
	}
}

/* ---- publishing ---- */

static struct uplink_batch *uplink__free_batch(struct uplink *u)
{
	for (unsigned i = 0; i < u->conf.max_inflight_msgs; i++)
		if (u->batches[i].n == 0)
			return &u->batches[i];
	return NULL;
}

/* Publishes one batch of the oldest unsent records.  Returns 1 published, 0 nothing to send, <0 error. */
static int uplink__publish_batch(struct uplink *u)
{
	struct uplink_batch *b = uplink__free_batch(u);
	struct spool_rec r;
	size_t used;

	if (!b)
		return 0;
	telem_batch_begin(u->pub_buf, u->pub_cap, &used);
	unsigned n = 0;
	while (n < u->conf.batch_max_samples) {
		size_t comma = n ? 1 : 0;
		size_t room = u->pub_cap - used - comma - 2;
		if (n && used + comma + 2 > u->conf.batch_max_bytes)
			break;
		if (n && room > u->conf.batch_max_bytes - used)
			room = u->conf.batch_max_bytes - used - comma - 1;
		int rc = spool_peek(&u->spool, &r, u->pub_buf + used + comma, room);
		if (rc == -EMSGSIZE && n)
			break; /* the batch is full; this record opens the next one */
		if (rc <= 0) {
			if (rc < 0 && rc != -EMSGSIZE)
				ST_ADD(u, publish_errors, 1);
			break;
		}
		if (comma)
			u->pub_buf[used] = ',';
		used += comma + r.len;
		spool_take(&u->spool);
		b->seqs[n++] = r.seq;
		if (r.seq <= u->max_sent_seq)
			ST_ADD(u, resent_samples, 1);
		else
			u->max_sent_seq = r.seq;
	}
	if (n == 0)
		return 0;
	telem_batch_end(u->pub_buf, u->pub_cap, &used);
	int mid = 0;
	int rc = mosquitto_publish(u->mosq, &mid, TELEM_TOPIC, (int)used, u->pub_buf, 1, false);
	if (rc != MOSQ_ERR_SUCCESS) {
		ST_ADD(u, publish_errors, 1);
		ST_SET(u, last_error, rc);
		spool_rewind(&u->spool); /* none of this batch left: it is sent again */
		for (unsigned i = 0; i < u->conf.max_inflight_msgs; i++)
			u->batches[i].n = 0;
		ST_SET(u, inflight_msgs, 0);
		u->lost = 1;
		return -EIO;
	}
	b->mid = mid;
	b->n = n;
	atomic_fetch_add_explicit(&u->stats.inflight_msgs, 1, memory_order_relaxed);
	ST_ADD(u, published_msgs, 1);
	ST_ADD(u, published_samples, n);
	V2X_TP(uplink_publish, mid, b->seqs[0], n, (uint32_t)used);
	/* The newest frame the batch carries, when its last record is a recent sample (not backlog from before). */
	uint64_t last = b->seqs[n - 1];
	if (u->frame_of[last % UPLINK_FRAME_MAP].spool_seq == last && last != 0)
		V2X_TP(mqtt_publish, mid, last, u->frame_of[last % UPLINK_FRAME_MAP].frame_seq);
	return 1;
}

/* ---- init / fini ---- */

int uplink_init(struct uplink *u, const struct uplink_conf *conf, uint64_t now_mono_ns, char *err, size_t errsize)
{
	int rc;

	memset(u, 0, sizeof(*u));
	u->conf = *conf;
	struct uplink_conf *c = &u->conf;
	ST_SET(u, last_connack, -1);
	if (!c->host[0] || !c->spool_dir[0]) {
		snprintf(err, errsize, "uplink: %s not set", c->host[0] ? "spool_dir" : "host");
		return -EINVAL;
	}
	if (!c->port)
		c->port = c->ca_file[0] ? 8883 : 1883;
	if (!c->keepalive_s)
		c->keepalive_s = 60;
	if (!c->sample_interval_ns)
		c->sample_interval_ns = NS_PER_S;
	if (!c->reconnect_min_ns)
		c->reconnect_min_ns = NS_PER_S;
	if (!c->reconnect_max_ns)
		c->reconnect_max_ns = 60 * NS_PER_S;
	if (c->reconnect_max_ns < c->reconnect_min_ns)
		c->reconnect_max_ns = c->reconnect_min_ns;
	if (!c->connect_timeout_ns)
		c->connect_timeout_ns = 15 * NS_PER_S;
	if (!c->max_inflight_msgs)
		c->max_inflight_msgs = 10;
	if (!c->batch_max_samples)
		c->batch_max_samples = 50;
	if (!c->batch_max_bytes)
		c->batch_max_bytes = 32768;
	if (!(c->publish_rate_hz > 0))
		c->publish_rate_hz = 5;
	if (c->port > 65535 || c->max_inflight_msgs > 1000 || c->batch_max_samples > 1000) {
		snprintf(err, errsize, "uplink: port, max_inflight_msgs or batch_max_samples out of range");
		return -EINVAL;
	}
	if (!c->client_id[0])
		snprintf(c->client_id, sizeof(c->client_id), "v2xd%s%.200s", c->vehicle_id[0] ? "-" : "",
			 c->vehicle_id);
	if (!c->token[0] && c->token_file[0]) {
		char *tok = NULL;
		rc = mqtt_read_token_file(c->token_file, &tok, err, errsize);
		if (rc < 0)
			return rc;
		if (strlen(tok) >= sizeof(c->token)) {
			snprintf(err, errsize, "%s: token longer than %zu characters", c->token_file, sizeof(c->token) - 1);
			explicit_bzero(tok, strlen(tok));
			free(tok);
			return -EINVAL;
		}
		strcpy(c->token, tok);
		explicit_bzero(tok, strlen(tok));
		free(tok);
	}
	if (c->key_file[0]) {
		rc = mqtt_check_secret_file(c->key_file, -1, err, errsize);
		if (rc < 0)
			return rc;
	}
	if ((c->cert_file[0] != 0) != (c->key_file[0] != 0)) {
		snprintf(err, errsize, "uplink: a client certificate needs its key and a key its certificate");
		return -EINVAL;
	}
	if ((c->cert_file[0] || c->tls_insecure) && !c->ca_file[0]) {
		snprintf(err, errsize, "uplink: cert_file and tls_insecure need ca_file (TLS)");
		return -EINVAL;
	}
	u->rng = c->rng_seed ? c->rng_seed : (now_mono_ns ^ ((uint64_t)getpid() << 32) ^ 0x9E3779B97F4A7C15ull);
	if (!u->rng)
		u->rng = 1;

	rc = -ENOMEM;
	u->batches = calloc(c->max_inflight_msgs, sizeof(*u->batches));
	u->batch_seqs = calloc((size_t)c->max_inflight_msgs * c->batch_max_samples, sizeof(uint64_t));
	u->pub_cap = (c->batch_max_bytes > SPOOL_PAYLOAD_MAX ? c->batch_max_bytes : SPOOL_PAYLOAD_MAX) + 16;
	u->pub_buf = malloc(u->pub_cap);
	u->sample_buf = malloc(TELEM_SAMPLE_MAX);
	if (!u->batches || !u->batch_seqs || !u->pub_buf || !u->sample_buf) {
		snprintf(err, errsize, "uplink: out of memory");
		goto fail;
	}
	for (unsigned i = 0; i < c->max_inflight_msgs; i++)
		u->batches[i].seqs = u->batch_seqs + (size_t)i * c->batch_max_samples;

	struct spool_conf sc = {
		.dir = c->spool_dir,
		.max_bytes = c->spool_max_bytes,
		.seg_bytes = c->spool_seg_bytes,
		.max_inflight = c->max_inflight_msgs * c->batch_max_samples,
		.fsync_interval_ns = c->spool_fsync_interval_ns,
	};
	rc = spool_open(&u->spool, &sc, now_mono_ns);
	if (rc < 0) {
		snprintf(err, errsize, "uplink: spool %s: %s", c->spool_dir, strerror(-rc));
		goto fail;
	}
	u->sample_seq = spool_next_seq(&u->spool) - 1;
	u->max_sent_seq = spool_acked_seq(&u->spool);

	pthread_once(&lib_once, uplink__lib_init);
	u->mosq = mosquitto_new(c->client_id, true, u);
	if (!u->mosq) {
		rc = -errno ? -errno : -ENOMEM;
		snprintf(err, errsize, "uplink: mosquitto_new: %s", strerror(-rc));
		goto fail;
	}
	rc = uplink__setup_client(u);
	if (rc != MOSQ_ERR_SUCCESS) {
		snprintf(err, errsize, "uplink: client setup: %s (check ca_file, cert_file, key_file)",
			 mosquitto_strerror(rc));
		rc = -EINVAL;
		goto fail;
	}
	u->connack_rc = -1;
	u->next_attempt_ns = now_mono_ns;
	u->last_drain_ns = now_mono_ns;
	uplink__set_state(u, UPLINK_DOWN, 0);
	u->open = 1;
	return 0;
fail:
	u->open = 1;
	uplink_fini(u);
	return rc;
}

void uplink_fini(struct uplink *u)
{
	if (!u->open)
		return;
	if (u->mosq) {
		if (u->state != UPLINK_DOWN) {
			mosquitto_disconnect(u->mosq);
			mosquitto_loop(u->mosq, 0, 1);
		}
		mosquitto_destroy(u->mosq);
		u->mosq = NULL;
	}
	spool_close(&u->spool);
	free(u->batches);
	free(u->batch_seqs);
	free(u->pub_buf);
	free(u->sample_buf);
	explicit_bzero(u->conf.token, sizeof(u->conf.token));
	explicit_bzero(u->conf.password, sizeof(u->conf.password));
	u->batches = NULL;
	u->batch_seqs = NULL;
	u->pub_buf = u->sample_buf = NULL;
	u->open = 0;
}

/* ---- samples ---- */

int uplink_add_sample(struct uplink *u, const struct vstate *s, uint64_t now_mono_ns)
{
	if (s->updated_real_ns <= 0 || s->updated_real_ns == u->last_sample_data_ns) {
		ST_ADD(u, samples_unchanged, 1);
		return -ENODATA;
	}
	int n = telem_sample(u->sample_buf, TELEM_SAMPLE_MAX, s, u->sample_seq + 1, &u->conf.telem);
	if (n < 0) {
		ST_ADD(u, sample_errors, 1);
		return n;
	}
	int rc = spool_append(&u->spool, telem_data_time_ms(s), u->sample_buf, (uint32_t)n, now_mono_ns);
	if (rc < 0) {
		ST_ADD(u, sample_errors, 1);
		return rc;
	}
	u->sample_seq++;
	u->last_sample_data_ns = s->updated_real_ns;
	ST_ADD(u, samples_built, 1);
	/* The spool gave the record the seq before next_seq: remember which frames it covers, for mqtt_publish. */
	uint64_t rec_seq = u->spool.next_seq - 1;
	u->frame_of[rec_seq % UPLINK_FRAME_MAP].spool_seq = rec_seq;
	u->frame_of[rec_seq % UPLINK_FRAME_MAP].frame_seq = s->last_seq;
	return 0;
}

int uplink_add_session(struct uplink *u, const struct telem_session_event *ev, uint64_t now_mono_ns)
{
	int n = telem_session(u->sample_buf, TELEM_SAMPLE_MAX, ev, u->sample_seq + 1);
	if (n < 0) {
		ST_ADD(u, sample_errors, 1);
		return n;
	}
	int rc = spool_append(&u->spool, ev->t_real_ns / 1000000, u->sample_buf, (uint32_t)n, now_mono_ns);
	if (rc < 0) {
		ST_ADD(u, sample_errors, 1);
		return rc;
	}
	u->sample_seq++;
	ST_ADD(u, events_built, 1);
	return 0;
}

/* ---- the loop ---- */

int uplink_pollfd(struct uplink *u, struct pollfd *pfd)
{
	int fd = u->mosq ? mosquitto_socket(u->mosq) : -1;
	if (fd < 0 || u->state == UPLINK_DOWN)
		return 0;
	pfd->fd = fd;
	pfd->events = POLLIN | (mosquitto_want_write(u->mosq) ? POLLOUT : 0);
	pfd->revents = 0;
	return 1;
}

uint64_t uplink_timeout_ns(const struct uplink *u, uint64_t now)
{
	uint64_t t = 100000000ull; /* keepalive, the spool's fsync window and pacing need no finer clock */
	if (u->state == UPLINK_DOWN)
		t = u->next_attempt_ns > now ? (u->next_attempt_ns - now < t ? u->next_attempt_ns - now : t) : 0;
	else if (u->state == UPLINK_UP && u->next_pub_ns > now && u->next_pub_ns - now < t)
		t = u->next_pub_ns - now;
	return t;
}

void uplink_process(struct uplink *u, uint64_t now)
{
	u->now_ns = now;
	if (u->state != UPLINK_DOWN) {
		int rc = mosquitto_loop(u->mosq, 0, 1);
		if (u->state == UPLINK_CONNECTING && u->connack_rc == 0)
			uplink__connected(u, now);
		else if (u->state == UPLINK_CONNECTING && u->connack_rc > 0)
			uplink__connection_failed(u, now, 1000 + u->connack_rc);
		else if (u->state == UPLINK_CONNECTING && now - u->connect_started_ns >= u->conf.connect_timeout_ns)
			uplink__connection_failed(u, now, MOSQ_ERR_CONN_LOST);
		if (u->state != UPLINK_DOWN && (u->lost || (rc != MOSQ_ERR_SUCCESS && rc != MOSQ_ERR_NO_CONN) ||
						(rc == MOSQ_ERR_NO_CONN && u->state == UPLINK_UP)))
			uplink__connection_failed(u, now, rc != MOSQ_ERR_SUCCESS ? rc : MOSQ_ERR_CONN_LOST);
	}
	if (u->state == UPLINK_DOWN && now >= u->next_attempt_ns)
		uplink__try_connect(u, now);
	if (u->state == UPLINK_UP) {
		uint64_t period = (uint64_t)(1e9 / u->conf.publish_rate_hz);
		while (now >= u->next_pub_ns && !u->lost) {
			int r = uplink__publish_batch(u);
			if (r <= 0)
				break;
			u->next_pub_ns = (u->next_pub_ns + period > now) ? u->next_pub_ns + period : now + period;
			if (u->next_pub_ns > now)
				break;
		}
		if (u->lost)
			uplink__connection_failed(u, now, MOSQ_ERR_CONN_LOST);
		else
			mosquitto_loop_write(u->mosq, 1); /* send what was just queued */
	}
	spool_tick(&u->spool, now);
	if (now - u->last_drain_ns >= NS_PER_S) {
		uint64_t acked = ST_GET(u, acked_samples);
		uint64_t rate = (acked - u->drain_acked_at) * NS_PER_S / (now - u->last_drain_ns);
		ST_SET(u, drain_rate_sps, rate);
		uint64_t depth = atomic_load_explicit(&u->spool.stats.depth_records, memory_order_relaxed);
		if (depth || rate)
			V2X_TP(uplink_drain, acked - u->drain_acked_at, depth);
		u->drain_acked_at = acked;
		u->last_drain_ns = now;
	}
}

/* ---- status ---- */

int uplink_status_json(const struct uplink *u, char *buf, size_t size)
{
	const struct spool_stats *ss = &u->spool.stats;
	char masked[64];
	cJSON *o = cJSON_CreateObject();
	int rc = 0;

#define LD(p) ((double)atomic_load_explicit(p, memory_order_relaxed))
	if (!o)
		return -ENOMEM;
	mqtt_mask_secret(u->conf.token, masked, sizeof(masked));
	rc |= !cJSON_AddStringToObject(o, "state",
				       uplink_state_name((enum uplink_conn_state)ST_GET(u, state)));
	rc |= !cJSON_AddStringToObject(o, "broker", u->conf.host);
	rc |= !cJSON_AddNumberToObject(o, "port", u->conf.port);
	rc |= !cJSON_AddBoolToObject(o, "tls", u->conf.ca_file[0] != 0);
	rc |= !cJSON_AddStringToObject(o, "token", masked);
	rc |= !cJSON_AddNumberToObject(o, "connects", LD(&u->stats.connects));
	rc |= !cJSON_AddNumberToObject(o, "connect_failures", LD(&u->stats.connect_failures));
	rc |= !cJSON_AddNumberToObject(o, "disconnects", LD(&u->stats.disconnects));
	rc |= !cJSON_AddNumberToObject(o, "last_error", LD(&u->stats.last_error));
	int64_t e = atomic_load_explicit(&u->stats.last_error, memory_order_relaxed);
	rc |= !cJSON_AddStringToObject(o, "last_error_text",
				       e == 0 ? "" : e > 1000 ? mosquitto_connack_string((int)(e - 1000))
							      : mosquitto_strerror((int)e));
	rc |= !cJSON_AddNumberToObject(o, "last_connack", LD(&u->stats.last_connack));
	rc |= !cJSON_AddNumberToObject(o, "spool_records", LD(&ss->depth_records));
	rc |= !cJSON_AddNumberToObject(o, "spool_bytes", LD(&ss->depth_bytes));
	int64_t oldest = atomic_load_explicit(&ss->oldest_data_ms, memory_order_relaxed);
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	int64_t now_ms = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
	rc |= !cJSON_AddNumberToObject(o, "spool_oldest_ms", (double)oldest);
	rc |= !cJSON_AddNumberToObject(o, "spool_oldest_age_s", oldest ? (double)(now_ms - oldest) / 1000.0 : 0.0);
	rc |= !cJSON_AddNumberToObject(o, "drain_rate_sps", LD(&u->stats.drain_rate_sps));
	rc |= !cJSON_AddNumberToObject(o, "inflight_msgs", LD(&u->stats.inflight_msgs));
	rc |= !cJSON_AddNumberToObject(o, "inflight_samples", LD(&ss->inflight));
	rc |= !cJSON_AddNumberToObject(o, "evicted_records", LD(&ss->evicted_records));
	rc |= !cJSON_AddNumberToObject(o, "dropped_records", LD(&ss->dropped_records));
	rc |= !cJSON_AddNumberToObject(o, "corrupt_records", LD(&ss->corrupt_records));
	rc |= !cJSON_AddNumberToObject(o, "spool_write_errors", LD(&ss->write_errors));
	rc |= !cJSON_AddNumberToObject(o, "samples_built", LD(&u->stats.samples_built));
	rc |= !cJSON_AddNumberToObject(o, "published_samples", LD(&u->stats.published_samples));
	rc |= !cJSON_AddNumberToObject(o, "acked_samples", LD(&u->stats.acked_samples));
	rc |= !cJSON_AddNumberToObject(o, "resent_samples", LD(&u->stats.resent_samples));
	rc |= !cJSON_AddNumberToObject(o, "rpc_requests", LD(&u->stats.rpc.requests));
	uint64_t rej = 0;
	for (int i = 1; i < RPC_ERR__COUNT; i++)
		rej += atomic_load_explicit(&u->stats.rpc.rejected[i], memory_order_relaxed);
	rc |= !cJSON_AddNumberToObject(o, "rpc_rejected", (double)rej);
#undef LD
	int n = !rc && size <= 0x7FFFFFFF && cJSON_PrintPreallocated(o, buf, (int)size, 0) ? (int)strlen(buf)
											   : rc ? -ENOMEM : -ENOBUFS;
	cJSON_Delete(o);
	return n;
}
