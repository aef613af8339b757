/* Threads: C11 atomics, pthread mutex/rwlock/condvar/barrier/spinlock, thread-local
 * storage, many threads at once, a producer/consumer pipeline, and thread churn.
 * Every result is deterministic, so native and emulated output must match exactly. */
#include <fenv.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(x) do { int e_ = (x); if (e_) { printf("%s failed: %s\n", #x, strerror(e_)); exit(1); } } while (0)

enum { T = 8, ITERS = 20000 };

static atomic_long counter;
static atomic_int cas_counter;
static long plain_locked;
static pthread_mutex_t mutex = PTHREAD_MUTEX_INITIALIZER;
static _Thread_local long tls_value = 7;
static _Thread_local char tls_name[32] = "initial";

static void *atomics(void *arg) {
    long id = (long)arg;
    for (int i = 0; i < ITERS; i++) {
        atomic_fetch_add_explicit(&counter, 1, memory_order_relaxed);
        int old = atomic_load(&cas_counter);
        while (!atomic_compare_exchange_weak(&cas_counter, &old, old + 2)) {
        }
        CHECK(pthread_mutex_lock(&mutex));
        plain_locked += id;
        CHECK(pthread_mutex_unlock(&mutex));
        tls_value += id;
    }
    snprintf(tls_name, sizeof tls_name, "thread-%ld", id);
    /* Each thread sees its own TLS: return it to be checked by main. */
    return (void *)(tls_value * 1000 + (long)strlen(tls_name));
}

static pthread_rwlock_t rw = PTHREAD_RWLOCK_INITIALIZER;
static long table[64];

static void *rw_worker(void *arg) {
    long id = (long)arg;
    long seen = 0;
    for (int i = 0; i < 2000; i++) {
        if (i % 10 == (int)id % 10) {
            CHECK(pthread_rwlock_wrlock(&rw));
            for (int j = 0; j < 64; j++) table[j]++;
            CHECK(pthread_rwlock_unlock(&rw));
        } else {
            CHECK(pthread_rwlock_rdlock(&rw));
            long first = table[0];
            for (int j = 1; j < 64; j++)
                if (table[j] != first) { printf("torn read under rwlock\n"); exit(1); }
            seen += first >= 0;
            CHECK(pthread_rwlock_unlock(&rw));
        }
    }
    return (void *)seen;
}

/* A bounded queue: producers -> consumers through a mutex and two condition variables. */
enum { QCAP = 16, ITEMS = 20000, PRODUCERS = 3, CONSUMERS = 3 };
static long queue[QCAP];
static int qhead, qlen, producers_left = PRODUCERS;
static pthread_mutex_t qm = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t not_full = PTHREAD_COND_INITIALIZER, not_empty = PTHREAD_COND_INITIALIZER;

static void *producer(void *arg) {
    long base = (long)arg * ITEMS;
    for (long i = 0; i < ITEMS; i++) {
        CHECK(pthread_mutex_lock(&qm));
        while (qlen == QCAP) CHECK(pthread_cond_wait(&not_full, &qm));
        queue[(qhead + qlen++) % QCAP] = base + i;
        CHECK(pthread_cond_signal(&not_empty));
        CHECK(pthread_mutex_unlock(&qm));
    }
    CHECK(pthread_mutex_lock(&qm));
    producers_left--;
    CHECK(pthread_cond_broadcast(&not_empty));
    CHECK(pthread_mutex_unlock(&qm));
    return NULL;
}

static void *consumer(void *arg) {
    (void)arg;
    long sum = 0, n = 0;
    for (;;) {
        CHECK(pthread_mutex_lock(&qm));
        while (qlen == 0 && producers_left > 0) CHECK(pthread_cond_wait(&not_empty, &qm));
        if (qlen == 0) { CHECK(pthread_mutex_unlock(&qm)); break; }
        long v = queue[qhead];
        qhead = (qhead + 1) % QCAP;
        qlen--;
        CHECK(pthread_cond_signal(&not_full));
        CHECK(pthread_mutex_unlock(&qm));
        sum += v;
        n++;
    }
    return (void *)(sum ^ (n << 48));
}

static pthread_barrier_t barrier;
static atomic_int phase_sum[10];

static void *barrier_worker(void *arg) {
    long id = (long)arg;
    for (int phase = 0; phase < 10; phase++) {
        atomic_fetch_add(&phase_sum[phase], (int)id + phase);
        int r = pthread_barrier_wait(&barrier);
        if (r != 0 && r != PTHREAD_BARRIER_SERIAL_THREAD) CHECK(r);
        /* After the barrier every thread's contribution to this phase is visible. */
        if (atomic_load(&phase_sum[phase]) != T * (T - 1) / 2 + T * phase) {
            printf("barrier let a thread through early\n");
            exit(1);
        }
    }
    return NULL;
}

static pthread_spinlock_t spin;
static long spin_counter;

static void *spin_worker(void *arg) {
    (void)arg;
    for (int i = 0; i < ITERS; i++) {
        CHECK(pthread_spin_lock(&spin));
        spin_counter++;
        CHECK(pthread_spin_unlock(&spin));
    }
    return NULL;
}

