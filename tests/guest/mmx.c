/* MMX (and the SSE, SSE2 and SSSE3 forms on mm registers) through inline assembly, since
 * compilers implement the MMX intrinsics with SSE registers in 64-bit mode. Prints a
 * checksum per instruction over pseudo-random operands, then the x87 state MMX leaves
 * (TOP 0, all registers valid, exponents all ones) and that after emms x87 code works. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint64_t next(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    /* Some lanes at the saturation edges. */
    switch (rng % 8) {
    case 0:
        return rng & 0x8080808080808080ull;
    case 1:
        return rng | 0x7f7f7f7f7f7f7f7full;
    default:
        return rng;
    }
}

#define BIN(name, insn)                                                                  \
    static uint64_t name(uint64_t a, uint64_t b) {                                       \
        uint64_t r;                                                                      \
        __asm__("movq %1, %%mm0\n\t movq %2, %%mm1\n\t " insn " %%mm1, %%mm0\n\t"        \
                "movq %%mm0, %0\n\t emms"                                                \
                : "=r"(r)                                                                \
                : "r"(a), "r"(b)                                                         \
                : "mm0", "mm1");                                                         \
        return r;                                                                        \
    }

/* The same with the second operand in memory. */
#define BINM(name, insn)                                                                 \
    static uint64_t name(uint64_t a, uint64_t b) {                                       \
        uint64_t r;                                                                      \
        __asm__("movq %1, %%mm0\n\t " insn " %2, %%mm0\n\t movq %%mm0, %0\n\t emms"      \
                : "=r"(r)                                                                \
                : "r"(a), "m"(b)                                                         \
                : "mm0");                                                                \
        return r;                                                                        \
    }

BIN(paddb, "paddb") BIN(paddw, "paddw") BIN(paddd, "paddd") BIN(paddq, "paddq")
BIN(psubb, "psubb") BIN(psubw, "psubw") BIN(psubd, "psubd") BINM(psubq, "psubq")
BIN(paddsb, "paddsb") BIN(paddsw, "paddsw") BIN(paddusb, "paddusb") BINM(paddusw, "paddusw")
BIN(psubsb, "psubsb") BIN(psubsw, "psubsw") BIN(psubusb, "psubusb") BIN(psubusw, "psubusw")
BIN(pcmpeqb, "pcmpeqb") BIN(pcmpeqw, "pcmpeqw") BINM(pcmpeqd, "pcmpeqd")
BIN(pcmpgtb, "pcmpgtb") BIN(pcmpgtw, "pcmpgtw") BIN(pcmpgtd, "pcmpgtd")
BIN(pmullw, "pmullw") BIN(pmulhw, "pmulhw") BIN(pmulhuw, "pmulhuw") BINM(pmaddwd, "pmaddwd")
BIN(pmuludq, "pmuludq") BIN(packsswb, "packsswb") BIN(packssdw, "packssdw")
BINM(packuswb, "packuswb") BIN(punpcklbw, "punpcklbw") BIN(punpcklwd, "punpcklwd")
BIN(punpckldq, "punpckldq") BIN(punpckhbw, "punpckhbw") BIN(punpckhwd, "punpckhwd")
BINM(punpckhdq, "punpckhdq") BIN(pand, "pand") BIN(pandn, "pandn") BIN(por, "por")
BINM(pxor, "pxor") BIN(psllw, "psllw") BIN(pslld, "pslld") BIN(psllq, "psllq")
BIN(psrlw, "psrlw") BIN(psrld, "psrld") BINM(psrlq, "psrlq") BIN(psraw, "psraw")
BIN(psrad, "psrad") BIN(pavgb, "pavgb") BIN(pavgw, "pavgw") BIN(pmaxub, "pmaxub")
BIN(pminub, "pminub") BIN(pmaxsw, "pmaxsw") BINM(pminsw, "pminsw") BIN(psadbw, "psadbw")
BIN(pshufb, "pshufb") BIN(phaddw, "phaddw") BIN(phaddd, "phaddd") BIN(phaddsw, "phaddsw")
BIN(phsubw, "phsubw") BINM(phsubd, "phsubd") BIN(phsubsw, "phsubsw")
BIN(pmaddubsw, "pmaddubsw") BIN(pmulhrsw, "pmulhrsw") BIN(psignb, "psignb")
BIN(psignw, "psignw") BINM(psignd, "psignd") BIN(pabsb, "pabsb") BIN(pabsw, "pabsw")
BIN(pabsd, "pabsd")

