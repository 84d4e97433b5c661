/*
 * test_registry.c - the metrics registry: registration rules, the JSON tree of each metric type, rates from two
 * samples, histogram percentiles through the reader's copy, and the compact status line.
 * Expected values follow rt/registry.h's documented shapes and rt/histogram.h's bucket rule (a percentile is the
 * upper bound of its bucket, clamped to the max), worked out by hand in the comments.
 */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "rt/clock.h"
#include "rt/registry.h"

static const char *const rx_reasons[] = {"crc", "ring_full"};

struct fixture {
	struct rt_registry reg;
	struct rt_counters rx, dec;
	_Atomic uint64_t bytes;
	struct rt_hist *lat;
	struct ring ring;
	int64_t disk_free_mb;
	double temp_c;
	const char *link;
};

static int64_t gauge_disk(void *ctx)
{
	return ((struct fixture *)ctx)->disk_free_mb;
}

static double gauge_temp(void *ctx)
{
	return ((struct fixture *)ctx)->temp_c;
}

static int text_link(void *ctx, char *buf, size_t size)
{
	struct fixture *f = ctx;
	if (!f->link)
		return -EIO;
	snprintf(buf, size, "%s", f->link);
	return 0;
}

static int setup(void **state)
{
	/* struct ring is cache-line aligned: calloc's 16 bytes are not enough. */
	struct fixture *f = aligned_alloc(RT_CACHE_LINE, (sizeof(*f) + RT_CACHE_LINE - 1) / RT_CACHE_LINE * RT_CACHE_LINE);
	assert_non_null(f);
	memset(f, 0, sizeof(*f));
	rt_registry_init(&f->reg);
	rt_counters_init(&f->rx, "can_rx", rx_reasons, 2);
	rt_counters_init(&f->dec, "decode", NULL, 0);
	atomic_init(&f->bytes, 0);
	f->lat = aligned_alloc(64, (sizeof(struct rt_hist) + 63) / 64 * 64);
	assert_non_null(f->lat);
	rt_hist_init(f->lat);
	assert_int_equal(ring_init(&f->ring, "can_rx->decode", 8, 8, NULL), 0);
	f->disk_free_mb = 512;
	f->temp_c = 41.5;
	f->link = "up";
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	rt_registry_fini(&f->reg);
	ring_fini(&f->ring);
	free(f->lat);
	free(f);
	return 0;
}

/* The vehicle-like set-up used by several tests: two stages, every metric type. */
static void register_all(struct fixture *f)
{
	assert_int_equal(rt_registry_add_counters(&f->reg, "can_rx", NULL, &f->rx), 0);
	assert_int_equal(rt_registry_add_counter(&f->reg, "can_rx", "bytes", &f->bytes), 0);
	assert_int_equal(rt_registry_add_text(&f->reg, "can_rx", "link", text_link, f), 0);
	assert_int_equal(rt_registry_add_ring(&f->reg, "can_rx", NULL, &f->ring), 0);
	assert_int_equal(rt_registry_add_gauge_int(&f->reg, "can_rx", "disk_free", "MB", gauge_disk, f), 0);
	assert_int_equal(rt_registry_add_counters(&f->reg, "decode", NULL, &f->dec), 0);
	assert_int_equal(rt_registry_add_hist(&f->reg, "decode", "rx_to_decoded", "ns", f->lat), 0);
	assert_int_equal(rt_registry_add_gauge_double(&f->reg, "decode", "temp", "C", gauge_temp, f), 0);
	assert_int_equal(rt_registry_count(&f->reg), 8);
}

