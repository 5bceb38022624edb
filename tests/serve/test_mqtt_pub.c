/* Unit tests of src/serve/streams/mqtt against a real mosquitto broker on a
 * free loopback port (started, stalled with SIGSTOP and SIGKILLed here) and a
 * real libmosquitto subscriber: messages arrive with their topics and
 * payloads, in order; retain (a late subscriber gets the last value); QoS 1
 * acknowledgements, QoS 0 and QoS 2; a broker down at start then up; the
 * window (a stalled broker holds at most 100, the rest wait in the ring); a
 * broker killed while publishing and restarted on the same port
 * (delivered + dropped == accepted, in order); a peer that is not MQTT, then
 * a broker on its port; the bound (the oldest dropped, the newest delivered)
 * in messages and in bytes; bad URLs and options; user/password from a file
 * against a broker that checks them; the password in no message; destroy
 * with the broker down returns within 2 s, and flushes when connected.
 * Brokers die with the test (PR_SET_PDEATHSIG) on every path.
 * MQTT_TEST_FILTER=<test name> runs one; MQTT_TEST_KEEP=1 keeps the logs. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* fork, kill, mkdtemp, prctl; the CMake build defines it */
#endif
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <mosquitto.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "serve/streams/mqtt.h"

#define MAX_BROKERS 8
#define MAX_RX 8192
#define MAX_SEQ 8192

static char dir[64];
static pid_t brokers[MAX_BROKERS];

/* ---- time ---- */

static long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) && errno == EINTR) {
    }
}

/* Polls expr every 5 ms for up to ms; the value of expr at the end. */
#define WAIT_FOR(expr, ms)                                                                         \
    do {                                                                                           \
        long until_ = now_ms() + (ms);                                                             \
        while (!(expr) && now_ms() < until_)                                                       \
            sleep_ms(5);                                                                           \
    } while (0)

/* ---- brokers ---- */

static int free_port(void)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(s >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(s, (struct sockaddr *)&a, sizeof a), 0);
    socklen_t n = sizeof a;
    assert_int_equal(getsockname(s, (struct sockaddr *)&a, &n), 0);
    close(s);
    return ntohs(a.sin_port);
}

static int port_open(int port)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int ok = s >= 0 && connect(s, (struct sockaddr *)&a, sizeof a) == 0;
    if (s >= 0) close(s);
    return ok;
}

static void broker_kill(pid_t pid)
{
    for (int i = 0; i < MAX_BROKERS; i++)
        if (brokers[i] == pid) brokers[i] = 0;
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
}

static void kill_all_brokers(void)
{
    for (int i = 0; i < MAX_BROKERS; i++)
        if (brokers[i]) broker_kill(brokers[i]);
}

/* A mosquitto on 127.0.0.1:port (extra: more configuration lines), accepting
 * connections when this returns. */
