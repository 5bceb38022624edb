/* cpus: how many CPUs this process may really use, for thread defaults.
 *
 * The count is the least of: the CPUs online, the process's affinity mask,
 * its cgroup's cpuset and its cgroup's CFS bandwidth quota (cgroup v2
 * cpu.max, cgroup v1 cpu.cfs_quota_us / cpu.cfs_period_us), a quota rounded
 * down and never below 1. Quotas are read at every level from the process's
 * cgroup up to the hierarchy's mount point and the smallest counts
 * (Kubernetes sets limits on the pod and on the container). A container
 * started with `--cpus 1` on a 64-core host is 1, not 64.
 *
 * The cgroup directories come from /proc/self/cgroup and
 * /proc/self/mountinfo. A file that is missing, unreadable or not in the
 * expected syntax is ignored, never an error: the count then rests on the
 * limits that could be read.
 *
 * Thread-safety: cpus_read_at, cpus_read and cpus_list_count are reentrant
 * and keep no state; cpus_process computes the process-wide value once
 * (pthread_once) and any thread may call it.
 */
#ifndef GLINT_UTIL_CPUS_H
#define GLINT_UTIL_CPUS_H

#define CPUS_LIMIT_MAX 96 /* bytes of cpus_info.limit, with its NUL */
#define CPUS_MAX 4096     /* the largest count GLINT_CPUS may set */

typedef struct cpus_info {
    int usable;                 /* what thread defaults use: the least of the counts below, >= 1 */
    int online;                 /* CPUs online (sysconf), 0 if unknown */
    int affinity;               /* CPUs in the affinity mask (sched_getaffinity), 0 if unknown */
    int cpuset;                 /* CPUs in the cgroup's cpuset, 0 if none was read */
    double quota;               /* CFS quota / period in CPUs (1.5 = 150 ms per 100 ms), 0 = none */
    char limit[CPUS_LIMIT_MAX]; /* which limit decided usable, e.g. "cgroup v2 cpu.max
                                   150000 100000", "cgroup v1 cpuset.cpus 0",
                                   "affinity", "online" */
} cpus_info;

/* Reads the cgroup limits of a filesystem tree whose root is `prefix`
 * ("" for the real one; the files read are PREFIX/proc/self/cgroup,
 * PREFIX/proc/self/mountinfo and the cgroup files under the mount points
 * mountinfo names, also taken under PREFIX), and fills *out with them and
 * the given `online` and `affinity` counts (each <= 0 when unknown). Never
 * fails: what cannot be read is left out. */
void cpus_read_at(const char *prefix, int online, int affinity, cpus_info *out);

/* cpus_read_at("") with this process's online and affinity counts. */
void cpus_read(cpus_info *out);

/* The process-wide value: cpus_read's, computed on the first call, unless
 * the environment sets GLINT_CPUS to an integer in 1..CPUS_MAX, which then
 * is `usable` (limit "GLINT_CPUS=N"; other values are ignored). Never NULL;
 * the struct lives as long as the process. */
const cpus_info *cpus_process(void);

/* cpus_process()->usable. */
int cpus_usable(void);

/* CPUs in a Linux CPU list ("0-3,6,8-9\n" is 7). Returns 0 for an empty
 * list and for anything not in that syntax (a range from high to low,
 * a stray character, a number above 1 << 20). */
int cpus_list_count(const char *list);

#endif
