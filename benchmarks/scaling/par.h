/* Shared scaffolding of the thread-scaling workloads: `prog threads [size]`.
 * The total work is fixed (strong scaling); thread t of n takes its share, and results are
 * combined with commutative operations so the checksum does not depend on the thread count.
 * Thread 0 runs on the main thread, so a one-thread run never creates a thread. */
#ifndef PAR_H
#define PAR_H

#include <pthread.h>
#include "../bench.h"

#define MAX_THREADS 256

/* The worker of a workload: computes thread `t` of `n`'s share and returns its partial sum. */
typedef uint64_t (*worker_fn)(int t, int n);

struct job { worker_fn fn; int t, n; uint64_t result; };

static void *job_main(void *p)
{
    struct job *j = p;
    j->result = j->fn(j->t, j->n);
    return NULL;
}

/* Runs `fn` on `n` threads and returns the sum of their results. */
static uint64_t run_threads(int n, worker_fn fn)
{
    static struct job jobs[MAX_THREADS];
    static pthread_t tids[MAX_THREADS];
    for (int t = 0; t < n; t++)
        jobs[t] = (struct job){fn, t, n, 0};
    for (int t = 1; t < n; t++)
        if (pthread_create(&tids[t], NULL, job_main, &jobs[t])) {
            perror("pthread_create");
            exit(3);
        }
    job_main(&jobs[0]);
    uint64_t sum = jobs[0].result;
    for (int t = 1; t < n; t++) {
        pthread_join(tids[t], NULL);
        sum += jobs[t].result;
    }
    return sum;
}

/* Start of thread t's share of [0, total) among n threads. */
static inline long share_start(long total, int t, int n) { return (long)((__int128)total * t / n); }

/* The thread count argument (argv[1]), checked. */
static inline int arg_threads(int argc, char **argv)
{
    long n = arg_long(argc, argv, 1, 1);
    if (n > MAX_THREADS) {
        fprintf(stderr, "%s: at most %d threads\n", argv[0], MAX_THREADS);
        exit(2);
    }
    return (int)n;
}

#endif
