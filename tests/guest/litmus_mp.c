/* Litmus test MP (message passing) under x86-TSO: one thread writes data then a flag; the
 * other waits for the flag, then reads data. x86 never lets the reader see the flag without
 * the data; an emulator on a weak-memory host (aarch64, riscv64) must insert the barriers
 * that keep it so. Also run with the reader's two loads in the other order with no wait
 * (MP without spinning), where the forbidden outcome is flag=1, data=0.
 * Only the deterministic verdicts are printed. Argument: rounds (default 20000). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

#define FUTEX_WAIT_PRIVATE 128
#define FUTEX_WAKE_PRIVATE 129
#define BARRIER() __asm__ __volatile__("" ::: "memory")

static struct {
    _Alignas(64) int data;
    _Alignas(64) int flag;
    _Alignas(64) int count;
    _Alignas(64) int sense;
    int waiters;
} s;

static long rounds = 20000;
static long forbidden_spin, forbidden_plain;

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

static void *writer(void *arg) {
    int local = 0;
    (void)arg;
    for (long r = 0; r < 2 * rounds; r++) {
        sync2(&local);
        __atomic_store_n(&s.data, 1, __ATOMIC_RELAXED);
        BARRIER();
        __atomic_store_n(&s.flag, 1, __ATOMIC_RELAXED);
        sync2(&local); /* the reader checks and resets before the next round starts */
    }
    return NULL;
}

int main(int argc, char **argv) {
    if (argc > 1)
        rounds = atol(argv[1]);
    pthread_t t;
    if (pthread_create(&t, NULL, writer, NULL) != 0) {
        puts("pthread_create failed");
        return 1;
    }
    int local = 0;
    for (long r = 0; r < 2 * rounds; r++) {
        sync2(&local);
        if (r & 1) {
            /* Plain MP: read the flag, then the data. */
            int f = __atomic_load_n(&s.flag, __ATOMIC_RELAXED);
            BARRIER();
            int d = __atomic_load_n(&s.data, __ATOMIC_RELAXED);
            forbidden_plain += f == 1 && d == 0;
        } else {
            /* MP with a wait: once the flag is seen, the data must be too. */
            while (__atomic_load_n(&s.flag, __ATOMIC_RELAXED) == 0)
                __builtin_ia32_pause();
            BARRIER();
            forbidden_spin += __atomic_load_n(&s.data, __ATOMIC_RELAXED) == 0;
        }
        sync2(&local);
        s.data = 0;
        s.flag = 0;
    }
    pthread_join(t, NULL);
    printf("mp (reader waits for the flag), %ld rounds: forbidden outcome data=0 seen: %s\n",
           rounds, forbidden_spin ? "YES" : "no");
    printf("mp (flag then data), %ld rounds: forbidden outcome flag=1 data=0 seen: %s\n", rounds,
           forbidden_plain ? "YES" : "no");
    return forbidden_spin || forbidden_plain;
}
