/* proc_stats: resource use of this process from /proc/self/status,
 * /proc/self/stat, /proc/stat, /proc/self/fd, getrusage and getrlimit (see
 * proc_stats.h). Every read is into a fixed-size buffer. */
#include "proc_stats.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

/* Reads up to cap - 1 bytes of a small file into buf, NUL-terminated.
 * Returns the byte count, or -1. */
static ssize_t read_small_file(const char *path, char *buf, size_t cap)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    size_t got = 0;
    while (got < cap - 1) {
        ssize_t n = read(fd, buf + got, cap - 1 - got);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            close(fd);
            return -1;
        }
        if (n == 0) break;
        got += (size_t)n;
    }
    close(fd);
    buf[got] = '\0';
    return (ssize_t)got;
}

/* The number after "<key>" at the start of a line of `text` (like
 * "VmRSS:\t  1234 kB"), or -1 if absent or malformed. */
static int64_t status_field(const char *text, const char *key)
{
    size_t klen = strlen(key);
    for (const char *line = text; line && *line; line = strchr(line, '\n')) {
        if (*line == '\n') line++;
        if (strncmp(line, key, klen) != 0) continue;
        char *end;
        errno = 0;
        long long v = strtoll(line + klen, &end, 10);
        if (end == line + klen || errno || v < 0) return -1;
        return v;
    }
    return -1;
}

/* VmRSS, VmHWM, VmSize (kB -> bytes) and Threads from /proc/self/status. */
static void read_status(proc_stats *st)
{
    char buf[8192]; /* the fields we need sit in the first ~1.5 KB */
    if (read_small_file("/proc/self/status", buf, sizeof buf) <= 0) return;
    int64_t kb;
    if ((kb = status_field(buf, "VmRSS:")) >= 0) st->rss_bytes = kb * 1024;
    if ((kb = status_field(buf, "VmHWM:")) >= 0) st->peak_rss_bytes = kb * 1024;
    if ((kb = status_field(buf, "VmSize:")) >= 0) st->virtual_bytes = kb * 1024;
    st->threads = status_field(buf, "Threads:");
}

static void read_cpu(proc_stats *st)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0) return;
    st->cpu_user_seconds = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6;
    st->cpu_system_seconds = (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec * 1e-6;
    st->cpu_seconds = st->cpu_user_seconds + st->cpu_system_seconds;
}

/* 1 if the directory entry `name` is the decimal number fd. */
static int names_fd(const char *name, int fd)
{
    char *end;
    errno = 0;
    long v = strtol(name, &end, 10);
    return end != name && *end == '\0' && !errno && v == fd;
}

static void read_fds(proc_stats *st)
{
    DIR *d = opendir("/proc/self/fd");
    if (d) {
        int self = dirfd(d);
        int64_t n = 0;
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (e->d_name[0] == '.') continue;
            if (names_fd(e->d_name, self)) /* the scan's own descriptor */
                continue;
            n++;
        }
        closedir(d);
        st->open_fds = n;
    }
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
        st->max_fds = (int64_t)rl.rlim_cur;
}

/* Clock ticks since boot at which this process started (field 22 of
 * /proc/self/stat), or -1. */
static long long start_ticks(void)
{
    char buf[1024];
    if (read_small_file("/proc/self/stat", buf, sizeof buf) <= 0) return -1;
    /* "pid (comm) state ppid ...": comm may hold spaces and ')' itself. */
    char *p = strrchr(buf, ')');
    if (!p) return -1;
    p++;
    /* Fields 3..21 precede starttime: skip 19 tokens. */
    for (int i = 0; i < 19; i++) {
        while (*p == ' ')
            p++;
        while (*p && *p != ' ')
            p++;
    }
    char *end;
    errno = 0;
    long long v = strtoll(p, &end, 10);
    if (end == p || errno || v < 0) return -1;
    return v;
}

/* Boot time in Unix seconds (the "btime" line of /proc/stat), or -1. The
 * file's other lines can be long; they are skipped in pieces. */
static long long boot_time(void)
{
    FILE *f = fopen("/proc/stat", "re");
    if (!f) return -1;
    char line[256];
    int at_start = 1;
    long long bt = -1;
    while (fgets(line, sizeof line, f)) {
        if (at_start && strncmp(line, "btime ", 6) == 0) {
            char *end;
            errno = 0;
            long long v = strtoll(line + 6, &end, 10);
            if (end != line + 6 && !errno && v > 0) bt = v;
            break;
        }
        at_start = strchr(line, '\n') != NULL;
    }
    fclose(f);
    return bt;
}

static void read_times(proc_stats *st)
{
    long long ticks = start_ticks();
    long hz = sysconf(_SC_CLK_TCK);
    if (ticks < 0 || hz <= 0) return;
    double since_boot = (double)ticks / (double)hz;
    struct timespec now;
    if (clock_gettime(CLOCK_BOOTTIME, &now) == 0) {
        double up = (double)now.tv_sec + (double)now.tv_nsec * 1e-9 - since_boot;
        st->uptime_seconds = up > 0 ? up : 0;
    }
    long long bt = boot_time();
    if (bt > 0) st->start_time_seconds = (double)bt + since_boot;
}

int proc_stats_read(proc_stats *out)
{
    if (!out) return -1;
    *out = (proc_stats){-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1};
    read_status(out);
    read_cpu(out);
    read_fds(out);
    read_times(out);
    const proc_stats *s = out;
    int ok = s->rss_bytes >= 0 && s->peak_rss_bytes >= 0 && s->virtual_bytes >= 0 &&
             s->cpu_seconds >= 0 && s->threads >= 0 && s->open_fds >= 0 && s->max_fds >= 0 &&
             s->start_time_seconds >= 0 && s->uptime_seconds >= 0;
    return ok ? 0 : -1;
}

int proc_system_read(proc_system *out)
{
    if (!out) return -1;
    out->cpu_busy = out->cpu_total = out->mem_total_bytes = out->mem_available_bytes = -1;
    int rc = 0;
    char buf[8192];
    unsigned long long v[8] = {0};
    if (read_small_file("/proc/stat", buf, sizeof buf) > 0 &&
        sscanf(buf, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3],
               &v[4], &v[5], &v[6], &v[7]) >= 4) {
        unsigned long long total = 0;
        for (int i = 0; i < 8; i++)
            total += v[i];
        out->cpu_total = (int64_t)total;
        out->cpu_busy = (int64_t)(total - v[3] - v[4]); /* minus idle and iowait */
    } else {
        rc = -1;
    }
    if (read_small_file("/proc/meminfo", buf, sizeof buf) > 0) {
        int64_t kb;
        if ((kb = status_field(buf, "MemTotal:")) >= 0) out->mem_total_bytes = kb * 1024;
        if ((kb = status_field(buf, "MemAvailable:")) >= 0) out->mem_available_bytes = kb * 1024;
    }
    return rc || out->mem_total_bytes < 0 || out->mem_available_bytes < 0 ? -1 : 0;
}
