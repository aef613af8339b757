/* Independent floating-point work: a Mandelbrot set image in double precision, rows dealt
 * round-robin to the threads (balances the expensive middle rows).
 * usage: fp threads [image-side] */
#include "par.h"

static long side;

static uint64_t work(int t, int n)
{
    uint64_t sum = 0;
    for (long y = t; y < side; y += n) {
        double ci = -1.5 + 3.0 * (double)y / (double)side;
        for (long x = 0; x < side; x++) {
            double cr = -2.2 + 3.0 * (double)x / (double)side;
            double zr = 0, zi = 0, zr2 = 0, zi2 = 0;
            int it = 0;
            while (it < 256 && zr2 + zi2 <= 4.0) {
                zi = 2 * zr * zi + ci;
                zr = zr2 - zi2 + cr;
                zr2 = zr * zr;
                zi2 = zi * zi;
                it++;
            }
            sum += mix64((uint64_t)(y * side + x) * 257 + (uint64_t)it);
        }
    }
    return sum;
}

int main(int argc, char **argv)
{
    int n = arg_threads(argc, argv);
    side = arg_long(argc, argv, 2, 800);
    printf("fp side=%ld checksum=%016llx\n", side, (unsigned long long)run_threads(n, work));
    return 0;
}