static void test_registration_rules(void **state)
{
	struct fixture *f = *state;
	char long_name[RT_REGISTRY_NAME_MAX + 1];
	memset(long_name, 'a', sizeof(long_name) - 1);
	long_name[sizeof(long_name) - 1] = '\0';

	assert_int_equal(rt_registry_add_counter(&f->reg, "s", "bytes", &f->bytes), 0);
	assert_int_equal(rt_registry_add_counter(&f->reg, "s", "bytes", &f->bytes), -EEXIST);
	assert_int_equal(rt_registry_add_counter(&f->reg, "t", "bytes", &f->bytes), 0); /* same name, other group */
	assert_int_equal(rt_registry_add_counter(&f->reg, "s", "x", NULL), -EINVAL);
	assert_int_equal(rt_registry_add_counter(&f->reg, "", "x", &f->bytes), -EINVAL);
	assert_int_equal(rt_registry_add_counter(&f->reg, "s", NULL, &f->bytes), -EINVAL);
	assert_int_equal(rt_registry_add_counter(&f->reg, "s", "two words", &f->bytes), -EINVAL);
	assert_int_equal(rt_registry_add_counter(&f->reg, "s", "quote\"", &f->bytes), -EINVAL);
	assert_int_equal(rt_registry_add_counter(&f->reg, "s", long_name, &f->bytes), -ENAMETOOLONG);
	long_name[RT_REGISTRY_NAME_MAX - 1] = '\0'; /* exactly the longest allowed */
	assert_int_equal(rt_registry_add_counter(&f->reg, "s", long_name, &f->bytes), 0);
	assert_int_equal(rt_registry_add_gauge_int(&f->reg, "s", "g", NULL, NULL, NULL), -EINVAL);
	assert_int_equal(rt_registry_add_gauge_int(&f->reg, "s", "g", "much-too-long-unit", gauge_disk, f),
			 -ENAMETOOLONG);
	assert_int_equal(rt_registry_add_text(&f->reg, "s", "t", NULL, NULL), -EINVAL);
	assert_int_equal(rt_registry_add_hist(&f->reg, "s", "h", "ns", NULL), -EINVAL);
	assert_int_equal(rt_registry_add_ring(&f->reg, "s", NULL, NULL), -EINVAL);
	assert_int_equal(rt_registry_count(&f->reg), 3);
	/* Many registrations grow the array; all are kept in order. */
	char name[16];
	for (int i = 0; i < 100; i++) {
		snprintf(name, sizeof(name), "c%d", i);
		assert_int_equal(rt_registry_add_counter(&f->reg, "many", name, &f->bytes), 0);
	}
	assert_int_equal(rt_registry_count(&f->reg), 103);
	assert_int_equal(rt_registry_remove_group(&f->reg, "many"), 100);
	assert_int_equal(rt_registry_count(&f->reg), 3);
	assert_int_equal(rt_registry_remove_group(&f->reg, "many"), 0);
}

static double num(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	assert_true(cJSON_IsNumber(v));
	return v->valuedouble;
}

static const char *str(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	assert_true(cJSON_IsString(v));
	return v->valuestring;
}

static const cJSON *obj(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	assert_true(cJSON_IsObject(v));
	return v;
}

