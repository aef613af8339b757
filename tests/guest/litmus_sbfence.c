/* Litmus test SB (store buffering) under x86-TSO with the store and the load separated by
 * `mfence`, and again with the store done by a locked instruction (`xchg`): both forbid
 * the outcome where each thread's load misses the other's store (r0 = r1 = 0). An emulator
 * on a weak-memory host must turn both into full barriers. Only the deterministic verdicts
 * are printed. Argument: rounds (default 20000). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

#define FUTEX_WAIT_PRIVATE 128
#define FUTEX_WAKE_PRIVATE 129

static struct {
    _Alignas(64) int x;
    _Alignas(64) int y;
    _Alignas(64) int r1;
    _Alignas(64) int count;
    _Alignas(64) int sense;
    int waiters;
} s;

static long rounds = 20000;

/* A sense-reversing barrier for the two threads: spin briefly, then sleep on a futex (the
 * other thread may not be running on a loaded host). A sleeper counts itself in `waiters`
 * before its last look at `sense` and out after it wakes; the last to arrive flips `sense`
 * before it looks at `waiters` (all sequentially consistent: either the sleeper sees the
 * flip or the flipper sees the sleeper). A one-bit "sleeping" flag cleared by the flipper
 * loses wakes: a flipper preempted between its flip and its clear clears the flag its
 * partner set while going to sleep in the next round, and both threads end up asleep. */
static void sync2(int *local) {
    int want = !*local;
    *local = want;
    if (__atomic_add_fetch(&s.count, 1, __ATOMIC_ACQ_REL) == 2) {
        __atomic_store_n(&s.count, 0, __ATOMIC_RELAXED);
        __atomic_store_n(&s.sense, want, __ATOMIC_SEQ_CST);
        if (__atomic_load_n(&s.waiters, __ATOMIC_SEQ_CST) != 0)
            syscall(SYS_futex, &s.sense, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
        return;
    }
    for (unsigned spins = 0; __atomic_load_n(&s.sense, __ATOMIC_ACQUIRE) != want; spins++) {
        if (spins < 500) {
            __builtin_ia32_pause();
            continue;
        }
        __atomic_add_fetch(&s.waiters, 1, __ATOMIC_SEQ_CST);
        if (__atomic_load_n(&s.sense, __ATOMIC_SEQ_CST) != want)
            syscall(SYS_futex, &s.sense, FUTEX_WAIT_PRIVATE, !want, NULL, NULL, 0);
        __atomic_sub_fetch(&s.waiters, 1, __ATOMIC_SEQ_CST);
    }
}

/* Stores 1 to *p and loads *q, with a full barrier between: round parity picks mfence or
 * a locked exchange for the store. */
static int store_fence_load(int *p, int *q, long round) {
    if (round & 1) {
        __atomic_exchange_n(p, 1, __ATOMIC_RELAXED); /* xchg: implicitly locked */
        __asm__ __volatile__("" ::: "memory");
    } else {
        __atomic_store_n(p, 1, __ATOMIC_RELAXED);
        __asm__ __volatile__("mfence" ::: "memory");
    }
    return __atomic_load_n(q, __ATOMIC_RELAXED);
}

static void *other(void *arg) {
    int local = 0;
    (void)arg;
    for (long r = 0; r < 2 * rounds; r++) {
        sync2(&local);
        s.r1 = store_fence_load(&s.y, &s.x, r);
        sync2(&local); /* main checks and resets before the next round starts */
    }
    return NULL;
}

int main(int argc, char **argv) {
    if (argc > 1)
        rounds = atol(argv[1]);
    pthread_t t;
    if (pthread_create(&t, NULL, other, NULL) != 0) {
        puts("pthread_create failed");
        return 1;
    }
    int local = 0;
    long forbidden[2] = {0, 0};
    for (long r = 0; r < 2 * rounds; r++) {
        sync2(&local);
        int r0 = store_fence_load(&s.x, &s.y, r);
        sync2(&local);
        forbidden[r & 1] += r0 == 0 && s.r1 == 0;
        s.x = s.y = 0;
        s.r1 = -1;
    }
    pthread_join(t, NULL);
    printf("sb+mfence, %ld rounds: forbidden outcome r0=0 r1=0 seen: %s\n", rounds,
           forbidden[0] ? "YES" : "no");
    printf("sb+xchg (locked store), %ld rounds: forbidden outcome r0=0 r1=0 seen: %s\n", rounds,
           forbidden[1] ? "YES" : "no");
    return forbidden[0] || forbidden[1];
}
