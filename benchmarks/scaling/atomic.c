/* A contended atomic counter: every thread increments one shared counter with a locked
 * fetch-and-add. The sum of all fetched values is 0 + 1 + ... + (total - 1) whatever the
 * interleaving, so the checksum also proves the increments were atomic.
 * usage: atomic threads [millions-of-increments] */
#include "par.h"

static long total;
static uint64_t counter;

static uint64_t work(int t, int n)
{
    uint64_t sum = 0;
    for (long i = share_start(total, t, n); i < share_start(total, t + 1, n); i++)
        sum += __atomic_fetch_add(&counter, 1, __ATOMIC_SEQ_CST);
    return sum;
}

int main(int argc, char **argv)
{
    int n = arg_threads(argc, argv);
    total = arg_long(argc, argv, 2, 20) * 1000000;
    uint64_t sum = run_threads(n, work);
    uint64_t expect = (uint64_t)total * (uint64_t)(total - 1) / 2;
    printf("atomic increments=%ld counter=%llu sum=%llu %s\n", total,
           (unsigned long long)counter, (unsigned long long)sum, sum == expect ? "ok" : "WRONG");
    return sum == expect ? 0 : 1;
}
