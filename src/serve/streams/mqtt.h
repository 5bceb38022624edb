/* mqtt: a bounded, non-blocking MQTT publisher (MQTT 3.1.1 over libmosquitto),
 * for results that glint pushes to a broker (per-topic state, often retained).
 *
 * The broker may be slow, down or restarting; the server must go on all the
 * same. So:
 *   - mqtt_pub_publish never waits on the network: it copies the message into
 *     the publisher's own ring and returns; at most it takes a mutex;
 *   - messages go to libmosquitto only while connected, and only while fewer
 *     than `window` of them are handed over and not yet acknowledged; the rest
 *     wait in the ring (libmosquitto itself would queue without bound);
 *   - the ring holds at most max_msgs messages and max_bytes bytes (topics +
 *     payloads): when a new message does not fit, the OLDEST ones are dropped
 *     and counted (for retained per-topic state the newest answer matters);
 *   - libmosquitto's own thread connects and reconnects with a backoff
 *     (reconnect_min_s growing to reconnect_max_s); after a reconnect the
 *     messages that were in flight are resent first (libmosquitto does that,
 *     right after the CONNACK), and the ring waits until they are
 *     acknowledged, then drains in order.
 *
 * Counting: every message that publish accepted (returned 0) ends up in
 * exactly one of published, dropped, failed, or is still queued; every
 * published one is acknowledged, lost, or still in flight:
 *     accepted     = published + dropped + failed + queued
 *     published    = acknowledged + lost + in_flight
 * "acknowledged" is libmosquitto's on_publish: PUBACK (QoS 1), PUBCOMP
 * (QoS 2), or written to the socket (QoS 0). QoS 1/2 messages in flight when
 * a connection drops stay in flight and are resent after the reconnect, so a
 * subscriber may see one twice (clean session, DUP set) but it is counted
 * once; QoS 0 ones not yet written then are lost.
 *
 * URL: mqtt://[USER[:PASSWORD]@]HOST[:PORT][/] (port 1883 by default; HOST
 * may be [IPv6]; the password may contain ':' and '@'). mqtts:// is refused
 * for now. No message ever shows the password: errors name HOST:PORT only.
 *
 * Threads: create and destroy on one owner thread; publish and stats from any
 * thread, until destroy starts. libmosquitto's thread ("mosquitto loop") runs
 * the connection and the callbacks; a watch thread starts it again when it
 * gives up (libmosquitto 2.0.11 stops retrying after some errors, e.g. a peer
 * that does not speak MQTT). Creating a publisher sets SIGPIPE to
 * SIG_IGN for the whole process (libmosquitto's mosquitto_new does). */
#ifndef GLINT_SERVE_STREAMS_MQTT_H
#define GLINT_SERVE_STREAMS_MQTT_H

#include <stddef.h>
#include <stdint.h>

#define MQTT_PUB_DEFAULT_PORT 1883
#define MQTT_PUB_DEFAULT_KEEPALIVE_S 30
#define MQTT_PUB_DEFAULT_QOS 1
#define MQTT_PUB_DEFAULT_MAX_MSGS 1000
#define MQTT_PUB_DEFAULT_MAX_BYTES ((size_t)16 << 20)
#define MQTT_PUB_DEFAULT_WINDOW 100
#define MQTT_PUB_DEFAULT_RECONNECT_MIN_S 1
#define MQTT_PUB_DEFAULT_RECONNECT_MAX_S 30
#define MQTT_PUB_DEFAULT_FLUSH_MS 1000
#define MQTT_PUB_MAX_PASSWORD 1024 /* bytes in a password file */

typedef struct mqtt_pub mqtt_pub;

/* How to publish. Fill with mqtt_pub_options_init, then set what differs;
 * a 0 in a number (other than qos and flush_ms) means its default. The
 * strings are copied by mqtt_pub_create. */
typedef struct mqtt_pub_options {
    const char *url;           /* required: mqtt://[USER[:PASSWORD]@]HOST[:PORT] */
    const char *client_id;     /* NULL: "glint-<hostname>-<pid>" */
    const char *password_file; /* NULL: the URL's password; else the file's first line
                                  (the URL must then carry none) */
    int qos;                   /* 0, 1 or 2 (the init sets 1) */
    int keepalive_s;           /* 5..65535 */
    size_t max_msgs;           /* the ring's bound in messages */
    size_t max_bytes;          /* ... and in bytes (topic + payload of each) */
    unsigned window;           /* messages handed to libmosquitto, not yet acknowledged
                                  (also its send maximum); at most 65535 */
    int reconnect_min_s;       /* the first reconnect's delay */
    int reconnect_max_s;       /* the longest (<= 3600): libmosquitto's delays grow as
                                  min*(n+1)^2 up to it */
    int flush_ms;              /* how long destroy waits for the ring to drain (0: not) */
} mqtt_pub_options;

typedef struct mqtt_pub_stats {
    int connected;         /* 0/1: a session is up now (CONNACK accepted) */
    uint64_t connects;     /* sessions made */
    uint64_t disconnects;  /* sessions that ended */
    uint64_t accepted;     /* messages mqtt_pub_publish took */
    uint64_t published;    /* handed to libmosquitto */
    uint64_t acknowledged; /* on_publish: PUBACK / PUBCOMP / QoS 0 written */
    uint64_t dropped;      /* the oldest, pushed out of a full ring */
    uint64_t failed;       /* refused by libmosquitto (too big for the broker, QoS above its max) */
    uint64_t lost;         /* QoS 0 handed over but not written before a disconnect */
    size_t queued;         /* in the ring now */
    size_t queued_bytes;   /* their topics + payloads */
    size_t in_flight;      /* handed over, not acknowledged */
    char last_error[256];  /* the last problem seen ("" if none), without credentials */
} mqtt_pub_stats;

/* Sets *o to the defaults (url NULL, qos 1, the MQTT_PUB_DEFAULT_* values). */
void mqtt_pub_options_init(mqtt_pub_options *o);

/* A publisher that starts connecting now on libmosquitto's thread; it keeps
 * trying when the broker is down (not an error here). Resolves HOST once
 * (getaddrinfo) before returning. NULL with err on a bad URL or option, an
 * unreadable password file, or no memory. Free it with mqtt_pub_destroy. */
mqtt_pub *mqtt_pub_create(const mqtt_pub_options *o, char *err, size_t err_size);

/* Queues a copy of payload (len bytes) for topic (a valid MQTT topic name:
 * UTF-8, no wildcards), with the publisher's QoS; retain: the broker keeps it
 * as the topic's last value. Any thread; never blocks on the network.
 * 0: accepted (sent or queued; an older message may have been dropped to make
 * room); -1: bad arguments (NULL, bad topic, len over max_bytes or MQTT's
 * limit) or no memory, and nothing queued. */
int mqtt_pub_publish(mqtt_pub *p, const char *topic, const void *payload, size_t len, int retain);

/* A snapshot of the counters. Any thread. */
void mqtt_pub_get_stats(const mqtt_pub *p, mqtt_pub_stats *out);

/* If connected, waits up to flush_ms for the ring and the window to empty;
 * then disconnects, stops libmosquitto's thread and frees p. Returns within
 * about flush_ms + 1 s: should libmosquitto's thread not stop by then (a
 * blocking connect() to a host that does not answer), it is left to finish
 * and free the rest by itself. What is not delivered by then is discarded.
 * Accepts NULL. No publish may run on p during or after it. */
void mqtt_pub_destroy(mqtt_pub *p);

#endif
