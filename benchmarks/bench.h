/* Shared helpers of the bundled benchmark workloads (see README.md beside this file).
 * Every workload prints one deterministic checksum line that the runner compares with the
 * native run's, so an emulator that computes a wrong answer fails instead of looking fast. */
#ifndef BENCH_H
#define BENCH_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* xorshift64*: the workloads' deterministic generator. */
static inline uint64_t xs64(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545F4914F6CDD1DULL;
}

/* A 64-bit mix (splitmix64's finaliser), to fold values into checksums. */
static inline uint64_t mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return x;
}

/* argv[i] as a positive integer, or `def` when absent; exits on garbage. */
static inline long arg_long(int argc, char **argv, int i, long def)
{
    if (argc <= i)
        return def;
    char *end;
    long v = strtol(argv[i], &end, 10);
    if (*end || v <= 0) {
        fprintf(stderr, "%s: bad argument '%s' (a positive integer)\n", argv[0], argv[i]);
        exit(2);
    }
    return v;
}

#endif
