/* A JIT with a dual-mapped code buffer (one file page mapped writable and executable at two
 * addresses, W^X style): code written through the writable view must be what the
 * executable view runs, every time it is rewritten. */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

typedef int (*fn0)(void);

int main(void) {
    int fd = memfd_create("jit", 0);
    if (fd < 0 || ftruncate(fd, 8192) != 0) { perror("memfd"); return 1; }
    unsigned char *rw = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    unsigned char *rx = mmap(NULL, 8192, PROT_READ | PROT_EXEC, MAP_SHARED, fd, 0);
    if (rw == MAP_FAILED || rx == MAP_FAILED) { perror("mmap"); return 1; }
    long sum = 0;
    for (int32_t i = 0; i < 1000; i++) {
        unsigned char *p = rw + (i % 2) * 4096; /* alternate pages, same offsets */
        p[0] = 0xb8; /* mov eax, imm32 */
        memcpy(p + 1, &i, 4);
        p[5] = 0xc3; /* ret */
        sum += ((fn0)(rx + (i % 2) * 4096))();
    }
    printf("dual-mapped sum %ld (expect %ld)\n", sum, 999L * 1000 / 2);
    return 0;
}
