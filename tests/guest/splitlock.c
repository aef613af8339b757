/* Locked instructions whose operand is not naturally aligned (split locks: the operand crosses
 * a cache line), and cmpxchg16b, first one by one, then racing with another thread's aligned
 * locked instructions on the same bytes. x86 makes every locked instruction atomic whatever
 * its alignment and whatever the other CPUs do to those bytes; an emulator whose host atomics
 * need aligned operands, or have no 16-byte compare-and-swap, must still give that. A lost
 * update shows as a wrong total. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static _Alignas(64) unsigned char line[256];
/* The operand of cmpxchg16b. */
static struct {
    uint64_t lo, hi;
} __attribute__((aligned(16))) pair;
static int stop, started;
static uint64_t b_count;

#define AT(off, type) ((type *)(line + (off)))

static void one_by_one(void) {
    uint64_t r, q;
    uint32_t d;
    uint16_t w;
    unsigned char zf, cf;

    memset(line, 0, sizeof line);
    /* 8 bytes across the line at 64. */
    *AT(60, uint64_t) = 0x1122334455667788ull;
    r = 0x0101010101010101ull;
    __asm__ volatile("lock xaddq %0, %1" : "+r"(r), "+m"(*AT(60, uint64_t)));
    printf("xadd   old %016llx new %016llx\n", (unsigned long long)r,
           (unsigned long long)*AT(60, uint64_t));
    q = 0xdeadbeefcafef00dull;
    __asm__ volatile("xchgq %0, %1" : "+r"(q), "+m"(*AT(60, uint64_t)));
    printf("xchg   old %016llx new %016llx\n", (unsigned long long)q,
           (unsigned long long)*AT(60, uint64_t));
    for (int k = 0; k < 2; k++) {
        uint64_t expect = k ? 1 : 0xdeadbeefcafef00dull, got = expect;
        __asm__ volatile("lock cmpxchgq %3, %1; sete %2"
                         : "+a"(got), "+m"(*AT(60, uint64_t)), "=q"(zf)
                         : "r"(0x0123456789abcdefull));
        printf("cmpxchg expect %016llx got %016llx zf %d mem %016llx\n",
               (unsigned long long)expect, (unsigned long long)got, zf,
               (unsigned long long)*AT(60, uint64_t));
    }
    /* 4 bytes across the line at 128, 2 bytes across the line at 192. */
    *AT(126, uint32_t) = 0xffffffffu;
    __asm__ volatile("lock incl %0; sete %1" : "+m"(*AT(126, uint32_t)), "=q"(zf));
    printf("inc    %08x zf %d\n", *AT(126, uint32_t), zf);
    __asm__ volatile("lock decl %0" : "+m"(*AT(126, uint32_t)));
    __asm__ volatile("lock notl %0" : "+m"(*AT(126, uint32_t)));
    printf("dec+not %08x\n", *AT(126, uint32_t));
    __asm__ volatile("lock negl %0; setc %1" : "+m"(*AT(126, uint32_t)), "=q"(cf));
    printf("neg    %08x cf %d\n", *AT(126, uint32_t), cf);
    *AT(191, uint16_t) = 0x8000;
    __asm__ volatile("lock addw $0x8000, %0; setc %1" : "+m"(*AT(191, uint16_t)), "=q"(cf));
    printf("addw   %04x cf %d\n", *AT(191, uint16_t), cf);
    /* adc through a compare-and-swap loop, with the carry of the add above. */
    __asm__ volatile("stc; lock adcw $0x10, %0" : "+m"(*AT(191, uint16_t)));
    w = *AT(191, uint16_t);
    printf("adcw   %04x\n", w);
    d = 0x00ff00ff;
    __asm__ volatile("lock orl %1, %0" : "+m"(*AT(126, uint32_t)) : "r"(d));
    __asm__ volatile("lock andl $0x0ffffff0, %0" : "+m"(*AT(126, uint32_t)));
    __asm__ volatile("lock xorl $0x5a5a5a5a, %0" : "+m"(*AT(126, uint32_t)));
    __asm__ volatile("lock subl $3, %0" : "+m"(*AT(126, uint32_t)));
    printf("or/and/xor/sub %08x\n", *AT(126, uint32_t));
    /* Bit 37 of the qword at 60 lies in the next line. */
    q = 37;
    __asm__ volatile("lock btsq %2, %0; setc %1" : "+m"(*AT(60, uint64_t)), "=q"(cf) : "r"(q));
    printf("bts    %016llx cf %d\n", (unsigned long long)*AT(60, uint64_t), cf);
    __asm__ volatile("lock btrq $0, %0; setc %1" : "+m"(*AT(60, uint64_t)), "=q"(cf));
    printf("btr    %016llx cf %d\n", (unsigned long long)*AT(60, uint64_t), cf);
    __asm__ volatile("lock btcq $63, %0; setc %1" : "+m"(*AT(60, uint64_t)), "=q"(cf));
    printf("btc    %016llx cf %d\n", (unsigned long long)*AT(60, uint64_t), cf);
    /* cmpxchg8b across the line at 192, failing then succeeding. */
    *AT(188, uint64_t) = 0xaaaabbbbccccddddull;
    for (int k = 0; k < 2; k++) {
        uint32_t lo = k ? 0xccccdddd : 0, hi = k ? 0xaaaabbbb : 0;
        __asm__ volatile("lock cmpxchg8b %0; sete %1"
                         : "+m"(*AT(188, uint64_t)), "=q"(zf), "+a"(lo), "+d"(hi)
                         : "b"(0x33334444), "c"(0x11112222));
        printf("cmpxchg8b edx:eax %08x:%08x zf %d mem %016llx\n", hi, lo, zf,
               (unsigned long long)*AT(188, uint64_t));
    }
    /* cmpxchg16b (aligned, as it must be), failing then succeeding. */
    pair.lo = 1;
    pair.hi = 2;
    for (int k = 0; k < 2; k++) {
        uint64_t lo = k, hi = k ? 2 : 0;
        __asm__ volatile("lock cmpxchg16b %0; sete %1"
                         : "+m"(pair), "=q"(zf), "+a"(lo), "+d"(hi)
                         : "b"(0x5555ull), "c"(0x6666ull));
        printf("cmpxchg16b rdx:rax %llx:%llx zf %d mem %llx:%llx\n", (unsigned long long)hi,
               (unsigned long long)lo, zf, (unsigned long long)pair.hi,
               (unsigned long long)pair.lo);
    }
}

