/* Loop kernels that GCC auto-vectorizes at -O3 for x86-64-v2 (SSE4.1 pmulld, pminsd,
 * pmovzx/pmovsx, blends, ptest, pshufb, roundpd, dot products, packs, horizontal sums).
 * Prints checksums of every kernel's output. */
// emu-cflags: -O3 -march=x86-64-v2
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define N 1027

static int32_t ia[N], ib[N], ic[N];
static int16_t sa[N], sb[N];
static int8_t ba[N];
static uint8_t ua[N], ub[N];
static int64_t la[N];
static float fa[N], fb[N], fc[N];
static double da[N], db[N], dc[N];

static uint64_t rng = 0x1234567;
static uint32_t next(void)
{
    rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
    return (uint32_t)(rng >> 32);
}

static uint64_t sum_bytes(const void *p, size_t n)
{
    const uint8_t *b = p;
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

__attribute__((noinline)) static void k_mul(void)
{
    for (int i = 0; i < N; i++)
        ic[i] = ia[i] * ib[i] + (ia[i] >> 3);
}

__attribute__((noinline)) static void k_minmax(void)
{
    for (int i = 0; i < N; i++) {
        int m = ia[i] < ib[i] ? ia[i] : ib[i];
        ic[i] = m > -1000 ? m : -1000;
    }
}

__attribute__((noinline)) static void k_widen(void)
{
    for (int i = 0; i < N; i++) {
        ic[i] = ua[i] + sa[i] + ba[i];
        la[i] = (int64_t)ia[i] * ib[i];
    }
}

__attribute__((noinline)) static void k_select(void)
{
    for (int i = 0; i < N; i++) {
        fc[i] = fa[i] > fb[i] ? fa[i] - fb[i] : fb[i] * 0.5f;
        dc[i] = da[i] < 0 ? -da[i] : db[i];
    }
}

__attribute__((noinline)) static double k_dot(void)
{
    double s = 0;
    for (int i = 0; i < N; i++)
        s += da[i] * db[i];
    return s;
}

__attribute__((noinline)) static float k_dotf(void)
{
    float s = 0;
    for (int i = 0; i < N; i++)
        s += fa[i] * fb[i];
    return s;
}

__attribute__((noinline)) static void k_round(void)
{
    for (int i = 0; i < N; i++) {
        dc[i] = floor(da[i]) + ceil(db[i]) + trunc(da[i] * 3.7) + round(db[i] * 0.3);
        fc[i] = floorf(fa[i]) - ceilf(fb[i]) + rintf(fa[i] * 1.5f);
    }
}

__attribute__((noinline)) static void k_bytes(void)
{
    for (int i = 0; i < N; i++) {
        int v = ua[i] * 3 - ub[i];
        ua[i] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
        ub[i] = ub[i] > ua[i] ? ub[i] : ua[i];
    }
}

__attribute__((noinline)) static void k_reverse(void)
{
    for (int i = 0; i < N; i++)
        sb[i] = sa[N - 1 - i];
}

__attribute__((noinline)) static int64_t k_sum(void)
{
    int64_t s = 0;
    for (int i = 0; i < N; i++)
        s += ia[i] == ib[i] ? 1 : (int64_t)ia[i] * 2;
    return s;
}

__attribute__((noinline)) static int k_count(void)
{
    int c = 0;
    for (int i = 0; i < N; i++)
        c += __builtin_popcount((unsigned)ia[i]) + (ba[i] < 0);
    return c;
}

__attribute__((noinline)) static void k_convert(void)
{
    for (int i = 0; i < N; i++) {
        fc[i] = (float)ia[i] * 0.25f + (float)da[i];
        ic[i] = (int)(fa[i] * 100.0f);
        dc[i] = (double)fa[i] + (double)ib[i];
    }
}

__attribute__((noinline)) static void k_abs_shift(void)
{
    for (int i = 0; i < N; i++) {
        ic[i] = (ia[i] < 0 ? -ia[i] : ia[i]) >> (i & 7);
        sb[i] = (int16_t)((sa[i] * sb[i]) >> 15);
    }
}

int main(void)
{
    for (int i = 0; i < N; i++) {
        ia[i] = (int32_t)next() >> (next() % 20);
        ib[i] = (int32_t)next() >> (next() % 24);
        sa[i] = (int16_t)next();
        sb[i] = (int16_t)next();
        ba[i] = (int8_t)next();
        ua[i] = (uint8_t)next();
        ub[i] = (uint8_t)next();
        fa[i] = (float)((int32_t)next()) / 65536.0f;
        fb[i] = (float)((int32_t)next()) / 1048576.0f;
        da[i] = (double)(int32_t)next() / 3.0;
        db[i] = (double)(int32_t)next() / 7.0;
    }
    k_mul();
    printf("mul %016llx\n", (unsigned long long)sum_bytes(ic, sizeof ic));
    k_minmax();
    printf("minmax %016llx\n", (unsigned long long)sum_bytes(ic, sizeof ic));
    k_widen();
    printf("widen %016llx %016llx\n", (unsigned long long)sum_bytes(ic, sizeof ic),
           (unsigned long long)sum_bytes(la, sizeof la));
    k_select();
    printf("select %016llx %016llx\n", (unsigned long long)sum_bytes(fc, sizeof fc),
           (unsigned long long)sum_bytes(dc, sizeof dc));
    printf("dot %a dotf %a\n", k_dot(), (double)k_dotf());
    k_round();
    printf("round %016llx %016llx\n", (unsigned long long)sum_bytes(dc, sizeof dc),
           (unsigned long long)sum_bytes(fc, sizeof fc));
    k_bytes();
    printf("bytes %016llx %016llx\n", (unsigned long long)sum_bytes(ua, sizeof ua),
           (unsigned long long)sum_bytes(ub, sizeof ub));
    k_reverse();
    printf("reverse %016llx\n", (unsigned long long)sum_bytes(sb, sizeof sb));
    printf("sum %lld count %d\n", (long long)k_sum(), k_count());
    k_convert();
    printf("convert %016llx %016llx %016llx\n", (unsigned long long)sum_bytes(fc, sizeof fc),
           (unsigned long long)sum_bytes(ic, sizeof ic), (unsigned long long)sum_bytes(dc, sizeof dc));
    k_abs_shift();
    printf("abs_shift %016llx %016llx\n", (unsigned long long)sum_bytes(ic, sizeof ic),
           (unsigned long long)sum_bytes(sb, sizeof sb));
    return 0;
}
