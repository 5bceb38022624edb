/* Unit tests of src/util/cpus: the CPU count on captured and hand-made
 * cgroup trees (tests/data/cgroups/<case>/: proc/self/cgroup,
 * proc/self/mountinfo and the cgroup files under the mount points they
 * name; see its README.md), the CPU list syntax, and the process-wide value
 * with its GLINT_CPUS override. Each tree is read with the online and
 * affinity counts the test gives, so the answers do not depend on this
 * machine. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/cpus.h"

static cpus_info read_case(const char *name, int online, int affinity)
{
    char prefix[1024];
    snprintf(prefix, sizeof prefix, "%s/tests/data/cgroups/%s", GLINT_SOURCE_DIR, name);
    cpus_info c;
    memset(&c, 0x5a, sizeof c); /* every field must be written */
    cpus_read_at(prefix, online, affinity, &c);
    return c;
}

/* cgroup v2, a service with cpu.max "200000 100000" under a parent at "max" */
static void test_v2_limit(void **state)
{
    (void)state;
    cpus_info c = read_case("v2_limit", 8, 8);
    assert_int_equal(c.usable, 2);
    assert_int_equal(c.online, 8);
    assert_int_equal(c.affinity, 8);
    assert_int_equal(c.cpuset, 8);
    assert_true(c.quota == 2.0);
    assert_string_equal(c.limit, "cgroup v2 cpu.max 200000 100000");
    /* a smaller affinity mask decides; the quota is still reported */
    c = read_case("v2_limit", 8, 1);
    assert_int_equal(c.usable, 1);
    assert_true(c.quota == 2.0);
    assert_string_equal(c.limit, "affinity");
}

/* cgroup v2 "max 100000" is no limit; the cpuset (0-3) still counts */
static void test_v2_max(void **state)
{
    (void)state;
    cpus_info c = read_case("v2_max", 8, 8);
    assert_int_equal(c.usable, 4);
    assert_true(c.quota == 0.0);
    assert_int_equal(c.cpuset, 4);
    assert_string_equal(c.limit, "cgroup v2 cpuset.cpus.effective 0-3");
    c = read_case("v2_max", 2, 2);
    assert_int_equal(c.usable, 2);
    assert_true(c.quota == 0.0);
    assert_string_equal(c.limit, "online");
}

/* Kubernetes on cgroup v2: the container is at "max", its pod at 1.5 CPUs,
 * the QoS class above at 4; the smallest on the way up counts, rounded
 * down, and a cpu.max above the mount point (0.5) is never read */
static void test_v2_nested(void **state)
{
    (void)state;
    cpus_info c = read_case("v2_nested", 16, 16);
    assert_int_equal(c.usable, 1);
    assert_true(c.quota == 1.5);
    assert_int_equal(c.cpuset, 16);
    assert_string_equal(c.limit, "cgroup v2 cpu.max 150000 100000");
}

/* docker --cpus 1 on cgroup v1: the mount's root is the container's
 * cgroup; cpuset.effective_cpus (2-3) is read rather than cpuset.cpus */
static void test_v1_quota(void **state)
{
    (void)state;
    cpus_info c = read_case("v1_quota", 4, 4);
    assert_int_equal(c.usable, 1);
    assert_true(c.quota == 1.0);
    assert_int_equal(c.cpuset, 2);
    assert_string_equal(c.limit, "cgroup v1 cpu.cfs_quota_us 100000/100000");
}

/* cgroup v1, quota -1 at every level, a cpuset of "0-3,6,8-9" (7 CPUs)
 * in a file named cpuset.cpus (no effective_cpus there) */
static void test_v1_cpuset(void **state)
{
    (void)state;
    cpus_info c = read_case("v1_cpuset", 16, 16);
    assert_int_equal(c.usable, 7);
    assert_true(c.quota == 0.0);
    assert_int_equal(c.cpuset, 7);
    assert_string_equal(c.limit, "cgroup v1 cpuset.cpus 0-3,6,8-9");
}

/* cgroup v1 in a container: MOUNT/<cgroup path> does not exist, the files
 * at the mount point count; a quota of 0.5 CPU is 1 */
static void test_v1_container(void **state)
{
    (void)state;
    cpus_info c = read_case("v1_container", 8, 8);
    assert_int_equal(c.usable, 1);
    assert_true(c.quota == 0.5);
    assert_int_equal(c.cpuset, 2);
    assert_string_equal(c.limit, "cgroup v1 cpu.cfs_quota_us 50000/100000");
}

