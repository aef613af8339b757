/* Built with -ffast-math, whose startup code (crtfastmath.o) sets MXCSR.FTZ and DAZ:
 * denormal inputs read as zero and tiny results flush to zero. Prints MXCSR and results
 * on and around the denormal range, scalar and packed, float and double, and the MXCSR
 * flags each operation raises. */
// emu-cflags: -O2 -ffast-math
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <xmmintrin.h>
#include <emmintrin.h>

static unsigned flags_of(void (*f)(void)) {
    _mm_setcsr(_mm_getcsr() & ~0x3fu);
    f();
    return _mm_getcsr() & 0x3f;
}

static volatile float fden = 1e-40f, fsmall = 1e-30f, fbig = 3e38f;
static volatile double dden = 1e-310, dsmall = 1e-200, dbig = 1e300;
static float fr[4];
static double dr[2];

static void f_mul(void) { fr[0] = fsmall * fsmall; }
static void f_add_den(void) { fr[0] = fden + fden; }
static void f_div(void) { fr[0] = fsmall / fbig; }
static void f_cmp(void) { fr[0] = fden == 0.0f ? 1.0f : 2.0f; }
static void f_cvt(void) { dr[0] = (double)fden; }
static void d_mul(void) { dr[0] = dsmall * dsmall; }
static void d_add_den(void) { dr[0] = dden + dden * 0.5; }
static void d_narrow(void) { fr[0] = (float)dsmall; }
static void d_sqrt(void) {
    __m128d v = _mm_set_sd(dden);
    dr[0] = _mm_cvtsd_f64(_mm_sqrt_sd(v, v));
}
static void p_mul(void) {
    __m128 a = _mm_set_ps(fden, fsmall, 1.0f, -fsmall);
    _mm_storeu_ps(fr, _mm_mul_ps(a, _mm_set1_ps(fsmall)));
}
static void p_min(void) {
    __m128 a = _mm_set_ps(fden, -fden, 1.0f, 0.0f);
    _mm_storeu_ps(fr, _mm_min_ps(a, _mm_set1_ps(0.0f)));
}
static void p_cvt(void) {
    __m128d a = _mm_set_pd(dden, -dsmall);
    __m128 r = _mm_cvtpd_ps(a);
    _mm_storeu_ps(fr, r);
}
static void i_cvt(void) { fr[0] = (float)_mm_cvtss_si32(_mm_set_ss(fden)); }

static const struct {
    const char *name;
    void (*f)(void);
} ops[] = {
    {"f_mul", f_mul}, {"f_add_den", f_add_den}, {"f_div", f_div}, {"f_cmp", f_cmp},
    {"f_cvt", f_cvt}, {"d_mul", d_mul},         {"d_add_den", d_add_den},
    {"d_narrow", d_narrow}, {"d_sqrt", d_sqrt}, {"p_mul", p_mul}, {"p_min", p_min},
    {"p_cvt", p_cvt}, {"i_cvt", i_cvt},
};

int main(void) {
    unsigned startup = _mm_getcsr();
    printf("mxcsr at startup %#x (FTZ %u DAZ %u)\n", startup, startup >> 15 & 1,
           startup >> 6 & 1);
    for (int mode = 0; mode < 4; mode++) {
        /* FTZ and DAZ in every combination. */
        _mm_setcsr((startup & ~0x8040u) | (mode & 1 ? 0x8000 : 0) | (mode & 2 ? 0x40 : 0));
        for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
            memset(fr, 0, sizeof fr);
            memset(dr, 0, sizeof dr);
            unsigned fl = flags_of(ops[i].f);
            uint32_t fb[4];
            uint64_t db[2];
            memcpy(fb, fr, sizeof fb);
            memcpy(db, dr, sizeof db);
            printf("ftz %d daz %d %-10s flags %02x  %08x %08x %08x %08x  %016llx %016llx\n",
                   mode & 1, mode >> 1, ops[i].name, fl, fb[0], fb[1], fb[2], fb[3],
                   (unsigned long long)db[0], (unsigned long long)db[1]);
        }
    }
    _mm_setcsr(startup);
    volatile float x = 1e-20f;
    printf("startup mode: %a %a\n", (double)(x * x), (double)(fden * 2.0f));
    return 0;
}
