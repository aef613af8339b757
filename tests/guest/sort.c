/* qsort and bsearch with comparators, on ints (with duplicates), strings and structs. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint32_t rng = 2024;
static uint32_t next(void) { rng = rng * 1664525u + 1013904223u; return rng >> 4; }

static int cmp_int(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}
static int cmp_int_desc(const void *a, const void *b) { return cmp_int(b, a); }
static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

struct rec { int key; int seq; };
static int cmp_rec(const void *a, const void *b)
{
    const struct rec *x = a, *y = b;
    if (x->key != y->key) return x->key < y->key ? -1 : 1;
    return (x->seq > y->seq) - (x->seq < y->seq); /* total order: the result is unique */
}

int main(void)
{
    /* Integers: several sizes, many duplicates and negative values. */
    int sizes[] = {0, 1, 2, 3, 10, 100, 1000, 20000};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        int n = sizes[s];
        int *a = malloc(sizeof(int) * (size_t)(n + 1));
        for (int i = 0; i < n; i++)
            a[i] = (int)(next() % 2001) - 1000;
        qsort(a, (size_t)n, sizeof(int), cmp_int);
        int sorted = 1;
        uint64_t sum = 0;
        for (int i = 0; i < n; i++) {
            if (i && a[i - 1] > a[i]) sorted = 0;
            sum = sum * 31 + (uint64_t)(int64_t)a[i];
        }
        printf("ints n=%d sorted=%d hash=%016llx", n, sorted, (unsigned long long)sum);
        if (n)
            printf(" min=%d median=%d max=%d", a[0], a[n / 2], a[n - 1]);
        printf("\n");
        /* bsearch for every value in a range: with duplicates only presence is deterministic
         * across implementations, so print the value found, not its index. */
        int found = 0, missing = 0;
        uint64_t fh = 0;
        for (int key = -1005; key <= 1005; key += 7) {
            int *p = bsearch(&key, a, (size_t)n, sizeof(int), cmp_int);
            if (p) {
                found++;
                fh = fh * 131 + (uint64_t)(int64_t)*p;
                if (*p != key) printf("bsearch returned the wrong element\n");
            } else {
                missing++;
            }
        }
        printf("  bsearch found=%d missing=%d hash=%016llx\n", found, missing, (unsigned long long)fh);
        qsort(a, (size_t)n, sizeof(int), cmp_int_desc);
        if (n)
            printf("  descending first=%d last=%d\n", a[0], a[n - 1]);
        free(a);
    }

    /* Already sorted, reversed and constant inputs. */
    int patt[500];
    for (int k = 0; k < 3; k++) {
        for (int i = 0; i < 500; i++)
            patt[i] = k == 0 ? i : k == 1 ? 500 - i : 42;
        qsort(patt, 500, sizeof(int), cmp_int);
        int ok = 1;
        for (int i = 1; i < 500; i++)
            if (patt[i - 1] > patt[i]) ok = 0;
        printf("pattern %d sorted=%d first=%d last=%d\n", k, ok, patt[0], patt[499]);
    }

    /* Strings. */
    enum { NS = 300 };
    char *words[NS];
    for (int i = 0; i < NS; i++) {
        int len = 1 + (int)(next() % 8);
        words[i] = malloc((size_t)len + 1);
        for (int j = 0; j < len; j++)
            words[i][j] = (char)('a' + next() % 6);
        words[i][len] = 0;
    }
    qsort(words, NS, sizeof(char *), cmp_str);
    for (int i = 0; i < NS; i += 23)
        printf("word[%d]=%s\n", i, words[i]);
    const char *keys[] = {"a", "abc", "fff", "zzz", "", "cab", "ffffffff"};
    for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
        char **p = bsearch(&keys[k], words, NS, sizeof(char *), cmp_str);
        printf("bsearch(\"%s\"): %s\n", keys[k], p ? *p : "not found");
    }
    for (int i = 0; i < NS; i++)
        free(words[i]);

    /* Structs of 8 bytes with a total order. */
    enum { NR = 5000 };
    struct rec *r = malloc(sizeof *r * NR);
    for (int i = 0; i < NR; i++) {
        r[i].key = (int)(next() % 100);
        r[i].seq = i;
    }
    qsort(r, NR, sizeof *r, cmp_rec);
    uint64_t rh = 0;
    for (int i = 0; i < NR; i++)
        rh = rh * 1000003 + (uint64_t)(r[i].key * NR + r[i].seq);
    printf("records hash=%016llx first=(%d,%d) last=(%d,%d)\n", (unsigned long long)rh, r[0].key,
           r[0].seq, r[NR - 1].key, r[NR - 1].seq);
    free(r);
    return 0;
}