static void test_json_shape(void **state)
{
	struct fixture *f = *state;
	register_all(f);
	rt_count(&f->rx.in, 10);
	rt_count(&f->rx.out, 8);
	rt_count(&f->rx.dropped[0], 2);
	rt_count_max(&f->rx.ring_hwm, 5);
	rt_count(&f->bytes, 4096);
	uint64_t rec = 0;
	for (int i = 0; i < 8; i++)
		assert_true(ring_push(&f->ring, &rec));
	assert_false(ring_push(&f->ring, &rec)); /* full: one full drop, high water exact at capacity */
	for (int i = 0; i < 5; i++)
		assert_true(ring_pop(&f->ring, &rec));

	cJSON *root = cJSON_CreateObject();
	assert_int_equal(rt_registry_json(&f->reg, root, RT_METRICS_STATUS), 0);
	/* Groups in registration order; histograms are not status metrics, so decode holds records and temp. */
	assert_int_equal(cJSON_GetArraySize(root), 2);
	assert_string_equal(cJSON_GetArrayItem(root, 0)->string, "can_rx");
	assert_string_equal(cJSON_GetArrayItem(root, 1)->string, "decode");

	const cJSON *rx = obj(root, "can_rx");
	assert_int_equal(cJSON_GetArraySize(rx), 5);
	const cJSON *records = obj(rx, "records");
	assert_string_equal(str(records, "type"), "counters");
	assert_true(num(records, "in") == 10);
	assert_true(num(records, "out") == 8);
	assert_true(num(records, "dropped") == 2);
	assert_true(num(records, "hwm") == 5);
	assert_true(num(records, "in_rate") == 0); /* no sample window yet */
	const cJSON *drops = obj(records, "drops");
	assert_int_equal(cJSON_GetArraySize(drops), 2);
	assert_true(num(drops, "crc") == 2);
	assert_true(num(drops, "ring_full") == 0);

	const cJSON *bytes = obj(rx, "bytes");
	assert_string_equal(str(bytes, "type"), "counter");
	assert_true(num(bytes, "value") == 4096);

	const cJSON *link = obj(rx, "link");
	assert_string_equal(str(link, "type"), "text");
	assert_string_equal(str(link, "value"), "up");

	const cJSON *ring = obj(rx, "can_rx->decode"); /* the ring's own name */
	assert_string_equal(str(ring, "type"), "ring");
	assert_true(num(ring, "fill") == 3);
	assert_true(num(ring, "capacity") == 8);
	assert_true(num(ring, "high_water") == 8);
	assert_true(num(ring, "full_drops") == 1);

	const cJSON *disk = obj(rx, "disk_free");
	assert_string_equal(str(disk, "type"), "gauge");
	assert_true(num(disk, "value") == 512);
	assert_string_equal(str(disk, "unit"), "MB");

	const cJSON *dec = obj(root, "decode");
	assert_int_equal(cJSON_GetArraySize(dec), 2);
	assert_null(cJSON_GetObjectItemCaseSensitive(dec, "rx_to_decoded"));
	assert_true(num(obj(dec, "temp"), "value") == 41.5);
	assert_int_equal(cJSON_GetArraySize(obj(obj(dec, "records"), "drops")), 0);

	/* A gauge that reads NaN is null (JSON has no NaN); a failing text callback reads "?". */
	f->temp_c = NAN;
	f->link = NULL;
	cJSON_Delete(root);
	root = cJSON_CreateObject();
	assert_int_equal(rt_registry_json(&f->reg, root, RT_METRICS_ALL), 0);
	assert_true(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(obj(obj(root, "decode"), "temp"), "value")));
	assert_string_equal(str(obj(obj(root, "can_rx"), "link"), "value"), "?");
	/* The whole tree prints as JSON and parses back. */
	char *text = cJSON_PrintUnformatted(root);
	assert_non_null(text);
	cJSON *back = cJSON_Parse(text);
	assert_non_null(back);
	cJSON_Delete(back);
	free(text);
	cJSON_Delete(root);
}

static void test_rates_from_two_samples(void **state)
{
	struct fixture *f = *state;
	register_all(f);
	const uint64_t t0 = 1000 * (uint64_t)RT_NS_PER_SEC;

	rt_count(&f->rx.in, 1000);
	rt_count(&f->rx.out, 900);
	rt_count(&f->bytes, 100);
	rt_registry_sample(&f->reg, t0);
	/* 1.5 s later: in +4500 -> 3000/s, out +4500 + 100 -> 3066.67/s, bytes +300 -> 200/s; decode unchanged. */
	rt_count(&f->rx.in, 4500);
	rt_count(&f->rx.out, 4600);
	rt_count(&f->bytes, 300);
	rt_registry_sample(&f->reg, t0 + 1500 * (uint64_t)RT_NS_PER_MS);

	cJSON *root = cJSON_CreateObject();
	assert_int_equal(rt_registry_json(&f->reg, root, RT_METRICS_STATUS), 0);
	const cJSON *records = obj(obj(root, "can_rx"), "records");
	assert_true(fabs(num(records, "in_rate") - 3000.0) < 1e-9);
	assert_true(fabs(num(records, "out_rate") - 4600.0 / 1.5) < 1e-9);
	assert_true(fabs(num(obj(obj(root, "can_rx"), "bytes"), "rate") - 200.0) < 1e-9);
	assert_true(num(obj(obj(root, "decode"), "records"), "in_rate") == 0.0);
	cJSON_Delete(root);

	/* A sample at the same instant changes nothing; the next window starts from the last sample's values. */
	rt_registry_sample(&f->reg, t0 + 1500 * (uint64_t)RT_NS_PER_MS);
	rt_count(&f->rx.in, 250);
	rt_registry_sample(&f->reg, t0 + 2000 * (uint64_t)RT_NS_PER_MS); /* +250 in 0.5 s -> 500/s */
	root = cJSON_CreateObject();
	assert_int_equal(rt_registry_json(&f->reg, root, RT_METRICS_STATUS), 0);
	records = obj(obj(root, "can_rx"), "records");
	assert_true(fabs(num(records, "in_rate") - 500.0) < 1e-9);
	assert_true(num(records, "out_rate") == 0.0);
	assert_true(num(records, "in") == 5750);
	cJSON_Delete(root);
}

