/* Integer arithmetic of every width, signed and unsigned, including __int128 multiply and
 * divide, wrap-around, shifts and rotates, conversions and bit builtins. Inputs come from a
 * volatile table so the compiler cannot fold anything; each (type, operation) prints a hash
 * of all its results over every pair of inputs. Signed overflow is done in unsigned
 * arithmetic (wrap), and division avoids x/0 and MIN/-1. */
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

static volatile uint64_t seeds[] = {
    0, 1, 2, 3, 5, 7, 10, 0x7f, 0x80, 0x81, 0xff, 0x100, 0x7fff, 0x8000, 0xffff, 0x10000,
    0x7fffffff, 0x80000000, 0x80000001, 0xffffffff, 0x100000000, 0x123456789abcdef0,
    0x7fffffffffffffff, 0x8000000000000000, 0xffffffffffffffff, 0xfffffffffffffffe,
    0xdeadbeefcafebabe, 0x5555555555555555, 0xaaaaaaaaaaaaaaaa, 1000000007,
    (uint64_t)-1000000007, (uint64_t)-2, (uint64_t)-3, (uint64_t)-10, 0x00ff00ff00ff00ff,
    0x0123456789abcdef,
};
#define N ((int)(sizeof seeds / sizeof seeds[0]))

static uint64_t h;
static void mix(uint64_t v)
{
    for (int i = 0; i < 8; i++) {
        h ^= (v >> (8 * i)) & 0xff;
        h *= 0x100000001b3ULL;
    }
}
static void start(void) { h = 0xcbf29ce484222325ULL; }
static void done(const char *type, const char *op) { printf("%-5s %-6s %016llx\n", type, op, (unsigned long long)h); }

