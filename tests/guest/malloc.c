/* malloc/free churn: many sizes including large ones served by mmap, realloc growth and
 * shrinking, calloc zeroing, each block filled with a pattern that is verified before it is
 * freed; prints counts and a checksum of the contents (never addresses). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint32_t rng = 777;
static uint32_t next(void) { rng = rng * 1103515245u + 12345u; return rng >> 8; }

enum { SLOTS = 600, ROUNDS = 30000 };
static unsigned char *ptr[SLOTS];
static size_t len[SLOTS];
static unsigned char tag[SLOTS];
static int errors, misaligned;
static uint64_t checksum;

static size_t pick_size(void)
{
    uint32_t r = next() % 1000;
    if (r < 600) return next() % 64;              /* tiny, including 0 */
    if (r < 900) return 64 + next() % 2000;       /* small */
    if (r < 990) return 2048 + next() % 30000;    /* medium */
    if (r < 999) return 128 * 1024 + next() % (1 << 20); /* large: usually mmap */
    return (4u << 20) + next() % (4u << 20);      /* very large */
}

static void fill(int i)
{
    for (size_t k = 0; k < len[i]; k++)
        ptr[i][k] = (unsigned char)(tag[i] + k * 7);
}

static void verify(int i, size_t n)
{
    for (size_t k = 0; k < n; k++)
        if (ptr[i][k] != (unsigned char)(tag[i] + k * 7)) {
            errors++;
            return;
        }
    for (size_t k = 0; k < n; k += 1 + n / 64)
        checksum = checksum * 31 + ptr[i][k];
}

static void release(int i)
{
    if (ptr[i]) {
        verify(i, len[i]);
        free(ptr[i]);
        ptr[i] = NULL;
    }
}

int main(void)
{
    int mallocs = 0, callocs = 0, reallocs = 0, frees = 0;
    for (int round = 0; round < ROUNDS; round++) {
        int i = (int)(next() % SLOTS);
        uint32_t op = next() % 10;
        if (op < 4) {
            release(i);
            frees++;
            len[i] = pick_size();
            ptr[i] = malloc(len[i]);
            mallocs++;
        } else if (op < 6) {
            release(i);
            len[i] = pick_size();
            size_t n = 1 + next() % 8;
            ptr[i] = calloc(len[i] / n + 1, n);
            len[i] = (len[i] / n + 1) * n;
            callocs++;
            for (size_t k = 0; k < len[i]; k++)
                if (ptr[i] && ptr[i][k]) {
                    errors++;
                    break;
                }
        } else if (op < 9) {
            /* realloc: mostly growth, sometimes shrinking; content up to the smaller size kept. */
            size_t old = ptr[i] ? len[i] : 0;
            size_t n = op < 8 ? old + old / 4 + next() % 5000 : old / 3;
            if (next() % 200 == 0) n += 2u << 20;
            if (n > (3u << 20)) n = next() % 3000; /* keep the total bounded */
            unsigned char *q = realloc(ptr[i], n ? n : 1);
            reallocs++;
            if (!q) { errors++; continue; }
            ptr[i] = q;
            len[i] = old < n ? old : n;
            verify(i, len[i]);
            len[i] = n;
        } else {
            release(i);
            frees++;
            continue;
        }
        if (!ptr[i]) {
            errors++;
            continue;
        }
        if ((uintptr_t)ptr[i] % 16)
            misaligned++;
        tag[i] = (unsigned char)next();
        fill(i);
    }
    for (int i = 0; i < SLOTS; i++)
        release(i);

    /* Many small blocks freed in a different order than allocated (tcache/fastbins). */
    enum { SMALL = 20000 };
    void **small = malloc(sizeof(void *) * SMALL);
    for (int i = 0; i < SMALL; i++) {
        small[i] = malloc((size_t)(i % 97) + 1);
        memset(small[i], i & 0xff, (size_t)(i % 97) + 1);
    }
    for (int i = 1; i < SMALL; i += 2) free(small[i]);
    for (int i = 0; i < SMALL; i += 2) {
        if (((unsigned char *)small[i])[i % 97] != (unsigned char)(i & 0xff)) errors++;
        free(small[i]);
    }
    free(small);

    /* A 64 MiB calloc is all zeros; touch every page. */
    size_t huge = 64u << 20;
    unsigned char *z = calloc(huge, 1);
    uint64_t zsum = 0;
    if (z) {
        for (size_t k = 0; k < huge; k += 4096) {
            zsum += z[k];
            z[k] = 1;
        }
        free(z);
    } else {
        errors++;
    }

    printf("mallocs=%d callocs=%d reallocs=%d frees=%d\n", mallocs, callocs, reallocs, frees);
    printf("errors=%d misaligned=%d zero-sum=%llu\n", errors, misaligned, (unsigned long long)zsum);
    printf("checksum=%016llx\n", (unsigned long long)checksum);
    return errors != 0;
}
