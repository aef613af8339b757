/* libm: double functions (results printed exactly, %a), fma, lrint/rint/nearbyint under
 * each rounding mode, float functions, and the long double functions that glibc and musl
 * implement with the x87 transcendental instructions (sinl, cosl, tanl, atanl, atan2l,
 * expl, exp2l, expm1l, logl, log2l, log10l, log1pl, powl). Long double results are printed
 * to 17 significant digits (a resolution of ~8 ulps, still beyond any double): the emulated
 * x87 transcendentals are correctly rounded, while the hardware rounds ~3% of results the
 * other way (within a few hundredths of an ulp of a halfway point), so the last of the 64
 * bits may differ -- e.g. log1pl(0.1L) and log2l(0.693147L) here (18 digits show it). */
#include <fenv.h>
#include <math.h>
#include <stdio.h>

static volatile double in[] = {0.0, -0.0, 0.5, 1.0, -1.0, 2.0, 0.1, 3.14159265358979, 10.0, -7.25,
                               1e-300, 1e300, 100.5, 1e-8, 0.7853981633974483, 700.0, -745.0,
                               5e-324, 1.5707963267948966, 123456.789};
#define N ((int)(sizeof in / sizeof in[0]))

int main(void)
{
    for (int i = 0; i < N; i++) {
        double x = in[i];
        printf("x=%a sin %a cos %a tan %a exp %a log %a\n", x, sin(x), cos(x), tan(x), exp(x),
               log(x));
        printf("     atan %a sqrt %a cbrt %a exp2 %a log2 %a log10 %a\n", atan(x), sqrt(x),
               cbrt(x), exp2(x), log2(x), log10(x));
        printf("     sinh %a tanh %a expm1 %a log1p %a erf %a lgamma %a\n", sinh(x), tanh(x),
               expm1(x), log1p(x), erf(x), lgamma(x));
        for (int j = 0; j < N; j += 3) {
            double y = in[j];
            printf("     pow(x,%a) %a atan2 %a hypot %a fmod %a fma(x,y,0.1) %a\n", y, pow(x, y),
                   atan2(x, y), hypot(x, y), fmod(x, y), fma(x, y, 0.1));
        }
        float f = (float)x;
        printf("     float: sinf %a expf %a logf %a powf %a\n", (double)sinf(f), (double)expf(f),
               (double)logf(f), (double)powf(f, 1.5f));
    }
    /* fma exactness: the product is not rounded first. */
    volatile double a = 1.0 + 0x1p-52, b = 1.0 - 0x1p-53, c = -1.0;
    printf("fma %a %a %a\n", fma(a, b, c), fma(0x1p-1000, 0x1p-100, 0x1p-1074), fma(1e308, 10.0, -1e308));

    const int modes[] = {FE_TONEAREST, FE_DOWNWARD, FE_UPWARD, FE_TOWARDZERO};
    const char *names[] = {"nearest", "down", "up", "zero"};
    volatile double r[] = {2.5, -2.5, 3.5, 0.5, -0.5, 1.4999999, 1e15 + 0.5, -7.75, 1e300};
    for (int m = 0; m < 4; m++) {
        fesetround(modes[m]);
        printf("%s:", names[m]);
        for (unsigned i = 0; i < sizeof r / sizeof r[0]; i++)
            printf(" lrint %ld llrint %lld rint %a nearbyint %a lrintf %ld |", lrint(r[i]),
                   llrint(r[i]), rint(r[i]), nearbyint(r[i]), lrintf((float)r[i]));
        printf("\n  1/3 %a sqrt2 %a exp1 %a sin1 %a fma %a (1/3L) %.21Lg lrintl %ld\n", 1.0 / in[8] * 10 / 3,
               sqrt(in[5]), exp(in[3]), sin(in[3]), fma(in[6], in[6], in[6]), 1.0L / 3, lrintl(-2.5L));
    }
    fesetround(FE_TONEAREST);

    /* Exception flags raised by SSE arithmetic and conversions. */
    volatile double one = 1.0, three = 3.0, tiny = 0x1p-1022, huge = 0x1p1023, zero = 0.0;
    volatile float f1 = 1.0f;
    volatile double sink;
    volatile float fsink;
    volatile int isink;
    struct {
        const char *what;
        int op;
    } ops[] = {{"1/3", 0}, {"1*3", 1}, {"tiny*tiny", 2}, {"huge*4", 3}, {"1/0", 4},
               {"0/0", 5}, {"sqrt(2)", 6}, {"(float)0.1", 7}, {"(int)2.5", 8}, {"tiny*(1-2^-53)", 9},
               {"1+2^-60", 10}, {"(float)tiny", 11}};
    for (unsigned i = 0; i < sizeof ops / sizeof ops[0]; i++) {
        feclearexcept(FE_ALL_EXCEPT);
        switch (ops[i].op) {
        case 0: sink = one / three; break;
        case 1: sink = one * three; break;
        case 2: sink = tiny * tiny; break;
        case 3: sink = huge * 4; break;
        case 4: sink = one / zero; break;
        case 5: sink = zero / zero; break;
        case 6: sink = sqrt(one + one); break;
        case 7: fsink = (float)(one / 10); break;
        case 8: isink = (int)(three - 0.5); break;
        case 9: sink = tiny * 0x1.fffffffffffffp-1; break;
        case 10: sink = one + 0x1p-60; break;
        case 11: fsink = (float)tiny * f1; break;
        }
        int e = fetestexcept(FE_ALL_EXCEPT);
        printf("flags %-16s inexact %d underflow %d overflow %d divbyzero %d invalid %d\n",
               ops[i].what, !!(e & FE_INEXACT), !!(e & FE_UNDERFLOW), !!(e & FE_OVERFLOW),
               !!(e & FE_DIVBYZERO), !!(e & FE_INVALID));
    }
    (void)sink, (void)fsink, (void)isink;

    volatile long double L[] = {0.5L, 1.0L, -1.0L, 2.0L, 0.1L, 3.0L, 10.0L, 1e-5L, 100.0L, -0.75L,
                                1e10L, 0.693147L, 1.5L, 2.718281828459045L, 1e-20L, 7.5L};
    for (unsigned i = 0; i < sizeof L / sizeof L[0]; i++) {
        long double x = L[i];
        printf("L=%Lg sinl %.17Lg cosl %.17Lg tanl %.17Lg atanl %.17Lg atan2l %.17Lg\n", x, sinl(x),
               cosl(x), tanl(x), atanl(x), atan2l(x, 0.3L));
        printf("     expl %.17Lg exp2l %.17Lg expm1l %.17Lg logl %.17Lg log2l %.17Lg log10l %.17Lg log1pl %.17Lg powl %.17Lg powl2 %.17Lg\n",
               expl(x), exp2l(x), expm1l(x), logl(fabsl(x)), log2l(fabsl(x)), log10l(fabsl(x)),
               log1pl(x), powl(fabsl(x), 1.7L), powl(2.5L, x));
    }
    return 0;
}
