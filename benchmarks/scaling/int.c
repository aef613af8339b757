/* Independent integer work: Collatz trajectory lengths of a fixed range of starting values,
 * split among the threads.  usage: int threads [thousands-of-values] */
#include "par.h"

static long total;

static uint64_t work(int t, int n)
{
    uint64_t sum = 0;
    for (long i = share_start(total, t, n); i < share_start(total, t + 1, n); i++) {
        uint64_t x = (uint64_t)i + 1, steps = 0;
        while (x != 1) {
            x = x & 1 ? 3 * x + 1 : x >> 1;
            steps++;
        }
        sum += mix64(steps ^ (uint64_t)i);
    }
    return sum;
}

int main(int argc, char **argv)
{
    int n = arg_threads(argc, argv);
    total = arg_long(argc, argv, 2, 2000) * 1000;
    printf("int values=%ld checksum=%016llx\n", total, (unsigned long long)run_threads(n, work));
    return 0;
}
