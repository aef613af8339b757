/* Floating-point printf/scanf round trips for float, double and long double: random and
 * special values are printed (%g with enough digits to round-trip, %a, %e, %f) and parsed
 * back with scanf/strtod; the parsed bits must equal the originals. Prints samples and a
 * hash of all the text produced. */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t rng = 0x9e3779b97f4a7c15ULL;
static uint64_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static uint64_t hash = 0xcbf29ce484222325ULL;
static void mix(const char *s)
{
    for (; *s; s++) {
        hash ^= (unsigned char)*s;
        hash *= 0x100000001b3ULL;
    }
}

static int failures;

static void check_double(double d, int show)
{
    char buf[128];
    const char *fmts[] = {"%.17g", "%a", "%.16e", "%.3f"};
    for (int f = 0; f < 4; f++) {
        snprintf(buf, sizeof buf, fmts[f], d);
        mix(buf);
        if (show)
            printf("  double %s: %s\n", fmts[f], buf);
        if (f < 3) {
            double back;
            if (sscanf(buf, "%lf", &back) != 1 || (memcmp(&back, &d, 8) != 0 && !(isnan(d) && isnan(back)))) {
                printf("double round trip failed: %s\n", buf);
                failures++;
            }
        }
    }
}

static void check_float(float x, int show)
{
    char buf[64];
    snprintf(buf, sizeof buf, "%.9g", x);
    mix(buf);
    float back = strtof(buf, NULL);
    if (show)
        printf("  float %%.9g: %s\n", buf);
    if (memcmp(&back, &x, 4) != 0 && !(isnan(x) && isnan(back))) {
        printf("float round trip failed: %s\n", buf);
        failures++;
    }
    float s;
    snprintf(buf, sizeof buf, "%a", x);
    mix(buf);
    if (sscanf(buf, "%f", &s) != 1 || (memcmp(&s, &x, 4) != 0 && !(isnan(x) && isnan(s)))) {
        printf("float %%a round trip failed: %s\n", buf);
        failures++;
    }
}

static void check_ldouble(long double x, int show)
{
    char buf[128];
    const char *fmts[] = {"%.21Lg", "%La", "%.20Le"};
    for (int f = 0; f < 3; f++) {
        snprintf(buf, sizeof buf, fmts[f], x);
        mix(buf);
        if (show)
            printf("  long double %s: %s\n", fmts[f], buf);
        long double back;
        if (sscanf(buf, "%Lf", &back) != 1 || (memcmp(&back, &x, 10) != 0 && !(isnan(x) && isnan(back)))) {
            printf("long double round trip failed: %s\n", buf);
            failures++;
        }
    }
}

int main(void)
{
    const double specials[] = {0.0, -0.0, 1.0, 0.1, 1.0 / 3.0, DBL_MAX, DBL_MIN, DBL_TRUE_MIN,
                               -DBL_EPSILON, 1e22, 1e23, 5e-324, 2.2250738585072011e-308,
                               9007199254740993.0, INFINITY, -INFINITY};
    for (unsigned i = 0; i < sizeof specials / sizeof specials[0]; i++) {
        printf("special %u\n", i);
        check_double(specials[i], 1);
        check_float((float)specials[i], 1);
        check_ldouble((long double)specials[i], 1);
    }
    for (int i = 0; i < 1500; i++) {
        uint64_t b = next();
        double d;
        memcpy(&d, &b, 8);
        if (isnan(d))
            continue;
        check_double(d, i % 500 == 0);
        uint32_t fb = (uint32_t)next();
        float x;
        memcpy(&x, &fb, 4);
        if (!isnan(x))
            check_float(x, i % 500 == 0);
        long double l = 0;
        uint64_t m = next() | 1ULL << 63;
        uint16_t se = (uint16_t)(1 + next() % 0x7ffd) | (uint16_t)(next() & 0x8000);
        memcpy(&l, &m, 8);
        memcpy((char *)&l + 8, &se, 2);
        if (i % 4 == 0) /* printing huge exponents is slow (musl) */
            check_ldouble(l, i % 500 == 0);
    }
    /* Decimal strings to binary: correctly rounded parsing of hard cases. */
    const char *inputs[] = {"2.4703282292062327e-324", "2.4703282292062328e-324", "1.00000000000000011102230246251565404236316680908203125",
                            "0.1", "3.4028235677973366e38", "1e-46", "123456789012345678901234567890e-10", "-0x1.fffffffffffffp1023", "nan", "-inf"};
    for (unsigned i = 0; i < sizeof inputs / sizeof inputs[0]; i++) {
        double d = strtod(inputs[i], NULL);
        float f = strtof(inputs[i], NULL);
        long double l = strtold(inputs[i], NULL);
        printf("parse %s -> %a %a %La\n", inputs[i], d, (double)f, l);
    }
    printf("hash %016llx failures %d\n", (unsigned long long)hash, failures);
    return failures != 0;
}
