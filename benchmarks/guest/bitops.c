/* Integer kernel: bit manipulation (population count, leading/trailing zeros, bit reversal,
 * Morton interleaving, rotations, Gray code) over a generated stream.
 * usage: bitops [millions-of-values] */
#include "../bench.h"

static uint64_t reverse64(uint64_t x)
{
    x = ((x >> 1) & 0x5555555555555555ULL) | ((x & 0x5555555555555555ULL) << 1);
    x = ((x >> 2) & 0x3333333333333333ULL) | ((x & 0x3333333333333333ULL) << 2);
    x = ((x >> 4) & 0x0F0F0F0F0F0F0F0FULL) | ((x & 0x0F0F0F0F0F0F0F0FULL) << 4);
    x = ((x >> 8) & 0x00FF00FF00FF00FFULL) | ((x & 0x00FF00FF00FF00FFULL) << 8);
    x = ((x >> 16) & 0x0000FFFF0000FFFFULL) | ((x & 0x0000FFFF0000FFFFULL) << 16);
    return (x >> 32) | (x << 32);
}

static uint64_t spread32(uint32_t v)
{
    uint64_t x = v;
    x = (x | (x << 16)) & 0x0000FFFF0000FFFFULL;
    x = (x | (x << 8)) & 0x00FF00FF00FF00FFULL;
    x = (x | (x << 4)) & 0x0F0F0F0F0F0F0F0FULL;
    x = (x | (x << 2)) & 0x3333333333333333ULL;
    x = (x | (x << 1)) & 0x5555555555555555ULL;
    return x;
}

static int popcount64(uint64_t x)
{
    int n = 0;
    while (x) { /* Kernighan's loop: a data-dependent branch per set bit */
        x &= x - 1;
        n++;
    }
    return n;
}

static uint64_t rotl(uint64_t x, int r) { return (x << (r & 63)) | (x >> ((64 - r) & 63)); }

int main(int argc, char **argv)
{
    long n = arg_long(argc, argv, 1, 20) * 1000000;
    uint64_t s = 7, acc = 0, pop = 0, zeros = 0;
    for (long i = 0; i < n; i++) {
        uint64_t v = xs64(&s);
        pop += (uint64_t)popcount64(v & 0xFFFF00FF00FFFF00ULL);
        zeros += (uint64_t)(__builtin_clzll(v | 1) + __builtin_ctzll(v | (1ULL << 63)));
        uint64_t m = spread32((uint32_t)v) | (spread32((uint32_t)(v >> 32)) << 1);
        uint64_t g = v ^ (v >> 1);
        acc = rotl(acc ^ reverse64(m) ^ g, (int)(v & 63)) + (v >> 58);
    }
    printf("bitops n=%ld pop=%llu zeros=%llu checksum=%016llx\n", n, (unsigned long long)pop,
           (unsigned long long)zeros, (unsigned long long)acc);
    return 0;
}
