/* Killed by SIGSEGV after flushing some output: a write to address 0x10, or with an argument
 * to an address beyond any an emulator's guest space holds ("high": just past 1 TiB) or a
 * non-canonical one ("wild"). */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
    uintptr_t addr = 0x10;
    if (argc > 1 && strcmp(argv[1], "high") == 0)
        addr = ((uintptr_t)1 << 40) + 0x10;
    else if (argc > 1 && strcmp(argv[1], "wild") == 0)
        addr = 0xdead00000000beefull;
    printf("about to write to address %#lx\n", (unsigned long)addr);
    fflush(stdout);
    *(volatile int *)addr = 1;
    printf("still alive?\n");
    return 0;
}
