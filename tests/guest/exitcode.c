/* Exits with the status given in argv[1]; argv[2] == "_exit" skips stdio's exit handlers. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    int code = argc > 1 ? atoi(argv[1]) : 0;
    printf("exiting with %d\n", code);
    if (argc > 2 && strcmp(argv[2], "_exit") == 0) {
        fflush(stdout);
        _exit(code);
    }
    exit(code);
}
