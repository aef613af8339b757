/* Litmus test SB (store buffering) under x86-TSO, without a fence: each thread stores to one
 * location and then loads the other. x86 allows both loads to see the old values (the
 * stores wait in the store buffers), so that outcome may or may not show up, natively as
 * emulated; the program prints only that every round ended in one of the four possible
 * outcomes, nothing that varies between runs. Argument: rounds (default 20000). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

#define FUTEX_WAIT_PRIVATE 128
#define FUTEX_WAKE_PRIVATE 129
#define BARRIER() __asm__ __volatile__("" ::: "memory")

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

static void *other(void *arg) {
    int local = 0;
    (void)arg;
    for (long r = 0; r < rounds; r++) {
        sync2(&local);
        __atomic_store_n(&s.y, 1, __ATOMIC_RELAXED);
        BARRIER();
        s.r1 = __atomic_load_n(&s.x, __ATOMIC_RELAXED);
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
    long impossible = 0;
    for (long r = 0; r < rounds; r++) {
        sync2(&local);
        __atomic_store_n(&s.x, 1, __ATOMIC_RELAXED);
        BARRIER();
        int r0 = __atomic_load_n(&s.y, __ATOMIC_RELAXED);
        sync2(&local);
        impossible += (r0 != 0 && r0 != 1) || (s.r1 != 0 && s.r1 != 1);
        s.x = s.y = 0;
        s.r1 = -1;
    }
    pthread_join(t, NULL);
    printf("sb (no fence), %ld rounds: every outcome one of the four possible: %s\n", rounds,
           impossible ? "NO" : "yes");
    return impossible != 0;
}
