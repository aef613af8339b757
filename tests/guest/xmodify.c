/* Cross-modifying code: one thread rewrites a function that other threads call in a
 * loop; each of them must eventually run the new code. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

typedef int (*fn0)(void);
static unsigned char *code;
static atomic_int ready;

static void *caller(void *arg) {
    (void)arg;
    long calls = 0;
    atomic_fetch_add(&ready, 1);
    for (;;) {
        int v = ((fn0)code)();
        calls++;
        if (v == 2) break;
        if (v != 1) { printf("torn code: %d\n", v); return (void *)-1L; }
    }
    return (void *)(calls > 0 ? 1L : 0L);
}

int main(void) {
    code = mmap(NULL, 4096, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (code == MAP_FAILED) { perror("mmap"); return 1; }
    /* mov eax, 1; ret -- the immediate is rewritten in place by one aligned store. */
    static const unsigned char f[] = {0x90, 0x90, 0x90, 0xb8, 1, 0, 0, 0, 0xc3};
    memcpy(code, f, sizeof f);
    pthread_t t[3];
    for (int i = 0; i < 3; i++) pthread_create(&t[i], NULL, caller, NULL);
    while (atomic_load(&ready) < 3) usleep(1000);
    usleep(50000);
    atomic_store((_Atomic int32_t *)(code + 4), 2);
    long ok = 0;
    for (int i = 0; i < 3; i++) {
        void *r;
        pthread_join(t[i], &r);
        ok += (long)r;
    }
    printf("%ld of 3 threads saw the new code\n", ok);
    return 0;
}
