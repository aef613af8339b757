/* Cross-modifying code: thread 0 rewrites a function in an RWX page that every thread then
 * calls. Each round: thread 0 patches the immediate of `lea eax, [rdi + imm32]; ret`, all
 * threads meet at a barrier, call the function on their share of the round's inputs, and meet
 * again before the next patch. An emulator must notice each rewrite (invalidate its
 * translation) or it returns stale results and the checksum differs.
 * usage: smc threads [rounds] [calls-per-round-in-thousands] */
#include <sys/mman.h>
#include "par.h"

static long rounds, calls;
static unsigned char *code;
static pthread_barrier_t barrier;

static void patch(uint32_t imm)
{
    /* lea eax, [rdi + imm32]: 8d 87 imm32; ret: c3 */
    unsigned char insn[] = {0x8d, 0x87, (unsigned char)imm, (unsigned char)(imm >> 8),
                            (unsigned char)(imm >> 16), (unsigned char)(imm >> 24), 0xc3};
    __builtin_memcpy(code, insn, sizeof insn);
}

static uint64_t work(int t, int n)
{
    uint32_t (*fn)(uint32_t) = (uint32_t (*)(uint32_t))(void *)code;
    uint64_t sum = 0;
    for (long r = 0; r < rounds; r++) {
        if (t == 0)
            patch((uint32_t)mix64((uint64_t)r));
        pthread_barrier_wait(&barrier);
        for (long i = share_start(calls, t, n); i < share_start(calls, t + 1, n); i++)
            sum += fn((uint32_t)i);
        pthread_barrier_wait(&barrier);
    }
    return sum;
}

int main(int argc, char **argv)
{
    int n = arg_threads(argc, argv);
    rounds = arg_long(argc, argv, 2, 2000);
    calls = arg_long(argc, argv, 3, 20) * 1000;
    code = mmap(NULL, 4096, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (code == MAP_FAILED) {
        perror("mmap");
        return 3;
    }
    pthread_barrier_init(&barrier, NULL, (unsigned)n);
    printf("smc rounds=%ld calls=%ld checksum=%016llx\n", rounds, calls,
           (unsigned long long)run_threads(n, work));
    return 0;
}
