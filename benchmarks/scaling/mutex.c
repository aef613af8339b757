/* Mutex-heavy: short critical sections under a few pthread mutexes (futex waits when
 * contended). Each operation adds to one of 64 counters behind one of 4 locks; the final
 * counters do not depend on the interleaving.  usage: mutex threads [thousands-of-ops] */
#include "par.h"

#define LOCKS 4
#define SLOTS 64

static long total;
static pthread_mutex_t locks[LOCKS] = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_MUTEX_INITIALIZER,
                                       PTHREAD_MUTEX_INITIALIZER, PTHREAD_MUTEX_INITIALIZER};
static uint64_t slots[SLOTS], counts[SLOTS];

static uint64_t work(int t, int n)
{
    for (long i = share_start(total, t, n); i < share_start(total, t + 1, n); i++) {
        uint64_t h = mix64((uint64_t)i);
        int s = (int)(h % SLOTS);
        pthread_mutex_lock(&locks[s % LOCKS]);
        slots[s] += h >> 32; /* additions commute: any interleaving gives the same sums */
        counts[s]++;
        pthread_mutex_unlock(&locks[s % LOCKS]);
    }
    return 0;
}

int main(int argc, char **argv)
{
    int n = arg_threads(argc, argv);
    total = arg_long(argc, argv, 2, 4000) * 1000;
    run_threads(n, work);
    uint64_t sum = 0;
    for (int s = 0; s < SLOTS; s++)
        sum = (sum * 31 + slots[s]) * 31 + counts[s];
    printf("mutex ops=%ld checksum=%016llx\n", total, (unsigned long long)sum);
    return 0;
}
