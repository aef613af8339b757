/* long double (x87 80-bit extended precision): printf with %Lf %Lg %Le %La, arithmetic,
 * conversions to and from integers and doubles, and a little libm. */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static volatile long double vals[] = {
    0.0L, -0.0L, 1.0L, -1.0L, 0.5L, 2.5L, 0.1L, 1e10L, 123456789012345678.0L,
    3.14159265358979323846264338327950288L, 1e300L, 1e4000L, 1e-4000L, LDBL_MIN,
    LDBL_EPSILON, 18446744073709551615.0L, -9223372036854775808.0L, 1.5e-4940L,
};
#define N ((int)(sizeof vals / sizeof vals[0]))

static void bits(const char *what, long double v)
{
    unsigned char b[16];
    memset(b, 0, sizeof b);
    memcpy(b, &v, 10); /* the 6 padding bytes are unspecified */
    uint64_t mant;
    memcpy(&mant, b, 8);
    printf("%s: sign+exp=%04x mant=%016llx\n", what, (unsigned)(b[9] << 8 | b[8]),
           (unsigned long long)mant);
}

int main(void)
{
    for (int i = 0; i < N; i++) {
        long double v = vals[i];
        printf("[%d] Lg[%Lg] .21Lg[%.21Lg] Le[%Le] La[%La] .3Lf[%.3Lf]\n", i, v, v, v, v, v);
        if (fabsl(v) < 1e30L)
            printf("[%d] Lf[%Lf] .25Lf[%.25Lf] w[%30.10Lf]\n", i, v, v, v);
        bits("    bits", v);
    }
    printf("LDBL_MAX %%Le: %.30Le\n", (long double)LDBL_MAX);
    printf("LDBL_MAX %%Lf: %Lf\n", (long double)LDBL_MAX);

    volatile long double zero = 0.0L;
    long double inf = 1.0L / zero, nan = zero / zero;
    printf("inf[%Lf] -inf[%Lg] nan[%Lf] -nan[%Le] nan2[%Lg]\n", inf, -inf, nan, -nan, -(inf - inf));

    /* Arithmetic over all pairs: print an exact bit hash of the results. */
    uint64_t h = 0xcbf29ce484222325ULL;
    for (int i = 0; i < N; i++)
        for (int j = 0; j < N; j++) {
            long double a = vals[i], b = vals[j];
            long double r[5] = {a + b, a - b, a * b, b != 0 ? a / b : 0, a < b ? a : b};
            for (int k = 0; k < 5; k++) {
                unsigned char by[10];
                memcpy(by, &r[k], 10);
                for (int m = 0; m < 10; m++) {
                    h ^= by[m];
                    h *= 0x100000001b3ULL;
                }
            }
        }
    printf("pairwise arithmetic hash %016llx\n", (unsigned long long)h);

    long double third = vals[2] / 3.0L;
    bits("1/3", third);
    printf("1/3 = %.25Lf\n", third);
    long double sq = sqrtl(vals[5] - vals[4] * 0); /* sqrt(2.5) */
    printf("sqrtl(2.5) = %.21Lg\n", sq);
    bits("sqrtl(2.5)", sq);

    /* Exact integers up to 2^64 survive the 64-bit mantissa. */
    long double f = 1.0L;
    for (int i = 1; i <= 25; i++) {
        f *= (long double)i;
        printf("%2d! = %.0Lf\n", i, f);
    }

    /* Conversions. */
    volatile uint64_t u = 18446744073709551615ULL;
    volatile int64_t s = -9223372036854775807LL - 1;
    long double lu = (long double)u, ls = (long double)s;
    printf("(long double)UINT64_MAX = %.0Lf, back = %llu\n", lu, (unsigned long long)(uint64_t)lu);
    printf("(long double)INT64_MIN = %.0Lf, back = %lld\n", ls, (long long)(int64_t)ls);
    long double tenth = vals[6];
    double d = (double)tenth;
    float fl = (float)tenth;
    printf("(double)0.1L = %.20g (float)0.1L = %.20g (long double)0.1 = %.25Lf\n", d, (double)fl,
           (long double)d);
    printf("(int)-2.5L = %d, (long long)1e18L = %lld, llrintl(2.5L) = %lld, lrintl(-3.5L) = %ld\n",
           (int)-vals[5], (long long)(vals[2] * 1e18L), llrintl(vals[5]), lrintl(-vals[5] - 1));
    printf("floorl(-2.5) = %Lg ceill(-2.5) = %Lg truncl(-2.5) = %Lg roundl(-2.5) = %Lg\n",
           floorl(-vals[5]), ceill(-vals[5]), truncl(-vals[5]), roundl(-vals[5]));

    /* Parsing. */
    const char *inputs[] = {"0.1", "-1e4000", "1e5000", "0x1.fffffffffffffffep16383", "3.5e-4951", "nan", "-inf"};
    for (int i = 0; i < (int)(sizeof inputs / sizeof inputs[0]); i++) {
        long double v = strtold(inputs[i], NULL);
        printf("strtold(%s) = %.21Lg %La\n", inputs[i], v, v);
    }

    /* A little libm in extended precision. */
    printf("expl(1) = %.20Lg logl(10) = %.20Lg powl(2,0.5) = %.20Lg atanl(1)*4 = %.20Lg\n",
           expl(vals[2]), logl(vals[7] / 1e9L), powl(2.0L, vals[4]), atanl(vals[2]) * 4);
    printf("float: %.20Lg double: %.20Lg\n", (long double)(float)vals[9], (long double)(double)vals[9]);
    return 0;
}