static void test_histogram_stats(void **state)
{
	struct fixture *f = *state;
	register_all(f);
	for (uint64_t v = 1; v <= 100; v++)
		rt_hist_record(f->lat, v);

	cJSON *root = cJSON_CreateObject();
	assert_int_equal(rt_registry_json(&f->reg, root, RT_METRICS_STATS), 0);
	assert_int_equal(cJSON_GetArraySize(root), 1); /* only decode has a histogram */
	const cJSON *h = obj(obj(root, "decode"), "rx_to_decoded");
	assert_string_equal(str(h, "type"), "histogram");
	assert_string_equal(str(h, "unit"), "ns");
	assert_true(num(h, "count") == 100);
	assert_true(num(h, "min") == 1);
	assert_true(num(h, "max") == 100);
	assert_true(num(h, "mean") == 50.5);
	/* Values below 64 have buckets of width 1; 64..127 width 2 ([90,91], [98,99], [100,101]).
	 * p50: rank 50 -> 50.  p90: rank 90 -> bucket [90,91] -> 91.  p99: rank 99 -> [98,99] -> 99.
	 * p99.9: rank ceil(99.9) = 100 -> [100,101] -> 101, clamped to the max 100. */
	assert_true(num(h, "p50") == 50);
	assert_true(num(h, "p90") == 91);
	assert_true(num(h, "p99") == 99);
	assert_true(num(h, "p999") == 100);
	assert_true(num(h, "overflow") == 0);
	cJSON_Delete(root);

	/* The reader's copy starts afresh each time: a second read reports the same, not twice the counts. */
	root = cJSON_CreateObject();
	assert_int_equal(rt_registry_json(&f->reg, root, RT_METRICS_STATS), 0);
	assert_true(num(obj(obj(root, "decode"), "rx_to_decoded"), "count") == 100);
	cJSON_Delete(root);
}

static void test_status_line(void **state)
{
	struct fixture *f = *state;
	register_all(f);
	uint64_t rec = 0;
	rt_registry_sample(&f->reg, 5 * (uint64_t)RT_NS_PER_SEC);
	rt_count(&f->rx.in, 10);
	rt_count(&f->rx.out, 8);
	rt_count(&f->rx.dropped[0], 2);
	rt_count(&f->bytes, 4096);
	rt_count(&f->dec.in, 8);
	rt_count(&f->dec.out, 8);
	for (int i = 0; i < 8; i++)
		assert_true(ring_push(&f->ring, &rec));
	assert_false(ring_push(&f->ring, &rec));
	for (int i = 0; i < 5; i++)
		assert_true(ring_pop(&f->ring, &rec));
	rt_registry_sample(&f->reg, 7 * (uint64_t)RT_NS_PER_SEC); /* 2 s: can_rx 10 in -> 5/s, decode 8 in -> 4/s */

	/* The format of rt/registry.h: "group:" then each metric; zero reasons and a zero hwm left out. */
	const char *expect = "can_rx: in=10 out=8 5/s drop=2 (crc=2) bytes=4096 link=up ring can_rx->decode 3/8 hwm=8 "
			     "full=1 disk_free=512MB; decode: in=8 out=8 4/s temp=41.5C";
	char buf[512];
	assert_int_equal(rt_registry_format_status(&f->reg, buf, sizeof(buf)), (int)strlen(expect));
	assert_string_equal(buf, expect);
	/* Truncated: terminated, and the full length is still returned. */
	char small[12];
	assert_int_equal(rt_registry_format_status(&f->reg, small, sizeof(small)), (int)strlen(expect));
	assert_string_equal(small, "can_rx: in=");
	/* An empty registry formats as an empty line. */
	struct rt_registry empty;
	rt_registry_init(&empty);
	assert_int_equal(rt_registry_format_status(&empty, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "");
	rt_registry_fini(&empty);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_registration_rules, setup, teardown),
		cmocka_unit_test_setup_teardown(test_json_shape, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rates_from_two_samples, setup, teardown),
		cmocka_unit_test_setup_teardown(test_histogram_stats, setup, teardown),
		cmocka_unit_test_setup_teardown(test_status_line, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
