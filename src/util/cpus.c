/* cpus: the CPUs this process may use (see cpus.h). Reads
 * /proc/self/cgroup, /proc/self/mountinfo and the cgroup files they lead
 * to; every file is optional and every syntax error is ignored. */
#include "util/cpus.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CG_PATH_MAX 4096            /* bytes of a directory path, prefix included */
#define CG_LINE_MAX 8192            /* longer lines of cgroup/mountinfo are skipped */
#define CG_FIELDS_MAX 32            /* fields of a mountinfo line */
#define CPUS_LIST_TOP (1L << 20)    /* the largest CPU number a list may hold */
#define CPUS_AFFINITY_TOP (1 << 16) /* the largest mask sched_getaffinity is asked for */

/* One cgroup hierarchy: the process's cgroup in it and its directory. */
typedef struct cg_dir {
    char path[CG_PATH_MAX]; /* from /proc/self/cgroup ("/kubepods/pod1/c1"), "" if not listed */
    char dir[CG_PATH_MAX];  /* PREFIX + mount point + the path below the mount's root */
    size_t top;             /* strlen(PREFIX + mount point): the walk up stops there */
    int found;              /* 0: no mount; 1: dir is the mount point (fallback); 2: mapped */
} cg_dir;

/* The hierarchies that hold CPU limits. */
typedef struct cg_tree {
    cg_dir v2, v1_cpu, v1_cpuset;
} cg_tree;

/* The smallest limits seen on the walks up. */
typedef struct cg_limits {
    double quota;                    /* CPUs, 0 = none yet */
    long long q, p;                  /* its quota and period, microseconds */
    char quota_why[CPUS_LIMIT_MAX];  /* "cgroup v2 cpu.max Q P" */
    int cpuset;                      /* CPUs, 0 = none yet */
    char cpuset_why[CPUS_LIMIT_MAX]; /* "cgroup v1 cpuset.cpus LIST" */
} cg_limits;

typedef void (*cg_visit)(const char *dir, cg_limits *l);

/* Reads dir/name (at most size - 1 bytes) into buf with trailing white
 * space cut. Returns -1 if it cannot be read or is empty. */
static int read_small(const char *dir, const char *name, char *buf, size_t size)
{
    char path[CG_PATH_MAX + 64];
    int n = snprintf(path, sizeof path, "%s/%s", dir, name);
    if (n < 0 || (size_t)n >= sizeof path) return -1;
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    size_t len = fread(buf, 1, size - 1, f);
    fclose(f);
    while (len && (buf[len - 1] == '\n' || buf[len - 1] == ' ' || buf[len - 1] == '\t'))
        len--;
    buf[len] = 0;
    return len ? 0 : -1;
}

/* A decimal integer filling all of s. Returns -1 if s is anything else. */
static int parse_ll(const char *s, long long *v)
{
    char *end;
    errno = 0;
    long long x = strtoll(s, &end, 10);
    if (end == s || *end || errno) return -1;
    *v = x;
    return 0;
}

/* Whether the comma-separated list s (len bytes) holds tok. */
static int has_token(const char *s, size_t len, const char *tok)
{
    size_t tl = strlen(tok);
    const char *end = s + len;
    while (s < end) {
        const char *c = memchr(s, ',', (size_t)(end - s));
        size_t n = c ? (size_t)(c - s) : (size_t)(end - s);
        if (n == tl && !memcmp(s, tok, tl)) return 1;
        if (!c) break;
        s = c + 1;
    }
    return 0;
}

static void set_path(cg_dir *d, const char *path)
{
    size_t n = strlen(path);
    if (!d->path[0] && n < sizeof d->path) memcpy(d->path, path, n + 1);
}

/* One line of /proc/self/cgroup: "0::/path" (v2) or "4:cpu,cpuacct:/path" (v1). */
static void cgroup_line(cg_tree *t, char *line)
{
    line[strcspn(line, "\n")] = 0;
    char *c1 = strchr(line, ':');
    char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
    if (!c2 || c2[1] != '/') return;
    const char *ctl = c1 + 1;
    size_t ctl_len = (size_t)(c2 - ctl);
    if (!ctl_len) {
        if (c1 == line + 1 && line[0] == '0') set_path(&t->v2, c2 + 1);
        return;
    }
    if (has_token(ctl, ctl_len, "cpu")) set_path(&t->v1_cpu, c2 + 1);
    if (has_token(ctl, ctl_len, "cpuset")) set_path(&t->v1_cpuset, c2 + 1);
}

