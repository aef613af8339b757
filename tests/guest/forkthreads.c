/* fork() from a multithreaded program: the child has one thread, can create its own
 * threads, and the parent's threads keep running. vfork() (what posix_spawn uses) suspends
 * only the calling thread: the others run while the child lives. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static atomic_int stop;
static atomic_long spins;

static void *spinner(void *arg) {
    (void)arg;
    while (!atomic_load(&stop)) atomic_fetch_add(&spins, 1);
    return NULL;
}

static void *child_thread(void *arg) { return (void *)((long)arg + 1); }

int main(void) {
    pthread_t t[3];
    for (int i = 0; i < 3; i++) pthread_create(&t[i], NULL, spinner, NULL);
    for (int round = 0; round < 5; round++) {
        fflush(stdout);
        pid_t pid = fork();
        if (pid == 0) {
            pthread_t c;
            void *r;
            pthread_create(&c, NULL, child_thread, (void *)(long)round);
            pthread_join(c, &r);
            printf("child %d: thread returned %ld\n", round, (long)r);
            fflush(stdout);
            _exit(10 + round);
        }
        int status;
        waitpid(pid, &status, 0);
        printf("parent: child %d exited %d\n", round, WEXITSTATUS(status));
    }
    /* The spinners' progress over 200 ms, then over the life of a vfork child that sleeps
     * 200 ms: comparable, not near zero. */
    struct timespec nap = {0, 200 * 1000 * 1000};
    long before = atomic_load(&spins);
    nanosleep(&nap, NULL);
    long awake = atomic_load(&spins) - before;
    before = atomic_load(&spins);
    pid_t pid = vfork();
    if (pid == 0) {
        nanosleep(&nap, NULL);
        _exit(7);
    }
    long during = atomic_load(&spins) - before;
    int status;
    waitpid(pid, &status, 0);
    printf("vfork: child exited %d; other threads ran meanwhile: %s\n", WEXITSTATUS(status),
           during > awake / 8 ? "yes" : "no");
    atomic_store(&stop, 1);
    for (int i = 0; i < 3; i++) pthread_join(t[i], NULL);
    printf("spinners ran: %s\n", atomic_load(&spins) > 0 ? "yes" : "no");
    return 0;
}
