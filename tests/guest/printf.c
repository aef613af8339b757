/* printf of integers and doubles: conversions, flags, widths, precision, and the special
 * values (negative zero, infinities, NaNs, subnormals, extremes). Values come from volatile
 * variables so the formatting happens at run time. */
#include <float.h>
#include <limits.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

static volatile int ints[] = {0, 1, -1, 7, -7, 42, 255, 1000000, -1000000, INT_MAX, INT_MIN};
static volatile long long lls[] = {0, 1, -1, 4294967296LL, -4294967296LL, LLONG_MAX, LLONG_MIN,
                                   123456789012345LL};
static volatile double dbls[] = {0.0, -0.0, 1.0, -1.0, 0.5, 1.5, 2.5, -2.5, 0.1, 1.0 / 3.0,
                                 2.0 / 3.0, 100.0, 1e15, 1e16, 1e17, 123456.789, 1e-5, 1e-300,
                                 1e300, DBL_MAX, DBL_MIN, 4.9406564584124654e-324, DBL_EPSILON,
                                 3.14159265358979323846, 0.125, 9.9999999, 0.000123456789,
                                 1.0e22, 5e-324 * 3};
static volatile double zero = 0.0;

int main(void)
{
    int ni = (int)(sizeof ints / sizeof ints[0]);
    for (int i = 0; i < ni; i++) {
        int v = ints[i];
        printf("d[%d] u[%u] x[%x] X[%X] o[%o] #x[%#x] #o[%#o] +d[%+d] sp[% d]\n", v, (unsigned)v,
               (unsigned)v, (unsigned)v, (unsigned)v, (unsigned)v, (unsigned)v, v, v);
        printf("w[%8d] lw[%-8d] zw[%08d] p[%.5d] wp[%10.4d] zx[%012x] *[%*d] .*[%.*d]\n", v, v, v,
               v, v, (unsigned)v, 6, v, 3, v);
        printf("hh[%hhd] hhu[%hhu] h[%hd] hu[%hu] hx[%hx]\n", (signed char)v, (unsigned char)v,
               (short)v, (unsigned short)v, (unsigned short)v);
    }
    int nl = (int)(sizeof lls / sizeof lls[0]);
    for (int i = 0; i < nl; i++) {
        long long v = lls[i];
        printf("lld[%lld] llu[%llu] llx[%llx] llo[%llo] ld[%ld] lu[%lu] jd[%jd] zu[%zu] zd[%zd] "
               "w[%25lld] -w[%-22lld|]\n",
               v, (unsigned long long)v, (unsigned long long)v, (unsigned long long)v, (long)v,
               (unsigned long)v, (intmax_t)v, (size_t)v, (ptrdiff_t)v, v, v);
    }
    printf("zero precision: [%.0d] [%.0x] [%#.0o] [%5.0d]\n", ints[0], (unsigned)ints[0],
           (unsigned)ints[0], ints[0]);

    int nd = (int)(sizeof dbls / sizeof dbls[0]);
    for (int i = 0; i < nd; i++) {
        double v = dbls[i];
        printf("f[%f] e[%e] g[%g] a[%a]\n", v, v, v, v);
        printf(".0f[%.0f] .3f[%.3f] .10e[%.10e] .17g[%.17g] .3g[%.3g] #g[%#g] #.0f[%#.0f]\n", v, v,
               v, v, v, v, v);
        printf("w[%15.4f] -w[%-15.3e|] +[%+g] sp[% f] 0w[%015.6f] E[%E] G[%G] A[%.3A]\n", v, v, v,
               v, v, v, v, v);
    }
    /* Values near the limits of %f and long outputs. */
    printf("max %%f: %f\n", dbls[19]);
    printf("min %%.330f: %.330f\n", dbls[20]);
    printf("denorm %%.20e: %.20e\n", dbls[21]);
    printf("%%.60f of 0.1: %.60f\n", dbls[8]);

    /* Infinities and NaNs, made at run time (0/0 gives x86's default NaN, which is negative). */
    double inf = 1.0 / zero, ninf = -1.0 / zero, qnan = zero / zero;
    double specials[] = {inf, ninf, qnan, -qnan, NAN, -NAN, (double)INFINITY};
    for (int i = 0; i < (int)(sizeof specials / sizeof specials[0]); i++) {
        double v = specials[i];
        printf("special %d: f[%f] e[%e] g[%g] a[%a] F[%F] w[%8.3f] -w[%-8f|] +[%+f] 0w[%08f] "
               "signbit=%d isnan=%d isinf=%d\n",
               i, v, v, v, v, v, v, v, v, v, signbit(v) != 0, isnan(v) != 0, isinf(v) != 0);
    }

    /* Floats are promoted to double. */
    volatile float fl = 1.1f, fl2 = 16777217.0f;
    printf("float: %f %.10g %a %.9g\n", fl, fl, fl, fl2);

    /* Arithmetic whose rounding shows in the last digits. */
    double acc = 0.0;
    for (int i = 1; i <= 1000; i++)
        acc += 1.0 / (double)(i * ints[1]);
    printf("harmonic(1000) = %.17g\n", acc);
    double p = 1.0;
    for (int i = 0; i < 60; i++)
        p *= 1.1 * dbls[2];
    printf("1.1^60 = %.17g %a\n", p, p);
    printf("sqrt(2) = %.17g, sqrt(-0) = %g, fabs(-0) = %g\n", sqrt(2.0 * dbls[2]), sqrt(dbls[1]),
           fabs(dbls[1]));

    /* Strings and characters. */
    printf("s[%s] 10s[%10s] -10s[%-10s|] .3s[%.3s] c[%c] 5c[%5c] pct[%%]\n", "hello", "hi", "hi",
           "truncate", 'x', 'y');
    int n = printf("count me\n");
    printf("printf returned %d\n", n);
    return 0;
}