/* this machine, captured: cgroup v1 with separate cpu and cpuacct mounts,
 * no quota, cpuset 0-1, an empty cgroup2 at unified */
static void test_hybrid_host(void **state)
{
    (void)state;
    cpus_info c = read_case("hybrid_host", 2, 2);
    assert_int_equal(c.usable, 2);
    assert_true(c.quota == 0.0);
    assert_int_equal(c.cpuset, 2);
    assert_string_equal(c.limit, "online");
    c = read_case("hybrid_host", 64, 64);
    assert_int_equal(c.usable, 2);
    assert_string_equal(c.limit, "cgroup v1 cpuset.effective_cpus 0-1");
}

/* malformed lines and values everywhere ("12x", period 0, "abc def", a
 * single number, "0-3,zz", "5-2"): none counts, nothing crashes */
static void test_garbage(void **state)
{
    (void)state;
    cpus_info c = read_case("garbage", 4, 3);
    assert_int_equal(c.usable, 3);
    assert_true(c.quota == 0.0);
    assert_int_equal(c.cpuset, 0);
    assert_string_equal(c.limit, "affinity");
}

/* no files at all: the online and affinity counts, else 1 */
static void test_missing(void **state)
{
    (void)state;
    cpus_info c = read_case("no-such-case", 6, 0);
    assert_int_equal(c.usable, 6);
    assert_int_equal(c.affinity, 0);
    assert_true(c.quota == 0.0);
    assert_string_equal(c.limit, "online");
    c = read_case("no-such-case", 0, 0);
    assert_int_equal(c.usable, 1);
    assert_int_equal(c.online, 0);
    assert_string_equal(c.limit, "unknown");
}

static void test_list_count(void **state)
{
    (void)state;
    assert_int_equal(cpus_list_count("0-3,6,8-9"), 7);
    assert_int_equal(cpus_list_count("0-3,6,8-9\n"), 7);
    assert_int_equal(cpus_list_count("0"), 1);
    assert_int_equal(cpus_list_count("5"), 1);
    assert_int_equal(cpus_list_count("0-63"), 64);
    assert_int_equal(cpus_list_count("2-2"), 1);
    assert_int_equal(cpus_list_count(""), 0);
    assert_int_equal(cpus_list_count(NULL), 0);
    assert_int_equal(cpus_list_count("\n"), 0);
    assert_int_equal(cpus_list_count("3-1"), 0);
    assert_int_equal(cpus_list_count("0-"), 0);
    assert_int_equal(cpus_list_count("-1"), 0);
    assert_int_equal(cpus_list_count("0,"), 0);
    assert_int_equal(cpus_list_count("0,,1"), 0);
    assert_int_equal(cpus_list_count("0-3 "), 0);
    assert_int_equal(cpus_list_count("a"), 0);
    assert_int_equal(cpus_list_count("0\n1"), 0);
    assert_int_equal(cpus_list_count("99999999999999999999"), 0);
}

/* the real system: within online and affinity; the process-wide value is
 * computed once and GLINT_CPUS (set before the first call) decides it */
static void test_real_and_process(void **state)
{
    (void)state;
    cpus_info c;
    cpus_read(&c);
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    cpu_set_t set;
    assert_int_equal(sched_getaffinity(0, sizeof set, &set), 0);
    assert_int_equal(c.online, (int)online);
    assert_int_equal(c.affinity, CPU_COUNT(&set));
    assert_true(c.usable >= 1 && c.usable <= c.affinity && c.usable <= c.online);
    assert_true(c.limit[0] != 0);

    assert_int_equal(setenv("GLINT_CPUS", "3", 1), 0);
    const cpus_info *p = cpus_process();
    assert_int_equal(p->usable, 3);
    assert_int_equal(cpus_usable(), 3);
    assert_string_equal(p->limit, "GLINT_CPUS=3");
    assert_int_equal(p->online, c.online);
    assert_int_equal(setenv("GLINT_CPUS", "1", 1), 0);
    assert_ptr_equal(cpus_process(), p); /* once: the environment is read at the first call */
    assert_int_equal(cpus_usable(), 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_v2_limit),         cmocka_unit_test(test_v2_max),
        cmocka_unit_test(test_v2_nested),        cmocka_unit_test(test_v1_quota),
        cmocka_unit_test(test_v1_cpuset),        cmocka_unit_test(test_v1_container),
        cmocka_unit_test(test_hybrid_host),      cmocka_unit_test(test_garbage),
        cmocka_unit_test(test_missing),          cmocka_unit_test(test_list_count),
        cmocka_unit_test(test_real_and_process),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
