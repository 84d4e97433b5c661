/*
 * rpc.h - ThingsBoard server-side RPC to the vehicle (../shared/facts/interop.md): parse a request, build its answer.
 *
 * A request arrives on v1/devices/me/rpc/request/<id> as {"method":"...","params":...}; the answer goes to
 * v1/devices/me/rpc/response/<id>.  Methods: stopCharging, setDesiredSoc {"soc":N} (0..100 %), setMaxCost
 * {"cost":X} (>= 0, currency units per session), getState (answered by the uplink with the vehicle state).
 * Every request ends in exactly one outcome (enum rpc_err): a command for the V2G stage (struct rpc_cmd, sent by
 * value through a ring, the same path as v2xctl), a getState answer, or a rejection with a stable reason that is
 * counted (struct rpc_stats), traced (uplink_rpc) and answered with an error object, except a topic without a
 * usable id, which cannot be answered and is only counted.
 *
 * Answers: {"result":"accepted","method":"setDesiredSoc","soc":80} for commands (accepted = handed to the V2G
 * stage; its outcome shows in the telemetry), {"result":{...state...}} for getState,
 * {"error":"<reason>","message":"<text>"} for rejections.
 *
 * Pure: no clock, no descriptor; cJSON allocates.  Any thread, distinct buffers; rpc_stats counters are atomics.
 */
#ifndef V2X_STAGES_UPLINK_RPC_H
#define V2X_STAGES_UPLINK_RPC_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define RPC_REQUEST_PREFIX "v1/devices/me/rpc/request/"
#define RPC_REQUEST_SUB "v1/devices/me/rpc/request/+"
#define RPC_RESPONSE_PREFIX "v1/devices/me/rpc/response/"
#define RPC_PAYLOAD_MAX 1024u /* larger requests are refused unparsed (rpc_err oversize) */
#define RPC_TOPIC_MAX 64u     /* a response topic always fits */
#define RPC_ANSWER_MAX 8192u  /* an answer (getState included) always fits */

enum rpc_method {
	RPC_NONE = 0,
	RPC_STOP_CHARGING = 1,
	RPC_SET_DESIRED_SOC = 2,
	RPC_SET_MAX_COST = 3,
	RPC_GET_STATE = 4,
};

enum rpc_err {
	RPC_OK = 0,
	RPC_ERR_TOPIC = 1,          /* topic is not .../request/<decimal id>: no answer possible */
	RPC_ERR_OVERSIZE = 2,       /* payload longer than RPC_PAYLOAD_MAX */
	RPC_ERR_JSON = 3,           /* not JSON */
	RPC_ERR_NOT_OBJECT = 4,     /* JSON, but not an object */
	RPC_ERR_NO_METHOD = 5,      /* "method" missing or not a string */
	RPC_ERR_UNKNOWN_METHOD = 6,
	RPC_ERR_PARAMS_TYPE = 7,    /* params missing, or a value of the wrong type */
	RPC_ERR_RANGE = 8,          /* a value outside its range */
	RPC_ERR_BUSY = 9,           /* the command ring to the V2G stage is full (set by the caller) */
	RPC_ERR__COUNT
};

/* A command for the V2G stage, by value. */
struct rpc_cmd {
	enum rpc_method method;
	uint32_t request_id;
	double soc_pct;             /* setDesiredSoc */
	double max_cost;            /* setMaxCost */
};

struct rpc_stats {
	_Atomic uint64_t requests;                 /* every message on the request topic */
	_Atomic uint64_t accepted;                 /* commands and getState answered with a result */
	_Atomic uint64_t rejected[RPC_ERR__COUNT]; /* by reason (index 0 unused) */
};

/*
 * Parses one request: topic (NUL-terminated), payload (len bytes, not NUL-terminated).  Fills cmd (request_id
 * whenever the topic carried one, even on a later error) and returns RPC_OK or the rejection reason.  Never
 * allocates more than cJSON needs for len <= RPC_PAYLOAD_MAX bytes.
 */
enum rpc_err rpc_parse(const char *topic, const void *payload, size_t len, struct rpc_cmd *cmd);

/* Writes "v1/devices/me/rpc/response/<id>".  Returns its length or -ENOBUFS. */
int rpc_response_topic(char *buf, size_t size, uint32_t request_id);

/* The answer to an accepted command (not getState).  Returns the length, -ENOBUFS or -ENOMEM. */
int rpc_result_body(char *buf, size_t size, const struct rpc_cmd *cmd);

/* The error answer for err (not RPC_OK).  Returns the length, -ENOBUFS or -ENOMEM. */
int rpc_error_body(char *buf, size_t size, enum rpc_err err);

/* Counts one request and its outcome, and emits the uplink_rpc tracepoint. */
void rpc_count(struct rpc_stats *st, enum rpc_method method, enum rpc_err err);

/* Stable names: "stopCharging", ... ("" for RPC_NONE); "ok", "bad_topic", "oversize", "bad_json", "not_object",
 * "no_method", "unknown_method", "bad_params", "out_of_range", "busy".  NULL when out of range. */
const char *rpc_method_name(enum rpc_method m);
const char *rpc_err_name(enum rpc_err e);

#endif