static atomic_int many_alive;
static void *many_worker(void *arg) {
    atomic_fetch_add(&many_alive, 1);
    return (void *)((long)arg * 3);
}

static void *churn_worker(void *arg) { return arg; }

/* SSE exception flags: a new thread starts with its creator's; each thread's are its own. */
static volatile double fp_one = 1.0, fp_three = 3.0, fp_zero = 0.0;
static void *fp_worker(void *arg) {
    int inherited = fetestexcept(FE_ALL_EXCEPT);
    feclearexcept(FE_ALL_EXCEPT);
    volatile double q = fp_one / fp_zero;
    (void)q;
    return (void *)(long)(inherited << 8 | fetestexcept(FE_ALL_EXCEPT));
}

int main(int argc, char **argv) {
    pthread_t th[64];
    void *ret;

    /* Atomics, mutex, TLS. */
    long tls_sum = 0;
    for (long i = 0; i < T; i++) CHECK(pthread_create(&th[i], NULL, atomics, (void *)(i + 1)));
    for (long i = 0; i < T; i++) {
        CHECK(pthread_join(th[i], &ret));
        tls_sum += (long)ret;
    }
    printf("atomic counter %ld (expect %d)\n", atomic_load(&counter), T * ITERS);
    printf("cas counter %d (expect %d)\n", atomic_load(&cas_counter), 2 * T * ITERS);
    printf("mutex sum %ld (expect %ld)\n", plain_locked, (long)ITERS * T * (T + 1) / 2);
    printf("tls checksum %ld; main's tls %ld %s\n", tls_sum, tls_value, tls_name);

    /* Readers-writer lock. */
    long seen = 0;
    for (long i = 0; i < T; i++) CHECK(pthread_create(&th[i], NULL, rw_worker, (void *)i));
    for (long i = 0; i < T; i++) {
        CHECK(pthread_join(th[i], &ret));
        seen += (long)ret;
    }
    printf("rwlock table %ld, reads %ld\n", table[0], seen);

    /* Producer/consumer. */
    for (long i = 0; i < PRODUCERS; i++) CHECK(pthread_create(&th[i], NULL, producer, (void *)i));
    for (long i = 0; i < CONSUMERS; i++) CHECK(pthread_create(&th[PRODUCERS + i], NULL, consumer, NULL));
    long total = 0, items = 0;
    for (long i = 0; i < PRODUCERS + CONSUMERS; i++) {
        CHECK(pthread_join(th[i], &ret));
        if (i >= PRODUCERS) {
            long v = (long)ret;
            items += (v >> 48) & 0xffff;
            total += v & ((1L << 48) - 1);
        }
    }
    long n = (long)PRODUCERS * ITEMS;
    printf("pipeline items %ld sum %ld (expect %ld %ld)\n", items, total, n, n * (n - 1) / 2);

    /* Barrier. */
    CHECK(pthread_barrier_init(&barrier, NULL, T));
    for (long i = 0; i < T; i++) CHECK(pthread_create(&th[i], NULL, barrier_worker, (void *)i));
    for (long i = 0; i < T; i++) CHECK(pthread_join(th[i], NULL));
    CHECK(pthread_barrier_destroy(&barrier));
    printf("barrier phases ok\n");

    /* Spinlock. */
    CHECK(pthread_spin_init(&spin, PTHREAD_PROCESS_PRIVATE));
    for (long i = 0; i < T; i++) CHECK(pthread_create(&th[i], NULL, spin_worker, NULL));
    for (long i = 0; i < T; i++) CHECK(pthread_join(th[i], NULL));
    printf("spin counter %ld (expect %d)\n", spin_counter, T * ITERS);

    /* 64 threads alive at once. */
    long msum = 0;
    for (long i = 0; i < 64; i++) CHECK(pthread_create(&th[i], NULL, many_worker, (void *)i));
    for (long i = 0; i < 64; i++) {
        CHECK(pthread_join(th[i], &ret));
        msum += (long)ret;
    }
    printf("64 threads: alive %d, sum %ld\n", atomic_load(&many_alive), msum);

    /* Thread churn: create and join in a loop. */
    int churn = argc > 1 ? atoi(argv[1]) : 1000;
    long csum = 0;
    for (int i = 0; i < churn; i++) {
        pthread_t t;
        CHECK(pthread_create(&t, NULL, churn_worker, (void *)(long)i));
        CHECK(pthread_join(t, &ret));
        csum += (long)ret;
    }
    printf("churn %d threads, sum %ld\n", churn, csum);

    feclearexcept(FE_ALL_EXCEPT);
    volatile double third = fp_one / fp_three;
    (void)third;
    pthread_t ft;
    CHECK(pthread_create(&ft, NULL, fp_worker, NULL));
    CHECK(pthread_join(ft, &ret));
    printf("fp flags: main %#x, child inherited %#lx, raised %#lx\n", fetestexcept(FE_ALL_EXCEPT),
           (long)ret >> 8, (long)ret & 0xff);
    return 0;
}