static pid_t broker_start(int port, const char *extra)
{
    char conf[128], log[128];
    snprintf(conf, sizeof conf, "%s/broker-%d.conf", dir, port);
    snprintf(log, sizeof log, "%s/broker-%d.log", dir, port);
    FILE *f = fopen(conf, "w");
    assert_non_null(f);
    /* user root: a broker started as root keeps its user, since dropping it
     * would clear PR_SET_PDEATHSIG (ignored when not root) */
    fprintf(f, "listener %d 127.0.0.1\nallow_anonymous %s\npersistence false\nuser root\n%s", port,
            extra ? "false" : "true", extra ? extra : "");
    fclose(f);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (!pid) {
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlives the test */
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        execl("/usr/sbin/mosquitto", "mosquitto", "-c", conf, (char *)NULL);
        execlp("mosquitto", "mosquitto", "-c", conf, (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < MAX_BROKERS; i++)
        if (!brokers[i]) {
            brokers[i] = pid;
            break;
        }
    long until = now_ms() + 3000;
    while (!port_open(port)) {
        if (waitpid(pid, NULL, WNOHANG) == pid || now_ms() > until) {
            broker_kill(pid);
            fail_msg("mosquitto did not start on port %d (see %s)", port, log);
        }
        sleep_ms(5);
    }
    return pid;
}

/* ---- a subscriber (libmosquitto, its own thread) ---- */

typedef struct rx_msg {
    char topic[64];
    char payload[64];
    int retain;
} rx_msg;

static pthread_mutex_t rx_mu = PTHREAD_MUTEX_INITIALIZER;
static rx_msg rx[MAX_RX];
static int rx_n;
static unsigned char seen[MAX_SEQ]; /* "seq=N" payloads: how often N came */
static int distinct, dups, out_of_order, max_seq = -1;

static void rx_reset(void)
{
    pthread_mutex_lock(&rx_mu);
    rx_n = 0;
    memset(seen, 0, sizeof seen);
    distinct = dups = out_of_order = 0;
    max_seq = -1;
    pthread_mutex_unlock(&rx_mu);
}

static int rx_count(void)
{
    pthread_mutex_lock(&rx_mu);
    int n = rx_n;
    pthread_mutex_unlock(&rx_mu);
    return n;
}

static int rx_distinct(void)
{
    pthread_mutex_lock(&rx_mu);
    int n = distinct;
    pthread_mutex_unlock(&rx_mu);
    return n;
}

static void on_message(struct mosquitto *m, void *arg, const struct mosquitto_message *msg)
{
    (void)m;
    (void)arg;
    pthread_mutex_lock(&rx_mu);
    if (rx_n < MAX_RX) {
        rx_msg *r = &rx[rx_n++];
        snprintf(r->topic, sizeof r->topic, "%s", msg->topic);
        size_t n = msg->payloadlen > 0 ? (size_t)msg->payloadlen : 0;
        if (n >= sizeof r->payload) n = sizeof r->payload - 1;
        if (n) memcpy(r->payload, msg->payload, n);
        r->payload[n] = '\0';
        r->retain = msg->retain;
        int seq;
        if (sscanf(r->payload, "seq=%d", &seq) == 1 && seq >= 0 && seq < MAX_SEQ) {
            if (seen[seq]++) {
                dups++;
            } else {
                distinct++;
                if (seq < max_seq) out_of_order++; /* a new one older than one seen */
                if (seq > max_seq) max_seq = seq;
            }
        }
    }
    pthread_mutex_unlock(&rx_mu);
}

typedef struct sub {
    struct mosquitto *m;
    char filter[64];
    atomic_int subscribed;
} sub;

static void sub_on_connect(struct mosquitto *m, void *arg, int rc)
{
    sub *s = arg;
    if (!rc) mosquitto_subscribe(m, NULL, s->filter, 1);
}

static void sub_on_subscribe(struct mosquitto *m, void *arg, int mid, int n, const int *granted)
{
    (void)m;
    (void)mid;
    (void)n;
    (void)granted;
    ((sub *)arg)->subscribed = 1;
}

static sub *subs[4]; /* live ones, stopped by the teardown on any path */

/* Connected and subscribed to filter (QoS 1) on return. */
static sub *sub_start(int port, const char *filter)
{
    sub *s = calloc(1, sizeof *s);
    assert_non_null(s);
    snprintf(s->filter, sizeof s->filter, "%s", filter);
    s->m = mosquitto_new(NULL, true, s);
    assert_non_null(s->m);
    for (int i = 0; i < 4; i++)
        if (!subs[i]) {
            subs[i] = s;
            break;
        }
    mosquitto_reconnect_delay_set(s->m, 1, 1, false);
    mosquitto_connect_callback_set(s->m, sub_on_connect);
    mosquitto_subscribe_callback_set(s->m, sub_on_subscribe);
    mosquitto_message_callback_set(s->m, on_message);
    assert_int_equal(mosquitto_connect(s->m, "127.0.0.1", port, 30), MOSQ_ERR_SUCCESS);
    assert_int_equal(mosquitto_loop_start(s->m), MOSQ_ERR_SUCCESS);
    WAIT_FOR(s->subscribed, 3000);
    assert_true(s->subscribed);
    return s;
}

static void sub_stop(sub *s)
{
    if (!s) return;
    for (int i = 0; i < 4; i++)
        if (subs[i] == s) subs[i] = NULL;
    mosquitto_disconnect(s->m);
    mosquitto_loop_stop(s->m, false);
    mosquitto_destroy(s->m);
    free(s);
}

/* ---- publishers ---- */

static mqtt_pub *live; /* destroyed by the teardown if a test fails */

static mqtt_pub *pub_create_w(const char *url, int qos, size_t max_msgs, int reconnect_max_s,
                              unsigned window)
{
    mqtt_pub_options o;
    mqtt_pub_options_init(&o);
    o.url = url;
    o.qos = qos;
    o.max_msgs = max_msgs;
    o.window = window;
    o.reconnect_min_s = 1;
    o.reconnect_max_s = reconnect_max_s;
    char err[256] = "";
    mqtt_pub *p = mqtt_pub_create(&o, err, sizeof err);
    if (!p) fail_msg("mqtt_pub_create: %s", err);
    live = p;
    return p;
}

static mqtt_pub *pub_create(const char *url, int qos, size_t max_msgs, int reconnect_max_s)
{
    return pub_create_w(url, qos, max_msgs, reconnect_max_s, 0);
}

static void pub_destroy(mqtt_pub *p)
{
    if (live == p) live = NULL;
    mqtt_pub_destroy(p);
}

static mqtt_pub_stats stats(mqtt_pub *p)
{
    mqtt_pub_stats st;
    mqtt_pub_get_stats(p, &st);
    return st;
}

static int settled(mqtt_pub *p)
{
    mqtt_pub_stats st = stats(p);
    return st.connected && !st.queued && !st.in_flight;
}

static void publish_seq(mqtt_pub *p, const char *topic, int from, int to)
{
    for (int i = from; i < to; i++) {
        char msg[32];
        int n = snprintf(msg, sizeof msg, "seq=%d", i);
        assert_int_equal(mqtt_pub_publish(p, topic, msg, (size_t)n, 0), 0);
    }
}

static char *url_for(int port, char *buf, size_t cap)
{
    snprintf(buf, cap, "mqtt://127.0.0.1:%d", port);
    return buf;
}

/* ---- tests ---- */

static void test_deliver_retain(void **state)
{
    (void)state;
    int port = free_port();
    char url[64];
    broker_start(port, NULL);
    rx_reset();
    sub *s = sub_start(port, "glint/t1/#");
    mqtt_pub *p = pub_create(url_for(port, url, sizeof url), 1, 0, 1);
    WAIT_FOR(stats(p).connected, 3000);
    for (int i = 0; i < 20; i++) {
        char topic[32], msg[32];
        snprintf(topic, sizeof topic, "glint/t1/cam%d", i % 2);
        int n = snprintf(msg, sizeof msg, "seq=%d", i);
        assert_int_equal(mqtt_pub_publish(p, topic, msg, (size_t)n, 0), 0);
    }
    WAIT_FOR(rx_count() >= 20 && settled(p), 3000);
    assert_int_equal(rx_count(), 20);
    for (int i = 0; i < 20; i++) { /* in order, with their topics and payloads */
        char topic[32], msg[32];
        snprintf(topic, sizeof topic, "glint/t1/cam%d", i % 2);
        snprintf(msg, sizeof msg, "seq=%d", i);
        assert_string_equal(rx[i].topic, topic);
        assert_string_equal(rx[i].payload, msg);
        assert_int_equal(rx[i].retain, 0);
    }
    mqtt_pub_stats st = stats(p);
    assert_int_equal(st.connected, 1);
    assert_int_equal(st.connects, 1);
    assert_int_equal(st.accepted, 20);
    assert_int_equal(st.published, 20);
    assert_int_equal(st.acknowledged, 20); /* PUBACKs */
    assert_int_equal(st.dropped + st.failed + st.lost + st.queued + st.in_flight, 0);

    /* retain: a subscriber that comes later gets the last retained value */
    assert_int_equal(mqtt_pub_publish(p, "glint/t1/state", "v1", 2, 1), 0);
    assert_int_equal(mqtt_pub_publish(p, "glint/t1/state", "v2", 2, 1), 0);
    assert_int_equal(mqtt_pub_publish(p, "glint/t1/state", "", 0, 0), 0); /* not retained */
    assert_int_equal(mqtt_pub_publish(p, "glint/t1/state", "v3", 2, 1), 0);
    WAIT_FOR(stats(p).acknowledged == 24, 3000);
    assert_int_equal(stats(p).acknowledged, 24);
    sub_stop(s);
    rx_reset();
    s = sub_start(port, "glint/t1/state");
    WAIT_FOR(rx_count() >= 1, 3000);
    sleep_ms(100);
    assert_int_equal(rx_count(), 1);
    assert_string_equal(rx[0].topic, "glint/t1/state");
    assert_string_equal(rx[0].payload, "v3");
    assert_int_equal(rx[0].retain, 1);
    sub_stop(s);
    pub_destroy(p);

    /* QoS 0: acknowledged once written */
    rx_reset();
    s = sub_start(port, "glint/t0/#");
    p = pub_create(url_for(port, url, sizeof url), 0, 0, 1);
    WAIT_FOR(stats(p).connected, 3000);
    publish_seq(p, "glint/t0/x", 0, 10);
    WAIT_FOR(rx_count() >= 10 && settled(p), 3000);
    assert_int_equal(rx_count(), 10);
    assert_int_equal(out_of_order, 0);
    st = stats(p);
    assert_int_equal(st.published, 10);
    assert_int_equal(st.acknowledged, 10);
    pub_destroy(p);

    /* QoS 2: acknowledged at PUBCOMP */
    rx_reset();
    p = pub_create(url_for(port, url, sizeof url), 2, 0, 1);
    WAIT_FOR(stats(p).connected, 3000);
    publish_seq(p, "glint/t0/y", 0, 10);
    WAIT_FOR(rx_count() >= 10 && settled(p), 3000);
    assert_int_equal(rx_distinct(), 10);
    assert_int_equal(out_of_order, 0);
    assert_int_equal(stats(p).acknowledged, 10);
    pub_destroy(p);
    sub_stop(s);
}

static void test_broker_late(void **state)
{
    (void)state;
    int port = free_port();
    char url[64];
    rx_reset();
    mqtt_pub *p = pub_create(url_for(port, url, sizeof url), 1, 0, 1);
    publish_seq(p, "glint/t2/x", 0, 50);
    sleep_ms(100);
    mqtt_pub_stats st = stats(p);
    assert_int_equal(st.connected, 0);
    assert_int_equal(st.queued, 50);
    assert_int_equal(st.published, 0); /* nothing given to libmosquitto while down */
    broker_start(port, NULL);
    sub *s = sub_start(port, "glint/t2/#"); /* before the publisher's retry, 1 s apart */
    WAIT_FOR(rx_distinct() >= 50 && settled(p), 4000);
    st = stats(p);
    assert_int_equal(rx_distinct(), 50);
    assert_int_equal(out_of_order, 0);
    for (int i = 0; i < 50; i++) {
        char msg[32];
        snprintf(msg, sizeof msg, "seq=%d", i);
        assert_string_equal(rx[i].payload, msg);
    }
    assert_int_equal(st.connects, 1);
    assert_int_equal(st.published, 50);
    assert_int_equal(st.acknowledged, 50);
    assert_int_equal(st.dropped, 0);
    pub_destroy(p);
    sub_stop(s);
}

static void test_bound(void **state)
{
    (void)state;
    int port = free_port();
    char url[64];
    rx_reset();
    mqtt_pub *p = pub_create(url_for(port, url, sizeof url), 1, 10, 1);
    publish_seq(p, "glint/t3/x", 0, 25);
    mqtt_pub_stats st = stats(p);
    assert_int_equal(st.accepted, 25);
    assert_int_equal(st.dropped, 15);
    assert_int_equal(st.queued, 10);
    broker_start(port, NULL);
    sub *s = sub_start(port, "glint/t3/#");
    WAIT_FOR(rx_count() >= 10 && settled(p), 4000);
    sleep_ms(200); /* nothing more comes */
    assert_int_equal(rx_count(), 10);
    for (int i = 0; i < 10; i++) { /* the newest 10, in order */
        char msg[32];
        snprintf(msg, sizeof msg, "seq=%d", 15 + i);
        assert_string_equal(rx[i].payload, msg);
    }
    st = stats(p);
    assert_int_equal(st.published, 10);
    assert_int_equal(st.acknowledged, 10);
    assert_int_equal(st.dropped, 15);
    pub_destroy(p);
    sub_stop(s);

    /* the bound in bytes (topic + payload), and a message over it */
    mqtt_pub_options o;
    mqtt_pub_options_init(&o);
    o.url = url_for(free_port(), url, sizeof url);
    o.max_bytes = 100;
    char err[256];
    p = mqtt_pub_create(&o, err, sizeof err);
    assert_non_null(p);
    live = p;
    char payload[100];
    memset(payload, 'x', sizeof payload);
    for (int i = 0; i < 5; i++) /* 10 + 20 bytes each: 3 fit */
        assert_int_equal(mqtt_pub_publish(p, "glint/t3/b", payload, 20, 1), 0);
    st = stats(p);
    assert_int_equal(st.queued, 3);
    assert_int_equal(st.queued_bytes, 90);
    assert_int_equal(st.dropped, 2);
    assert_int_equal(mqtt_pub_publish(p, "glint/t3/b", payload, 91, 0), -1);
    assert_int_equal(mqtt_pub_publish(p, "glint/t3/b", payload, 90, 0), 0); /* exactly 100 */
    st = stats(p);
    assert_int_equal(st.queued, 1);
    assert_int_equal(st.dropped, 5);
    pub_destroy(p);
}

/* A stalled broker (SIGSTOP): the window fills, the rest waits in the ring,
 * and all arrive in order once it goes on. */
static void test_window(void **state)
{
    (void)state;
    int port = free_port();
    char url[64];
    pid_t b = broker_start(port, NULL);
    rx_reset();
    sub *s = sub_start(port, "glint/t7/#");
    mqtt_pub *p = pub_create(url_for(port, url, sizeof url), 1, 0, 1);
    WAIT_FOR(stats(p).connected, 3000);
    kill(b, SIGSTOP);
    publish_seq(p, "glint/t7/x", 0, 150);
    sleep_ms(100);
    mqtt_pub_stats st = stats(p);
    assert_int_equal(st.published, MQTT_PUB_DEFAULT_WINDOW);
    assert_int_equal(st.in_flight, MQTT_PUB_DEFAULT_WINDOW);
    assert_int_equal(st.queued, 150 - MQTT_PUB_DEFAULT_WINDOW);
    kill(b, SIGCONT);
    WAIT_FOR(rx_distinct() >= 150 && settled(p), 3000);
    assert_int_equal(rx_distinct(), 150);
    assert_int_equal(out_of_order, 0);
    assert_int_equal(stats(p).acknowledged, 150);
    pub_destroy(p);
    sub_stop(s);
}

typedef struct pumper {
    mqtt_pub *p;
    int n, every_us;
} pumper;

static void *pump(void *arg)
{
    pumper *q = arg;
    for (int i = 0; i < q->n; i++) {
        char msg[32];
        int len = snprintf(msg, sizeof msg, "seq=%d", i);
        mqtt_pub_publish(q->p, "glint/t4/x", msg, (size_t)len, 0);
        struct timespec ts = {0, q->every_us * 1000L};
        nanosleep(&ts, NULL);
    }
    return NULL;
}

/* Killed (SIGKILL) while publishing, with messages unacknowledged (the broker
 * stalled first), restarted on the same port. The window (1000) is larger
 * than what is in flight, so the order after the reconnect depends on the
 * publisher holding the ring until libmosquitto's resends are acknowledged. */
static void test_kill_restart(void **state)
{
    (void)state;
    int port = free_port();
    char url[64];
    pid_t b = broker_start(port, NULL);
    rx_reset();
    sub *s1 = sub_start(port, "glint/t4/#");
    mqtt_pub *p = pub_create_w(url_for(port, url, sizeof url), 1, 200, 1, 1000);
    WAIT_FOR(stats(p).connected, 3000);
    pumper q = {p, 2000, 1000}; /* about 2.5 s of messages */
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, pump, &q), 0);
    sleep_ms(300);
    kill(b, SIGSTOP);
    sleep_ms(200);
    mqtt_pub_stats st = stats(p);
    assert_int_equal(st.connected, 1);
    assert_true(st.in_flight > 50);
    assert_true(st.in_flight < 1000);
    broker_kill(b); /* SIGKILL while publishing, with those unacknowledged */
    WAIT_FOR(!stats(p).connected, 2000);
    assert_int_equal(stats(p).connected, 0);
    sub_stop(s1);             /* what it got counts; duplicates below are resends to s2 */
    broker_start(port, NULL); /* the same port; the publisher retries after 1 s */
    sub *s2 = sub_start(port, "glint/t4/#");
    pthread_join(t, NULL);
    WAIT_FOR(settled(p) && rx_distinct() >= (int)stats(p).acknowledged, 5000);
    size_t was_in_flight = st.in_flight;
    st = stats(p);
    print_message("kill/restart: %zu in flight at the kill; accepted %llu, published %llu, "
                  "acknowledged %llu, dropped %llu, delivered %d (+%d duplicates)\n",
                  was_in_flight, (unsigned long long)st.accepted, (unsigned long long)st.published,
                  (unsigned long long)st.acknowledged, (unsigned long long)st.dropped,
                  rx_distinct(), dups);
    assert_int_equal(st.connected, 1);
    assert_int_equal(st.connects, 2);
    assert_int_equal(st.disconnects, 1);
    assert_int_equal(st.accepted, 2000);
    assert_true(st.dropped > 0); /* a second without a broker overflows 200 */
    assert_int_equal(st.failed + st.lost + st.queued + st.in_flight, 0);
    assert_int_equal(st.published, st.acknowledged);
    assert_int_equal(st.accepted, st.published + st.dropped);
    assert_int_equal((uint64_t)rx_distinct() + st.dropped, st.accepted);
    assert_int_equal(out_of_order, 0); /* resends first, then the ring, in order */
    assert_non_null(strstr(st.last_error, "127.0.0.1"));
    pub_destroy(p);
    sub_stop(s2);
}