/* Forms with an immediate: the shift counts are small so that the results are not all
 * zero. */
#define IMM(name, text)                                                                  \
    static uint64_t name(uint64_t a, uint64_t b) {                                       \
        uint64_t r;                                                                      \
        __asm__("movq %1, %%mm0\n\t movq %2, %%mm1\n\t " text "\n\t movq %%mm0, %0\n\t"  \
                "emms"                                                                   \
                : "=r"(r)                                                                \
                : "r"(a), "r"(b)                                                         \
                : "mm0", "mm1");                                                         \
        return r;                                                                        \
    }

IMM(psllw_i, "psllw $3, %%mm0") IMM(pslld_i, "pslld $17, %%mm0")
IMM(psllq_i, "psllq $33, %%mm0") IMM(psrlw_i, "psrlw $5, %%mm0")
IMM(psrld_i, "psrld $31, %%mm0") IMM(psrlq_i, "psrlq $1, %%mm0")
IMM(psraw_i, "psraw $9, %%mm0") IMM(psrad_i, "psrad $40, %%mm0")
IMM(pshufw_i, "pshufw $0x1b, %%mm1, %%mm0") IMM(palignr_3, "palignr $3, %%mm1, %%mm0")
IMM(palignr_11, "palignr $11, %%mm1, %%mm0") IMM(pinsrw_i, "pinsrw $6, %k2, %%mm0")

static uint64_t pextrw(uint64_t a, uint64_t b) {
    uint32_t r;
    (void)b;
    __asm__("movq %1, %%mm2\n\t pextrw $3, %%mm2, %0\n\t emms" : "=r"(r) : "r"(a) : "mm2");
    return r;
}

static uint64_t pmovmskb(uint64_t a, uint64_t b) {
    uint32_t r;
    (void)b;
    __asm__("movq %1, %%mm3\n\t pmovmskb %%mm3, %0\n\t emms" : "=r"(r) : "r"(a) : "mm3");
    return r;
}

static uint64_t movd(uint64_t a, uint64_t b) {
    uint64_t r;
    uint32_t m = (uint32_t)b;
    __asm__("movd %k1, %%mm4\n\t movd %2, %%mm5\n\t paddd %%mm5, %%mm4\n\t"
            "movq %%mm4, %0\n\t emms"
            : "=r"(r)
            : "r"(a), "m"(m)
            : "mm4", "mm5");
    return r;
}

/* movq2dq/movdq2q and the conversions between mm and xmm registers. */
static uint64_t xmm_forms(uint64_t a, uint64_t b) {
    uint64_t r1, r2, r3;
    float f[4] = {(float)(int32_t)a * 0.75f, -(float)(b >> 40), 2.5f, -3.5f};
    double d[2] = {(double)(int32_t)b * 1.25, 1e10};
    __asm__("movq %3, %%mm0\n\t movq2dq %%mm0, %%xmm1\n\t paddq %%xmm1, %%xmm1\n\t"
            "movdq2q %%xmm1, %%mm1\n\t cvtpi2ps %%mm1, %%xmm2\n\t cvtps2pi %%xmm2, %%mm2\n\t"
            "cvtpi2pd %%mm0, %%xmm3\n\t cvttpd2pi %%xmm3, %%mm3\n\t pxor %%mm3, %%mm2\n\t"
            "movups %4, %%xmm4\n\t cvttps2pi %%xmm4, %%mm4\n\t cvtps2pi %4, %%mm5\n\t"
            "movupd %5, %%xmm5\n\t cvtpd2pi %%xmm5, %%mm6\n\t cvtpi2ps %3, %%xmm6\n\t"
            "movd %%xmm6, %k1\n\t paddd %%mm5, %%mm4\n\t paddd %%mm6, %%mm4\n\t"
            "movq %%mm2, %0\n\t movq %%mm4, %2\n\t emms"
            : "=&r"(r1), "=&r"(r2), "=&r"(r3)
            : "m"(a), "m"(f), "m"(d)
            : "mm0", "mm1", "mm2", "mm3", "mm4", "mm5", "mm6", "xmm1", "xmm2", "xmm3",
              "xmm4", "xmm5", "xmm6");
    return r1 ^ (r2 << 1) ^ (r3 * 3);
}

