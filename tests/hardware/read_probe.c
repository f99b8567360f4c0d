/* An independent read-bandwidth probe: the compiled figure rightsize's numpy read kernel
 * (hardware/bandwidth.py) is checked against, by tests/hardware/test_hw_read_roof.py.
 *
 * The loop: an OpenMP sum over an array of uint64 words, each thread over its own contiguous
 * block (the static schedule), as a read-only reduction: nothing is written but one register
 * per thread. `omp simd` lets the compiler use the widest loads the target has.
 *
 * Two ways to build it:
 *   cc -O2 -march=native -fopenmp -shared -fPIC -DREAD_PROBE_LIBRARY read_probe.c -o read_probe.so
 *       the test's way: it calls read_probe_best_s() on the same numpy array the suite's kernel
 *       reads, alternating the two, so both see the same pages and the same moments of load;
 *   cc -O2 -march=native -fopenmp read_probe.c -o read_probe
 *       by hand: `OMP_NUM_THREADS=2 ./read_probe 1073741824 10` prints
 *       best_gbps=<best of 10, 1e9 bytes/s> threads=<n> checksum=<sum>. */
#define _DEFAULT_SOURCE
#include <omp.h>
#include <stddef.h>
#include <stdint.h>

/* Seconds of the fastest of `reps` timed passes over a[0..n) on `threads` threads (0: OpenMP's
 * default, OMP_NUM_THREADS), after one untimed pass; *checksum gets the sum of every pass, so the
 * compiler cannot drop the loop and the caller can see every word was read.
 *
 * A pass is timed inside the team, from the first thread's start to the last thread's end, as the
 * suite times its own: what the memory was being read for. Timed around the parallel region, it
 * would also hold the time the team takes to wake, which on a VM whose idle vCPU the host has
 * descheduled is up to a tenth of a 128 MiB pass, and varies from minute to minute. */
double read_probe_best_s(const uint64_t *a, size_t n, int threads, int reps, uint64_t *checksum) {
    double best = 1e30;
    uint64_t total = 0;
    if (threads < 1) threads = omp_get_max_threads();
    for (int r = -1; r < reps; r++) {
        uint64_t s = 0;
        double first_start = 1e300, last_end = 0;
#pragma omp parallel num_threads(threads) reduction(+ : s)
        {
            double start = omp_get_wtime();
#pragma omp for simd schedule(static) nowait
            for (size_t i = 0; i < n; i++) s += a[i];
            double end = omp_get_wtime();
#pragma omp critical
            {
                if (start < first_start) first_start = start;
                if (end > last_end) last_end = end;
            }
        }
        if (r >= 0 && last_end - first_start < best) best = last_end - first_start;
        total += s;
    }
    *checksum = total;
    return best;
}

#ifndef READ_PROBE_LIBRARY
#include <stdio.h>
#include <stdlib.h>
#ifdef __linux__
#include <sys/mman.h>
#endif

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s BYTES REPS\n", argv[0]);
        return 2;
    }
    size_t n = (size_t)strtoull(argv[1], NULL, 10) / sizeof(uint64_t);
    int reps = atoi(argv[2]);
    uint64_t *a = NULL;   /* 2 MiB aligned: a huge page boundary, and page aligned as madvise needs */
    if (n == 0 || reps < 1 || posix_memalign((void **)&a, 2u << 20, n * sizeof(uint64_t)) != 0) {
        fprintf(stderr, "cannot allocate %zu words or bad REPS\n", n);
        return 2;
    }
#ifdef MADV_HUGEPAGE
    /* numpy asks for transparent huge pages on its large arrays: so does the probe */
    madvise(a, n * sizeof(uint64_t), MADV_HUGEPAGE);
#endif
    /* first touch by the thread that will read it: on a NUMA machine each reads its own node */
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) a[i] = i & 0xff;
    uint64_t checksum = 0;
    double best = read_probe_best_s(a, n, 0, reps, &checksum);
    printf("best_gbps=%.3f threads=%d checksum=%llu\n", n * sizeof(uint64_t) / best / 1e9,
           omp_get_max_threads(), (unsigned long long)checksum);
    free(a);
    return 0;
}
#endif
