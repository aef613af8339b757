/* String and memory functions on many lengths and alignments (so the SSE2 code paths of the
 * C library run, including the unaligned heads and tails and reads near the end of a page),
 * checked against simple byte-at-a-time reference versions. Comparison results are reduced
 * to their sign: the magnitude depends on which implementation the library picked for the
 * CPU it sees. Each function prints its error count and a hash of its results. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define BUF 4096
static unsigned char bufa[BUF + 256] __attribute__((aligned(64)));
static unsigned char bufb[BUF + 256] __attribute__((aligned(64)));
static unsigned char bufc[BUF + 256] __attribute__((aligned(64)));

static uint64_t h;
static int errors;
static void start(void) { h = 0xcbf29ce484222325ULL; errors = 0; }
static void mix(uint64_t v) { h ^= v; h *= 0x100000001b3ULL; h ^= h >> 29; }
static void done(const char *what) { printf("%-10s errors=%d hash=%016llx\n", what, errors, (unsigned long long)h); }
static int sign(int v) { return (v > 0) - (v < 0); }
static void check(int ok) { if (!ok) errors++; }

static uint32_t rng = 12345;
static uint32_t next(void) { rng = rng * 1103515245u + 12345u; return rng >> 8; }

/* Fill p[0..len) with nonzero bytes and terminate it. */
static void make_str(unsigned char *p, size_t len, unsigned seed)
{
    for (size_t i = 0; i < len; i++)
        p[i] = (unsigned char)('a' + (i * 7 + seed) % 26);
    p[len] = 0;
}

static size_t ref_strlen(const unsigned char *s) { size_t n = 0; while (s[n]) n++; return n; }
static int ref_cmp(const unsigned char *a, const unsigned char *b, size_t n, int stop_at_nul)
{
    for (size_t i = 0; i < n; i++) {
        if (a[i] != b[i]) return a[i] < b[i] ? -1 : 1;
        if (stop_at_nul && !a[i]) return 0;
    }
    return 0;
}
static long ref_strchr(const unsigned char *s, int c)
{
    for (size_t i = 0;; i++) {
        if (s[i] == (unsigned char)c) return (long)i;
        if (!s[i]) return -1;
    }
}
static long ref_strrchr(const unsigned char *s, int c)
{
    long r = -1;
    for (size_t i = 0;; i++) {
        if (s[i] == (unsigned char)c) r = (long)i;
        if (!s[i]) return r;
    }
}
static long off(const void *p, const void *base) { return p ? (long)((const char *)p - (const char *)base) : -1; }

static void test_strlen(void)
{
    start();
    for (size_t al = 0; al < 64; al++)
        for (size_t len = 0; len < 300; len++) {
            make_str(bufa + al, len, (unsigned)al);
            memset(bufa + al + len + 1, 'x', 64); /* junk after the terminator */
            size_t n = strlen((char *)bufa + al);
            check(n == len && n == ref_strlen(bufa + al));
            mix(n);
            check(strnlen((char *)bufa + al, len / 2) == len / 2);
        }
    done("strlen");
}

static void test_strcmp(void)
{
    start();
    for (size_t al = 0; al < 32; al++)
        for (size_t bl = 0; bl < 32; bl += 3)
            for (size_t len = 0; len < 130; len++)
                for (int kind = 0; kind < 4; kind++) {
                    unsigned char *a = bufa + al, *b = bufb + bl;
                    make_str(a, len, 1);
                    make_str(b, len, 1);
                    size_t pos = len ? (len * 5 + kind) % len : 0;
                    if (kind == 1 && len) b[pos] = (unsigned char)(a[pos] + 1);
                    if (kind == 2 && len) b[pos] = 0xe9; /* high bit: unsigned comparison */
                    if (kind == 3 && len) b[pos] = 0;    /* b is a prefix of a */
                    int r = sign(strcmp((char *)a, (char *)b));
                    check(r == ref_cmp(a, b, len + 1, 1));
                    mix((uint64_t)(r + 1));
                    size_t n = pos + (size_t)kind;
                    int rn = sign(strncmp((char *)a, (char *)b, n));
                    check(rn == ref_cmp(a, b, n < len + 1 ? n : len + 1, 1));
                    mix((uint64_t)(rn + 1));
                    int rm = sign(memcmp(a, b, len));
                    check(rm == ref_cmp(a, b, len, 0));
                    mix((uint64_t)(rm + 1));
                }
    done("strcmp");
}

static void test_strchr(void)
{
    start();
    for (size_t al = 0; al < 48; al++)
        for (size_t len = 0; len < 200; len++) {
            unsigned char *s = bufa + al;
            make_str(s, len, 3);
            int cs[] = {'a', 'q', 'z', 0, '#', 0xe9};
            for (int k = 0; k < 6; k++) {
                long r1 = off(strchr((char *)s, cs[k]), s);
                long r2 = off(strrchr((char *)s, cs[k]), s);
                long r3 = off(memchr(s, cs[k], len), s);
                check(r1 == ref_strchr(s, cs[k]));
                check(r2 == ref_strrchr(s, cs[k]));
                long e3 = ref_strchr(s, cs[k]);
                check(r3 == (e3 >= 0 && (size_t)e3 < len ? e3 : -1));
                mix((uint64_t)r1);
                mix((uint64_t)r2);
                mix((uint64_t)r3);
            }
        }
    done("strchr");
}

