/* Translation-heavy: 4096 distinct generated functions (each a few basic blocks with its own
 * constants), dealt out so that every thread runs different code. Each function runs only a
 * few times, so an emulator spends its time translating, and more threads can translate in
 * parallel.  usage: transl threads [passes] [functions (at most 4096)] */
#include "par.h"

#define FN(id)                                                                         \
    static __attribute__((noinline)) uint64_t f_##id(uint64_t x)                       \
    {                                                                                  \
        x = x * (0x9E3779B97F4A7C15ULL + 2 * 0x##id##ULL) + 0x##id##ULL;               \
        if (x & (1ULL << (0x##id % 61)))                                               \
            x ^= x >> (0x##id % 29 + 3);                                               \
        else                                                                           \
            x += 0x##id##ULL << 7;                                                     \
        x = (x << (0x##id % 17 + 1)) | (x >> (63 - 0x##id % 17));                      \
        if ((x >> 60) == (0x##id & 15))                                                \
            x -= 0x##id##ULL * 0x100000001B3ULL;                                       \
        return x ^ (x >> (0x##id % 7 + 29));                                           \
    }
#define FN16(p) FN(p##0) FN(p##1) FN(p##2) FN(p##3) FN(p##4) FN(p##5) FN(p##6) FN(p##7) \
    FN(p##8) FN(p##9) FN(p##a) FN(p##b) FN(p##c) FN(p##d) FN(p##e) FN(p##f)
#define FN256(p) FN16(p##0) FN16(p##1) FN16(p##2) FN16(p##3) FN16(p##4) FN16(p##5) FN16(p##6) \
    FN16(p##7) FN16(p##8) FN16(p##9) FN16(p##a) FN16(p##b) FN16(p##c) FN16(p##d) FN16(p##e)  \
    FN16(p##f)
FN256(0) FN256(1) FN256(2) FN256(3) FN256(4) FN256(5) FN256(6) FN256(7)
FN256(8) FN256(9) FN256(a) FN256(b) FN256(c) FN256(d) FN256(e) FN256(f)

#define P(id) f_##id,
#define P16(p) P(p##0) P(p##1) P(p##2) P(p##3) P(p##4) P(p##5) P(p##6) P(p##7) P(p##8) \
    P(p##9) P(p##a) P(p##b) P(p##c) P(p##d) P(p##e) P(p##f)
#define P256(p) P16(p##0) P16(p##1) P16(p##2) P16(p##3) P16(p##4) P16(p##5) P16(p##6)       \
    P16(p##7) P16(p##8) P16(p##9) P16(p##a) P16(p##b) P16(p##c) P16(p##d) P16(p##e) P16(p##f)
static uint64_t (*const fns[])(uint64_t) = {
    P256(0) P256(1) P256(2) P256(3) P256(4) P256(5) P256(6) P256(7)
    P256(8) P256(9) P256(a) P256(b) P256(c) P256(d) P256(e) P256(f)
};
#define NFNS ((long)(sizeof fns / sizeof fns[0]))

static long passes, nfns;

static uint64_t work(int t, int n)
{
    uint64_t sum = 0;
    for (long p = 0; p < passes; p++)
        for (long i = share_start(nfns, t, n); i < share_start(nfns, t + 1, n); i++)
            sum += fns[i](mix64((uint64_t)(i * 131 + p)));
    return sum;
}

int main(int argc, char **argv)
{
    int n = arg_threads(argc, argv);
    passes = arg_long(argc, argv, 2, 8);
    nfns = arg_long(argc, argv, 3, NFNS);
    if (nfns > NFNS)
        nfns = NFNS;
    printf("transl functions=%ld passes=%ld checksum=%016llx\n", nfns, passes,
           (unsigned long long)run_threads(n, work));
    return 0;
}
