/* Killed by SIGSEGV: a write to address 0x10 after flushing some output. */
#include <stdio.h>

int main(void)
{
    printf("about to write to address 0x10\n");
    fflush(stdout);
    *(volatile int *)0x10 = 1;
    printf("still alive?\n");
    return 0;
}