/* mountinfo writes space, tab, newline and backslash as \ooo. */
static void unescape(char *s)
{
    char *w = s;
    for (const char *r = s; *r;) {
        if (r[0] == '\\' && r[1] >= '0' && r[1] <= '3' && r[2] >= '0' && r[2] <= '7' &&
            r[3] >= '0' && r[3] <= '7') {
            *w++ = (char)((r[1] - '0') * 64 + (r[2] - '0') * 8 + (r[3] - '0'));
            r += 4;
        } else {
            *w++ = *r++;
        }
    }
    *w = 0;
}

/* The part of path below a mount's root ("" for the root itself), or NULL
 * if path is not under root. */
static const char *below(const char *root, const char *path)
{
    if (!strcmp(root, "/")) return path;
    size_t n = strlen(root);
    if (strncmp(path, root, n) || (path[n] && path[n] != '/')) return NULL;
    return path + n;
}

static int is_dir(const char *path)
{
    struct stat st;
    return !stat(path, &st) && S_ISDIR(st.st_mode);
}

/* A mount of d's hierarchy whose root is `root`, at `point`: d->dir becomes
 * the mount point plus the process's path below root if that directory
 * exists, else the mount point itself (a container whose mount shows only
 * its own cgroup). A mapped directory wins over an earlier fallback. */
static void map_dir(const char *prefix, cg_dir *d, const char *root, const char *point)
{
    if (!d->path[0] || d->found == 2) return;
    char top[CG_PATH_MAX], dir[CG_PATH_MAX];
    int n = snprintf(top, sizeof top, "%s%s", prefix, strcmp(point, "/") ? point : "");
    if (n < 0 || (size_t)n >= sizeof top) return;
    const char *rel = below(root, d->path);
    int m = rel ? snprintf(dir, sizeof dir, "%s%s", top, rel) : -1;
    if (m >= 0 && (size_t)m < sizeof dir) {
        while ((size_t)m > (size_t)n && dir[m - 1] == '/')
            dir[--m] = 0;
        if (is_dir(dir)) {
            memcpy(d->dir, dir, (size_t)m + 1);
            d->top = (size_t)n;
            d->found = 2;
            return;
        }
    }
    if (d->found) return;
    memcpy(d->dir, top, (size_t)n + 1);
    d->top = (size_t)n;
    d->found = 1;
}

/* One line of /proc/self/mountinfo:
 * "ID PARENT MAJ:MIN ROOT POINT OPTS [OPTIONAL...] - FSTYPE SOURCE SUPER_OPTS". */
static void mount_line(const char *prefix, cg_tree *t, char *line)
{
    char *f[CG_FIELDS_MAX], *save = NULL;
    int n = 0;
    for (char *s = strtok_r(line, " \n", &save); s && n < CG_FIELDS_MAX;
         s = strtok_r(NULL, " \n", &save))
        f[n++] = s;
    int sep = -1;
    for (int i = 6; i < n && sep < 0; i++)
        if (!strcmp(f[i], "-")) sep = i;
    if (sep < 0 || sep + 3 >= n) return;
    const char *fstype = f[sep + 1], *opts = f[sep + 3];
    unescape(f[3]);
    unescape(f[4]);
    if (!strcmp(fstype, "cgroup2")) {
        map_dir(prefix, &t->v2, f[3], f[4]);
    } else if (!strcmp(fstype, "cgroup")) {
        if (has_token(opts, strlen(opts), "cpu")) map_dir(prefix, &t->v1_cpu, f[3], f[4]);
        if (has_token(opts, strlen(opts), "cpuset")) map_dir(prefix, &t->v1_cpuset, f[3], f[4]);
    }
}