/* A peer that answers with bytes that are not MQTT (a wrong port, a proxy):
 * libmosquitto's thread gives up (MOSQ_ERR_PROTOCOL); the publisher starts
 * it again and reaches the broker that comes up there later. */
static void test_not_mqtt_then_broker(void **state)
{
    (void)state;
    int port = free_port();
    char url[64];
    int ls = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(ls >= 0);
    int one = 1;
    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(ls, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(ls, 4), 0);
    rx_reset();
    mqtt_pub *p = pub_create(url_for(port, url, sizeof url), 1, 0, 1);
    publish_seq(p, "glint/t8/x", 0, 5);
    struct pollfd pf = {.fd = ls, .events = POLLIN};
    assert_int_equal(poll(&pf, 1, 3000), 1);
    int c = accept(ls, NULL, NULL);
    assert_true(c >= 0);
    assert_int_equal(write(c, "\0\0", 2), 2); /* packet type 0: not MQTT */
    WAIT_FOR(strstr(stats(p).last_error, "protocol"), 2000);
    assert_non_null(strstr(stats(p).last_error, "protocol"));
    close(c);
    close(ls);
    broker_start(port, NULL);
    sub *s = sub_start(port, "glint/t8/#");
    WAIT_FOR(rx_distinct() >= 5 && settled(p), 5000);
    assert_int_equal(rx_distinct(), 5);
    assert_int_equal(out_of_order, 0);
    assert_int_equal(stats(p).connects, 1);
    pub_destroy(p);
    sub_stop(s);
}

