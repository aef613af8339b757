/* Integer kernel: table-driven CRC-32 (slice-by-1, the zlib polynomial) and FNV-1a over a
 * generated buffer, repeated.  usage: crc [megabytes] [repetitions] */
#include "../bench.h"

static uint32_t table[256];

static void make_table(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        table[i] = c;
    }
}

static uint32_t crc32(uint32_t crc, const unsigned char *p, size_t n)
{
    crc = ~crc;
    while (n--)
        crc = table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
    return ~crc;
}

static uint64_t fnv1a(const unsigned char *p, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    while (n--)
        h = (h ^ *p++) * 0x100000001b3ULL;
    return h;
}

int main(int argc, char **argv)
{
    size_t n = (size_t)arg_long(argc, argv, 1, 16) << 20;
    long reps = arg_long(argc, argv, 2, 4);
    unsigned char *buf = malloc(n);
    uint64_t s = 42;
    for (size_t i = 0; i < n; i += 8) {
        uint64_t v = xs64(&s);
        for (int k = 0; k < 8 && i + k < n; k++)
            buf[i + k] = (unsigned char)(v >> (8 * k));
    }
    make_table();
    uint32_t crc = 0;
    uint64_t h = 0;
    for (long r = 0; r < reps; r++) {
        crc = crc32(crc, buf, n);
        h ^= fnv1a(buf, n) + (uint64_t)r;
        buf[(size_t)r % n] ^= (unsigned char)crc; /* each pass sees different data */
    }
    printf("crc bytes=%zu crc32=%08x fnv=%016llx\n", n, crc, (unsigned long long)h);
    free(buf);
    return 0;
}