/* Calls each(prefix, t, line) for every line of PREFIX/name up to
 * CG_LINE_MAX bytes; longer lines are skipped. */
static void each_line(const char *prefix, const char *name, cg_tree *t,
                      void (*each)(const char *, cg_tree *, char *))
{
    char path[CG_PATH_MAX];
    int n = snprintf(path, sizeof path, "%s%s", prefix, name);
    if (n < 0 || (size_t)n >= sizeof path) return;
    FILE *f = fopen(path, "r");
    if (!f) return;
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    while ((len = getline(&line, &cap, f)) >= 0)
        if (len < CG_LINE_MAX) each(prefix, t, line);
    free(line);
    fclose(f);
}

static void cgroup_each(const char *prefix, cg_tree *t, char *line)
{
    (void)prefix;
    cgroup_line(t, line);
}

/* visit(dir) for d's directory and each parent up to the mount point. */
static void walk_up(const cg_dir *d, cg_visit visit, cg_limits *l)
{
    char dir[CG_PATH_MAX];
    memcpy(dir, d->dir, sizeof dir);
    for (;;) {
        visit(dir, l);
        size_t n = strlen(dir);
        if (n <= d->top) return;
        char *slash = strrchr(dir, '/');
        size_t cut = slash ? (size_t)(slash - dir) : d->top;
        dir[cut < d->top ? d->top : cut] = 0;
    }
}

static void offer_quota(cg_limits *l, long long q, long long p, const char *fmt)
{
    if (q <= 0 || p <= 0) return;
    double cpus = (double)q / (double)p;
    if (l->quota > 0 && cpus >= l->quota) return;
    l->quota = cpus;
    l->q = q;
    l->p = p;
    snprintf(l->quota_why, sizeof l->quota_why, fmt, q, p);
}

static void offer_cpuset(cg_limits *l, const char *file, const char *list)
{
    int n = cpus_list_count(list);
    if (n <= 0 || (l->cpuset && n >= l->cpuset)) return;
    l->cpuset = n;
    snprintf(l->cpuset_why, sizeof l->cpuset_why, "%s %s", file, list);
}

/* cgroup v2: cpu.max is "max PERIOD" (no limit) or "QUOTA PERIOD". */
static void visit_v2(const char *dir, cg_limits *l)
{
    char buf[256];
    if (!read_small(dir, "cpu.max", buf, sizeof buf)) {
        char *sp = strchr(buf, ' ');
        long long q, p;
        if (sp) {
            *sp = 0;
            if (!parse_ll(buf, &q) && !parse_ll(sp + 1, &p))
                offer_quota(l, q, p, "cgroup v2 cpu.max %lld %lld");
        }
    }
    if (!read_small(dir, "cpuset.cpus.effective", buf, sizeof buf))
        offer_cpuset(l, "cgroup v2 cpuset.cpus.effective", buf);
}

/* cgroup v1: cpu.cfs_quota_us is -1 when there is no limit. */
static void visit_v1_cpu(const char *dir, cg_limits *l)
{
    char buf[64];
    long long q, p;
    if (read_small(dir, "cpu.cfs_quota_us", buf, sizeof buf) || parse_ll(buf, &q)) return;
    if (read_small(dir, "cpu.cfs_period_us", buf, sizeof buf) || parse_ll(buf, &p)) return;
    offer_quota(l, q, p, "cgroup v1 cpu.cfs_quota_us %lld/%lld");
}

static void visit_v1_cpuset(const char *dir, cg_limits *l)
{
    char buf[256];
    if (!read_small(dir, "cpuset.effective_cpus", buf, sizeof buf))
        offer_cpuset(l, "cgroup v1 cpuset.effective_cpus", buf);
    else if (!read_small(dir, "cpuset.cpus", buf, sizeof buf))
        offer_cpuset(l, "cgroup v1 cpuset.cpus", buf);
}

/* usable becomes n if n is known and smaller; ties keep the earlier reason. */
static void offer(cpus_info *o, long long n, const char *why)
{
    if (n <= 0 || n >= o->usable) return;
    o->usable = (int)n;
    snprintf(o->limit, sizeof o->limit, "%s", why);
}

