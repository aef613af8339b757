/* A small JIT: generates many distinct functions (more translated code than a small code
 * cache holds), calls them from two threads at once, then overwrites and calls them again.
 * usage: jit [functions] [fork]: with "fork", a child process does the same at the same
 * time (its output comes first: both print at exit, the parent after waiting for it). */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

typedef int64_t (*fn1)(int64_t);
enum { STRIDE = 32 };
static unsigned char *code;
static int nfuncs;

/* f_i(x) = x * 3 + i (lea rax, [rdi + rdi*2]; add rax, imm32; ret), with a branch on i. */
static void emit(int i, int gen) {
    unsigned char *p = code + (size_t)i * STRIDE;
    int32_t k = i + gen * 1000003;
    unsigned char f[] = {0x48, 0x8d, 0x04, 0x7f,       /* lea rax, [rdi + rdi*2] */
                         0x48, 0x05, 0, 0, 0, 0,       /* add rax, imm32 */
                         0x48, 0x85, 0xff,             /* test rdi, rdi */
                         0x79, 0x03,                   /* jns +3 */
                         0x48, 0xf7, 0xd8,             /* neg rax */
                         0xc3};                        /* ret */
    memcpy(f + 6, &k, 4);
    memcpy(p, f, sizeof f);
}

static void *run(void *arg) {
    int64_t x = (int64_t)arg, sum = 0;
    for (int i = 0; i < nfuncs; i++) sum += ((fn1)(code + (size_t)i * STRIDE))(x + i);
    return (void *)sum;
}

int main(int argc, char **argv) {
    nfuncs = argc > 1 ? atoi(argv[1]) : 20000;
    code = mmap(NULL, (size_t)nfuncs * STRIDE, PROT_READ | PROT_WRITE | PROT_EXEC,
                MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (code == MAP_FAILED) { perror("mmap"); return 1; }
    pid_t child = -1;
    if (argc > 2 && strcmp(argv[2], "fork") == 0) {
        setvbuf(stdout, NULL, _IOFBF, 1 << 16);
        child = fork();
    }
    const char *who = child == 0 ? "child " : "";
    for (int gen = 0; gen < 2; gen++) {
        for (int i = 0; i < nfuncs; i++) emit(i, gen);
        pthread_t t[2];
        for (long k = 0; k < 2; k++) pthread_create(&t[k], NULL, run, (void *)(k * 7 - 5));
        for (int k = 0; k < 2; k++) {
            void *r;
            pthread_join(t[k], &r);
            printf("%sgen %d thread %d: %ld\n", who, gen, k, (long)r);
        }
    }
    if (child > 0) waitpid(child, NULL, 0);
    return 0;
}