static void test_strstr(void)
{
    start();
    for (int t = 0; t < 400; t++) {
        size_t hl = next() % 300, nl = 1 + next() % 12;
        char hay[320], needle[16];
        for (size_t i = 0; i < hl; i++) hay[i] = "ab"[next() % 2 ? 0 : 1] + (next() % 16 == 0);
        hay[hl] = 0;
        for (size_t i = 0; i < nl; i++) needle[i] = "ab"[next() % 3 ? 0 : 1];
        needle[nl] = 0;
        long got = off(strstr(hay, needle), hay), want = -1;
        for (size_t i = 0; i + nl <= hl && want < 0; i++)
            if (memcmp(hay + i, needle, nl) == 0) want = (long)i;
        check(got == want);
        mix((uint64_t)got);
    }
    done("strstr");
}

static void test_memcpy(void)
{
    start();
    for (size_t sa = 0; sa < 16; sa++)
        for (size_t da = 0; da < 16; da += 5)
            for (size_t len = 0; len < 700; len = len < 80 ? len + 1 : len * 5 / 4) {
                for (size_t i = 0; i < len + 64; i++) bufa[i] = (unsigned char)(i * 13 + len);
                memset(bufb, 0xcc, len + 64);
                memcpy(bufb + da, bufa + sa, len);
                for (size_t i = 0; i < len + 64; i++) {
                    unsigned char want = i >= da && i < da + len ? bufa[sa + i - da] : 0xcc;
                    check(bufb[i] == want);
                }
                mix(bufb[da + len / 2]);
            }
    /* A large copy (more than the cache-size thresholds of some implementations). */
    size_t big = 3 << 20;
    unsigned char *p = malloc(big), *q = malloc(big);
    for (size_t i = 0; i < big; i++) p[i] = (unsigned char)(i ^ (i >> 9));
    memcpy(q, p, big);
    check(memcmp(p, q, big) == 0);
    mix(q[big - 1]);
    free(p);
    free(q);
    done("memcpy");
}

static void test_memmove(void)
{
    start();
    size_t lens[] = {0, 1, 2, 3, 7, 8, 15, 16, 17, 31, 32, 33, 63, 64, 65, 100, 127, 128, 129, 255, 256, 257, 500, 1000};
    for (size_t li = 0; li < sizeof lens / sizeof lens[0]; li++)
        for (int delta = -70; delta <= 70; delta++) {
            size_t len = lens[li], base = 1200;
            for (size_t i = 0; i < BUF; i++) bufa[i] = bufc[i] = (unsigned char)(i * 31 + 7);
            memmove(bufa + base + delta, bufa + base, len);
            /* Reference: through a separate buffer. */
            memcpy(bufb, bufc + base, len);
            for (size_t i = 0; i < len; i++) bufc[base + delta + i] = bufb[i];
            check(memcmp(bufa, bufc, BUF) == 0);
            mix(bufa[base + delta + len / 2]);
        }
    done("memmove");
}

static void test_memset(void)
{
    start();
    int vals[] = {0, 0x5a, 0xff, 0x180};
    for (size_t al = 0; al < 32; al++)
        for (size_t len = 0; len < 600; len = len < 100 ? len + 1 : len + 37)
            for (int v = 0; v < 4; v++) {
                memset(bufa, 0x11, len + 96);
                memset(bufa + al, vals[v], len);
                for (size_t i = 0; i < len + 96; i++)
                    check(bufa[i] == (i >= al && i < al + len ? (unsigned char)vals[v] : 0x11));
                mix(bufa[al + len / 3]);
            }
    done("memset");
}

/* Strings that end exactly at the end of a page whose successor is inaccessible: vectorised
 * code reads aligned blocks and must not fault. */
static void test_page_end(void)
{
    start();
    long pg = sysconf(_SC_PAGESIZE);
    unsigned char *m = mmap(NULL, (size_t)pg * 2, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED || mprotect(m + pg, (size_t)pg, PROT_NONE) != 0) {
        printf("page_end: mmap/mprotect failed\n");
        return;
    }
    unsigned char *end = m + pg;
    char copy[200];
    for (size_t len = 0; len < 150; len++) {
        unsigned char *s = end - len - 1;
        make_str(s, len, 5);
        check(strlen((char *)s) == len);
        check(off(strchr((char *)s, '#'), s) == -1);
        check(off(strrchr((char *)s, s[0]), s) == ref_strrchr(s, s[0]));
        check(off(memchr(s, '#', len + 1), s) == -1);
        strcpy(copy, (char *)s);
        check(strcmp(copy, (char *)s) == 0);
        check(strncmp((char *)s, copy, 1000) == 0);
        check(memcmp(s, copy, len + 1) == 0);
        memcpy(copy, s, len + 1);
        memmove(s, copy, len + 1);
        check(strcmp(copy, (char *)s) == 0);
        mix(strlen((char *)s));
        /* Fill the page tail exactly. */
        memset(end - len, 0x41, len);
    }
    munmap(m, (size_t)pg * 2);
    done("page_end");
}