void cpus_read_at(const char *prefix, int online, int affinity, cpus_info *out)
{
    memset(out, 0, sizeof *out);
    out->online = online > 0 ? online : 0;
    out->affinity = affinity > 0 ? affinity : 0;
    cg_limits l;
    memset(&l, 0, sizeof l);
    cg_tree *t = calloc(1, sizeof *t); /* 24 KB: kept off the caller's stack */
    if (t) {
        each_line(prefix, "/proc/self/cgroup", t, cgroup_each);
        each_line(prefix, "/proc/self/mountinfo", t, mount_line);
        if (t->v2.found) walk_up(&t->v2, visit_v2, &l);
        if (t->v1_cpu.found) walk_up(&t->v1_cpu, visit_v1_cpu, &l);
        if (t->v1_cpuset.found) walk_up(&t->v1_cpuset, visit_v1_cpuset, &l);
        free(t);
    }
    out->usable = INT_MAX;
    offer(out, out->online, "online");
    if (l.quota > 0) {
        long long n = l.q / l.p; /* rounded down, at least 1 */
        out->quota = l.quota;
        offer(out, n < 1 ? 1 : n > INT_MAX - 1 ? INT_MAX - 1 : n, l.quota_why);
    }
    if (l.cpuset) {
        out->cpuset = l.cpuset;
        offer(out, l.cpuset, l.cpuset_why);
    }
    offer(out, out->affinity, "affinity");
    if (out->usable == INT_MAX) {
        out->usable = 1;
        snprintf(out->limit, sizeof out->limit, "unknown");
    }
}

/* CPUs in this thread's affinity mask, 0 if it cannot be read. */
static int affinity_count(void)
{
    for (int n = 1024; n <= CPUS_AFFINITY_TOP; n *= 2) {
        cpu_set_t *set = CPU_ALLOC(n);
        if (!set) return 0;
        size_t size = CPU_ALLOC_SIZE(n);
        int got = sched_getaffinity(0, size, set);
        int count = got ? 0 : CPU_COUNT_S(size, set);
        int again = got && errno == EINVAL; /* the mask is larger than the set */
        CPU_FREE(set);
        if (!again) return count;
    }
    return 0;
}

void cpus_read(cpus_info *out)
{
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    cpus_read_at("", online > INT_MAX ? INT_MAX : (int)online, affinity_count(), out);
}

static pthread_once_t process_once = PTHREAD_ONCE_INIT;
static cpus_info process_cpus;

static void process_init(void)
{
    cpus_read(&process_cpus);
    const char *e = getenv("GLINT_CPUS");
    long long n;
    if (e && !parse_ll(e, &n) && n >= 1 && n <= CPUS_MAX) {
        process_cpus.usable = (int)n;
        snprintf(process_cpus.limit, sizeof process_cpus.limit, "GLINT_CPUS=%lld", n);
    }
}

const cpus_info *cpus_process(void)
{
    pthread_once(&process_once, process_init);
    return &process_cpus;
}

int cpus_usable(void)
{
    return cpus_process()->usable;
}

/* A CPU number at *s, advancing *s past it; -1 if none or above the top. */
static long cpu_number(const char **s)
{
    const char *p = *s;
    long v = 0;
    if (*p < '0' || *p > '9') return -1;
    for (; *p >= '0' && *p <= '9'; p++) {
        v = v * 10 + (*p - '0');
        if (v > CPUS_LIST_TOP) return -1;
    }
    *s = p;
    return v;
}

int cpus_list_count(const char *list)
{
    if (!list) return 0;
    long long total = 0;
    const char *p = list;
    while (*p && *p != '\n') {
        long a = cpu_number(&p), b = a;
        if (a < 0) return 0;
        if (*p == '-') {
            p++;
            if ((b = cpu_number(&p)) < a) return 0;
        }
        total += b - a + 1;
        if (*p == ',' && p[1] && p[1] != '\n')
            p++;
        else if (*p && !(*p == '\n' && !p[1]))
            return 0;
    }
    return total > INT_MAX ? 0 : (int)total;
}
