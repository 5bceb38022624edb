/* The server command of `glint bench spike --server-cmd CMD`: started in
 * its own process group with its output piped to us, released when it
 * prints its ready line (or accepts connections), killed at the end.
 *
 * After it is ready a thread keeps reading its output (so it never blocks
 * on a full pipe) and drops it.
 */
#include "bench/bench_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <regex.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

struct bench_server {
    pid_t pid;
    int fd; /* read end of its stdout+stderr */
    pthread_t drain;
    int drain_started;
    int exited;
};

pid_t bench_server_pid(const bench_server *s)
{
    return s ? s->pid : -1;
}

static void *drain_main(void *arg)
{
    bench_server *s = arg;
    char buf[4096];
    for (;;) {
        ssize_t n = read(s->fd, buf, sizeof buf);
        if (n > 0) continue;
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno == EAGAIN) {
            struct pollfd p = {s->fd, POLLIN, 0};
            poll(&p, 1, 200);
            continue;
        }
        return NULL;
    }
}

void bench_server_stop(bench_server *s)
{
    if (!s) return;
    if (s->pid > 0) {
        kill(-s->pid, SIGTERM);
        int st;
        pid_t r = 0;
        for (int i = 0; i < 200 && (r = waitpid(s->pid, &st, WNOHANG)) == 0; i++)
            usleep(10000);
        if (r == 0) {
            kill(-s->pid, SIGKILL);
            waitpid(s->pid, &st, 0);
        } else {
            kill(-s->pid, SIGKILL); /* anything it left in its group */
        }
    }
    if (s->drain_started) pthread_join(s->drain, NULL);
    if (s->fd >= 0) close(s->fd);
    free(s);
}

static int port_open(const httpc_url *url)
{
    char port[16];
    snprintf(port, sizeof port, "%d", url->port);
    struct addrinfo hints = {0}, *ai = NULL;
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo(url->host, port, &hints, &ai) || !ai) return 0;
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int ok = fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) == 0;
    if (fd >= 0) close(fd);
    freeaddrinfo(ai);
    return ok;
}

bench_status bench_server_start(const char *cmd, const char *pattern, const httpc_url *url,
                                double timeout_s, bench_server **out, double *ready_s)
{
    *out = NULL;
    regex_t re;
    int have_re = 0;
    if (pattern) {
        int rc = regcomp(&re, pattern, REG_EXTENDED | REG_NOSUB);
        if (rc) {
            char msg[128];
            regerror(rc, &re, msg, sizeof msg);
            return bench_fail(BENCH_ERR_INVALID, "--ready-pattern '%s': %s", pattern, msg);
        }
        have_re = 1;
    }
    bench_server *s = calloc(1, sizeof *s);
    int pfd[2] = {-1, -1};
    bench_status st = BENCH_OK;
    if (!s || pipe2(pfd, O_CLOEXEC)) {
        st = bench_fail(BENCH_ERR_NOMEM, "cannot start the server command");
        free(s);
        s = NULL;
        goto done;
    }
    s->fd = pfd[0];
    uint64_t t0 = bench_now_ns();
    s->pid = fork();
    if (s->pid < 0) {
        close(pfd[1]);
        st = bench_fail(BENCH_ERR_NET, "fork: %s", strerror(errno));
        goto done;
    }
    if (s->pid == 0) {
        setpgid(0, 0);
        dup2(pfd[1], 1);
        dup2(pfd[1], 2);
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    setpgid(s->pid, s->pid);
    close(pfd[1]);
    fcntl(s->fd, F_SETFL, O_NONBLOCK);
    uint64_t deadline = t0 + (uint64_t)(timeout_s * 1e9);
    char line[4096], last[512] = "";
    size_t ll = 0;
    int ready = 0, eof = 0;
    while (!ready && bench_now_ns() < deadline) {
        if (!have_re) {
            if (port_open(url)) {
                ready = 1;
                break;
            }
            int wst;
            if (waitpid(s->pid, &wst, WNOHANG) == s->pid) {
                s->pid = -1;
                break;
            }
        }
        struct pollfd p = {s->fd, POLLIN, 0};
        if (eof) {
            usleep(10000);
        } else if (poll(&p, 1, have_re ? 100 : 10) > 0) {
            char c[1024];
            ssize_t n = read(s->fd, c, sizeof c);
            if (n == 0) eof = 1;
            for (ssize_t i = 0; i < n && !ready; i++) {
                if (c[i] != '\n' && ll < sizeof line - 1) {
                    line[ll++] = c[i];
                    continue;
                }
                if (c[i] != '\n') continue;
                line[ll] = 0;
                snprintf(last, sizeof last, "%s", line);
                if (have_re && regexec(&re, line, 0, NULL, 0) == 0) ready = 1;
                ll = 0;
            }
        }
        if (eof && have_re) break; /* it closed its output without the line */
    }
    if (!ready) {
        if (have_re)
            st = bench_fail(BENCH_ERR_NET,
                            "the server command printed no line matching --ready-pattern '%s' "
                            "within %.0f s%s (last output: '%s')",
                            pattern, timeout_s, eof ? " and closed its output" : "", last);
        else
            st = bench_fail(BENCH_ERR_NET,
                            "the server command did not accept connections on port %d within "
                            "%.0f s%s (last output: '%s')",
                            url->port, timeout_s, s->pid < 0 ? " (it exited)" : "", last);
        goto done;
    }
    *ready_s = (double)(bench_now_ns() - t0) / 1e9;
    if (pthread_create(&s->drain, NULL, drain_main, s) == 0) s->drain_started = 1;
    *out = s;
    s = NULL;
done:
    if (s) bench_server_stop(s);
    if (have_re) regfree(&re);
    return st;
}
