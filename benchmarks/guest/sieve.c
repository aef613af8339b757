/* Integer kernel: byte-array sieve of Eratosthenes, repeated.
 * usage: sieve [limit-in-thousands] [repetitions] */
#include <string.h>
#include "../bench.h"

int main(int argc, char **argv)
{
    long n = arg_long(argc, argv, 1, 10000) * 1000;
    long reps = arg_long(argc, argv, 2, 4);
    unsigned char *composite = malloc((size_t)n + 1);
    uint64_t sum = 0, count = 0;
    for (long r = 0; r < reps; r++) {
        memset(composite, 0, (size_t)n + 1);
        for (long i = 2; i * i <= n; i++)
            if (!composite[i])
                for (long j = i * i; j <= n; j += i)
                    composite[j] = 1;
        count = 0;
        for (long i = 2; i <= n; i++)
            if (!composite[i]) {
                count++;
                sum = sum * 31 + (uint64_t)i;
            }
    }
    printf("sieve n=%ld primes=%llu checksum=%016llx\n", n, (unsigned long long)count,
           (unsigned long long)sum);
    free(composite);
    return 0;
}
