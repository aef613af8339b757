/* fork() from a multithreaded program: the child has one thread, can create its own
 * threads, and the parent's threads keep running. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <sys/wait.h>
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
    atomic_store(&stop, 1);
    for (int i = 0; i < 3; i++) pthread_join(t[i], NULL);
    printf("spinners ran: %s\n", atomic_load(&spins) > 0 ? "yes" : "no");
    return 0;
}