/* Aligned locked adds, until told to stop: to the high half of the qword at 60 (the dword at
 * 64) and to the high half of the pair. */
static void *aligned_adder(void *arg) {
    (void)arg;
    uint64_t n = 0;
    __atomic_store_n(&started, 1, __ATOMIC_SEQ_CST);
    while (!__atomic_load_n(&stop, __ATOMIC_SEQ_CST)) {
        __asm__ volatile("lock addl $1, %0" : "+m"(*AT(64, uint32_t)));
        __asm__ volatile("lock addq $1, %0" : "+m"(pair.hi));
        n++;
    }
    b_count = n;
    return NULL;
}

static void race(int rounds) {
    memset(line, 0, sizeof line);
    pair.lo = 0;
    pair.hi = 0;
    pthread_t t;
    if (pthread_create(&t, NULL, aligned_adder, NULL) != 0) {
        perror("pthread_create");
        exit(1);
    }
    while (!__atomic_load_n(&started, __ATOMIC_SEQ_CST)) {
    }
    for (int i = 0; i < rounds; i++) {
        /* Split lock: the low half is ours, the high half the other thread's. */
        __asm__ volatile("lock addq $1, %0" : "+m"(*AT(60, uint64_t)));
        /* Increment the pair's low half by compare-and-swap; the other thread adds to the
         * high half meanwhile. */
        uint64_t lo = pair.lo, hi = pair.hi;
        unsigned char zf;
        do {
            __asm__ volatile("lock cmpxchg16b %0; sete %1"
                             : "+m"(pair), "=q"(zf), "+a"(lo), "+d"(hi)
                             : "b"(lo + 1), "c"(hi));
        } while (!zf);
    }
    __atomic_store_n(&stop, 1, __ATOMIC_SEQ_CST);
    pthread_join(t, NULL);
    uint64_t q = *AT(60, uint64_t);
    uint32_t d = *AT(64, uint32_t);
    int ok = q == ((uint64_t)(uint32_t)b_count << 32 | (uint64_t)rounds) &&
             d == (uint32_t)b_count && pair.lo == (uint64_t)rounds && pair.hi == b_count;
    printf("race: %d split-lock adds and cmpxchg16b increments against aligned adds: %s\n",
           rounds, ok ? "no update lost" : "UPDATES LOST");
    if (!ok)
        printf("  qword %016llx dword %08x pair %llx:%llx, other thread's adds %llu\n",
               (unsigned long long)q, d, (unsigned long long)pair.hi,
               (unsigned long long)pair.lo, (unsigned long long)b_count);
}

int main(int argc, char **argv) {
    one_by_one();
    race(argc > 1 ? atoi(argv[1]) : 200);
    return 0;
}