static uint64_t stores(uint64_t a, uint64_t b) {
    uint64_t buf[3] = {0x1111111111111111ull, 0x2222222222222222ull, 0};
    /* maskmovq stores the bytes of mm0 whose mask byte (mm1) has its top bit set to [rdi]. */
    __asm__ volatile("movq %1, %%mm0\n\t movq %2, %%mm1\n\t maskmovq %%mm1, %%mm0\n\t"
                     "movntq %%mm1, 8(%%rdi)\n\t sfence\n\t emms"
                     : "+m"(buf)
                     : "r"(a), "r"(b), "D"(buf)
                     : "mm0", "mm1", "memory");
    return buf[0] ^ (buf[1] << 3);
}

typedef uint64_t (*op_fn)(uint64_t, uint64_t);

static const struct {
    const char *name;
    op_fn f;
} ops[] = {
#define OP(n) {#n, n}
    OP(paddb),     OP(paddw),    OP(paddd),     OP(paddq),     OP(psubb),     OP(psubw),
    OP(psubd),     OP(psubq),    OP(paddsb),    OP(paddsw),    OP(paddusb),   OP(paddusw),
    OP(psubsb),    OP(psubsw),   OP(psubusb),   OP(psubusw),   OP(pcmpeqb),   OP(pcmpeqw),
    OP(pcmpeqd),   OP(pcmpgtb),  OP(pcmpgtw),   OP(pcmpgtd),   OP(pmullw),    OP(pmulhw),
    OP(pmulhuw),   OP(pmaddwd),  OP(pmuludq),   OP(packsswb),  OP(packssdw),  OP(packuswb),
    OP(punpcklbw), OP(punpcklwd), OP(punpckldq), OP(punpckhbw), OP(punpckhwd), OP(punpckhdq),
    OP(pand),      OP(pandn),    OP(por),       OP(pxor),      OP(psllw),     OP(pslld),
    OP(psllq),     OP(psrlw),    OP(psrld),     OP(psrlq),     OP(psraw),     OP(psrad),
    OP(pavgb),     OP(pavgw),    OP(pmaxub),    OP(pminub),    OP(pmaxsw),    OP(pminsw),
    OP(psadbw),    OP(pshufb),   OP(phaddw),    OP(phaddd),    OP(phaddsw),   OP(phsubw),
    OP(phsubd),    OP(phsubsw),  OP(pmaddubsw), OP(pmulhrsw),  OP(psignb),    OP(psignw),
    OP(psignd),    OP(pabsb),    OP(pabsw),     OP(pabsd),     OP(psllw_i),   OP(pslld_i),
    OP(psllq_i),   OP(psrlw_i),  OP(psrld_i),   OP(psrlq_i),   OP(psraw_i),   OP(psrad_i),
    OP(pshufw_i),  OP(palignr_3), OP(palignr_11), OP(pinsrw_i), OP(pextrw),   OP(pmovmskb),
    OP(movd),      OP(xmm_forms), OP(stores),
};

int main(void) {
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
        uint64_t sum = 0;
        /* Shift counts by register: mostly in range. */
        int shift = strncmp(ops[i].name, "ps", 2) == 0 && strchr("lr", ops[i].name[2]) &&
                    ops[i].name[strlen(ops[i].name) - 2] != '_';
        for (int k = 0; k < 2000; k++) {
            uint64_t a = next(), b = next();
            if (shift)
                b %= 70;
            sum = sum * 31 + ops[i].f(a, b);
        }
        printf("%-10s %016llx\n", ops[i].name, (unsigned long long)sum);
    }
    /* The x87 view of an MMX write: TOP 0, every tag valid, exponent all ones. */
    unsigned char fx[512] __attribute__((aligned(16)));
    unsigned short env[14];
    __asm__ volatile("fninit\n\t fld1\n\t fld1\n\t movq %2, %%mm7\n\t paddb %%mm7, %%mm7\n\t"
                     "fxsave %0\n\t fnstenv %1\n\t emms\n\t fninit"
                     : "=m"(fx), "=m"(env)
                     : "r"(0x0123456789abcdefull)
                     : "mm7");
    printf("fsw %02x%02x ftw %02x tags %04x mm7 %02x%02x %02x%02x\n", fx[3], fx[2], fx[4],
           env[4], fx[32 + 7 * 16 + 1], fx[32 + 7 * 16], fx[32 + 7 * 16 + 9],
           fx[32 + 7 * 16 + 8]);
    volatile long double x = 1.5L;
    printf("x87 after emms: %.3Lf\n", x * 3.0L);
    return 0;
}