static void expect_refused(const char *url, const char *password_file, const char *want)
{
    mqtt_pub_options o;
    mqtt_pub_options_init(&o);
    o.url = url;
    o.password_file = password_file;
    char err[256] = "";
    mqtt_pub *p = mqtt_pub_create(&o, err, sizeof err);
    if (p) {
        mqtt_pub_destroy(p);
        fail_msg("%s was accepted", url);
    }
    if (!strstr(err, want)) fail_msg("%s: '%s' does not say '%s'", url, err, want);
    assert_null(strstr(err, "s3cret"));
}

static void test_bad_url(void **state)
{
    (void)state;
    expect_refused("http://broker:1883", NULL, "unknown scheme 'http'");
    expect_refused("mqtts://u:s3cret@broker", NULL, "TLS");
    expect_refused("broker:1883", NULL, "want mqtt://");
    expect_refused("mqtt://", NULL, "no host");
    expect_refused("mqtt://u:s3cret@", NULL, "no host");
    expect_refused("mqtt://u:s3cret@broker:0", NULL, "bad port");
    expect_refused("mqtt://u:s3cret@broker:65536", NULL, "bad port");
    expect_refused("mqtt://u:s3cret@broker:12x", NULL, "bad port");
    expect_refused("mqtt://:s3cret@broker", NULL, "a user is needed");
    expect_refused("mqtt://u:s3cret@broker/topic", NULL, "unexpected '/topic'");
    expect_refused("mqtt://[::1:1883", NULL, "']'");
    expect_refused("mqtt://u:s3cret@broker", "/nonexistent/pw", "in both");
    expect_refused("mqtt://u@broker", "/nonexistent/pw", "/nonexistent/pw");

    mqtt_pub_options o;
    mqtt_pub_options_init(&o);
    char err[256];
    assert_null(mqtt_pub_create(&o, err, sizeof err));
    assert_non_null(strstr(err, "no URL"));
    o.url = "mqtt://127.0.0.1";
    o.qos = 3;
    assert_null(mqtt_pub_create(&o, err, sizeof err));
    assert_non_null(strstr(err, "QoS"));
    o.qos = 1;
    o.keepalive_s = 2;
    assert_null(mqtt_pub_create(&o, err, sizeof err));
    assert_non_null(strstr(err, "keepalive"));

    /* good forms; the password never shows, even once the connection fails */
    int port = free_port();
    char url[128];
    snprintf(url, sizeof url, "mqtt://glint:s3cret@127.0.0.1:%d/", port);
    mqtt_pub *p = pub_create(url, 1, 0, 1);
    assert_int_equal(mqtt_pub_publish(p, "glint/x", "a", 1, 0), 0);
    sleep_ms(50);
    mqtt_pub_stats st = stats(p);
    assert_null(strstr(st.last_error, "s3cret"));
    assert_non_null(strstr(st.last_error, "127.0.0.1"));
    /* bad arguments: nothing queued */
    assert_int_equal(mqtt_pub_publish(NULL, "glint/x", "a", 1, 0), -1);
    assert_int_equal(mqtt_pub_publish(p, NULL, "a", 1, 0), -1);
    assert_int_equal(mqtt_pub_publish(p, "", "a", 1, 0), -1);
    assert_int_equal(mqtt_pub_publish(p, "glint/#", "a", 1, 0), -1);
    assert_int_equal(mqtt_pub_publish(p, "glint/+/x", "a", 1, 0), -1);
    assert_int_equal(mqtt_pub_publish(p, "glint/\xff", "a", 1, 0), -1);
    assert_int_equal(mqtt_pub_publish(p, "glint/x", NULL, 1, 0), -1);
    assert_int_equal(stats(p).accepted, 1);
    assert_int_equal(stats(p).queued, 1);
    pub_destroy(p);
    p = pub_create("mqtt://[::1]:1", 1, 0, 1);
    pub_destroy(p);
}

