/* Robust mutexes: a thread dies holding one; the next locker gets EOWNERDEAD, makes the
 * state consistent, and the mutex keeps working. Also a thread exiting with pthread_exit
 * while others wait on the mutex. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static pthread_mutex_t m;
static int shared_state = 0;

static void *die_holding(void *arg) {
    (void)arg;
    pthread_mutex_lock(&m);
    shared_state = 42;
    pthread_exit(NULL); /* never unlocks */
}

static atomic_int holding;

static void *hold_then_die(void *arg) {
    (void)arg;
    pthread_mutex_lock(&m);
    shared_state = 7;
    atomic_store(&holding, 1);
    usleep(100000); /* let the waiter block on the futex */
    pthread_exit(NULL);
}

static void *waiter(void *arg) {
    (void)arg;
    int r = pthread_mutex_lock(&m);
    if (r == EOWNERDEAD) {
        printf("waiter: EOWNERDEAD, state %d; recovering\n", shared_state);
        shared_state = 0;
        pthread_mutex_consistent(&m);
    } else {
        printf("waiter: lock returned %d (%s)\n", r, strerror(r));
    }
    pthread_mutex_unlock(&m);
    return NULL;
}

int main(void) {
    pthread_mutexattr_t a;
    pthread_mutexattr_init(&a);
    pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
    pthread_mutex_init(&m, &a);

    pthread_t t;
    pthread_create(&t, NULL, die_holding, NULL);
    pthread_join(t, NULL);
    pthread_create(&t, NULL, waiter, NULL);
    pthread_join(t, NULL);

    int r = pthread_mutex_lock(&m);
    printf("main: lock after recovery returned %d, state %d\n", r, shared_state);
    pthread_mutex_unlock(&m);

    /* The owner dies while another thread is already blocked on the mutex (a futex
     * waiter the dying thread's robust list must wake). */
    pthread_t d, w;
    pthread_create(&d, NULL, hold_then_die, NULL);
    while (!atomic_load(&holding)) usleep(1000);
    pthread_create(&w, NULL, waiter, NULL);
    pthread_join(d, NULL);
    pthread_join(w, NULL);
    printf("done\n");
    return 0;
}
