/* Memory bandwidth: each thread streams over its slice of a large array (read-modify-write
 * and a separate read pass), several passes.  usage: membw threads [megabytes] [passes] */
#include "par.h"

static uint64_t *array;
static long words, passes;

static uint64_t work(int t, int n)
{
    long lo = share_start(words, t, n), hi = share_start(words, t + 1, n);
    for (long i = lo; i < hi; i++) /* first touch by the thread that uses the slice */
        array[i] = mix64((uint64_t)i);
    uint64_t sum = 0;
    for (long p = 0; p < passes; p++) {
        for (long i = lo; i < hi; i++)
            array[i] = array[i] * 5 + (uint64_t)p;
        for (long i = lo; i < hi; i++)
            sum += array[i] ^ (uint64_t)i * 0x9E3779B97F4A7C15ULL;
    }
    return sum;
}

int main(int argc, char **argv)
{
    int n = arg_threads(argc, argv);
    words = arg_long(argc, argv, 2, 128) * (1L << 20) / 8;
    passes = arg_long(argc, argv, 3, 8);
    array = malloc((size_t)words * 8);
    if (!array) {
        perror("malloc");
        return 3;
    }
    printf("membw words=%ld passes=%ld checksum=%016llx\n", words, passes,
           (unsigned long long)run_threads(n, work));
    return 0;
}