static void test_password_file(void **state)
{
    (void)state;
    char pwfile[128], users[128], cmd[512], extra[256];
    snprintf(pwfile, sizeof pwfile, "%s/pw", dir);
    snprintf(users, sizeof users, "%s/users", dir);
    FILE *f = fopen(pwfile, "w");
    assert_non_null(f);
    fputs("s3cret\n", f);
    fclose(f);
    snprintf(cmd, sizeof cmd, "mosquitto_passwd -c -b %s glint s3cret >/dev/null 2>&1", users);
    if (system(cmd)) /* the mosquitto package has it (scripts/install-deps.sh) */
        fail_msg("%s failed: is the mosquitto package installed?", cmd);
    snprintf(extra, sizeof extra, "password_file %s\n", users);
    int port = free_port();
    broker_start(port, extra);

    mqtt_pub_options o;
    mqtt_pub_options_init(&o);
    char url[128], err[256];
    snprintf(url, sizeof url, "mqtt://glint@127.0.0.1:%d", port);
    o.url = url;
    o.password_file = pwfile;
    mqtt_pub *p = mqtt_pub_create(&o, err, sizeof err);
    assert_non_null(p);
    live = p;
    assert_int_equal(mqtt_pub_publish(p, "glint/t5", "x", 1, 0), 0);
    WAIT_FOR(settled(p), 3000);
    mqtt_pub_stats st = stats(p);
    assert_int_equal(st.connected, 1);
    assert_int_equal(st.acknowledged, 1);
    pub_destroy(p);

    /* the wrong password (in the URL): refused, and not shown */
    snprintf(url, sizeof url, "mqtt://glint:s3cretX@127.0.0.1:%d", port);
    p = pub_create(url, 1, 0, 1);
    WAIT_FOR(stats(p).last_error[0], 3000);
    st = stats(p);
    assert_int_equal(st.connected, 0);
    assert_non_null(strstr(st.last_error, "refused"));
    assert_null(strstr(st.last_error, "s3cret"));
    pub_destroy(p);
}

