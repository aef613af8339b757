/* Sorting through indirect calls: libc qsort with comparator callbacks on records and on
 * strings, repeated on fresh data.  usage: qsort [thousands-of-records] [repetitions] */
#include <string.h>
#include "../bench.h"

struct rec { uint32_t key; uint32_t seq; double weight; };

static int cmp_rec(const void *a, const void *b)
{
    const struct rec *x = a, *y = b;
    if (x->key != y->key)
        return x->key < y->key ? -1 : 1;
    return (x->seq > y->seq) - (x->seq < y->seq); /* total order: one correct result */
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(int argc, char **argv)
{
    long n = arg_long(argc, argv, 1, 200) * 1000;
    long reps = arg_long(argc, argv, 2, 4);
    struct rec *r = malloc(sizeof *r * (size_t)n);
    long ns = n / 4;
    char *text = malloc((size_t)ns * 12);
    char **strs = malloc(sizeof *strs * (size_t)ns);
    uint64_t s = 99, sum = 0;
    for (long rep = 0; rep < reps; rep++) {
        for (long i = 0; i < n; i++) {
            r[i].key = (uint32_t)(xs64(&s) % (uint64_t)(n / 2 + 1)); /* duplicates */
            r[i].seq = (uint32_t)i;
            r[i].weight = (double)i;
        }
        qsort(r, (size_t)n, sizeof *r, cmp_rec);
        for (long i = 0; i < n; i++)
            sum = sum * 1000003 + r[i].key * 7 + r[i].seq;
        for (long i = 0; i < ns; i++) {
            char *p = text + i * 12;
            uint64_t v = xs64(&s);
            for (int k = 0; k < 11; k++)
                p[k] = (char)('a' + (v >> (k * 5)) % 8); /* long shared prefixes */
            p[11] = 0;
            strs[i] = p;
        }
        qsort(strs, (size_t)ns, sizeof *strs, cmp_str);
        for (long i = 0; i < ns; i++)
            sum = sum * 31 + (uint64_t)(strs[i] - text);
    }
    printf("qsort n=%ld checksum=%016llx\n", n, (unsigned long long)sum);
    return 0;
}