/* One block per width: T is the signed type, U the unsigned one, B the width in bits. */
#define WIDTH_TESTS(NAME, T, U, B, TMIN)                                                      \
    static void test_##NAME(void)                                                             \
    {                                                                                         \
        U u[N];                                                                               \
        T s[N];                                                                               \
        for (int i = 0; i < N; i++) {                                                         \
            u[i] = (U)seeds[i];                                                               \
            s[i] = (T)u[i];                                                                   \
        }                                                                                     \
        start(); for (int i = 0; i < N; i++) for (int j = 0; j < N; j++) mix((U)(u[i] + u[j])); done(#NAME, "add");  \
        start(); for (int i = 0; i < N; i++) for (int j = 0; j < N; j++) mix((U)(u[i] - u[j])); done(#NAME, "sub");  \
        start(); for (int i = 0; i < N; i++) for (int j = 0; j < N; j++) mix((U)((uint64_t)u[i] * u[j])); done(#NAME, "mulu"); \
        start(); for (int i = 0; i < N; i++) for (int j = 0; j < N; j++) mix((uint64_t)(int64_t)(T)(U)((uint64_t)(U)s[i] * (U)s[j])); done(#NAME, "muls"); \
        start(); for (int i = 0; i < N; i++) for (int j = 0; j < N; j++) if (u[j]) { mix(u[i] / u[j]); mix(u[i] % u[j]); } done(#NAME, "divu"); \
        start(); for (int i = 0; i < N; i++) for (int j = 0; j < N; j++)                       \
            if (s[j] && !(s[i] == TMIN && s[j] == -1)) { mix((uint64_t)(int64_t)(T)(s[i] / s[j])); mix((uint64_t)(int64_t)(T)(s[i] % s[j])); } \
        done(#NAME, "divs");                                                                  \
        start(); for (int i = 0; i < N; i++) for (int j = 0; j < N; j++) { mix(u[i] & u[j]); mix(u[i] | u[j]); mix(u[i] ^ u[j]); mix((U)~u[i]); } done(#NAME, "bits"); \
        start(); for (int i = 0; i < N; i++) for (int k = 0; k < B; k++) { mix((U)(u[i] << k)); mix((U)(u[i] >> k)); mix((uint64_t)(int64_t)(T)(s[i] >> k)); } done(#NAME, "shift"); \
        start(); for (int i = 0; i < N; i++) for (int k = 1; k < B; k++) { mix((U)((U)(u[i] << k) | (U)(u[i] >> (B - k)))); } done(#NAME, "rotate"); \
        start(); for (int i = 0; i < N; i++) for (int j = 0; j < N; j++) { mix((u[i] < u[j]) | (u[i] <= u[j]) << 1 | (s[i] < s[j]) << 2 | (s[i] <= s[j]) << 3 | (s[i] == s[j]) << 4); } done(#NAME, "cmp"); \
        start(); for (int i = 0; i < N; i++) { mix((uint64_t)(int64_t)s[i]); mix((uint64_t)u[i]); mix((U)-u[i]); mix((uint64_t)(int64_t)(T)(U)(0 - (uint64_t)s[i])); } done(#NAME, "conv"); \
        start(); for (int i = 0; i < N; i++) for (int j = 0; j < N; j++) { U r; mix(__builtin_add_overflow(u[i], u[j], &r)); mix(r); T t; mix(__builtin_sub_overflow(s[i], s[j], &t)); mix((uint64_t)(int64_t)t); mix(__builtin_mul_overflow(s[i], s[j], &t)); mix((uint64_t)(int64_t)t); } done(#NAME, "ovf"); \
    }

WIDTH_TESTS(i8, int8_t, uint8_t, 8, INT8_MIN)
WIDTH_TESTS(i16, int16_t, uint16_t, 16, INT16_MIN)
WIDTH_TESTS(i32, int32_t, uint32_t, 32, INT32_MIN)
WIDTH_TESTS(i64, int64_t, uint64_t, 64, INT64_MIN)

typedef unsigned __int128 u128;
typedef __int128 i128;

static void mix128(u128 v) { mix((uint64_t)v); mix((uint64_t)(v >> 64)); }

static void print_u128(u128 v)
{
    char buf[48];
    int n = 0;
    do {
        buf[n++] = (char)('0' + (int)(v % 10));
        v /= 10;
    } while (v);
    while (n)
        putchar(buf[--n]);
}

static void print_i128(i128 v)
{
    if (v < 0) {
        putchar('-');
        print_u128(-(u128)v);
    } else {
        print_u128((u128)v);
    }
}

static void test_i128(void)
{
    enum { M = 12 };
    u128 u[M * M];
    int n = 0;
    for (int i = 0; i < M; i++)
        for (int j = 0; j < M; j++)
            u[n++] = (u128)seeds[i * 3 % N] << 64 | seeds[(j * 5 + 1) % N];
    const i128 *s = (const i128 *)u;
    const i128 imin = (i128)((u128)1 << 127);

    start(); for (int i = 0; i < n; i++) for (int j = 0; j < n; j++) { mix128(u[i] + u[j]); mix128(u[i] - u[j]); } done("i128", "addsub");
    start(); for (int i = 0; i < n; i++) for (int j = 0; j < n; j++) mix128(u[i] * u[j]); done("i128", "mul");
    start(); for (int i = 0; i < n; i++) for (int j = 0; j < n; j++) if (u[j]) { mix128(u[i] / u[j]); mix128(u[i] % u[j]); } done("i128", "divu");
    start(); for (int i = 0; i < n; i++) for (int j = 0; j < n; j++)
        if (s[j] && !(s[i] == imin && s[j] == -1)) { mix128((u128)(s[i] / s[j])); mix128((u128)(s[i] % s[j])); }
    done("i128", "divs");
    start(); for (int i = 0; i < n; i++) for (int k = 0; k < 128; k++) { mix128(u[i] << k); mix128(u[i] >> k); mix128((u128)(s[i] >> k)); } done("i128", "shift");
    start(); for (int i = 0; i < n; i++) for (int j = 0; j < n; j++) mix((u[i] < u[j]) | (s[i] < s[j]) << 1 | (u[i] == u[j]) << 2); done("i128", "cmp");

    /* 64x64->128 multiplies (mul/imul with a 128-bit result) and 128/64 divides. */
    start();
    for (int i = 0; i < N; i++)
        for (int j = 0; j < N; j++) {
            mix128((u128)seeds[i] * seeds[j]);
            mix128((u128)((i128)(int64_t)seeds[i] * (int64_t)seeds[j]));
            if (seeds[j])
                mix128(((u128)seeds[i] << 32) / seeds[j]);
        }
    done("i128", "widen");

    /* Exact values, printed in decimal through 128-bit division. */
    u128 f = 1;
    for (int k = 1; k <= 34; k++) {
        f *= (u128)k;
        printf("%2d! = ", k);
        print_u128(f);
        putchar('\n');
    }
    printf("u128 max = "); print_u128(~(u128)0); putchar('\n');
    printf("i128 max = "); print_i128((i128)(~(u128)0 >> 1)); putchar('\n');
    printf("i128 min = "); print_i128(imin); putchar('\n');
    volatile i128 a = -(i128)1000000000000000000 * 1000000000000000000, b = 7;
    printf("-1e36 / 7 = "); print_i128(a / b); printf(" rem "); print_i128(a % b); putchar('\n');
    printf("-1e36 / -7 = "); print_i128(a / -b); printf(" rem "); print_i128(a % -b); putchar('\n');
}

static uint64_t dbits(double d)
{
    uint64_t b;
    memcpy(&b, &d, sizeof b);
    return b;
}

static uint32_t fbits(float f)
{
    uint32_t b;
    memcpy(&b, &f, sizeof b);
    return b;
}

static void test_misc(void)
{
    /* Bit builtins (zero inputs excluded where undefined) and byte swaps. */
    start();
    for (int i = 0; i < N; i++) {
        uint64_t v = seeds[i];
        mix((uint64_t)__builtin_popcountll(v));
        mix((uint64_t)__builtin_parityll(v));
        if (v) {
            mix((uint64_t)__builtin_clzll(v));
            mix((uint64_t)__builtin_ctzll(v));
        }
        if ((uint32_t)v) {
            mix((uint64_t)__builtin_clz((uint32_t)v));
            mix((uint64_t)__builtin_ctz((uint32_t)v));
        }
        mix(__builtin_bswap64(v));
        mix(__builtin_bswap32((uint32_t)v));
        mix(__builtin_bswap16((uint16_t)v));
    }
    done("misc", "bits");

    /* Integer <-> floating conversions, including unsigned values with the top bit set. */
    start();
    for (int i = 0; i < N; i++) {
        uint64_t v = seeds[i];
        double du = (double)v, ds = (double)(int64_t)v;
        float fu = (float)v, fs = (float)(int64_t)v;
        mix(dbits(du));
        mix(dbits(ds));
        mix(fbits(fu));
        mix(fbits(fs));
        if (du < 18446744073709551616.0)
            mix((uint64_t)du);
        mix((uint64_t)(int64_t)ds);
        mix((uint64_t)(int32_t)(double)(int32_t)v);
        mix((uint64_t)(uint32_t)(double)(uint32_t)v);
    }
    done("misc", "fconv");

    volatile int32_t x = INT32_MAX, y = INT32_MIN;
    volatile uint32_t ux = UINT32_MAX;
    volatile int64_t lx = INT64_MAX, ly = INT64_MIN;
    printf("INT32_MAX+1 wraps to %d\n", (int32_t)((uint32_t)x + 1));
    printf("INT32_MIN-1 wraps to %d\n", (int32_t)((uint32_t)y - 1));
    printf("UINT32_MAX+1 = %u\n", ux + 1);
    printf("INT64_MAX+1 wraps to %lld\n", (long long)(int64_t)((uint64_t)lx + 1));
    printf("INT64_MIN/1 = %lld, INT64_MIN%%-3 = %lld\n", (long long)(ly / 1), (long long)(ly % -3));
    printf("-7/2 = %d, -7%%2 = %d, 7/-2 = %d, 7%%-2 = %d\n", -7 / (int)seeds[2], -7 % (int)seeds[2],
           7 / -(int)seeds[2], 7 % -(int)seeds[2]);
    printf("-1 >> 1 = %d, -1u >> 1 = %u\n", -(int)seeds[1] >> 1, (unsigned)-(int)seeds[1] >> 1);
}

int main(void)
{
    test_i8();
    test_i16();
    test_i32();
    test_i64();
    test_i128();
    test_misc();
    return 0;
}
