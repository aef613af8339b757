/* fork() while the other threads are inside syscalls that map memory and read and write
 * guest memory, and start and join threads: a lock that one of them held at the moment of the fork must not stay held
 * in the child, where that thread does not exist. Each child maps memory and starts and
 * joins a thread of its own (both need the emulator's memory-map lock), then exits with a
 * code the parent checks. Argument: forks (default 100). */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#define BUSY 3

static atomic_int stop;
static atomic_long calls;

static void *child_thread(void *arg) { return (void *)((long)arg * 2); }

static void *busy(void *arg) {
    (void)arg;
    sigset_t set, old;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    struct utsname u;
    char cwd[256];
    while (!atomic_load(&stop)) {
        char *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED) abort();
        p[0] = 1;
        munmap(p, 4096);
        sigprocmask(SIG_BLOCK, &set, &old);
        uname(&u);
        if (!getcwd(cwd, sizeof cwd)) abort();
        /* Threads born and dying while the main thread forks. */
        pthread_t c;
        if (pthread_create(&c, NULL, child_thread, NULL) != 0) abort();
        pthread_join(c, NULL);
        atomic_fetch_add(&calls, 1);
    }
    return NULL;
}


int main(int argc, char **argv) {
    int forks = argc > 1 ? atoi(argv[1]) : 100;
    pthread_t t[BUSY];
    for (int i = 0; i < BUSY; i++) pthread_create(&t[i], NULL, busy, NULL);
    while (atomic_load(&calls) < 100) sched_yield();
    int ok = 0;
    for (int i = 0; i < forks; i++) {
        pid_t pid = fork();
        if (pid == 0) {
            char *p = mmap(NULL, 65536, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
            if (p == MAP_FAILED) _exit(1);
            memset(p, 7, 65536);
            munmap(p, 65536);
            pthread_t c;
            void *r;
            if (pthread_create(&c, NULL, child_thread, (void *)(long)(i % 50)) != 0) _exit(2);
            pthread_join(c, &r);
            _exit((long)r == 2 * (i % 50) ? 100 + i % 50 : 3);
        }
        int status;
        if (pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
            WEXITSTATUS(status) == 100 + i % 50)
            ok++;
    }
    atomic_store(&stop, 1);
    for (int i = 0; i < BUSY; i++) pthread_join(t[i], NULL);
    printf("forks while %d threads map memory and make syscalls: %d, children that mapped, "
           "threaded and exited as expected: %d\n",
           BUSY, forks, ok);
    return ok == forks ? 0 : 1;
}
