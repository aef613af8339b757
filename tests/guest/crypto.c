/* CRC32C (_mm_crc32_u8/u16/u32/u64), AES-128 (key expansion with aeskeygenassist,
 * aesenc/aesenclast, aesimc + aesdec/aesdeclast) and carry-less multiplication
 * (_mm_clmulepi64_si128 in all four selector forms), checked against known vectors and
 * a bitwise reference. */
// emu-cflags: -maes -mpclmul -msse4.2
#include <nmmintrin.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <wmmintrin.h>

static uint32_t crc32c_ref(uint32_t crc, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        crc ^= p[i];
        for (int k = 0; k < 8; k++)
            crc = crc & 1 ? (crc >> 1) ^ 0x82f63b78 : crc >> 1;
    }
    return crc;
}

static __m128i expand_step(__m128i key, __m128i gen)
{
    gen = _mm_shuffle_epi32(gen, 0xff);
    key = _mm_xor_si128(key, _mm_slli_si128(key, 4));
    key = _mm_xor_si128(key, _mm_slli_si128(key, 4));
    key = _mm_xor_si128(key, _mm_slli_si128(key, 4));
    return _mm_xor_si128(key, gen);
}

#define STEP(i, rcon) rk[i] = expand_step(rk[i - 1], _mm_aeskeygenassist_si128(rk[i - 1], rcon))

static void print128(const char *what, __m128i v)
{
    uint8_t b[16];
    _mm_storeu_si128((__m128i *)b, v);
    printf("%s ", what);
    for (int i = 0; i < 16; i++)
        printf("%02x", b[i]);
    printf("\n");
}

static void clmul_ref(uint64_t a, uint64_t b, uint64_t r[2])
{
    r[0] = r[1] = 0;
    for (int i = 0; i < 64; i++)
        if (b >> i & 1) {
            r[0] ^= a << i;
            if (i)
                r[1] ^= a >> (64 - i);
        }
}

int main(void)
{
    /* CRC32C: the standard check value, then mixed widths against the reference. */
    const char *check = "123456789";
    uint32_t c = ~0u;
    for (int i = 0; i < 9; i++)
        c = _mm_crc32_u8(c, (uint8_t)check[i]);
    printf("crc32c(123456789) = %08x\n", ~c);
    uint8_t buf[1000];
    uint64_t x = 88172645463325252ULL;
    for (int i = 0; i < 1000; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        buf[i] = (uint8_t)x;
    }
    for (int off = 0; off < 8; off++) {
        uint64_t crc = 0x12345678;
        const uint8_t *p = buf + off;
        size_t n = 1000 - off, i = 0;
        for (; i + 8 <= n; i += 8) {
            uint64_t v;
            memcpy(&v, p + i, 8);
            crc = _mm_crc32_u64(crc, v);
        }
        if (i + 4 <= n) {
            uint32_t v;
            memcpy(&v, p + i, 4);
            crc = _mm_crc32_u32((uint32_t)crc, v);
            i += 4;
        }
        if (i + 2 <= n) {
            uint16_t v;
            memcpy(&v, p + i, 2);
            crc = _mm_crc32_u16((uint32_t)crc, v);
            i += 2;
        }
        for (; i < n; i++)
            crc = _mm_crc32_u8((uint32_t)crc, p[i]);
        printf("crc off %d: %08x ref %08x\n", off, (uint32_t)crc, crc32c_ref(0x12345678, p, n));
    }

    /* AES-128, FIPS-197 appendix C.1. */
    const uint8_t key[16] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
    const uint8_t pt[16] = {0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77,
                            0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff};
    __m128i rk[11];
    rk[0] = _mm_loadu_si128((const __m128i *)key);
    STEP(1, 0x01); STEP(2, 0x02); STEP(3, 0x04); STEP(4, 0x08); STEP(5, 0x10);
    STEP(6, 0x20); STEP(7, 0x40); STEP(8, 0x80); STEP(9, 0x1b); STEP(10, 0x36);
    print128("round key 10", rk[10]);
    __m128i s = _mm_xor_si128(_mm_loadu_si128((const __m128i *)pt), rk[0]);
    for (int i = 1; i < 10; i++)
        s = _mm_aesenc_si128(s, rk[i]);
    s = _mm_aesenclast_si128(s, rk[10]);
    print128("ciphertext", s);
    __m128i d = _mm_xor_si128(s, rk[10]);
    for (int i = 9; i > 0; i--)
        d = _mm_aesdec_si128(d, _mm_aesimc_si128(rk[i]));
    d = _mm_aesdeclast_si128(d, rk[0]);
    print128("decrypted", d);
    /* Chained blocks of varied data. */
    __m128i acc = _mm_setzero_si128();
    for (int blk = 0; blk < 60; blk++) {
        __m128i b = _mm_xor_si128(_mm_loadu_si128((const __m128i *)(buf + 16 * blk)), acc);
        b = _mm_xor_si128(b, rk[0]);
        for (int i = 1; i < 10; i++)
            b = _mm_aesenc_si128(b, rk[i]);
        acc = _mm_aesenclast_si128(b, rk[10]);
    }
    print128("cbc-mac", acc);

    /* Carry-less multiplication. */
    int bad = 0;
    for (int i = 0; i < 200; i++) {
        uint64_t a, b, r[2], q[2];
        memcpy(&a, buf + i * 4, 8);
        memcpy(&b, buf + i * 4 + 100, 8);
        __m128i va = _mm_set_epi64x((long long)~a, (long long)a);
        __m128i vb = _mm_set_epi64x((long long)b, (long long)(b ^ 0x5555));
        __m128i p00 = _mm_clmulepi64_si128(va, vb, 0x00);
        __m128i p11 = _mm_clmulepi64_si128(va, vb, 0x11);
        __m128i p01 = _mm_clmulepi64_si128(va, vb, 0x10);
        _mm_storeu_si128((__m128i *)r, p00);
        clmul_ref(a, b ^ 0x5555, q);
        bad += r[0] != q[0] || r[1] != q[1];
        _mm_storeu_si128((__m128i *)r, p11);
        clmul_ref(~a, b, q);
        bad += r[0] != q[0] || r[1] != q[1];
        _mm_storeu_si128((__m128i *)r, p01);
        clmul_ref(a, b, q);
        bad += r[0] != q[0] || r[1] != q[1];
        if (i == 7)
            print128("clmul sample", _mm_xor_si128(p00, _mm_xor_si128(p11, p01)));
    }
    printf("clmul mismatches %d\n", bad);
    return 0;
}
