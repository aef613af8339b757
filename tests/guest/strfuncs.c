/* The SIMD string and memory functions (glibc picks SSE2/SSSE3/SSE4.2 variants by CPUID,
 * musl uses plain C) on strings at every alignment, ending right before an unmapped page
 * (vector loads must not cross into it) and crossing page boundaries. Prints a hash of all
 * results and a few samples. */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <unistd.h>

static uint64_t hash = 0xcbf29ce484222325ULL;
static void mix(uint64_t v)
{
    for (int i = 0; i < 8; i++) {
        hash ^= (v >> (8 * i)) & 0xff;
        hash *= 0x100000001b3ULL;
    }
}

static uint64_t rng = 12345;
static uint32_t next(void)
{
    rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
    return (uint32_t)(rng >> 33);
}

/* Offsets of results relative to their buffer (pointers differ between runs). */
static int64_t rel(const void *p, const void *base)
{
    return p ? (const char *)p - (const char *)base : -1;
}

static int sign(int v)
{
    return (v > 0) - (v < 0);
}

int main(void)
{
    long pg = sysconf(_SC_PAGESIZE);
    /* Two readable pages followed by a PROT_NONE guard page. */
    char *map = mmap(NULL, 3 * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (map == MAP_FAILED || mprotect(map + 2 * pg, pg, PROT_NONE) != 0) {
        perror("mmap");
        return 1;
    }
    char *end = map + 2 * pg; /* first unreadable byte */
    char *other = malloc(4096);
    const char alphabet[] = "abcdefghAB-_ \t0123";
    int samples = 0;
    for (int round = 0; round < 3000; round++) {
        int len = next() % 80;
        /* Place the string so that it ends near the guard page, or across the page
         * boundary in the middle, at every alignment. */
        char *s = (round % 3 == 0) ? end - len - 1 - (int)(next() % 3)
                                   : map + pg - (int)(next() % 64) + (int)(next() % 8);
        for (int i = 0; i < len; i++)
            s[i] = alphabet[next() % (sizeof alphabet - 1)];
        s[len] = 0;
        char *t = other + (next() % 64);
        memcpy(t, s, len + 1);
        if (len && next() % 2)
            t[next() % len] ^= (char)(1 + next() % 3);
        int c = alphabet[next() % (sizeof alphabet - 1)];
        char needle[8];
        int nl = 1 + next() % 3;
        for (int i = 0; i < nl; i++)
            needle[i] = alphabet[next() % 6];
        needle[nl] = 0;
        size_t n = next() % (len + 2);

        mix(strlen(s));
        mix(strnlen(s, n));
        mix(rel(strchr(s, c), s));
        mix(rel(strrchr(s, c), s));
        mix(rel(memchr(s, c, len), s));
        mix(rel(memrchr(s, c, len), s));
        mix(rel(memchr(s, 0, len + 1), s));
        mix(rel(strchrnul(s, c), s));
        mix(sign(strcmp(s, t)));
        mix(sign(strncmp(s, t, n)));
        mix(sign(memcmp(s, t, len)));
        mix(sign(strcasecmp(s, t)));
        mix(sign(strncasecmp(s, t, n)));
        mix(rel(strstr(s, needle), s));
        mix(rel(strcasestr(s, needle), s));
        mix(rel(memmem(s, len, needle, nl), s));
        mix(strspn(s, "abcd"));
        mix(strcspn(s, " \t-"));
        mix(rel(strpbrk(s, "0123"), s));
        char *d = other + 2048 + (next() % 64);
        strcpy(d, s);
        mix(strcmp(d, s) == 0);
        memset(d, c, n);
        memmove(d + 1, d, len);
        mix(d[len / 2]);
        mix(rel(stpcpy(d, s), d));
        strcat(d, "xyz");
        mix(strlen(d));
        if (samples < 5 && len > 20) {
            samples++;
            printf("s=\"%s\" len %zu strchr('%c') %ld strstr(\"%s\") %ld strcmp %d\n", s, strlen(s), c,
                   (long)rel(strchr(s, c), s), needle, (long)rel(strstr(s, needle), s),
                   sign(strcmp(s, t)));
        }
    }
    printf("hash %016llx\n", (unsigned long long)hash);
    return 0;
}
