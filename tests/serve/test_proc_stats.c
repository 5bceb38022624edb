/* Unit tests of src/serve/proc_stats: every field is read and plausible,
 * and each one moves the right way when the process does something: RSS
 * after touching 64 MB, CPU time after spinning, descriptors after opening
 * files, threads after starting threads, uptime after sleeping. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "serve/core/proc_stats.h"

static proc_stats read_ok(void)
{
    proc_stats s;
    assert_int_equal(proc_stats_read(&s), 0);
    return s;
}

static void test_fields_plausible(void **state)
{
    (void)state;
    proc_stats s = read_ok();
    assert_true(s.rss_bytes > 100 * 1024);
    assert_true(s.peak_rss_bytes >= s.rss_bytes);
    assert_true(s.virtual_bytes >= s.rss_bytes);
    assert_true(s.cpu_user_seconds >= 0 && s.cpu_system_seconds >= 0);
    assert_true(s.cpu_seconds == s.cpu_user_seconds + s.cpu_system_seconds);
    assert_true(s.threads >= 1);
    assert_true(s.open_fds >= 3); /* stdin, stdout, stderr */
    struct rlimit rl;
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
    assert_int_equal(s.max_fds, (int64_t)rl.rlim_cur);
    /* Started within the last hour, consistently with the uptime. */
    double now = (double)time(NULL);
    assert_true(s.uptime_seconds >= 0 && s.uptime_seconds < 3600);
    assert_true(s.start_time_seconds <= now + 1);
    assert_true(s.start_time_seconds >= now - s.uptime_seconds - 2);
    assert_int_equal(proc_stats_read(NULL), -1);
}

static unsigned char *volatile escape;

static void test_rss_grows(void **state)
{
    (void)state;
    const size_t n = (size_t)64 << 20;
    proc_stats before = read_ok();
    unsigned char *p = malloc(n);
    assert_non_null(p);
    escape = p;         /* the compiler may not elide the allocation or the memset */
    memset(p, 0x5a, n); /* touch every page */
    proc_stats after = read_ok();
    assert_true(after.rss_bytes - before.rss_bytes >= (int64_t)60 << 20);
    assert_true(after.peak_rss_bytes >= after.rss_bytes);
    free(p);
    escape = NULL;
    proc_stats later = read_ok();
    /* The high-water mark keeps the peak after the pages are gone. The kernel
     * updates it from its approximate per-CPU RSS counters, so it may lag an
     * exact RSS read by a few hundred KB: allow 8 MB. */
    assert_true(later.peak_rss_bytes >= after.rss_bytes - ((int64_t)8 << 20));
}

static double process_cpu_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void test_cpu_grows(void **state)
{
    (void)state;
    proc_stats before = read_ok();
    /* Spin for 0.25 s of CPU time (however busy the machine is). */
    double start = process_cpu_seconds();
    volatile uint64_t sink = 0;
    while (process_cpu_seconds() - start < 0.25)
        for (int i = 0; i < 10000; i++)
            sink += (uint64_t)i * i;
    proc_stats after = read_ok();
    assert_true(after.cpu_seconds - before.cpu_seconds >= 0.2);
    assert_true(after.cpu_user_seconds > before.cpu_user_seconds);
    (void)sink;
}

static void test_fds_grow(void **state)
{
    (void)state;
    enum { N = 10 };
    proc_stats before = read_ok();
    int fds[N];
    for (int i = 0; i < N; i++) {
        fds[i] = open("/dev/null", O_RDONLY | O_CLOEXEC);
        assert_true(fds[i] >= 0);
    }
    proc_stats after = read_ok();
    assert_int_equal(after.open_fds, before.open_fds + N);
    for (int i = 0; i < N; i++)
        close(fds[i]);
    proc_stats closed = read_ok();
    assert_int_equal(closed.open_fds, before.open_fds);
}

static pthread_mutex_t gate_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cv = PTHREAD_COND_INITIALIZER;
static int gate_open;

static void *wait_at_gate(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&gate_mu);
    while (!gate_open)
        pthread_cond_wait(&gate_cv, &gate_mu);
    pthread_mutex_unlock(&gate_mu);
    return NULL;
}

static void test_threads_grow(void **state)
{
    (void)state;
    enum { N = 3 };
    proc_stats before = read_ok();
    pthread_t th[N];
    for (int i = 0; i < N; i++)
        assert_int_equal(pthread_create(&th[i], NULL, wait_at_gate, NULL), 0);
    proc_stats during = read_ok();
    pthread_mutex_lock(&gate_mu);
    gate_open = 1;
    pthread_cond_broadcast(&gate_cv);
    pthread_mutex_unlock(&gate_mu);
    for (int i = 0; i < N; i++)
        pthread_join(th[i], NULL);
    assert_int_equal(during.threads, before.threads + N);
}

static void test_uptime_grows(void **state)
{
    (void)state;
    proc_stats a = read_ok();
    struct timespec d = {0, 60 * 1000 * 1000};
    nanosleep(&d, NULL);
    proc_stats b = read_ok();
    assert_true(b.uptime_seconds - a.uptime_seconds >= 0.05);
    assert_true(b.start_time_seconds == a.start_time_seconds); /* stable between reads */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fields_plausible), cmocka_unit_test(test_rss_grows),
        cmocka_unit_test(test_cpu_grows),        cmocka_unit_test(test_fds_grow),
        cmocka_unit_test(test_threads_grow),     cmocka_unit_test(test_uptime_grows),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