static void test_destroy_down(void **state)
{
    (void)state;
    char url[64];
    int port = free_port();
    /* default backoff (up to 30 s): after 1.2 s it sleeps 4 s before its next try */
    mqtt_pub *p = pub_create(url_for(port, url, sizeof url), 1, 0, 30);
    publish_seq(p, "glint/t6/x", 0, 100);
    sleep_ms(1200);
    long t0 = now_ms();
    pub_destroy(p);
    long took = now_ms() - t0;
    print_message("destroy with the broker down: %ld ms\n", took);
    assert_true(took < 2000);

    /* and while connected with messages in flight it flushes them */
    broker_start(port, NULL);
    rx_reset();
    sub *s = sub_start(port, "glint/t6/#");
    p = pub_create(url_for(port, url, sizeof url), 1, 0, 1);
    WAIT_FOR(stats(p).connected, 3000);
    publish_seq(p, "glint/t6/x", 0, 300);
    t0 = now_ms();
    pub_destroy(p);
    assert_true(now_ms() - t0 < 2000);
    WAIT_FOR(rx_count() >= 300, 2000);
    assert_int_equal(rx_distinct(), 300);
    sub_stop(s);
}

static int teardown(void **state)
{
    (void)state;
    if (live) pub_destroy(live);
    for (int i = 0; i < 4; i++)
        sub_stop(subs[i]);
    kill_all_brokers();
    return 0;
}

static int group_setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/glint-mqtt-XXXXXX");
    if (!mkdtemp(dir)) return -1;
    mosquitto_lib_init();
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    kill_all_brokers();
    mosquitto_lib_cleanup();
    if (getenv("MQTT_TEST_KEEP")) return 0; /* the brokers' logs */
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_bad_url, teardown),
        cmocka_unit_test_teardown(test_deliver_retain, teardown),
        cmocka_unit_test_teardown(test_broker_late, teardown),
        cmocka_unit_test_teardown(test_bound, teardown),
        cmocka_unit_test_teardown(test_window, teardown),
        cmocka_unit_test_teardown(test_kill_restart, teardown),
        cmocka_unit_test_teardown(test_not_mqtt_then_broker, teardown),
        cmocka_unit_test_teardown(test_password_file, teardown),
        cmocka_unit_test_teardown(test_destroy_down, teardown),
    };
    if (getenv("MQTT_TEST_FILTER")) cmocka_set_test_filter(getenv("MQTT_TEST_FILTER"));
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
