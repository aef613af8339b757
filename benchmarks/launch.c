/* The benchmark runner's launcher: `launch REPORT program args...` forks, runs the program,
 * waits for it and writes one line to REPORT:
 *     <wait status> <peak RSS KiB> <user s> <system s> <wall s>
 * Why not wait4 in cargo xtask directly: Linux counts a process's memory from before its
 * execve in ru_maxrss (all of it for a vfork child, the resident pages for a fork child), so
 * a child of the large xtask process would report xtask's size. This launcher is small, and
 * forks (not vforks), so its own footprint (a few hundred KiB) is the floor. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: launch REPORT program [args...]\n");
        return 125;
    }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    pid_t pid = fork();
    if (pid < 0) {
        perror("launch: fork");
        return 125;
    }
    if (pid == 0) {
        execvp(argv[2], argv + 2);
        fprintf(stderr, "launch: cannot run %s: ", argv[2]);
        perror(NULL);
        _exit(127);
    }
    int status;
    struct rusage ru;
    if (wait4(pid, &status, 0, &ru) != pid) {
        perror("launch: wait4");
        return 125;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    FILE *f = fopen(argv[1], "w");
    if (!f) {
        perror("launch: report");
        return 125;
    }
    fprintf(f, "%d %ld %.6f %.6f %.9f\n", status, ru.ru_maxrss,
            ru.ru_utime.tv_sec + ru.ru_utime.tv_usec * 1e-6,
            ru.ru_stime.tv_sec + ru.ru_stime.tv_usec * 1e-6,
            (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) * 1e-9);
    return fclose(f) ? 125 : 0;
}
