/* Self-modifying code: a function rewritten and called again, a store that patches the
 * very next instruction of the running block, and code patched in .text after mprotect. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

typedef int (*fn0)(void);

static void emit_ret_imm(unsigned char *p, int32_t v) {
    p[0] = 0xb8; /* mov eax, imm32 */
    memcpy(p + 1, &v, 4);
    p[5] = 0xc3; /* ret */
}

__attribute__((noipa, aligned(64))) static int in_text(void) { return 1; }

int main(void) {
    unsigned char *code = mmap(NULL, 8192, PROT_READ | PROT_WRITE | PROT_EXEC,
                               MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (code == MAP_FAILED) { perror("mmap"); return 1; }

    /* 1. Rewrite and call, many times (each rewrite must invalidate the old block). */
    long sum = 0;
    for (int i = 0; i < 2000; i++) {
        emit_ret_imm(code, i * 3);
        sum += ((fn0)code)();
    }
    printf("rewrite loop sum %ld\n", sum);

    /* 2. A store into the running block: `mov byte [rip+1], 5` patches the immediate of
     *    the mov that follows it, which must then load 5, not 1. */
    static const unsigned char patcher[] = {
        0xc6, 0x05, 0x01, 0x00, 0x00, 0x00, 0x05, /* mov byte [rip+1], 5 */
        0xb8, 0x01, 0x00, 0x00, 0x00,             /* mov eax, 1 (imm patched to 5) */
        0xc3,                                     /* ret */
    };
    for (int round = 0; round < 3; round++) {
        memcpy(code + 256, patcher, sizeof patcher);
        int r = ((fn0)(code + 256))();
        printf("patched next instruction: %d, again: %d\n", r, ((fn0)(code + 256))());
    }

    /* 3. A function in the text segment, patched after mprotect. */
    long pg = sysconf(_SC_PAGESIZE);
    uintptr_t start = (uintptr_t)in_text & ~(uintptr_t)(pg - 1);
    printf("text before: %d\n", in_text());
    if (mprotect((void *)start, 2 * pg, PROT_READ | PROT_WRITE | PROT_EXEC) != 0) {
        perror("mprotect");
        return 1;
    }
    emit_ret_imm((unsigned char *)in_text, 42);
    printf("text after: %d\n", in_text());
    emit_ret_imm((unsigned char *)in_text, 43);
    printf("text again: %d\n", in_text());
    return 0;
}