static void test_strtol(void)
{
    const char *in[] = {"0", "42", "-42", "  +17xyz", "0x1f", "0X1F", "0777", "-0x80000000", "z",
                        "9223372036854775807", "9223372036854775808", "-9223372036854775808",
                        "-9223372036854775809", "18446744073709551615", "18446744073709551616",
                        "1010", "zz", "", "   ", "-", "0x", "12e3"};
    int bases[] = {0, 2, 8, 10, 16, 36};
    for (size_t i = 0; i < sizeof in / sizeof in[0]; i++)
        for (size_t b = 0; b < sizeof bases / sizeof bases[0]; b++) {
            char *endp;
            errno = 0;
            long v = strtol(in[i], &endp, bases[b]);
            int e1 = errno == ERANGE;
            errno = 0;
            unsigned long long u = strtoull(in[i], NULL, bases[b]);
            int e2 = errno == ERANGE;
            printf("strtol(\"%s\", %d) = %ld end+%ld erange=%d; strtoull = %llu erange=%d\n", in[i],
                   bases[b], v, (long)(endp - in[i]), e1, u, e2);
        }
    printf("atoi(\" -123abc\") = %d, atol(\"99999999999\") = %ld\n", atoi(" -123abc"), atol("99999999999"));
}

static void test_strtod(void)
{
    const char *in[] = {"0", "-0", "1", "0.1", "1e308", "1e309", "-1e309", "4.9e-324", "2e-324",
                        "1e-400", "0x1.8p3", "0x.8p-1", "inf", "-Infinity", "nan", "NAN(123)",
                        "3.14159265358979323846264338327950288", "  +.5e-3xyz", ".", "e5", "1e",
                        "1.7976931348623157e308", "2.2250738585072011e-308", "123456789012345678901234567890",
                        "0.30000000000000004", "9007199254740993"};
    for (size_t i = 0; i < sizeof in / sizeof in[0]; i++) {
        char *endp;
        errno = 0;
        double v = strtod(in[i], &endp);
        int e = errno == ERANGE;
        float f = strtof(in[i], NULL);
        printf("strtod(\"%s\") = %.17g %a end+%ld erange=%d; strtof = %.9g\n", in[i], v, v,
               (long)(endp - in[i]), e, (double)f);
    }
    printf("atof(\"2.5e1\") = %g\n", atof("2.5e1"));
}

static void test_sprintf(void)
{
    char buf[64];
    for (size_t n = 0; n < 30; n += 3) {
        memset(buf, '#', sizeof buf);
        int r = snprintf(buf, n, "%s-%d-%.3f-%x", "abc", -12345, 2.71828, 0xbeefu);
        buf[sizeof buf - 1] = 0;
        printf("snprintf(n=%zu) = %d buf=[%.40s]\n", n, r, n ? buf : "(untouched)");
    }
    int r = sprintf(buf, "%5s|%-5s|%05d|%+.2e", "ab", "cd", 42, -1234.5);
    printf("sprintf = %d [%s]\n", r, buf);
    char big[2000];
    r = snprintf(big, sizeof big, "%0500d%-500s|%.500s", 7, "x", "y");
    printf("long snprintf = %d strlen = %zu tail=[%s]\n", r, strlen(big), big + 995);
    /* strcpy/strcat/strncpy/strdup and friends. */
    char s[100];
    strcpy(s, "hello");
    strcat(s, ", ");
    strncat(s, "world!", 20);
    printf("strcat: [%s] len=%zu\n", s, strlen(s));
    char t[12];
    memset(t, 'Z', sizeof t);
    strncpy(t, "abc", sizeof t);
    printf("strncpy pads: %d %d %d\n", t[3] == 0, t[11] == 0, t[2] == 'c');
    char *d = strdup(s);
    printf("strdup: [%s] same=%d\n", d, strcmp(d, s) == 0);
    free(d);
    printf("strspn=%zu strcspn=%zu strpbrk=%ld\n", strspn("aabbcdd", "ab"), strcspn("hello world", " "),
           off(strpbrk("hello world", "ow"), "hello world"));
    char tok[] = "a,b,,c;d";
    int count = 0;
    for (char *p = strtok(tok, ",;"); p; p = strtok(NULL, ",;")) {
        count++;
        printf("%stoken[%d]=%s", count > 1 ? " " : "", count, p);
    }
    printf("\n");
}

int main(void)
{
    test_strlen();
    test_strcmp();
    test_strchr();
    test_strstr();
    test_memcpy();
    test_memmove();
    test_memset();
    test_page_end();
    test_strtol();
    test_strtod();
    test_sprintf();
    return 0;
}
