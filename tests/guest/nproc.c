/* How many CPUs the program sees, by every route libc and tools use. */
#define _GNU_SOURCE
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(void) {
    cpu_set_t set;
    CPU_ZERO(&set);
    int aff = sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : -1;
    int lines = 0;
    char buf[512];
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (f) {
        while (fgets(buf, sizeof buf, f))
            if (strncmp(buf, "processor", 9) == 0) lines++;
        fclose(f);
    }
    char online[64] = "?";
    f = fopen("/sys/devices/system/cpu/online", "r");
    if (f) {
        if (!fgets(online, sizeof online, f)) online[0] = 0;
        fclose(f);
        online[strcspn(online, "\n")] = 0;
    }
    printf("onln %ld conf %ld affinity %d cpuinfo %d online %s\n", sysconf(_SC_NPROCESSORS_ONLN),
           sysconf(_SC_NPROCESSORS_CONF), aff, lines, online);
    return 0;
}
