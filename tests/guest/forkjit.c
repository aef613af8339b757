/* A forked child keeps running code translated before the fork while its parent fills the
 * code cache with new code (a JIT: more than a small cache holds) and flushes it.
 * usage: forkjit [functions] [parent-generations]
 * The child's loop is the very code the parent ran before forking, so under an emulator it
 * runs translated code the two processes shared at the fork, and translates nothing new
 * until the parent is done. Output: the child's count of wrong sums, then the parent's
 * sum (it waits for the child). */
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

/* f_i(x) = x * 3 + k (lea rax, [rdi + rdi*2]; add rax, imm32; ret). */
static void emit(int i, int gen) {
    int32_t k = i + gen * 1000003;
    unsigned char f[] = {0x48, 0x8d, 0x04, 0x7f, 0x48, 0x05, 0, 0, 0, 0, 0xc3};
    memcpy(f + 6, &k, 4);
    memcpy(code + (size_t)i * STRIDE, f, sizeof f);
}

static __attribute__((noinline)) int64_t run(int64_t x) {
    int64_t sum = 0;
    for (int i = 0; i < nfuncs; i++) sum += ((fn1)(code + (size_t)i * STRIDE))(x + i);
    return sum;
}

int main(int argc, char **argv) {
    nfuncs = argc > 1 ? atoi(argv[1]) : 1000;
    int gens = argc > 2 ? atoi(argv[2]) : 6;
    code = mmap(NULL, (size_t)nfuncs * STRIDE, PROT_READ | PROT_WRITE | PROT_EXEC,
                MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    /* Set by the parent when its new code is done: the child runs until then. */
    volatile int *done = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
                              -1, 0);
    if (code == MAP_FAILED || done == MAP_FAILED) { perror("mmap"); return 1; }
    for (int i = 0; i < nfuncs; i++) emit(i, 0);
    setvbuf(stdout, NULL, _IOFBF, 1 << 16);
    pid_t child = -1;
    int64_t sum = 0, n = nfuncs;
    long bad = 0;
    /* Rounds before the fork make the loop and the functions hot; after it, the child goes
     * on in the same loop (checking each round's sum: f_i(x + i) = 3x + 4i), and the parent
     * leaves it at once for its new code. */
    for (int r = 0; !*done && r < 100000000; r++) {
        if (r == 8) child = fork();
        if (child > 0) {
            for (int gen = 1; gen <= gens; gen++) {
                for (int i = 0; i < nfuncs; i++) emit(i, gen);
                for (int k = 0; k < 4; k++) sum += run(k);
            }
            *done = 1;
            break;
        }
        bad += run(r) != 3 * n * r + 2 * n * (n - 1);
    }
    if (child > 0) {
        int status;
        waitpid(child, &status, 0);
        printf("parent %ld, child %s\n", (long)sum,
               WIFEXITED(status) && WEXITSTATUS(status) == 0 ? "exited" : "died");
    } else {
        printf("child: %ld bad rounds\n", bad);
    }
    return 0;
}
